"""Random-matrix theory of depth-1 learning dynamics (science.md §2).

All formulas use the sum-loss convention of science.md §1.2: inputs ``x ~ N(0, I/N)``,
``Σ_xx = X Xᵀ`` with Marchenko-Pastur eigenvalues for load ``α = P/N``, time
``t = η·epoch`` in units of τ (for the mean loss ``t = η·epoch/P``). Errors include the
noise floor: ``E_g = ‖w − w̄‖²/N + σ_ε²``.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

__all__ = [
    "bayes_error",
    "mp_bulk_nodes",
    "mp_edges",
    "stieltjes",
    "test_error",
    "train_error",
]


def mp_edges(alpha: float) -> tuple[float, float]:
    """Edges ``(1 ∓ √α)²`` of the Marchenko-Pastur bulk."""
    s = np.sqrt(alpha)
    return (1 - s) ** 2, (1 + s) ** 2


@cache
def _gauss_legendre(n: int):
    return np.polynomial.legendre.leggauss(n)


@lru_cache(maxsize=256)
def _bulk_nodes(alpha: float, n: int):
    lo, hi = mp_edges(alpha)
    c, r = (hi + lo) / 2, (hi - lo) / 2
    x, w = _gauss_legendre(n)
    theta = (x + 1) * np.pi / 2
    lam = c + r * np.cos(theta)
    # λ = c + r cos θ turns √((λ+ − λ)(λ − λ−)) dλ into r² sin²θ dθ: no edge singularity
    weight = (w * np.pi / 2) * r**2 * np.sin(theta) ** 2 / (2 * np.pi * lam)
    lam.setflags(write=False)
    weight.setflags(write=False)
    return lam, weight


def mp_bulk_nodes(alpha: float, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights for ``∫ f(λ) ρ_c(λ) dλ`` over the MP bulk.

    The bulk has mass ``min(1, α)``; the point mass ``(1 − α)_+`` at λ = 0 is not
    included (science.md §2.2).
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return _bulk_nodes(float(alpha), int(n))


def stieltjes(alpha: float, gamma):
    """``m(−γ) = ∫ ρ(λ)/(λ + γ) dλ`` over the full MP law (zero mass included), γ > 0."""
    gamma = np.asarray(gamma, dtype=np.float64)
    b = alpha - 1 + gamma
    return (np.sqrt(b * b + 4 * gamma) - b) / (2 * gamma)


def _decay(lam, t, epochs, step):
    """``e^{−λt}`` (gradient flow) or ``(1 − ε λ)^k`` (discrete GD with step ε)."""
    if epochs is None:
        return np.exp(-np.multiply.outer(np.atleast_1d(np.asarray(t, dtype=np.float64)), lam))
    k = np.atleast_1d(np.asarray(epochs, dtype=np.float64))
    return np.power.outer(1.0 - step * lam, k).T


def _check_time(t, epochs, step):
    if (t is None) == (epochs is None):
        raise ValueError("give either t (gradient flow) or epochs and step (discrete GD)")
    if epochs is not None and step is None:
        raise ValueError("discrete time needs the step ε (η, or η/P for the mean loss)")


def test_error(alpha, teacher_var, noise_var, init_var=0.0, t=None, epochs=None, step=None, n=2000):
    """Depth-1 generalization error ``E_g(t)`` (science.md §2.3), including σ_ε².

    Args:
        alpha: load P/N.
        teacher_var, noise_var, init_var: σ_w², σ_ε², σ_0² (per-entry variances).
        t: gradient-flow times (units of τ); or
        epochs, step: discrete GD steps k with step ε in sum units, ``(1 − ελ)^k``.
        n: quadrature nodes.

    Returns:
        Array over the times given.
    """
    _check_time(t, epochs, step)
    lam, wt = mp_bulk_nodes(alpha, n)
    a = teacher_var + init_var
    e = _decay(lam, t, epochs, step)
    bulk = (wt * (a * e**2 + noise_var * (1 - e) ** 2 / lam)).sum(-1)
    return noise_var + max(0.0, 1 - alpha) * a + bulk


def train_error(alpha, teacher_var, noise_var, init_var=0.0, t=None, epochs=None, step=None, n=2000):
    """Depth-1 training error ``E_t(t)`` (science.md §2.3): mean squared training residual."""
    _check_time(t, epochs, step)
    lam, wt = mp_bulk_nodes(alpha, n)
    a = teacher_var + init_var
    e = _decay(lam, t, epochs, step)
    return noise_var * max(0.0, 1 - 1 / alpha) + (wt * (noise_var + lam * a) * e**2).sum(-1) / alpha


def bayes_error(alpha, teacher_var, noise_var):
    """Bayes-optimal (posterior-mean, optimal ridge) error ``σ_ε²[1 + m(−σ_ε²/σ_w²)]``.

    For σ_ε² = 0 the posterior mean is exact on the data's span: ``(1 − α)_+ σ_w²``.
    """
    if noise_var == 0:
        return max(0.0, 1 - alpha) * teacher_var
    return noise_var * (1 + float(stieltjes(alpha, noise_var / teacher_var)))
