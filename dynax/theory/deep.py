"""Deep linear networks: the stable step size and the Saxe et al. mode solutions
(docs/theory.md §3). NumPy only.
"""

from __future__ import annotations

import numpy as np

from .mp import gauss_legendre

__all__ = [
    "mode_oracle",
    "saxe_escape_time",
    "saxe_mode",
    "saxe_mode_discrete",
    "saxe_plateau_time",
    "stability_bound",
]


def stability_bound(
    depth: int, lam_max, teacher_norm, init: str = "gaussian", shapes=(), init_scale=0.0, weight_decay=0.0
):
    """The largest stable GD step ε (sum-loss units), docs/theory.md §3.2.

    The loss curvature along the top input direction is about
    ``λ_max · Σ_l Π_{k≠l} ‖W_k‖²``; at a balanced point with end-to-end norm ‖w‖ that is
    ``D ‖w‖^{2−2/D} λ_max``. The bound takes the larger of the curvature at ‖w‖ = ‖w̄‖
    (the teacher's norm) and at the initial weights (``shapes`` and ``init_scale``), so
    it is exact at depth 1 (ε < 2/λ_max) and holds for deep runs while ‖W_eff‖ stays
    near ‖w̄‖. Weight decay γ adds γ to every curvature: ``2/(λ_max + γ)`` at depth 1.
    """
    lam_max = np.asarray(lam_max, dtype=np.float64)
    gamma = np.asarray(weight_decay, dtype=np.float64)
    if depth == 1:
        return 2.0 / (lam_max + gamma)
    at_teacher = depth * np.asarray(teacher_norm, dtype=np.float64) ** (2 - 2 / depth)
    norms = _layer_norms(init, shapes, init_scale)
    at_init = sum(np.prod([m**2 for j, m in enumerate(norms) if j != i]) for i in range(len(norms)))
    return 2.0 / (lam_max * np.maximum(at_teacher, at_init) + gamma)


def _layer_norms(init: str, shapes, scale: float) -> list[float]:
    """Typical spectral norm of each initial layer."""
    out = []
    for i, (fan_out, fan_in) in enumerate(shapes):
        if init == "gaussian":
            out.append(scale * (np.sqrt(fan_in) + np.sqrt(fan_out)))
        elif init == "gaussian_fan_in":
            out.append(scale * (1 + np.sqrt(fan_out / fan_in)))
        elif init == "zero":
            out.append(0.0)
        elif init == "pretrained" and i < len(shapes) - 1:  # hidden layers learn singular values 1
            out.append(max(scale, 1.0))
        else:  # orthogonal, balanced, aligned: singular values equal the scale
            out.append(scale)
    return out


def saxe_mode(s, u0, t, depth: int = 2, alpha: float = 1.0):
    """One mode's strength ``u(t)`` for whitened inputs and decoupled (aligned, balanced)
    initialisation, Saxe, McClelland & Ganguli (2014); docs/theory.md §3.1.

    ``du/dt = α D u^{2−2/D} (s − u)`` with ``Σ_xx = α I`` (α = P/N for the sum loss, α = 1
    for Σ_xx = I): α only rescales time, ``u(t; α) = u(α t; 1)``. At depth 1 an exponential
    approach ``s + (u0 − s) e^{−αt}``, at depth 2 the sigmoid
    ``u = s e^{2αst}/(e^{2αst} − 1 + s/u0)`` (evaluated as ``s/(1 + (s/u0 − 1) e^{−2αst})``,
    finite for any t ≥ 0), deeper a numerical solution.

    ``s``, ``u0`` and ``t`` broadcast together. At depth D ≥ 2 both must be ≥ 0 (``u0 = a0^D``
    of a balanced network): ``u0 = 0`` stays 0; ``s = 0`` (a mode the teacher lacks) decays
    as ``u^{−(2−2/D)} = u0^{−(2−2/D)} + (2−2/D) α D t`` (depth 2: ``u0/(1 + 2α u0 t)``);
    ``u0 > s`` approaches s from above.
    """
    _check_alpha(alpha)
    s, u0, t = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (s, u0, t)))
    tau = alpha * t  # the α = 1 time
    if depth == 1:
        return s + (u0 - s) * np.exp(-tau)
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    if np.any(s < 0) or np.any(u0 < 0):
        raise ValueError("saxe_mode at depth ≥ 2 needs s ≥ 0 and u0 ≥ 0")
    out = np.zeros(s.shape)
    live = u0 > 0  # u0 = 0 is a fixed point
    # s = 0: du/dt = −D u^{3−2/D}, so u^{−p} grows linearly in t (p = 2 − 2/D)
    decay = live & (s == 0)
    p = 2 - 2 / depth
    out[decay] = (u0[decay] ** -p + p * depth * tau[decay]) ** (-1 / p)
    grow = live & (s > 0)
    if depth == 2:
        sg, ug = s[grow], u0[grow]
        out[grow] = sg / (1 + (sg / ug - 1) * np.exp(-2 * sg * tau[grow]))
        return out[()]
    # the numerical path, once per distinct (s, u0)
    pairs = np.stack([s[grow], u0[grow]], axis=-1)
    for si, ui in np.unique(pairs, axis=0) if pairs.size else ():
        where = grow & (s == si) & (u0 == ui)
        out[where] = _deep_mode(si, ui, tau[where], depth)
    return out[()]


