"""Gallery item `denoising`: a denoising linear autoencoder (the identity teacher with input noise)
on inputs of chosen covariance. Its trained map keeps each principal direction with the gain of
ridge at γ = Pσ_n² with the clean inputs as labels: about λ/(λ + Nσ_n²) in the population,
exactly the training set's Σ_xx(Σ_xx + Pσ_n²)⁻¹ in expectation (docs/theory.md §3.7, "A denoising
autoencoder"; §2.10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import analysis
from ..sim import data
from ..store import spec_of
from .common import COLOURS, mean_sem, num, save

__all__ = ["denoising"]


def _bases(spec, seeds) -> dict:
    """Each seed's input eigenvectors U (N, N; column i has eigenvalue λ_i) and training inputs."""
    pr = spec.problem
    lam = np.asarray(pr.input_spectrum)
    out = {}
    for seed in seeds:
        a = np.asarray(data.input_root(spec.seed, int(seed), pr.n_in, pr.n_out, pr.input_spectrum))
        x, _, _, _ = data.raw_data(spec.seed, int(seed), spec.n_train[0], pr.n_in, pr.n_out, pr.teacher_var,
                                   np.inf, kind="identity", covariance=pr.input_spectrum)  # fmt: skip
        out[int(seed)] = (a / np.sqrt(lam)[None, :], x)
    return out


def _gains(w, u) -> np.ndarray:
    """The map's gain along each input eigenvector, u_iᵀ W u_i."""
    return np.einsum("ni,nm,mi->i", u, w, u)


def denoising(results, out: Path) -> tuple[dict, list]:
    """Per depth and σ_n: the gain of the final map along each principal direction, seed mean and
    s.e., against ridge at γ = Pσ_n² on each seed's own training set (the expected loss's
    minimiser) and the population's λ/(λ + Nσ_n²); and E_g at the last epoch."""
    ((ds, _),) = results
    spec = spec_of(ds)
    pr = spec.problem
    if pr.teacher != "identity" or not pr.input_spectrum or "input_noise" not in ds.dims:
        raise ValueError("gallery denoising: needs problem.teacher = 'identity', problem.input_spectrum "
                         "and grid.input_noise")  # fmt: skip
    lam = np.asarray(pr.input_spectrum)
    n, p = pr.n_in, spec.n_train[0]
    bases = _bases(spec, ds.seed.values)
    ok = analysis.valid(ds)
    sims, ridge, rows = {}, {}, {}
    for sig in ds.input_noise.values:
        per_seed = []
        for u, x in bases.values():
            sxx = x.T @ x
            w = sxx @ np.linalg.inv(sxx + p * sig**2 * np.eye(n))
            per_seed.append(_gains(w, u))
        ridge[float(sig)] = np.asarray(per_seed)
    for d in ds.depth.values:
        for sig in ds.input_noise.values:
            pt = {"depth": d, "input_noise": sig}
            w = ds.final_weights.sel(pt).squeeze().where(ok.sel(pt).squeeze())
            g = np.asarray([_gains(w.sel(seed=s).values, bases[int(s)][0]) for s in ds.seed.values])
            sims[int(d), float(sig)] = g
            diff_mean, diff_sem = mean_sem(g - ridge[float(sig)])
            e = ds.test_error.sel(pt).squeeze().isel(epoch=-1)
            rows[f"depth={int(d)},sigma_n={float(sig):g}"] = {
                "gain_seed_mean": [num(v) for v in np.nanmean(g, 0)],
                "ridge_gain_seed_mean": [num(v) for v in ridge[float(sig)].mean(0)],
                "population_gain": [num(v) for v in lam / (lam + n * sig**2)],
                "sim_minus_ridge_max_abs_over_sem": num(np.nanmax(np.abs(diff_mean) / diff_sem), 3)
                if sig > 0
                else None,
                "sim_minus_ridge_max_abs": num(np.nanmax(np.abs(diff_mean)), 3),
                "final_test_error_seed_mean": num(float(e.mean())),
            }
    nums = {
        "input_spectrum": [num(v) for v in lam],
        "P": int(p),
        "n_seeds": int(ds.sizes["seed"]),
        "epochs": int(spec.train.epochs),
        "by_run": rows,
    }
    written = []
    _figure(ds, lam, sims, ridge, n, out, written)
    return nums, written


def _figure(ds, lam, sims, ridge, n: int, out: Path, written: list) -> None:
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    axes = fig.subplots(1, ds.sizes["depth"], sharey=True)
    for ax, d in zip(np.atleast_1d(axes), ds.depth.values, strict=True):
        for j, sig in enumerate(ds.input_noise.values):
            colour = COLOURS[j % len(COLOURS)]
            mean, sem = mean_sem(sims[int(d), float(sig)])
            ax.errorbar(lam, mean, 2 * sem, color=colour, marker="o", ms=4, ls="none", capsize=2)
            ax.plot(lam, ridge[float(sig)].mean(0), color=colour, lw=1)
            ax.plot(lam, lam / (lam + n * sig**2), color=colour, lw=1, ls=":")
        ax.set(xscale="log", xlabel="input eigenvalue λ_i (normalised to mean 1)", title=f"depth {int(d)}")
        ax.set_xticks([0.2, 0.5, 1, 2], ["0.2", "0.5", "1", "2"])
        ax.set_xticks([], minor=True)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("gain u_iᵀ W u_i along the i-th principal direction")
    kinds = [
        Line2D(
            [], [], color="k", marker="o", ms=4, ls="none", label="simulation: final map (seed mean ± 2 s.e.)"
        ),
        Line2D([], [], color="k", lw=1, label="ridge at γ = Pσ_n² on each seed's data (seed mean)"),
        Line2D([], [], color="k", lw=1, ls=":", label="population: λ/(λ + Nσ_n²)"),
    ]
    colours = [Line2D([], [], color=COLOURS[j % len(COLOURS)], lw=3, label=f"σ_n = {float(v):g}")
               for j, v in enumerate(ds.input_noise.values)]  # fmt: skip
    np.atleast_1d(axes)[0].legend(handles=colours, fontsize=7, loc="lower right")
    np.atleast_1d(axes)[-1].legend(handles=kinds, fontsize=7, loc="lower right")
    fig.suptitle(
        f"A denoising linear autoencoder: the identity teacher, input noise σ_n (colours), N = {n}, "
        f"P = {round(n / float(ds.n_over_p.values[0]))}, "
        f"{ds.sizes['seed']} seeds, the last of {int(ds.epoch.values[-1])} epochs",
        fontsize=10,
    )
    save(fig, out, "denoising", written)
