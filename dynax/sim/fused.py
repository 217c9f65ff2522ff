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

from ..spec import derived
from .eigen import EigenRuns
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
    dispatcher.compile(sig)
    return time.perf_counter() - t0


def rotate(w1, eigvecs, dtype_like) -> tuple[np.ndarray, float]:
    """``W_1 U`` per run (:func:`_rotate`) and the seconds spent compiling it now."""
    seconds = compile_seconds(_rotate, w1, eigvecs, dtype_like)
    return _rotate(w1, eigvecs, dtype_like), seconds


@numba.njit(cache=True, parallel=True)
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


# IEEE semantics but for reassociation (vectorised dot products); no "nnan"/"ninf": the
# divergence check must see infinities and NaN
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(cache=True, fastmath=_FAST)
def _dot(x, y):
    """x·y in the arrays' dtype (the sum starts from the first product, not from a literal
    0, which numba would type as float64 and so widen a float32 sum)."""
    acc = x[0] * y[0]
    for j in range(1, x.shape[0]):
        acc += x[j] * y[j]
    return acc


@numba.njit(cache=True, fastmath=_FAST)
def _row_times(row, mat, out):
    """out = row @ mat (row vector times matrix)."""
    out[:] = 0
    for i in range(mat.shape[0]):
        ri = row[i]
        mi = mat[i]
        for j in range(mat.shape[1]):
            out[j] += ri * mi[j]


@numba.njit(cache=True, fastmath=_FAST)
def _dots(w, v, q, i0, i1):
    """q[i] = w[i]·v for the rows i0 ≤ i < i1, four rows per pass over v."""
    i = i0
    while i + 4 <= i1:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        v0 = v[0]
        q0, q1, q2, q3 = w0[0] * v0, w1[0] * v0, w2[0] * v0, w3[0] * v0
        for j in range(1, v.shape[0]):
            vj = v[j]
            q0 += w0[j] * vj
            q1 += w1[j] * vj
            q2 += w2[j] * vj
            q3 += w3[j] * vj
        q[i] = q0
        q[i + 1] = q1
        q[i + 2] = q2
        q[i + 3] = q3
        i += 4
    while i < i1:
        q[i] = _dot(w[i], v)
        i += 1


@numba.njit(cache=True, fastmath=_FAST)
def _rows_gd(w, coef, r, v, u, i0, i1):
    """GD for the rows i0 ≤ i < i1: ``w_i −= coef_i v``, ``u += r_i w_i``, four rows per
    pass over v and u (each row read and written once while the block is in L1)."""
    n = v.shape[0]
    i = i0
    while i + 4 <= i1:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        c0, c1, c2, c3 = coef[i], coef[i + 1], coef[i + 2], coef[i + 3]
        r0, r1, r2, r3 = r[i], r[i + 1], r[i + 2], r[i + 3]
        for j in range(n):
            vj = v[j]
            x0 = w0[j] - c0 * vj
            x1 = w1[j] - c1 * vj
            x2 = w2[j] - c2 * vj
            x3 = w3[j] - c3 * vj
            w0[j] = x0
            w1[j] = x1
            w2[j] = x2
            w3[j] = x3
            u[j] += (r0 * x0 + r1 * x1) + (r2 * x2 + r3 * x3)
        i += 4
    while i < i1:
        wi, ci, ri = w[i], coef[i], r[i]
        for j in range(n):
            wi[j] -= ci * v[j]
            u[j] += ri * wi[j]
        i += 1


@numba.njit(cache=True, fastmath=_FAST)
def _rows_momentum(w, m, coef, r, v, u, mo, i0, i1):
    """Momentum for the rows i0 ≤ i < i1: ``m_i = mo m_i + coef_i v``, ``w_i −= m_i``,
    ``u += r_i w_i``, four rows per pass."""
    n = v.shape[0]
    i = i0
    while i + 4 <= i1:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        m0, m1, m2, m3 = m[i], m[i + 1], m[i + 2], m[i + 3]
        c0, c1, c2, c3 = coef[i], coef[i + 1], coef[i + 2], coef[i + 3]
        r0, r1, r2, r3 = r[i], r[i + 1], r[i + 2], r[i + 3]
        for j in range(n):
            vj = v[j]
            y0 = mo * m0[j] + c0 * vj
            y1 = mo * m1[j] + c1 * vj
            y2 = mo * m2[j] + c2 * vj
            y3 = mo * m3[j] + c3 * vj
            m0[j] = y0
            m1[j] = y1
            m2[j] = y2
            m3[j] = y3
            x0 = w0[j] - y0
            x1 = w1[j] - y1
            x2 = w2[j] - y2
            x3 = w3[j] - y3
            w0[j] = x0
            w1[j] = x1
            w2[j] = x2
            w3[j] = x3
            u[j] += (r0 * x0 + r1 * x1) + (r2 * x2 + r3 * x3)
        i += 4
    while i < i1:
        wi, mi, ci, ri = w[i], m[i], coef[i], r[i]
        for j in range(n):
            mi[j] = mo * mi[j] + ci * v[j]
            wi[j] -= mi[j]
            u[j] += ri * wi[j]
        i += 1


