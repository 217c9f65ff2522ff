"""One-pass online SGD on fresh examples (docs/theory.md §4.1), as N → ∞. NumPy only."""

from __future__ import annotations

import numpy as np

__all__ = [
    "online_test_error",
    "online_test_error_optimal",
    "optimal_online_rate",
    "optimal_online_time",
]


def online_test_error(alpha_seen, teacher_var, noise_var, init_var=0.0, lr=0.5, batch=1, n_in=None):
    """One-pass SGD on fresh examples, constant rate (docs/theory.md §4.1), as N → ∞.

    Args:
        alpha_seen: examples seen / N.
        lr: the rate η on the batch-mean gradient (dynax sums minibatch gradients, so its
            rate is η/B). Stable for η < 2 at B = 1.
        batch: minibatch size B; the O(B/N) correction needs ``n_in``.

    Returns:
        ``E_g = e + σ_ε²`` with ``de/dα = (1/B)[−2ηe + (η²/B)(e + σ_ε²) + η²(B − 1)e/(BN)]``,
        a linear ODE solved in closed form.
    """
    a = np.asarray(alpha_seen, dtype=np.float64)
    b = batch
    corr = 0.0 if b == 1 else (b - 1) / (b * n_in)
    k = (2 * lr - lr**2 / b - lr**2 * corr) / b
    c = lr**2 * noise_var / b**2
    e0 = teacher_var + init_var
    e_inf = c / k
    return e_inf + (e0 - e_inf) * np.exp(-k * a) + noise_var


def online_test_error_optimal(alpha_seen, teacher_var, noise_var, init_var=0.0):
    """One-pass SGD with the oracle-annealed rate ``η*(e) = e/(e + σ_ε²)`` (docs/theory.md §4.1):
    ``e`` solves ``α = ln(e0/e) + σ_ε² (1/e − 1/e0)``; returns ``E_g = e + σ_ε²``."""
    a = np.atleast_1d(np.asarray(alpha_seen, dtype=np.float64))
    e0 = teacher_var + init_var
    if noise_var == 0:
        return e0 * np.exp(-a)
    out = np.empty_like(a)
    for i, ai in enumerate(a):
        lo, hi = np.log(1e-300), np.log(e0)  # bisection on log e: α(e) decreases in e
        for _ in range(200):
            mid = (lo + hi) / 2
            e = np.exp(mid)
            if np.log(e0 / e) + noise_var * (1 / e - 1 / e0) > ai:
                lo = mid
            else:
                hi = mid
        out[i] = np.exp((lo + hi) / 2)
    return out + noise_var


def optimal_online_time(alpha_seen, n_train, n_in, teacher_var, noise_var, init_var=0.0):
    """Continuous time of an online run under the oracle schedule, in replay's units:
    ``t = Σ_k η_k / P = (N/P) ∫ η*(α) dα = (N/P) ln(e_0/e(α))`` (docs/theory.md §4.1)."""
    e = online_test_error_optimal(alpha_seen, teacher_var, noise_var, init_var) - noise_var
    return (n_in / n_train) * np.log((teacher_var + init_var) / e)


def optimal_online_rate(e, noise_var):
    """The oracle rate ``η* = e/(e + σ_ε²)`` at excess error e (docs/theory.md §4.1)."""
    return e / (e + noise_var)
