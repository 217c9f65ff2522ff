"""Random-matrix theory of depth-1 learning dynamics (docs/theory.md §2).

All formulas use the sum-loss convention of docs/theory.md §1.2: inputs ``x ~ N(0, I/N)``,
``Σ_xx = X Xᵀ`` with Marchenko-Pastur eigenvalues for load ``α = P/N``, time
``t = η·epoch`` in units of τ (for the mean loss ``t = η·epoch/P``). Errors include the
noise floor: ``E_g = ‖w − w̄‖²/N + σ_ε²``. NumPy only.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

__all__ = [
    "asymptotic_test_error",
    "bayes_error",
    "gauss_legendre",
    "mp_bulk_nodes",
    "mp_density",
    "mp_edges",
    "optimal_stopping",
    "stieltjes",
    "test_error",
    "train_error",
]


def mp_edges(alpha: float) -> tuple[float, float]:
    """Edges ``(1 ∓ √α)²`` of the Marchenko-Pastur bulk."""
    s = np.sqrt(alpha)
    return (1 - s) ** 2, (1 + s) ** 2


def mp_density(lam, alpha):
    """Continuous part ``ρ_c(λ) = √((λ+ − λ)(λ − λ−))/(2πλ)`` of the MP law (zero outside)."""
    lo, hi = mp_edges(alpha)
    lam = np.asarray(lam, dtype=np.float64)
    inside = (lam > lo) & (lam < hi)
    safe = np.where(inside, lam, 1.0)
    return np.where(inside, np.sqrt(np.clip((hi - safe) * (safe - lo), 0, None)) / (2 * np.pi * safe), 0.0)


@cache
def gauss_legendre(n: int):
    """Gauss-Legendre nodes and weights on [-1, 1] (cached)."""
    return np.polynomial.legendre.leggauss(n)


@lru_cache(maxsize=256)
def _bulk_nodes(alpha: float, n: int):
    lo, hi = mp_edges(alpha)
    c, r = (hi + lo) / 2, (hi - lo) / 2
    x, w = gauss_legendre(n)
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
    included (docs/theory.md §2.2).
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return _bulk_nodes(float(alpha), int(n))


def stieltjes(alpha: float, gamma):
    """``m(−γ) = ∫ ρ(λ)/(λ + γ) dλ`` over the full MP law (zero mass included), γ > 0."""
    gamma = np.asarray(gamma, dtype=np.float64)
    b = alpha - 1 + gamma
    return (np.sqrt(b * b + 4 * gamma) - b) / (2 * gamma)


def _nodes(alpha: float, n: int, white: bool):
    """Eigenvalues of Σ_xx and their weights: the MP bulk, or the single λ = α of white inputs."""
    if white:
        if alpha < 1:
            raise ValueError(f"whitened inputs need P ≥ N (alpha ≥ 1), got alpha = {alpha}")
        return np.array([float(alpha)]), np.array([1.0])
    return mp_bulk_nodes(alpha, n)


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


def test_error(
    alpha,
    teacher_var,
    noise_var,
    init_var=0.0,
    t=None,
    epochs=None,
    step=None,
    n=2000,
    weight_decay=0.0,
    white=False,
):
    """Depth-1 generalization error ``E_g(t)`` (docs/theory.md §2.3, §2.7), including σ_ε².

    Args:
        alpha: load P/N.
        teacher_var, noise_var, init_var: σ_w², σ_ε², σ_0² (per-entry variances).
        t: gradient-flow times (units of τ); or
        epochs, step: discrete GD steps k with step ε in sum units, ``(1 − ελ)^k``.
        n: quadrature nodes.
        white: whitened inputs (``Σ_xx = α·I`` exactly, α ≥ 1): every mode at λ = α instead of
            the Marchenko-Pastur law.
        weight_decay: γ (sum units): each mode relaxes with ``q = 1 − ε(λ + γ)`` (flow
            ``e^{−(λ+γ)t}``) toward the ridge solution, per mode
            ``σ_0² q^{2k} + σ_w²[q^k + γ(1 − q^k)/(λ + γ)]² + σ_ε² λ(1 − q^k)²/(λ + γ)²``,
            and the null space keeps ``σ_w² + σ_0² q_0^{2k}`` with ``q_0 = 1 − εγ``.

    Returns:
        Array over the times given.
    """
    _check_time(t, epochs, step)
    lam, wt = _nodes(alpha, n, white)
    a = teacher_var + init_var
    if weight_decay == 0:
        e = _decay(lam, t, epochs, step)
        bulk = (wt * (a * e**2 + noise_var * (1 - e) ** 2 / lam)).sum(-1)
        return noise_var + max(0.0, 1 - alpha) * a + bulk
    g = float(weight_decay)
    e = _decay(lam + g, t, epochs, step)
    c = e + g * (1 - e) / (lam + g)
    bulk = (
        wt * (init_var * e**2 + teacher_var * c**2 + noise_var * lam * (1 - e) ** 2 / (lam + g) ** 2)
    ).sum(-1)
    e0 = _decay(np.array([g]), t, epochs, step)[..., 0]
    return noise_var + max(0.0, 1 - alpha) * (teacher_var + init_var * e0**2) + bulk


def train_error(
    alpha,
    teacher_var,
    noise_var,
    init_var=0.0,
    t=None,
    epochs=None,
    step=None,
    n=2000,
    weight_decay=0.0,
    white=False,
):
    """Depth-1 training error ``E_t(t)`` (docs/theory.md §2.3): mean squared training residual.

    With weight decay γ, per mode (``d`` the error of :func:`test_error`'s mode, ``n`` the
    noise's projection): ``E_t = σ_ε² + (1/α)∫ρ [λ E d² − 2 E(d n)]`` with
    ``E(d n) = σ_ε² λ(1 − q^k)/(λ + γ)``."""
    _check_time(t, epochs, step)
    lam, wt = _nodes(alpha, n, white)
    a = teacher_var + init_var
    if weight_decay == 0:
        e = _decay(lam, t, epochs, step)
        return noise_var * max(0.0, 1 - 1 / alpha) + (wt * (noise_var + lam * a) * e**2).sum(-1) / alpha
    g = float(weight_decay)
    e = _decay(lam + g, t, epochs, step)
    c = e + g * (1 - e) / (lam + g)
    d2 = init_var * e**2 + teacher_var * c**2 + noise_var * lam * (1 - e) ** 2 / (lam + g) ** 2
    cross = noise_var * lam * (1 - e) / (lam + g)
    return noise_var + (wt * (lam * d2 - 2 * cross)).sum(-1) / alpha


def bayes_error(alpha, teacher_var, noise_var, white=False):
    """Bayes-optimal (posterior-mean, optimal ridge) error ``σ_ε²[1 + m(−σ_ε²/σ_w²)]``.

    For σ_ε² = 0 the posterior mean is exact on the data's span: ``(1 − α)_+ σ_w²``. With
    ``white`` inputs (Σ_xx = α·I, α ≥ 1), ``m(−γ) = 1/(α + γ)``.
    """
    if noise_var == 0:
        return max(0.0, 1 - alpha) * teacher_var
    gamma = noise_var / teacher_var
    return noise_var * (1 + (1 / (alpha + gamma) if white else float(stieltjes(alpha, gamma))))


def asymptotic_test_error(alpha, teacher_var, noise_var, init_var=0.0):
    """``E_g(t → ∞)`` at depth 1 (docs/theory.md §2.4); infinite at α = 1 with noise.

    α > 1: least squares, ``σ_ε² α/(α − 1)``. α < 1: the frozen subspace plus the
    min-norm interpolator, ``(1 − α)(σ_w² + σ_0²) + σ_ε²/(1 − α)``.
    """
    a = teacher_var + init_var
    if alpha > 1:
        return noise_var * alpha / (alpha - 1)
    if alpha < 1:
        return (1 - alpha) * a + noise_var / (1 - alpha)
    return np.inf if noise_var > 0 else 0.0


def _golden(f, lo, hi, tol=1e-10):
    """Minimise a unimodal f on [lo, hi] by golden-section search."""
    g = (np.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = f(c), f(d)
    while hi - lo > tol * max(1.0, abs(lo) + abs(hi)):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = f(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = f(d)
    return (lo + hi) / 2


def optimal_stopping(
    alpha, teacher_var, noise_var, init_var=0.0, step=None, n=2000, weight_decay=0.0, white=False
):
    """Optimal early-stopping time and error at depth 1 (docs/theory.md §2.5).

    Args:
        step: None for gradient flow (t* continuous, units of τ); else the GD step ε in
            sum units, and the optimum is over integer epochs, returned as t* = ε k*.

    Returns:
        (t_star, e_star). Without label noise or weight decay E_g only decreases: (inf, E_g(∞)).
    """
    g = weight_decay
    if noise_var == 0 and g == 0:  # E_g decreases monotonically (docs/theory.md §5)
        return np.inf, asymptotic_test_error(alpha, teacher_var, noise_var, init_var)

    def flow(log_t):
        return float(
            test_error(
                alpha, teacher_var, noise_var, init_var, t=np.exp(log_t), n=n, weight_decay=g, white=white
            )[0]
        )

    grid = np.linspace(np.log(1e-4), np.log(1e6), 241)
    values = test_error(
        alpha, teacher_var, noise_var, init_var, t=np.exp(grid), n=n, weight_decay=g, white=white
    )
    i = int(np.argmin(values))
    if i == len(grid) - 1:
        if g or white:
            return np.inf, float(
                test_error(
                    alpha, teacher_var, noise_var, init_var, t=[np.inf], n=n, weight_decay=g, white=white
                )[0]
            )
        return np.inf, asymptotic_test_error(alpha, teacher_var, noise_var, init_var)
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    log_t = _golden(flow, lo, hi)
    if step is None:
        return float(np.exp(log_t)), flow(log_t)

    def disc(k):
        return float(
            test_error(
                alpha,
                teacher_var,
                noise_var,
                init_var,
                epochs=[k],
                step=step,
                n=n,
                weight_decay=g,
                white=white,
            )[0]
        )

    # the discrete optimum is near t*/ε; integer ternary search on a generous bracket
    k_lo, k_hi = 0, max(2, int(np.ceil(4 * np.exp(log_t) / step)))
    while k_hi - k_lo > 2:
        m1 = k_lo + (k_hi - k_lo) // 3
        m2 = k_hi - (k_hi - k_lo) // 3
        if disc(m1) <= disc(m2):
            k_hi = m2
        else:
            k_lo = m1
    ks = range(k_lo, k_hi + 1)
    vals = [disc(k) for k in ks]
    j = int(np.argmin(vals))
    return float(step * ks[j]), vals[j]
