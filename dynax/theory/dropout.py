"""Dropout on the hidden units of a depth-2 linear network, in expectation (docs/theory.md §3.6),
and input noise (§3.7, :func:`input_noise_mode`).

A hidden unit i is kept with probability p = 1 − q, independently per example and step. In
dynax's conventions (½-sum loss, Σ_xx = Σ_μ x_μ x_μᵀ) the expected loss is the clean one plus a
penalty on each unit's contribution:

* inverted scaling (kept units × 1/p): ``½Σ_μ‖y_μ − W₂W₁x_μ‖² + ½(q/p) Σ_i ‖a_i‖² w_iᵀ Σ_xx w_i``;
* unscaled masks: ``½Σ_μ‖y_μ − p W₂W₁x_μ‖² + ½ p q Σ_i ‖a_i‖² w_iᵀ Σ_xx w_i``,

with ``a_i`` column i of W₂ and ``w_i`` row i of W₁. The network is evaluated without masks.
For one mode carried by one hidden unit (whitened inputs Σ_xx = αI, a balanced aligned
start u₀ = a₀w₀ along the teacher's singular vectors with singular value s) gradient flow
on it is a logistic:

* inverted: ``du/dt = 2αu(s − u/p)``, fixed point ``u* = p s``, early growth ``2αs`` for every p;
* unscaled: ``du/dt = 2αp u(s − u)``, fixed point ``u* = s``, growth ``2αps``: the learning time
  scales as 1/(s p).
"""

from __future__ import annotations

import numpy as np

from .deep import _check_alpha, saxe_mode

__all__ = [
    "DROPOUT_SCALINGS",
    "dropout_learning_time",
    "dropout_mode",
    "dropout_shared_minimum",
    "input_noise_mode",
]

DROPOUT_SCALINGS = ("inverted", "none")


def _keep(q, scaling: str):
    if scaling not in DROPOUT_SCALINGS:
        raise ValueError(f"scaling must be one of {DROPOUT_SCALINGS}, got {scaling!r}")
    q = np.asarray(q, dtype=np.float64)
    if np.any((q < 0) | (q >= 1)):
        raise ValueError("the drop probability q must be in [0, 1)")
    return 1.0 - q


def dropout_mode(s, u0, t, q, scaling: str = "inverted", alpha: float = 1.0):
    """One mode's strength ``u(t)`` under dropout's expected gradient flow (depth 2, one hidden
    unit per mode, whitened inputs Σ_xx = αI, balanced start ``u0 > 0``): inverted scaling
    ``u = p·saxe_mode(s, u0/p, t)``, unscaled ``u = saxe_mode(s, u0, t, alpha = α p)``
    (:func:`dynax.theory.saxe_mode` at depth 2). Arguments broadcast together."""
    p = _keep(q, scaling)
    _check_alpha(alpha)
    if scaling == "inverted":
        return p * saxe_mode(s, np.asarray(u0) / p, t, depth=2, alpha=alpha)
    s, u0, t, p = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (s, u0, t, p)))
    return saxe_mode(s, u0, alpha * p * t, depth=2, alpha=1.0)


def dropout_learning_time(s, u0, q, scaling: str = "inverted", frac: float = 0.5, alpha: float = 1.0):
    """The time the mode of :func:`dropout_mode` takes from ``u0`` to ``frac`` of its fixed
    point (p s inverted, s unscaled): ``ln[(f/(1 − f))(u*/u0 − 1)] / r`` with the logistic's rate
    r = 2αs (inverted) or 2αps (unscaled); needs 0 < u0 < f u*."""
    p = _keep(q, scaling)
    _check_alpha(alpha)
    if not 0 < frac < 1:
        raise ValueError(f"frac must be in (0, 1), got {frac}")
    s = np.asarray(s, dtype=np.float64)
    u_star = p * s if scaling == "inverted" else s
    if np.any(np.asarray(u0) <= 0) or np.any(np.asarray(u0) >= frac * u_star):
        raise ValueError("dropout_learning_time needs 0 < u0 < frac · u* (u* = p s inverted, s unscaled)")
    rate = 2 * alpha * s * (1.0 if scaling == "inverted" else p)
    return np.log(frac / (1 - frac) * (u_star / np.asarray(u0) - 1)) / rate


def dropout_shared_minimum(s, q: float, width: int, scaling: str = "inverted"):
    """The minimum of the expected loss over every depth-2 network of ``width`` hidden units
    (whitened inputs, any α; docs/theory.md §3.6, "Modes sharing a hidden layer"): the hidden units
    equalise, and every mode of strength s_k is cut by one common threshold,

        m_k = (s_k − θ)₊ / κ,   θ = c S_A / (1 + c |A|),   c = q / (p h)

    with A the modes above θ, S_A the sum of their s_k, κ = 1 (inverted) or p (unscaled masks).
    Each unit's share ‖a_i‖‖w_i‖ is then Σ_k m_k / h.

    Returns ``(m, share)``: the end-to-end strengths (same order as ``s``) and the common share.
    Raises ValueError when more modes than ``width`` stay active (the split needs h ≥ rank M).
    """
    p = float(_keep(q, scaling))
    s = np.asarray(s, dtype=np.float64)
    c = (1.0 - p) / (p * width)
    order = np.sort(s)[::-1]
    theta = 0.0
    for n in range(len(order), 0, -1):  # the largest active set whose threshold stays below its modes
        theta = c * order[:n].sum() / (1.0 + c * n)
        if order[n - 1] > theta:
            break
    m = np.clip(s - theta, 0.0, None) / (1.0 if scaling == "inverted" else p)
    if np.count_nonzero(m) > width:  # the bound ‖M‖_*²/h is reached only with rank M ≤ h
        raise ValueError(
            f"width {width} is below the {np.count_nonzero(m)} modes this minimum keeps; "
            "the equalised minimum needs width >= its rank"
        )
    return m, float(m.sum() / width)


def input_noise_mode(s, u0, t, n_in: int, sigma_n, depth: int = 2, alpha: float = 1.0):
    """One mode's strength under input noise's expected flow (docs/theory.md §3.7), whitened
    inputs Σ_xx = αI, decoupled balanced start: the expected loss ½α[(s − u)² + N σ_n² u²] is
    Saxe's with the target s and the curvature scaled by ξ = 1 + N σ_n², so
    ``u(t) = saxe_mode(s/ξ, u0, ξ t)`` (depth 1: ridge GD's exponential; depth 2: a logistic with
    growth 2αs and fixed point s/ξ)."""
    _check_alpha(alpha)
    xi = 1.0 + n_in * np.asarray(sigma_n, dtype=np.float64) ** 2
    s, u0, t, xi = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (s, u0, t, xi)))
    return saxe_mode(s / xi, u0, xi * t, depth=depth, alpha=alpha)
