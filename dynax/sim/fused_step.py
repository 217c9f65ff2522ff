"""One step of one network in the fused CPU kernel (:mod:`dynax.sim.fused`): the layer
updates of GD and momentum, with weight decay, in the eigenbasis of Σ_xx, each weight matrix
read and written a few times while it stays in cache (numba, no JAX)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["FAST", "epoch_step", "row_times", "squared_norm"]


# IEEE semantics but for reassociation (vectorised dot products); no "nnan"/"ninf": the
# divergence check must see infinities and NaN
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(cache=True, fastmath=FAST)
def _dot(x, y):
    """x·y in the arrays' dtype (the sum starts from the first product, not from a literal
    0, which numba would type as float64 and so widen a float32 sum)."""
    acc = x[0] * y[0]
    for j in range(1, x.shape[0]):
        acc += x[j] * y[j]
    return acc


@numba.njit(cache=True, fastmath=FAST)
def row_times(row, mat, out):
    """out = row @ mat (row vector times matrix)."""
    out[:] = 0
    for i in range(mat.shape[0]):
        ri = row[i]
        mi = mat[i]
        for j in range(mat.shape[1]):
            out[j] += ri * mi[j]


@numba.njit(cache=True, fastmath=FAST)
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


@numba.njit(cache=True, fastmath=FAST)
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


@numba.njit(cache=True, fastmath=FAST)
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


@numba.njit(cache=True, fastmath=FAST)
def _decay_rows(w, m, mo, shrink, i0, i1):
    """Weight decay ``shrink = εγ`` of the rows i0 ≤ i < i1 before their update: GD takes
    ``w_i ← (1 − shrink) w_i`` (then ``w_i −= coef_i v``); momentum ``m_i += (shrink/mo) w_i`` (then
    ``m_i = mo m_i + coef_i v`` gives ``mo m_i + coef_i v + shrink w_i``, mo > 0 on that path). A
    pass of its own, so that without decay every operation is the one before it existed."""
    n = w.shape[1]
    if mo == 0:
        dec = 1.0 - shrink
        for i in range(i0, i1):
            for j in range(n):
                w[i, j] *= dec
    else:
        c = shrink / mo
        for i in range(i0, i1):
            for j in range(n):
                m[i, j] += c * w[i, j]


@numba.njit(cache=True, fastmath=FAST)
def _update_rows(w, m, coef, r, v, u, mo, shrink, i0, i1):
    """Update the rows i0 ≤ i < i1 of a first layer (with weight decay shrink = εγ) and
    accumulate ``u += r_i w_i``."""
    if shrink != 0:
        _decay_rows(w, m, mo, shrink, i0, i1)
    if mo == 0:
        _rows_gd(w, coef, r, v, u, i0, i1)
    else:
        _rows_momentum(w, m, coef, r, v, u, mo, i0, i1)


@numba.njit(cache=True, fastmath=FAST)
def epoch_step(w1, mids, a, m1, mm, ma, v, u, qs, left, row, row2, mo, shrink):
    """One GD (mo = 0) or momentum step of one network given v = η g ∂L/∂W_eff and the
    weight decay ``shrink = ε·γ`` of every layer (L2 in the gradient); leaves the new end-to-end
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
            if shrink != 0:
                ma[i] += shrink * a_old[i]
            a[i] -= ma[i]
        _update_rows(w1, m1, a_old, a, v, u, mo, shrink, 0, h)
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
            row_times(left[k + 1], mids[k], left[k])
    # W_D = a by q_D, the middle layers by A_l q_lᵀ
    for i in range(h):
        ma[i] = mo * ma[i] + qs[n_mid, i]
        if shrink != 0:
            ma[i] += shrink * a[i]
        a[i] -= ma[i]
    # each middle layer's update fused with the product a W_{D-1} ⋯ W_l (updated), output
    # side first; then u = that times W_1, fused with W_1's own update by A_1 vᵀ
    row[:] = a
    for k in range(n_mid - 1, -1, -1):
        _update_middle(mids[k], mm[k], left[k + 1], qs[k], mo, shrink, row, row2)
        row[:] = row2
    _update_rows(w1, m1, left[0], row, v, u, mo, shrink, 0, h)


@numba.njit(cache=True, fastmath=FAST)
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


@numba.njit(cache=True, fastmath=FAST)
def _update_middle(w, m, left, q, mo, shrink, row_in, row_out):
    """A middle layer's step, ``m_i = mo m_i + left_i q (+ shrink w_i)``, ``w_i −= m_i`` (plain GD
    without decay: ``w_i −= left_i q``, m untouched), and ``row_out = row_in W`` (updated) in
    the same pass."""
    h = w.shape[0]
    row_out[:] = 0
    for i in range(h):
        li, ri = left[i], row_in[i]
        wi, mi = w[i], m[i]
        if mo == 0 and shrink == 0:  # plain GD: no velocity to read or write
            for j in range(h):
                x = wi[j] - li * q[j]
                wi[j] = x
                row_out[j] += ri * x
        elif shrink != 0:
            for j in range(h):
                y = mo * mi[j] + li * q[j] + shrink * wi[j]
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


@numba.njit(cache=True, fastmath=FAST)
def squared_norm(w1, mids, a):
    """Σ_l ‖W_l‖² of one network, in float64 (the weight-decay penalty's sum)."""
    acc = 0.0
    for flat in (w1.ravel(), mids.ravel(), a):
        for x in flat:
            acc += np.float64(x) * x
    return acc