@numba.njit(cache=True, fastmath=_FAST)
def _decay_rows(w, m, mo, g, i0, i1):
    """Weight decay ``g = εγ`` of the rows i0 ≤ i < i1 before their update: GD takes
    ``w_i ← (1 − g) w_i`` (then ``w_i −= coef_i v``); momentum ``m_i += (g/mo) w_i`` (then
    ``m_i = mo m_i + coef_i v`` gives ``mo m_i + coef_i v + g w_i``, mo > 0 on that path). A
    pass of its own, so that without decay every operation is the one before it existed."""
    n = w.shape[1]
    if mo == 0:
        dec = 1.0 - g
        for i in range(i0, i1):
            for j in range(n):
                w[i, j] *= dec
    else:
        c = g / mo
        for i in range(i0, i1):
            for j in range(n):
                m[i, j] += c * w[i, j]


@numba.njit(cache=True, fastmath=_FAST)
def _update_rows(w, m, coef, r, v, u, mo, g, i0, i1):
    """Update the rows i0 ≤ i < i1 of a first layer (with weight decay g = εγ) and
    accumulate ``u += r_i w_i``."""
    if g != 0:
        _decay_rows(w, m, mo, g, i0, i1)
    if mo == 0:
        _rows_gd(w, coef, r, v, u, i0, i1)
    else:
        _rows_momentum(w, m, coef, r, v, u, mo, i0, i1)


@numba.njit(cache=True, fastmath=_FAST)
def _epoch(w1, mids, a, m1, mm, ma, v, u, qs, left, row, row2, mo, g):
    """One GD (mo = 0) or momentum step of one network given v = η g ∂L/∂W_eff and the
    weight decay ``g = ε·γ`` of every layer (L2 in the gradient); leaves the new end-to-end
    weights in u."""
    h = w1.shape[0]
    n_mid = mids.shape[0]
    u[:] = 0
    if n_mid == 0:  # depth 2: q = W_1 v, then one pass updating W_1 and accumulating u
        q, a_old = qs[0], left[0]
        _dots(w1, v, q, 0, h)
        for i in range(h):
            a_old[i] = a[i]
            ma[i] = mo * ma[i] + q[i]
            if g != 0:
                ma[i] += g * a_old[i]
            a[i] -= ma[i]
        _update_rows(w1, m1, a_old, a, v, u, mo, g, 0, h)
        return
    # q_2 = W_1 v, q_{l+1} = W_l q_l (the gradient's input-side factors), and
    # A_{D-1} = a, A_l = A_{l+1} W_{l+1} (the output-side factors), before any update
    _dots(w1, v, qs[0], 0, h)
    left[n_mid, :] = a
    if n_mid == 1:  # depth 3: both products of the middle layer in one pass over it
        _both_products(mids[0], qs[0], qs[1], left[1], left[0])
    else:  # the chains run in opposite directions: a pass each
        for k in range(n_mid):
            _dots(mids[k], qs[k], qs[k + 1], 0, h)
        for k in range(n_mid - 1, -1, -1):
            _row_times(left[k + 1], mids[k], left[k])
    # W_D = a by q_D, the middle layers by A_l q_lᵀ
    for i in range(h):
        ma[i] = mo * ma[i] + qs[n_mid, i]
        if g != 0:
            ma[i] += g * a[i]
        a[i] -= ma[i]
    # each middle layer's update fused with the product a W_{D-1} ⋯ W_l (updated), output
    # side first; then u = that times W_1, fused with W_1's own update by A_1 vᵀ
    row[:] = a
    for k in range(n_mid - 1, -1, -1):
        _update_middle(mids[k], mm[k], left[k + 1], qs[k], mo, g, row, row2)
        row[:] = row2
    _update_rows(w1, m1, left[0], row, v, u, mo, g, 0, h)


