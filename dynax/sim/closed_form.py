"""Depth-1 full-batch gradient descent solved exactly, one network at a time: a fast path
for the engine and an oracle for the GD kernel (docs/design.md §3)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..spec import derived
from . import recorders, tracker
from .gd import KernelConfig, RunInputs, init_weights, mode_bases, statistics
from .recorders import View
from .scope import float64, unbatched
from .tracker import DIVERGENCE_FACTOR, Outputs

__all__ = ["BLOCK", "closed_form", "decay"]

BLOCK = 256  # epochs evaluated at once by the exact minimum search


def decay(a, k):
    """``(1 − a)^k`` and ``Σ_{j<k} (1 − a)^j = (1 − (1 − a)^k)/a`` for integer-valued k ≥ 0.

    Accurate for tiny a (the frozen subspace; a = 0 exactly gives 1 and k) and correct in
    sign for 1 < a < 2 (oscillating, stable) and a ≥ 2 (diverging). Every branch is
    decided from ``a`` itself, never from a separately computed ``1 − a``: under jit XLA
    may fuse ``1 − ε·λ`` into one FMA whose sign disagrees with the rounded ``a``
    (a = 1.0 exactly but 1 − ε·λ = 1e-17), which would flip the sign of odd powers.
    """
    below = a < 1.0  # 0 < q ≤ 1 (q > 1 for the tiny negative a of round-off)
    above = a > 1.0  # q < 0
    log_abs = jnp.where(
        below,
        jnp.log1p(-jnp.where(below, a, 0.0)),
        jnp.log(jnp.where(above, a, 2.0) - 1.0),
    )
    mag = jnp.exp(k * log_abs)
    odd = jnp.mod(k, 2) == 1
    qk = jnp.where(above & odd, -mag, mag)
    qk = jnp.where(k == 0, 1.0, jnp.where(a == 1.0, 0.0, qk))
    a_safe = jnp.where(a == 0, 1.0, a)
    s_below = -jnp.expm1(k * log_abs) / a_safe
    s = jnp.where(below, s_below, (1.0 - qk) / a_safe)
    return qk, jnp.where(a == 0, k, s)


class _Modes(NamedTuple):
    """One run in the eigenbasis of Σ_xx = U Λ Uᵀ: w̃ = W U evolves mode by mode."""

    lam: jax.Array  # (N,) Λ, ascending
    u: jax.Array  # (N, N) U
    m: jax.Array  # (N, K) Uᵀ L_x: W L_x = w̃ m
    wt0: jax.Array  # (N_out, N) w̃(0)
    wbt: jax.Array  # (N_out, N) w̄ U
    bt: jax.Array  # (N_out, N) Σ_yx U
    a: jax.Array  # (N,) ε(λ + γ): q = 1 − a
    eps: jax.Array  # ε = η·grad_scale

    def weights_at(self, k, dtype):
        """w̃ at the epochs ``k`` (B,) -> (B, N_out, N)."""
        qk, s = decay(self.a[None, :], k[:, None].astype(dtype))
        return self.wt0[None] * qk[:, None, :] + self.eps * self.bt[None] * s[:, None, :]


def _modes(cfg: KernelConfig, run: RunInputs, lx, lz_noise, w_bar, dtype) -> _Modes:
    eps = (run.learning_rate * run.grad_scale).astype(dtype)
    if run.eigvecs.shape[-1] == cfg.n_in:  # shared per (seed, P), computed once in float64
        lam, u, m = (a.astype(dtype) for a in (run.eigvals, run.eigvecs, run.rotated))
    else:
        lam, u = unbatched(jnp.linalg.eigh)(lx @ lx.T)
        m = u.T @ lx  # (N, K): W L_x = w̃ m
    w0 = init_weights(cfg, run)[0]
    wbt = w_bar @ u
    bt = wbt * lam[None, :] + lz_noise @ m.T  # Σ_yx U = w̄ U Λ + σ_ε L_z L_xᵀ U
    a = eps * (lam + run.weight_decay.astype(dtype))  # q = 1 − ε(λ + γ): weight decay shrinks every mode
    return _Modes(lam, u, m, w0 @ u, wbt, bt, a, eps)


def _validation(cfg: KernelConfig, run: RunInputs, u, dtype):
    """``d = w̃ − w̄̃ (B, N_out, N) -> (B,)`` validation errors: the held-out examples in the
    eigenbasis, W L_x^v = w̃ (Uᵀ L_x^v); None without train.validation."""
    if not cfg.validation:
        return None
    n = cfg.n_in
    mv = u.T @ run.val_factor[:n].astype(dtype)
    lzv = (run.noise_std * run.val_factor[n:]).astype(dtype)
    val_scale = (run.n_val * cfg.n_out).astype(dtype)

    def val_of(d):
        r = lzv[None] - jnp.einsum("bon,nk->bok", d, mv)
        return jnp.sum(r * r, axis=(1, 2)) / val_scale

    return val_of


def _every_epoch(cfg: KernelConfig, e: _Modes, noise_var, limit, val_of, dtype):
    """E_g at every epoch 0..E, in blocks: the running minimum, its first epoch, the first
    diverged epoch (E + 1 if none) and the held-out stop (validation error, epoch, E_g)."""
    n, n_out = cfg.n_in, cfg.n_out
    big = jnp.int64(cfg.epochs + 1)
    # Inside a block of epochs k0 + j: q^(k0+j) = q^k0 q^j and S_(k0+j) = S_k0 + q^k0 S_j, with
    # q^j, S_j (j < BLOCK) once per run and q^k0, S_k0 once per block, all from the accurate
    # formulas of decay(): the per-epoch work is multiply-adds, no transcendental functions.
    q_j, s_j = decay(e.a[None, :], jnp.arange(BLOCK, dtype=dtype)[:, None])  # (BLOCK, N)

    def block(carry, b):
        best, best_epoch, bad_epoch, stop = carry
        k0 = (b * BLOCK).astype(dtype)
        q0, s0 = decay(e.a, k0)
        qk = q0[None, :] * q_j
        sk = s0[None, :] + q0[None, :] * s_j
        d = e.wt0[None] * qk[:, None, :] + e.eps * e.bt[None] * sk[:, None, :] - e.wbt[None]
        test = jnp.sum(d * d, axis=(1, 2)) / (n * n_out) + noise_var
        ks = b * BLOCK + jnp.arange(BLOCK, dtype=jnp.int64)
        best, best_epoch, bad_epoch, ok = tracker.update_block(
            best, best_epoch, bad_epoch, test, ks, ks <= cfg.epochs, limit, big
        )
        if val_of is not None:  # the first minimum of the validation error, and E_g there
            val = jnp.where(ok, val_of(d), jnp.inf)
            j = jnp.argmin(val)
            take = val[j] < stop[0]
            new = (val[j], ks[j], test[j])
            stop = tuple(jnp.where(take, a, b) for a, b in zip(new, stop, strict=True))
        return (best, best_epoch, bad_epoch, stop), None

    stop0 = (jnp.array(jnp.inf, dtype), jnp.int64(-1), jnp.array(jnp.nan, dtype))
    init = (jnp.array(jnp.inf, dtype), jnp.int64(-1), big, stop0)
    n_blocks = -(-(cfg.epochs + 1) // BLOCK)
    return jax.lax.scan(block, init, jnp.arange(n_blocks, dtype=jnp.int64))[0]


@float64
def closed_form(cfg: KernelConfig, run: RunInputs) -> Outputs:
    """Depth-1 full-batch GD solved exactly in the eigenbasis of Σ_xx.

    With ``Σ_xx = U Λ Uᵀ``, step ``ε = η·grad_scale`` and weight decay γ, each mode evolves as
    ``w̃_i(k) = w̃_i(0) q_i^k + ε b̃_i Σ_{j<k} q_i^j`` with ``q_i = 1 − ε(λ_i + γ)``, ``b̃ = Σ_yx U``
    (docs/theory.md §2.1 in discrete time; λ_i = 0 is the frozen subspace). ``E_g`` is
    evaluated at every epoch 0..E, in blocks, for the exact minimum and first divergence:
    O(N³ + N·E) per run.
    """
    if cfg.depth != 1 or cfg.optimizer != "gd":
        raise ValueError("the closed form is for depth-1 gradient descent")
    dtype = jnp.dtype(cfg.dtype)
    n, n_out = cfg.n_in, cfg.n_out
    lx, lz_noise, w_bar, noise_var, p = statistics(cfg, run, dtype)
    e = _modes(cfg, run, lx, lz_noise, w_bar, dtype)
    test0 = jnp.sum((e.wt0 - e.wbt) ** 2) / (n * n_out) + noise_var
    val_of = _validation(cfg, run, e.u, dtype)
    best, best_epoch, bad_epoch, stop = _every_epoch(
        cfg, e, noise_var, DIVERGENCE_FACTOR * test0, val_of, dtype
    )
    # "0 if never improved": the minimum at epoch 0 already gives best_epoch = 0
    rec = jnp.asarray(cfg.record, dtype=jnp.int64)
    wt = e.weights_at(rec, dtype)
    d = wt - e.wbt[None]
    r = lz_noise[None] - jnp.einsum("bon,nk->bok", wt, e.m) + (e.wbt @ e.m)[None]
    train = jnp.sum(r * r, axis=(1, 2)) / (p * n_out)
    gone = rec >= bad_epoch
    nan = jnp.array(jnp.nan, dtype)
    out = Outputs(
        train_error=jnp.where(gone, nan, train),
        test_error=jnp.where(gone, nan, jnp.sum(d * d, axis=(1, 2)) / (n * n_out) + noise_var),
        best_test_error=jnp.where(best_epoch < 0, nan, best),
        best_epoch=jnp.where(jnp.isfinite(test0), best_epoch, -1),
        diverged=bad_epoch <= cfg.epochs,
        null_space_error=jnp.where(gone, nan, _null_error(cfg, run, d)) if cfg.null_space else None,
        rise_epoch=_first_rise(cfg, train * (p * n_out), wt, run.weight_decay.astype(dtype), rec),
    )
    if cfg.validation:
        out = out._replace(
            validation_error=jnp.where(gone, nan, val_of(d)),
            stopped_test_error=stop[2],
            stopped_epoch=stop[1],
        )
    return out._replace(records=_records(cfg, run, e, wt, gone, out.diverged, dtype))


def _null_error(cfg: KernelConfig, run: RunInputs, d):
    """The error in the null space of Σ_xx at each record (``d = w̃ − w̄̃``): eigh sorts λ
    ascending, so the first N − min(P, N) modes span it."""
    n = cfg.n_in
    null = jnp.arange(n) < n - jnp.minimum(run.n_train, n)
    d = jnp.where(null[None, None, :], d, 0.0)
    return jnp.sum(d * d, axis=(1, 2)) / (n * cfg.n_out)


def _records(cfg: KernelConfig, run: RunInputs, e: _Modes, wt, gone, diverged, dtype) -> dict:
    """What train.record's flags add (:mod:`dynax.sim.recorders`), from w̃ at every record; the
    mode strengths in the eigenbasis, Uᵀ W V = w̃ (Uᵀ V)."""
    if not cfg.records:
        return {}
    mb = mode_bases(cfg, run, dtype)
    nan = jnp.array(jnp.nan, dtype)

    def strengths(left, right):
        return lambda view: jnp.where(
            gone[:, None], nan, jnp.sum(left[None] * (wt @ (e.u.T @ right)), axis=1)
        )

    own = (
        {"mode_strength": strengths(mb.u, mb.v), "data_mode_strength": strengths(mb.du, mb.dv)} if mb else {}
    )
    w_rec = jnp.where(gone[:, None, None], nan, wt @ e.u.T)  # W at every record (unused ones cost nothing)
    curves = recorders.at_record(cfg.records, View([w_rec], w_rec, cfg.n_out, mb), own)
    end = View([wt[-1] @ e.u.T], wt[-1] @ e.u.T, cfg.n_out, mb, run)
    return {**curves, **recorders.at_end(cfg.records, end, diverged, dtype)}


def _first_rise(cfg, residual, wt, gamma, rec):
    """The first recorded epoch at which the objective ``‖r‖² + γ‖w‖²`` rose
    (:func:`dynax.spec.derived.rose`), -1 if never. Depth-1 GD is linear: the objective's
    excess is ``Σ_i (λ_i + γ)(w̃_i(k) − w̃_i*)²`` with ``w̃_i(k) − w̃_i* ∝ q_i^k``, so with every
    ``|q_i| ≤ 1`` it never rises, and a mode beyond that grows geometrically, which the
    records see; checked there, the exact per-epoch scan is left as it is."""
    j = residual + gamma * jnp.sum(wt * wt, axis=(1, 2)) if cfg.weight_decay else residual
    lowest = jax.lax.cummin(j)
    up = derived.rose(j[1:], lowest[:-1], j[0])
    return jnp.where(jnp.any(up), rec[1:][jnp.argmax(up)], jnp.int64(-1))