def _deep_mode(s: float, u0: float, t, depth: int):
    """``u(t)`` for depth ≥ 3, s > 0, u0 > 0, α = 1: t(u) tabulated and inverted by interpolation."""
    if u0 == s:
        return np.full(np.shape(t), s)
    if u0 < s:
        # t(u) by quadrature, inverted by interpolation on a grid uniform in logit(u/s), which
        # resolves both the plateau near u0 and the approach to s
        v0 = np.log(u0 / (s - u0))
        v = np.linspace(v0, max(30.0, v0 + 10.0), 3001)
        us = s / (1 + np.exp(-v))
        times = np.array([saxe_escape_time(s, u0, depth, target=u) for u in us[1:]])
        return np.interp(t, np.concatenate([[0.0], times]), us)
    # from above: with u = s (1 + e^v), dt = −dv / (D u^{2−2/D}), a smooth integrand; a grid
    # uniform in v from u0 down to u − s = e^{−30} s, Gauss-Legendre on each cell
    v0 = np.log(u0 / s - 1)
    v = np.linspace(v0, min(-30.0, v0 - 30.0), 3001)
    x, w = gauss_legendre(8)
    h = (v[:-1] - v[1:]) / 2
    nodes = (v[:-1] + v[1:])[:, None] / 2 + h[:, None] * x
    cells = h * np.sum(w * (s * (1 + np.exp(nodes))) ** (-(2 - 2 / depth)), axis=1) / depth
    times = np.concatenate([[0.0], np.cumsum(cells)])
    # v(t) by cubic Hermite interpolation with the exact slope dv/dt = −D u^{2−2/D}; v is
    # nearly linear in t (exactly so on the final approach), so interpolate v, not u
    us = s * (1 + np.exp(v))
    slope = -depth * us ** (2 - 2 / depth)
    t = np.clip(t, 0.0, times[-1])
    j = np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.size - 2)
    dt = times[j + 1] - times[j]
    x = (t - times[j]) / dt
    h00, h10, h01, h11 = (1 + 2 * x) * (1 - x) ** 2, x * (1 - x) ** 2, x**2 * (3 - 2 * x), x**2 * (x - 1)
    vt = h00 * v[j] + h10 * dt * slope[j] + h01 * v[j + 1] + h11 * dt * slope[j + 1]
    return s * (1 + np.exp(vt))


def saxe_mode_discrete(s, u0, epochs, step: float, depth: int, alpha: float = 1.0, weight_decay: float = 0.0):
    """One mode under exact full-batch gradient descent (not the flow), docs/theory.md §3.1.

    A balanced, aligned network of depth D stays balanced under GD: every layer's strength
    of the mode is the same ``a`` (``u = a^D``, ``a0 = u0^{1/D}``), and with ``Σ_xx = α I``
    and ``Σ_yx = α W̄`` each step is ``a ← a + step·α a^{D−1} (s − a^D)`` (depth 1:
    ``u ← u + step·α (s − u)``). As ``step → 0`` this tends to :func:`saxe_mode` at
    ``t = step·epoch``. Weight decay γ (the penalty (γ/2)Σ_l‖W_l‖²) subtracts ``step·γ·a``
    from each layer's step, so at depth 2 the mode settles at ``u* = (s − γ/α)₊`` (a
    threshold), at depth 1 at ``αs/(α + γ)`` (a shrinkage), and at depth ≥ 3 ``u = 0`` is
    stable: a mode starting below the unstable fixed point decays.

    ``s`` and ``u0`` broadcast together (one entry per mode; at depth ≥ 2, ``u0 ≥ 0``);
    ``epochs`` is a sorted 1-D array of recorded epochs (0 is the initial point). Returns
    float64 ``u`` of shape ``(len(epochs), *broadcast shape)``. A diverging run (step too
    large) gives inf or nan, without warnings.
    """
    _check_alpha(alpha)
    epochs = np.asarray(epochs)
    if epochs.ndim != 1 or (epochs.size and (epochs[0] < 0 or np.any(np.diff(epochs) < 0))):
        raise ValueError("epochs must be a sorted 1-D array of non-negative integers")
    if epochs.size and not np.all(epochs == np.round(epochs)):
        raise ValueError("epochs must be integers")
    epochs = epochs.astype(np.int64)
    s, u0 = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(u0, dtype=np.float64))
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    if depth > 1 and np.any(u0 < 0):
        raise ValueError("saxe_mode_discrete at depth ≥ 2 needs u0 ≥ 0")
    out = np.empty((epochs.size, *s.shape))
    a = u0 ** (1 / depth) if depth > 1 else u0.copy()
    ea, eg = step * alpha, step * weight_decay
    i = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(int(epochs[-1]) + 1 if epochs.size else 0):
            if epochs[i] == k:
                u = u0 if k == 0 else a**depth  # epoch 0 is u0 itself, not (u0^{1/D})^D
                while i < epochs.size and epochs[i] == k:
                    out[i] = u
                    i += 1
                if i == epochs.size:
                    break
            if depth == 1:
                a = a + ea * (s - a) - eg * a if eg else a + ea * (s - a)
            else:
                lower = a ** (depth - 1)
                a = a + ea * lower * (s - lower * a) - eg * a if eg else a + ea * lower * (s - lower * a)
    return out