@numba.njit(cache=True, fastmath=_FAST)
def _both_products(w, q_in, q_out, l_in, l_out):
    """``q_out = W q_in`` and ``l_out = l_in W`` in one pass over W, four rows at a time (each
    sum starts from its first product: numba types a literal 0 as float64)."""
    h = w.shape[0]
    l_out[:] = 0
    i = 0
    while i + 4 <= h:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        l0, l1, l2, l3 = l_in[i], l_in[i + 1], l_in[i + 2], l_in[i + 3]
        x0, x1, x2, x3 = w0[0], w1[0], w2[0], w3[0]
        q_first = q_in[0]
        q0, q1, q2, q3 = x0 * q_first, x1 * q_first, x2 * q_first, x3 * q_first
        l_out[0] += (l0 * x0 + l1 * x1) + (l2 * x2 + l3 * x3)
        for j in range(1, w.shape[1]):
            x0, x1, x2, x3 = w0[j], w1[j], w2[j], w3[j]
            qj = q_in[j]
            q0 += x0 * qj
            q1 += x1 * qj
            q2 += x2 * qj
            q3 += x3 * qj
            l_out[j] += (l0 * x0 + l1 * x1) + (l2 * x2 + l3 * x3)
        q_out[i] = q0
        q_out[i + 1] = q1
        q_out[i + 2] = q2
        q_out[i + 3] = q3
        i += 4
    while i < h:
        wi, li = w[i], l_in[i]
        q_out[i] = _dot(wi, q_in)
        for j in range(w.shape[1]):
            l_out[j] += li * wi[j]
        i += 1


@numba.njit(cache=True, fastmath=_FAST)
def _update_middle(w, m, left, q, mo, g, row_in, row_out):
    """A middle layer's step, ``m_i = mo m_i + left_i q (+ g w_i)``, ``w_i −= m_i`` (plain GD
    without decay: ``w_i −= left_i q``, m untouched), and ``row_out = row_in W`` (updated) in
    the same pass."""
    h = w.shape[0]
    row_out[:] = 0
    for i in range(h):
        li, ri = left[i], row_in[i]
        wi, mi = w[i], m[i]
        if mo == 0 and g == 0:  # plain GD: no velocity to read or write
            for j in range(h):
                x = wi[j] - li * q[j]
                wi[j] = x
                row_out[j] += ri * x
        elif g != 0:
            for j in range(h):
                y = mo * mi[j] + li * q[j] + g * wi[j]
                mi[j] = y
                x = wi[j] - y
                wi[j] = x
                row_out[j] += ri * x
        else:
            for j in range(h):
                y = mo * mi[j] + li * q[j]
                mi[j] = y
                x = wi[j] - y
                wi[j] = x
                row_out[j] += ri * x


@numba.njit(cache=True, fastmath=_FAST)
def _squared_norm(w1, mids, a):
    """Σ_l ‖W_l‖² of one network, in float64 (the weight-decay penalty's sum)."""
    acc = 0.0
    for flat in (w1.ravel(), mids.ravel(), a):
        for x in flat:
            acc += np.float64(x) * x
    return acc


@numba.njit(cache=True, parallel=True, fastmath=_FAST)
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
        # u = a W_{D-1} ⋯ W_1, the end-to-end weights
        row[:] = a[b]
        for k in range(n_mid - 1, -1, -1):
            _row_times(row, mids[b, k], row2)
            row[:] = row2
        _row_times(row, w1[b], u)
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
            tr = noise * z_perp[b]  # P·E_t, a sum of squares
            for i in range(n):
                r = np.float64(s) * zeta[b, i] - np.float64(d[i]) * root[i]
                tr += r * r
            objective = tr
            if gamma[b] != 0:
                objective += gamma[b] * _squared_norm(w1[b], mids[b], a[b])
            if epoch == 0:
                rounded[0] = DIVERGENCE_FACTOR * test
                limit = rounded[0]
                start = objective
                lowest = objective
                if np.isfinite(test):
                    best[b] = test
                    best_epoch[b] = 0
                else:
                    bad = True
            elif not bad:
                if not np.isfinite(test) or test > limit:
                    bad = True
                elif test < best[b]:
                    best[b] = test
                    best_epoch[b] = epoch
                if rise_epoch[b] < 0 and objective > lowest * (1 + rel) + absolute * start:
                    rise_epoch[b] = epoch
                    if stop_on_rise[b]:
                        break  # its records stay NaN: the engine trains it again
                if objective < lowest:
                    lowest = objective
            while j_rec < n_rec and record[j_rec] == epoch:
                if bad:
                    out_train[b, j_rec] = np.nan
                    out_test[b, j_rec] = np.nan
                    out_null[b, j_rec] = np.nan
                else:
                    out_train[b, j_rec] = tr / p[b]
                    out_test[b, j_rec] = test
                    nl = 0.0
                    for i in range(null_modes[b]):
                        nl += np.float64(d[i]) * d[i]
                    out_null[b, j_rec] = nl / n
                j_rec += 1
            if bad or epoch == epochs:
                continue
            for i in range(n):  # v = η g ∂L/∂W_eff in the eigenbasis
                v[i] = step[b] * (lam[b, i] * d[i] - s * c[b, i])
            _epoch(w1[b], mids[b], a[b], m1, mm, ma, v, u, qs, left, row, row2, mom[b], decay[b])
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
