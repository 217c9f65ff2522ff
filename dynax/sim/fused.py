"""The fused CPU kernel: full-batch GD (or momentum) on one network at a time, in the
eigenbasis of its Σ_xx, compiled by numba, every core taking whole networks.

In the eigenbasis ``Σ_xx = U Λ Uᵀ`` (shared per (seed, P) with the closed form), gradient
descent is exact under the rotation ``W_1 → W_1 U``, ``w̄ → w̄ U`` (GD and momentum are
rotation invariant; Adam is not, and keeps the XLA kernel). With ``d = W_eff − w̄`` in
that basis the data enter only through O(N) vectors, with no cancellation:

* ``E_g = Σ_i d_i² / N + σ_ε²``;
* the gradient with respect to ``W_eff`` is ``g (λ ∘ d − σ_ε c)``, ``c = L_z Mᵀ`` with
  ``M = Uᵀ L_x`` (``g`` the gradient scale);
* ``P·E_t = σ_ε² z⊥ + Σ_i (σ_ε ζ_i − d_i √λ_i)²``, ``ζ_i = c_i/√λ_i`` the noise's component
  along mode i and ``z⊥`` its part outside the data's row space (a sum of squares);
* the null-space error is ``Σ d_i²/N`` over the modes with λ_i = 0.

One epoch of a depth-D network reads and writes each weight matrix a few times while it
stays in cache: for depth 2, ``q = W_1 v``; ``W_1 −= a vᵀ``; ``a −= q``; ``u += a W_1``
(about 6·N·N_h FLOPs). Each network is trained by one thread from start to end, so its
numbers do not depend on how runs are batched. Supported: depth ≥ 2, ``n_out = 1``,
optimizers ``gd`` and ``momentum``, weight decay, float32 and float64, the null-space error; the engine
uses the XLA kernel (:mod:`dynax.sim.gd`) for everything else.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np

from .. import interrupt
from ..spec import derived
from .eigen import EigenRuns
from .fused_step import FAST, epoch_step, row_times, squared_norm
from .tracker import DIVERGENCE_FACTOR, Outputs

__all__ = ["compile_seconds", "rotate", "train_fused"]


def compile_seconds(dispatcher, *args) -> float:
    """Compile ``dispatcher`` for the types of ``args`` now (or load it from numba's cache),
    and the seconds that took (0.0 when this process has it already): the first call's
    compile is then reported as compile, not counted as training."""
    sig = tuple(numba.typeof(a) for a in args)
    if sig in dispatcher.overloads:
        return 0.0
    t0 = time.perf_counter()
    interrupt.stage("compile")
    dispatcher.compile(sig)
    return time.perf_counter() - t0


def rotate(w1, eigvecs, dtype_like) -> tuple[np.ndarray, float]:
    """``W_1 U`` per run (:func:`_rotate`) and the seconds spent compiling it now."""
    seconds = compile_seconds(_rotate, w1, eigvecs, dtype_like)
    return _rotate(w1, eigvecs, dtype_like), seconds


@numba.njit(cache=True, parallel=True, nogil=True)
def _rotate(w1, eigvecs, dtype_like):
    """``W_1 U`` per run in float64, rounded to the dtype of ``dtype_like`` (numba, not BLAS:
    BLAS threads left spinning after a call halve the kernel's speed on a 2-core machine)."""
    n_runs, h, n = w1.shape
    out = np.empty((n_runs, h, n), dtype_like.dtype)
    for b in numba.prange(n_runs):
        acc = np.zeros(n)
        for i in range(h):
            acc[:] = 0.0
            for k in range(n):
                wik = np.float64(w1[b, i, k])
                uk = eigvecs[b, k]
                for j in range(n):
                    acc[j] += wik * uk[j]
            for j in range(n):
                out[b, i, j] = acc[j]
    return out


@numba.njit(cache=True, fastmath=FAST)
def _end_to_end(w1, mids, a, row, row2, u):
    """u = a W_{D-1} ⋯ W_1, the end-to-end weights (``row``, ``row2``: scratch of width h)."""
    row[:] = a
    for k in range(mids.shape[0] - 1, -1, -1):
        row_times(row, mids[k], row2)
        row[:] = row2
    row_times(row, w1, u)


@numba.njit(cache=True, fastmath=FAST)
def _train_sum(start, s, zeta, d, root):
    """P·E_t = σ_ε² ‖z_⊥‖² + Σ_i (σ_ε ζ_i − d_i √λ_i)², summed in float64 from ``start``."""
    tr = start
    for i in range(d.shape[0]):
        r = np.float64(s) * zeta[i] - np.float64(d[i]) * root[i]
        tr += r * r
    return tr


@numba.njit(cache=True, fastmath=FAST)
def _store(out_train, out_test, out_null, j, bad, train, test, d, null_modes):
    """Record j of one run: E_t, E_g and the null-space error (its first ``null_modes``
    modes); NaN once diverged."""
    if bad:
        out_train[j] = np.nan
        out_test[j] = np.nan
        out_null[j] = np.nan
        return
    out_train[j] = train
    out_test[j] = test
    nl = 0.0
    for i in range(null_modes):
        nl += np.float64(d[i]) * d[i]
    out_null[j] = nl / d.shape[0]


@numba.njit(cache=True, fastmath=FAST)
def _track(test, epoch, limit, best, best_epoch):
    """One epoch of a run's tracking (:func:`dynax.sim.tracker.update`; epoch 0 starts it, as
    :func:`dynax.sim.tracker.start`): (diverged now, the running minimum, its first epoch)."""
    if not np.isfinite(test) or (epoch > 0 and test > limit):
        return True, best, best_epoch
    if epoch == 0 or test < best:
        return False, test, epoch
    return False, best, best_epoch


@numba.njit(cache=True, parallel=True, nogil=True, fastmath=FAST)
def _train(
    w1, mids, a, lam, wbar, c, zeta, z_perp, sigma, step, mom, decay, gamma, p, null_modes, record, epochs,
    stop_on_rise, rise_tol, out_train, out_test, out_null, best, best_epoch, diverged, rise_epoch,
):  # fmt: skip
    """Train every network of the batch (one thread each); results go into the ``out_*``
    and tracker arrays. E_g, E_t and the null-space error are sums in float64. The training
    objective ``P·E_t + γ Σ_l ‖W_l‖²`` is followed at every epoch: its first rise
    (``rise_tol`` = relative, absolute: :func:`dynax.spec.derived.rose`) goes to
    ``rise_epoch``, and a run with ``stop_on_rise`` stops there (it will be trained again)."""
    n_runs, h, n = w1.shape
    n_mid = mids.shape[1]
    n_rec = record.shape[0]
    rel, absolute = rise_tol[0], rise_tol[1]
    for b in numba.prange(n_runs):
        dt = w1.dtype
        m1 = np.zeros((h, n), dt)
        mm = np.zeros((n_mid, h, h), dt)
        ma = np.zeros(h, dt)
        u = np.zeros(n, dt)
        d = np.zeros(n, dt)
        v = np.zeros(n, dt)
        qs = np.zeros((n_mid + 1, h), dt)
        left = np.zeros((n_mid + 1, h), dt)
        row = np.zeros(h, dt)
        row2 = np.zeros(h, dt)
        s = sigma[b]
        noise = np.float64(s) * np.float64(s)
        _end_to_end(w1[b], mids[b], a[b], row, row2, u)
        root = np.empty(n)  # √λ in float64
        for i in range(n):
            root[i] = math.sqrt(lam[b, i])
        rounded = np.empty(1, dt)  # E_g summed in float64, compared in the run's dtype (as XLA does)
        limit = rounded[0]
        bad = False
        start = 0.0
        lowest = 0.0
        j_rec = 0
        for epoch in range(epochs + 1):
            acc = 0.0
            for i in range(n):
                d[i] = u[i] - wbar[b, i]
                acc += np.float64(d[i]) * d[i]
            rounded[0] = acc / n + noise
            test = rounded[0]
            tr = _train_sum(noise * z_perp[b], s, zeta[b], d, root)  # P·E_t, a sum of squares
            objective = tr
            if gamma[b] != 0:
                objective += gamma[b] * squared_norm(w1[b], mids[b], a[b])
            if epoch == 0:
                rounded[0] = DIVERGENCE_FACTOR * test
                limit = rounded[0]
                start = objective
                lowest = objective
            tracking = not bad  # until the first divergence
            if tracking:
                bad, best[b], best_epoch[b] = _track(test, epoch, limit, best[b], best_epoch[b])
            if tracking and epoch > 0:
                if rise_epoch[b] < 0 and objective > lowest * (1 + rel) + absolute * start:
                    rise_epoch[b] = epoch
                    if stop_on_rise[b]:
                        break  # its records stay NaN: the engine trains it again
                if objective < lowest:
                    lowest = objective
            while j_rec < n_rec and record[j_rec] == epoch:
                _store(out_train[b], out_test[b], out_null[b], j_rec, bad, tr / p[b], test, d, null_modes[b])
                j_rec += 1
            if bad or epoch == epochs:
                continue
            for i in range(n):  # v = η g ∂L/∂W_eff in the eigenbasis
                v[i] = step[b] * (lam[b, i] * d[i] - s * c[b, i])
            epoch_step(w1[b], mids[b], a[b], m1, mm, ma, v, u, qs, left, row, row2, mom[b], decay[b])
        diverged[b] = bad


def train_fused(
    config, weights, runs: EigenRuns, noise_std, learning_rate, grad_scale, momentum, n_train, weight_decay,
    stop_on_rise=None,
):  # fmt: skip
    """Train a batch of networks with the fused kernel.

    Args:
        config: the compile group's :class:`~dynax.sim.gd.KernelConfig`.
        weights: initial layers, input side first, each (B, ·, ·) in the run's dtype, the
            first already rotated into the eigenbasis (``W_1 U``, :func:`rotate`).
        runs: :func:`eigen_runs` of the batch; the rest are per-run arrays (B,);
            ``weight_decay`` is γ (every layer's gradient gains γ W_l, in units of the loss).
        stop_on_rise: (B,) bool, runs to stop at the first rise of their training objective
            (their curves are NaN from there; the engine trains them again): default none.

    Returns:
        :class:`~dynax.sim.tracker.Outputs` of NumPy arrays, as the XLA kernel returns them,
        and the seconds spent compiling the kernel now (0.0 when this process had it).
    """
    dtype = np.dtype(config.dtype)
    cast = lambda x: np.array(x, dtype, order="C")  # a writable copy: one numba specialisation  # noqa: E731
    n_runs = weights[0].shape[0]
    h = weights[0].shape[1]
    w1 = cast(weights[0])
    mids = cast(np.stack(weights[1:-1], axis=1) if len(weights) > 2 else np.zeros((n_runs, 0, h, h)))
    a = cast(weights[-1][:, 0, :])
    mom = momentum if config.optimizer == "momentum" else np.zeros(n_runs)
    record = np.asarray(config.record, np.int64)
    n_rec = len(record)
    out = [np.full((n_runs, n_rec), np.nan, dtype) for _ in range(3)]
    best = np.full(n_runs, np.inf, dtype)
    best_epoch = np.full(n_runs, -1, np.int64)
    diverged = np.zeros(n_runs, np.bool_)
    rise_epoch = np.full(n_runs, -1, np.int64)
    stop = np.zeros(n_runs, np.bool_) if stop_on_rise is None else np.asarray(stop_on_rise, np.bool_)
    gamma = np.broadcast_to(np.asarray(weight_decay, np.float64), (n_runs,))
    args = (
        w1, mids, a, cast(runs.lam), cast(runs.wbar), cast(runs.c), cast(runs.zeta), cast(runs.z_perp),
        cast(noise_std), cast(np.asarray(learning_rate) * grad_scale), cast(mom),
        cast(np.asarray(learning_rate) * grad_scale * np.asarray(weight_decay)), np.array(gamma),
        cast(n_train), np.asarray(runs.null_modes, np.int64), record, int(config.epochs),
        stop, np.array([derived.RISE_RELATIVE, derived.RISE_ABSOLUTE]),
        *out, best, best_epoch, diverged, rise_epoch,
    )  # fmt: skip
    seconds = compile_seconds(_train, *args)
    _train(*args)
    best_error = np.where(best_epoch < 0, np.nan, best).astype(dtype)
    null = out[2] if config.null_space else None
    return Outputs(out[0], out[1], best_error, best_epoch, diverged, null, rise_epoch=rise_epoch), seconds