def saxe_plateau_time(s, u0, depth: int, alpha: float = 1.0):
    """The plateau length of a mode grown from ``0 < u0 ≪ s``, to leading order in u0/s
    (docs/theory.md §3.1).

    For ``u ≪ s`` the flow is ``du/dt ≈ α D s u^{2−2/D}``, which takes ``ln(s/u0)/(2αs)`` to
    reach u = s at depth 2, and ``u0^{−(D−2)/D}/((D−2) α s)`` to blow up at depth D ≥ 3 (to
    reach s it takes a u0-independent amount less, the same to leading order). Depth 1
    has no plateau (ValueError). ``s`` and ``u0`` broadcast; needs ``0 < u0 < s``.

    Relation to :func:`saxe_escape_time` with ``frac = 1/2``: at depth 2 the escape time is
    the plateau plus ``ln(1 − u0/s)/(2αs) ≈ −u0/(2αs²)`` (the ``ln(frac/(1 − frac))`` term
    vanishes at one half); at depth D ≥ 3 it is the plateau plus a u0-independent
    ``O(s^{−(2D−2)/D}/α)``, so the relative difference is ``O((u0/s)^{(D−2)/D})``.
    """
    _check_alpha(alpha)
    if depth < 2:
        raise ValueError(f"depth {depth} has no plateau: the mode grows at once (depth ≥ 2 needed)")
    s, u0 = np.asarray(s, dtype=np.float64), np.asarray(u0, dtype=np.float64)
    if not (np.all(u0 > 0) and np.all(u0 < s)):
        raise ValueError("saxe_plateau_time needs 0 < u0 < s")
    if depth == 2:
        t = np.log(s / u0) / (2 * alpha * s)
    else:
        t = u0 ** (-(depth - 2) / depth) / ((depth - 2) * alpha * s)
    return float(t) if t.ndim == 0 else t


def saxe_escape_time(s, u0, depth: int, frac: float = 0.5, target=None, alpha: float = 1.0):
    """Time for a mode to grow from u0 to ``frac·s`` (or to ``target``), docs/theory.md §3.1:
    ``t = (1/(αD)) ∫_{u0}^{u_f} du / (u^{2−2/D} (s − u))``; D = 2 in closed form. The
    leading-order plateau alone is :func:`saxe_plateau_time`."""
    _check_alpha(alpha)
    uf = frac * s if target is None else target
    if depth == 2:
        return float(np.log(uf * (s - u0) / (u0 * (s - uf))) / (2 * s)) / alpha
    # substitute u = e^v: du = u dv; Gauss-Legendre on v
    x, w = gauss_legendre(400)
    a, b = np.log(u0), np.log(uf)
    v = (b - a) / 2 * x + (b + a) / 2
    u = np.exp(v)
    integrand = u / (u ** (2 - 2 / depth) * (s - u))
    return float((b - a) / 2 * np.sum(w * integrand) / depth) / alpha


def _check_alpha(alpha) -> None:
    if not alpha > 0:
        raise ValueError(f"alpha (Σ_xx = α I) must be positive, got {alpha}")


def mode_oracle(projection, kappa, s, noise_var, n_in: int, n_out: int):
    """E_g of the oracle that knows the teacher's singular vectors and values (docs/theory.md
    §3.1 "An oracle for a low-rank teacher"): along each teacher mode α it takes the data's
    least-squares estimate ŝ_α = u_αᵀ Σ_yx v_α / κ_α, κ_α = v_αᵀ Σ_xx v_α (``projection`` =
    u_αᵀ Σ_yx v_α), and shrinks it by the best linear factor for that mode,
    g_α = s_α²/(s_α² + σ_ε²/κ_α) (ŝ_α ~ N(s_α, σ_ε²/κ_α) given the inputs), and predicts 0
    off the teacher's modes. Returns (realised E_g on these data, its expectation over the
    label noise given the inputs), both including σ_ε²; arrays over the last axis (modes)."""
    m, k, s = (np.asarray(v, np.float64) for v in (projection, kappa, s))
    nv, seen = float(noise_var), k > 0
    var = np.where(seen, nv / np.where(seen, k, 1.0), 0.0)  # Var(ŝ_α) given the inputs (unseen: none)
    den = np.where(s * s + var > 0, s * s + var, 1.0)
    g = np.where(seen, s * s / den, 0.0)  # a mode the inputs never excite is predicted 0
    est = g * np.where(seen, m / np.where(seen, k, 1.0), 0.0)
    scale = n_in * n_out
    realised = np.sum((est - s) ** 2, axis=-1) / scale + nv
    expected = np.sum(np.where(seen, s * s * var / den, s * s), axis=-1)  # E(gŝ − s)² = s²v/(s² + v)
    return realised, expected / scale + nv
