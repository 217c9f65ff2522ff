"""Depth-1 full-batch gradient descent solved exactly, one network at a time: a fast path
for the engine and an oracle for the GD kernel (docs/design.md §3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..spec import derived
from .gd import KernelConfig, RunInputs, init_weights, mode_bases, mode_outputs, similarity, statistics
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
    eps = (run.learning_rate * run.grad_scale).astype(dtype)

    if run.eigvecs.shape[-1] == n:  # shared per (seed, P), computed once in float64
        lam, u, m = (a.astype(dtype) for a in (run.eigvals, run.eigvecs, run.rotated))
    else:
        lam, u = unbatched(jnp.linalg.eigh)(lx @ lx.T)
        m = u.T @ lx  # (N, K): W L_x = w̃ m
    w0 = init_weights(cfg, run)[0]
    wt0 = w0 @ u  # (N_out, N) in the eigenbasis
    wbt = w_bar @ u
    bt = wbt * lam[None, :] + lz_noise @ m.T  # Σ_yx U = w̄ U Λ + σ_ε L_z L_xᵀ U
    a = eps * (lam + run.weight_decay.astype(dtype))  # q = 1 − ε(λ + γ): weight decay shrinks every mode

    def weights_at(k):  # k: (B,) epochs -> (B, N_out, N)
        qk, s = decay(a[None, :], k[:, None].astype(dtype))
        return wt0[None] * qk[:, None, :] + eps * bt[None] * s[:, None, :]

    def test_at(wt):
        d = wt - wbt[None]
        return jnp.sum(d * d, axis=(1, 2)) / (n * n_out) + noise_var

    def null_error(wt):  # eigh sorts λ ascending: the first N − min(P, N) modes span the null space
        null = jnp.arange(n) < n - jnp.minimum(run.n_train, n)
        d = jnp.where(null[None, None, :], wt - wbt[None], 0.0)
        return jnp.sum(d * d, axis=(1, 2)) / (n * n_out)

    test0 = jnp.sum((wt0 - wbt) ** 2) / (n * n_out) + noise_var
    limit = DIVERGENCE_FACTOR * test0
    finite0 = jnp.isfinite(test0)
    n_blocks = -(-(cfg.epochs + 1) // BLOCK)
    big = jnp.int64(cfg.epochs + 1)
    # Inside a block of epochs k0 + j: q^(k0+j) = q^k0 q^j and S_(k0+j) = S_k0 + q^k0 S_j, with
    # q^j, S_j (j < BLOCK) once per run and q^k0, S_k0 once per block, all from the accurate
    # formulas of decay(): the per-epoch work is multiply-adds, no transcendental functions.
    q_j, s_j = decay(a[None, :], jnp.arange(BLOCK, dtype=dtype)[:, None])  # (BLOCK, N)

    if cfg.validation:  # the held-out examples in the eigenbasis: W L_x^v = w̃ (Uᵀ L_x^v)
        mv = u.T @ run.val_factor[:n].astype(dtype)
        lzv = (run.noise_std * run.val_factor[n:]).astype(dtype)
        val_scale = (run.n_val * n_out).astype(dtype)

    def val_of(d):  # d: (B, N_out, N) = w̃ − w̄̃ -> (B,) validation errors
        r = lzv[None] - jnp.einsum("bon,nk->bok", d, mv)
        return jnp.sum(r * r, axis=(1, 2)) / val_scale

    def block(carry, b):
        best, best_epoch, bad_epoch, stop = carry
        k0 = (b * BLOCK).astype(dtype)
        q0, s0 = decay(a, k0)
        qk = q0[None, :] * q_j
        sk = s0[None, :] + q0[None, :] * s_j
        d = wt0[None] * qk[:, None, :] + eps * bt[None] * sk[:, None, :] - wbt[None]
        test = jnp.sum(d * d, axis=(1, 2)) / (n * n_out) + noise_var
        ks = b * BLOCK + jnp.arange(BLOCK, dtype=jnp.int64)
        valid = ks <= cfg.epochs
        bad = valid & (~jnp.isfinite(test) | (test > limit))
        bad_epoch = jnp.minimum(bad_epoch, jnp.min(jnp.where(bad, ks, big)))
        ok = valid & (ks < bad_epoch) & jnp.isfinite(test)
        masked = jnp.where(ok, test, jnp.inf)
        i = jnp.argmin(masked)  # first occurrence of the block minimum
        better = masked[i] < best
        if cfg.validation:  # the first minimum of the validation error, and E_g there
            val = jnp.where(ok, val_of(d), jnp.inf)
            j = jnp.argmin(val)
            take = val[j] < stop[0]
            new = (val[j], ks[j], test[j])
            stop = tuple(jnp.where(take, a, b) for a, b in zip(new, stop, strict=True))
        best = jnp.where(better, masked[i], best)
        return (best, jnp.where(better, ks[i], best_epoch), bad_epoch, stop), None

    stop0 = (jnp.array(jnp.inf, dtype), jnp.int64(-1), jnp.array(jnp.nan, dtype))
    init = (jnp.array(jnp.inf, dtype), jnp.int64(-1), big, stop0)
    (best, best_epoch, bad_epoch, stop), _ = jax.lax.scan(block, init, jnp.arange(n_blocks, dtype=jnp.int64))
    # "0 if never improved": the minimum at epoch 0 already gives best_epoch = 0
    rec = jnp.asarray(cfg.record, dtype=jnp.int64)
    wt = weights_at(rec)
    test = test_at(wt)
    r = lz_noise[None] - jnp.einsum("bon,nk->bok", wt, m) + (wbt @ m)[None]
    train = jnp.sum(r * r, axis=(1, 2)) / (p * n_out)
    gone = rec >= bad_epoch
    rise = _first_rise(cfg, train * (p * n_out), wt, run.weight_decay.astype(dtype), rec)
    nan = jnp.array(jnp.nan, dtype)
    out = Outputs(
        train_error=jnp.where(gone, nan, train),
        test_error=jnp.where(gone, nan, test),
        best_test_error=jnp.where(best_epoch < 0, nan, best),
        best_epoch=jnp.where(finite0, best_epoch, -1),
        diverged=bad_epoch <= cfg.epochs,
        null_space_error=jnp.where(gone, nan, null_error(wt)) if cfg.null_space else None,
        rise_epoch=rise,
    )
    if cfg.validation:
        out = out._replace(
            validation_error=jnp.where(gone, nan, val_of(wt - wbt[None])),
            stopped_test_error=stop[2],
            stopped_epoch=stop[1],
        )
    mb = mode_bases(cfg, run, dtype)
    curves = []
    if mb is not None:  # Uᵀ W V with W = w̃ Uᵀ (eigenbasis): w̃ (Uᵀ V)
        for left, right in ((mb.u, mb.v), (mb.du, mb.dv)):
            curves.append(jnp.where(gone[:, None], nan, jnp.sum(left[None] * (wt @ (u.T @ right)), axis=1)))
    if cfg.weights or cfg.similarity:
        w_rec = jnp.where(gone[:, None, None], nan, wt @ u.T)
        curves += [w_rec] if cfg.weights else []
        curves += [similarity(w_rec, n_out)] if cfg.similarity else []
    return mode_outputs(out, cfg, run, mb, curves, wt[-1] @ u.T, out.diverged, dtype)


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
