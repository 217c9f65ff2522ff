"""What a practitioner does with held-out data, beside early stopping on it:

* the refit after early stopping (depth 1): GD on all P examples, from the run's own initial
  weights, at the run's learning rate, for the stopped number of epochs (equal epochs) and
  for ``stopped · (P − V)/P`` epochs (equal time λt: under the sum loss Σ_xx grows with the
  examples, so the same epochs on all P train P/(P − V) times further), evaluated exactly in
  the eigenbasis of the full Σ_xx (the closed form of :mod:`dynax.sim.closed_form`);
* ridge regression with γ chosen on the same held-out examples (the γ of the least
  validation error over :data:`HELDOUT_GAMMAS`, ridge fitted to the P − V others), then
  refitted on all P at that γ: the competitor a user would actually run (data only, paired
  with every run of the same (seed, P, σ_ε))."""

from __future__ import annotations

import numpy as np

from ..sim import data
from ..sim.closed_form import decay
from ..sim.scope import float64
from ..spec import derived

__all__ = ["HELDOUT_GAMMAS", "equal_time_epochs", "heldout_ridge", "refit_test_error"]

HELDOUT_GAMMAS = derived.HELDOUT_GAMMAS


def _full_eigenbasis(plan, seed: int, pj: int, cache):
    """All P examples of (seed, P index): their factor, the teacher, Σ_xx = U Λ Uᵀ and the input
    root A of a chosen covariance ((0, 0) if white), once."""
    spec = plan.spec
    key = ("refit", seed, pj)
    if key not in cache.ridge:  # the full training set's eigenbasis, once per (seed, P)
        st = data.problem_stats(spec.seed, seed, [spec.n_train[pj]], spec.problem, eigen=True)
        cache.ridge[key] = (st.factor[0], st.teacher, st.eigvals[0], st.eigvecs[0], st.input_root)
    return cache.ridge[key]


def equal_time_epochs(spec, stopped, pj: int):
    """Epochs on all P that train as far in λt as ``stopped`` epochs on the P − V fit examples:
    ``stopped · (P − V)/P`` under the sum loss (Σ_xx grows with the examples), rounded;
    ``stopped`` under the mean loss (its 1/P keeps Σ_xx/P the same)."""
    if spec.train.loss == "mean":
        return np.asarray(stopped, np.float64)
    p, fit = spec.n_train[pj], spec.n_fit[pj]
    return np.floor(np.asarray(stopped, np.float64) * fit / p + 0.5)


@float64
def refit_test_error(plan, idx: np.ndarray, w0, lr, stopped, cache, equal_time: bool = False) -> np.ndarray:
    """E_g of each depth-1 run refitted on all P for its ``stopped`` epochs (``equal_time``:
    for :func:`equal_time_epochs` of them), NaN where it never stopped; ``w0`` (B, N_out, N)
    its initial weights, ``lr`` its rate."""
    spec, t = plan.spec, plan.table
    pr = spec.problem
    out = np.full(len(idx), np.nan)
    for j, i in enumerate(idx):
        if stopped[j] < 0:
            continue
        seed, pj = int(t.seed[i]), int(t.p_index[i])
        factor, w_bar, lam, u, root = _full_eigenbasis(plan, seed, pj, cache)
        lx, lz = factor[: pr.n_in], factor[pr.n_in :]
        s = float(t.noise_std[i])
        eps = float(lr[j]) * float(derived.grad_scale(spec.train.loss, spec.n_train[pj]))
        a = eps * (np.clip(lam, 0.0, None) + float(t.weight_decay[i]))
        k = float(equal_time_epochs(spec, stopped[j], pj)) if equal_time else float(stopped[j])
        q, sk = (np.asarray(v) for v in decay(a, k))
        b = ((w_bar @ lx + s * lz) @ lx.T) @ u  # Σ_yx U
        w = (w0[j] @ u) * q[None, :] + eps * b * sk[None, :]
        d = w - w_bar @ u
        d = (d @ u.T) @ root if root.size else d  # an input covariance C = A Aᵀ/N: ‖(W − w̄) A‖²
        out[j] = np.sum(d * d) / (pr.n_in * pr.n_out) + s * s
    return out


def _ridge_in_eigenbasis(factor, w_bar, lam, u, s, gammas, n_in):
    """Ridge ``w_γ = Σ_yx (Σ_xx + γ)⁻¹`` for every γ of ``gammas`` (G, N_out, N), from the data's
    factor, the teacher and Σ_xx = U Λ Uᵀ."""
    lx, lz = factor[:n_in], factor[n_in:]
    b = ((w_bar @ lx + s * lz) @ lx.T) @ u  # Σ_yx U
    lam = np.clip(lam, 0.0, None)
    return np.einsum("gon,mn->gom", b[None] / (lam[None, None, :] + gammas[:, None, None]), u)


def _heldout_one(plan, seed: int, pj: int, s: float, cache) -> tuple[float, float, float]:
    """(γ chosen on the held-out examples, E_g of ridge at it on the P − V fit examples, on all P)."""
    pr = plan.spec.problem
    n, no = pr.n_in, pr.n_out
    st = cache.get(seed)
    key = ("heldout", seed, pj)
    if key not in cache.ridge:  # the fit set's eigenbasis, once per (seed, P)
        lx = st.factor[pj][:n]
        cache.ridge[key] = np.linalg.eigh(lx @ lx.T)
    lam, u = cache.ridge[key]
    w = _ridge_in_eigenbasis(st.factor[pj], st.teacher, lam, u, s, HELDOUT_GAMMAS, n)
    vf = st.val_factor[pj]
    r = ((st.teacher[None] - w) @ vf[:n]) + s * vf[n:][None]  # (G, N_out, K_v): held-out residuals
    gamma = float(HELDOUT_GAMMAS[int(np.argmin(np.sum(r * r, axis=(1, 2))))])  # the first least
    d = w[HELDOUT_GAMMAS == gamma][0] - st.teacher
    fit = float(np.sum(d * d)) / (n * no) + s * s
    factor, w_bar, lam_p, u_p, _ = _full_eigenbasis(plan, seed, pj, cache)  # white only (ridge_baselines)
    d = _ridge_in_eigenbasis(factor, w_bar, lam_p, u_p, s, np.array([gamma]), n)[0] - w_bar
    return gamma, fit, float(np.sum(d * d)) / (n * no) + s * s


@float64
def heldout_ridge(plan, idx: np.ndarray, cache) -> dict:
    """Each run's held-out ridge baselines, computed once per (seed, P, σ_ε): the γ of least
    validation error (``heldout_ridge_gamma``), E_g of ridge at it fitted to the P − V fit
    examples (``heldout_ridge_test_error``) and refitted to all P (``heldout_ridge_refit_test_error``)."""
    t = plan.table
    keys = list(zip(t.seed[idx].tolist(), t.p_index[idx].tolist(), t.noise_std[idx].tolist(), strict=True))
    for k in dict.fromkeys(keys):
        if ("heldout_ridge", *k) not in cache.ridge:
            cache.ridge[("heldout_ridge", *k)] = _heldout_one(plan, int(k[0]), int(k[1]), float(k[2]), cache)
    out = np.asarray([cache.ridge[("heldout_ridge", *k)] for k in keys]).T.reshape(3, len(idx))
    names = ("heldout_ridge_gamma", "heldout_ridge_test_error", "heldout_ridge_refit_test_error")
    return dict(zip(names, out, strict=True))
