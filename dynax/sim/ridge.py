"""Ridge regression on a run's own training set, exactly: the paired baseline of every
early-stopping error (docs/theory.md §2.7).

With ``G = L_xᵀ L_x = V diag(g) Vᵀ`` and the per-mode sums of
:attr:`dynax.sim.data.SeedStats.ls_spectrum` (``a_k = ‖w̄ L_x V_k‖²``,
``c_k = ⟨w̄ L_x V_k, L_z V_k⟩``, ``e_k = ‖L_z V_k‖²``), the ridge solution at γ (sum-loss
units), ``w_γ = Σ_yx (Σ_xx + γ)⁻¹``, has along mode k the error
``(−γ t_k + σ_ε √g_k n_k)/(g_k + γ)`` (``t_k``, ``n_k`` the teacher's and the noise's
coefficients), so its population risk is

    E_g(γ) = [‖w̄‖² − Σ_k a_k/g_k + Σ_k (γ² a_k/g_k − 2γσ_ε c_k + σ_ε² g_k e_k)/(g_k + γ)²]/(N·N_out) + σ_ε²,

O(K) per γ with no cancellation in the data's null space (the first two terms are the
teacher's part outside the inputs' span). At γ* = σ_ε²/σ_w² it is the error of the
Bayes-optimal (posterior-mean) estimate given that data for a Gaussian teacher prior; at
σ_ε = 0 (γ* = 0) the min-norm interpolator's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_ridge_many", "ridge_error", "ridge_error_many"]


def ridge_error(spectrum, teacher_sq: float, noise_std: float, gamma, n_in: int, n_out: int):
    """Population E_g (σ_ε² included) of ridge at ``gamma`` (any shape) on one data set;
    ``spectrum`` (4, K) is its ``ls_spectrum``, ``teacher_sq`` = ‖w̄‖²_F."""
    g, a, c, e = (np.asarray(v, np.float64) for v in spectrum)
    pos = g > 0
    gs = np.where(pos, g, 1.0)
    # the teacher outside the inputs' span (≥ 0; a difference, so clipped at its rounding)
    outside = max(teacher_sq - float(np.sum(np.where(pos, a / gs, 0.0))), 0.0)
    gam = np.asarray(gamma, np.float64)[..., None]
    s = float(noise_std)
    num = gam * gam * (a / gs) - 2 * gam * s * c + s * s * g * e
    inside = np.sum(np.where(pos, num / np.where(pos, g + gam, 1.0) ** 2, 0.0), axis=-1)
    return (outside + inside) / (n_in * n_out) + s * s


def _errors(spectra, teacher_sq, noise_std, n_in: int, n_out: int):
    """E_g of ridge for M data sets (spectra (M, 4, K)) as a function of γ (M, G) -> (M, G)."""
    sp = np.asarray(spectra, np.float64)
    g, a, c, e = (sp[:, i, :] for i in range(4))
    pos = g > 0
    gs = np.where(pos, g, 1.0)
    outside = np.maximum(np.asarray(teacher_sq, np.float64) - np.sum(np.where(pos, a / gs, 0.0), 1), 0.0)
    s = np.asarray(noise_std, np.float64)

    # the per-mode coefficients of γ², γ and 1 in the numerator, computed once
    quad, lin, const = a / gs, s[:, None] * c, (s * s)[:, None] * (g * e)

    def err(gam, rows=slice(None)):  # the data sets ``rows`` only: ``gam`` (rows, G)
        gm = gam[..., None]
        num = gm * gm * quad[rows][:, None] - 2 * gm * lin[rows][:, None] + const[rows][:, None]
        den = np.where(pos[rows][:, None], g[rows][:, None] + gm, 1.0) ** 2
        inside = np.sum(np.where(pos[rows][:, None], num / den, 0.0), -1)
        return (outside[rows][:, None] + inside) / (n_in * n_out) + (s[rows] * s[rows])[:, None]

    return err, g


_BLOCK = 32  # data sets per evaluation of the γ grid (its temporaries stay in cache)


def best_ridge_many(spectra, teacher_sq, noise_std, n_in: int, n_out: int):
    """The oracle ridge for M data sets at once (vectorised; spectra (M, 4, K)): ``(errors, gammas)``."""
    err, g = _errors(spectra, teacher_sq, noise_std, n_in, n_out)
    m = len(g)
    top = np.where(g.max(1) > 0, g.max(1), 1.0)
    grid = top[:, None] * np.geomspace(1e-8, 1e6, 141)[None, :]
    ev = np.concatenate([err(grid[b : b + _BLOCK], slice(b, b + _BLOCK)) for b in range(0, m, _BLOCK)])
    i = np.argmin(ev, 1)
    rows = np.arange(m)
    lo = np.log(grid[rows, np.maximum(i - 1, 0)])
    hi = np.log(grid[rows, np.minimum(i + 1, grid.shape[1] - 1)])
    r = (np.sqrt(5) - 1) / 2
    for _ in range(50):
        x1, x2 = hi - r * (hi - lo), lo + r * (hi - lo)
        f = err(np.exp(np.stack([x1, x2], 1)))
        left = f[:, 0] < f[:, 1]
        hi, lo = np.where(left, x2, hi), np.where(left, lo, x1)
    gam = np.exp((lo + hi) / 2)
    best = err(gam[:, None])[:, 0]
    at0 = err(np.zeros((m, 1)))[:, 0]
    use0 = at0 <= best
    return np.where(use0, at0, best), np.where(use0, 0.0, gam)


def ridge_error_many(spectra, teacher_sq, noise_std, gamma, n_in: int, n_out: int):
    """:func:`ridge_error` for M data sets at one γ each (vectorised): (M,)."""
    err, _ = _errors(spectra, teacher_sq, noise_std, n_in, n_out)
    return err(np.asarray(gamma, np.float64)[:, None])[:, 0]
