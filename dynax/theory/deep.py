"""Deep linear networks: the stable step size and the Saxe et al. mode solutions
(docs/theory.md §3). NumPy only.
"""

from __future__ import annotations

import numpy as np

from .mp import gauss_legendre

__all__ = ["saxe_escape_time", "saxe_mode", "stability_bound"]


def stability_bound(depth: int, lam_max, teacher_norm, init: str = "gaussian", shapes=(), init_scale=0.0):
    """The largest stable GD step ε (sum-loss units), docs/theory.md §3.2.

    The loss curvature along the top input direction is about
    ``λ_max · Σ_l Π_{k≠l} ‖W_k‖²``; at a balanced point with end-to-end norm ‖w‖ that is
    ``D ‖w‖^{2−2/D} λ_max``. The bound takes the larger of the curvature at ‖w‖ = ‖w̄‖
    (the teacher's norm) and at the initial weights (``shapes`` and ``init_scale``), so
    it is exact at depth 1 (ε < 2/λ_max) and holds for deep runs while ‖W_eff‖ stays
    near ‖w̄‖.
    """
    lam_max = np.asarray(lam_max, dtype=np.float64)
    if depth == 1:
        return 2.0 / lam_max
    at_teacher = depth * np.asarray(teacher_norm, dtype=np.float64) ** (2 - 2 / depth)
    norms = _layer_norms(init, shapes, init_scale)
    at_init = sum(np.prod([m**2 for j, m in enumerate(norms) if j != i]) for i in range(len(norms)))
    return 2.0 / (lam_max * np.maximum(at_teacher, at_init))


def _layer_norms(init: str, shapes, scale: float) -> list[float]:
    """Typical spectral norm of each initial layer."""
    out = []
    for fan_out, fan_in in shapes:
        if init == "gaussian":
            out.append(scale * (np.sqrt(fan_in) + np.sqrt(fan_out)))
        elif init == "gaussian_fan_in":
            out.append(scale * (1 + np.sqrt(fan_out / fan_in)))
        elif init == "zero":
            out.append(0.0)
        else:  # orthogonal, balanced, aligned: singular values equal the scale
            out.append(scale)
    return out


def saxe_mode(s, u0, t, depth: int = 2):
    """One mode's strength ``u(t)`` for whitened inputs and decoupled (aligned, balanced)
    initialisation, Saxe, McClelland & Ganguli (2014); docs/theory.md §3.1.

    ``τ du/dt = D u^{2−2/D} (s − u)``: at depth 1 an exponential approach, at depth 2 the
    sigmoid ``u = s e^{2st}/(e^{2st} − 1 + s/u0)``, deeper a numerical solution.
    """
    t = np.asarray(t, dtype=np.float64)
    if depth == 1:
        return s + (u0 - s) * np.exp(-t)
    if depth == 2:
        e = np.exp(2 * s * t)
        return s * e / (e - 1 + s / u0)
    # t(u) by quadrature, inverted by interpolation on a grid uniform in logit(u/s), which
    # resolves both the plateau near u0 and the approach to s
    v = np.linspace(np.log(u0 / (s - u0)), 30.0, 3001)
    us = s / (1 + np.exp(-v))
    times = np.array([saxe_escape_time(s, u0, depth, target=u) for u in us[1:]])
    return np.interp(t, np.concatenate([[0.0], times]), us)


def saxe_escape_time(s, u0, depth: int, frac: float = 0.5, target=None):
    """Time for a mode to grow from u0 to ``frac·s`` (docs/theory.md §3.1):
    ``t = (1/D) ∫_{u0}^{u_f} du / (u^{2−2/D} (s − u))``; D = 2 in closed form."""
    uf = frac * s if target is None else target
    if depth == 2:
        return float(np.log(uf * (s - u0) / (u0 * (s - uf))) / (2 * s))
    # substitute u = e^v: du = u dv; Gauss-Legendre on v
    x, w = gauss_legendre(400)
    a, b = np.log(u0), np.log(uf)
    v = (b - a) / 2 * x + (b + a) / 2
    u = np.exp(v)
    integrand = u / (u ** (2 - 2 / depth) * (s - u))
    return float((b - a) / 2 * np.sum(w * integrand) / depth)
