"""Gallery item `hierarchy`, panel (d): which levels of the tree are learnt by the optimal
stopping time as the features get noisier, against the optimal per-level filter and the oracle
ridge on the same data (docs/theory.md §3.5); seed means with standard errors."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import plot, theory
from ..store import spec_of
from .common import COLOURS, num, save
from .common import mean_sem as _mean_sem

__all__ = ["level_mean", "noise_levels"]


def level_mean(x, levels, lev):
    """The mean over the last axis of ``x`` where ``levels == lev`` (NaN where there is none)."""
    mask = np.broadcast_to(levels == lev, np.shape(x))
    count = mask.sum(-1)
    total = np.where(mask, np.nan_to_num(np.asarray(x, float)), 0.0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def noise_levels(ds, out, written) -> dict:
    """The fraction of each level learnt at t* (the minimum of the seed-mean E_g curve)."""
    ds = ds.isel(n_over_p=0)
    spec = spec_of(ds)
    h = spec.problem.hierarchy
    lam, _ = theory.hierarchy_eigenvalues(h.branching, h.levels, h.flip)
    levels = ds.teacher_mode_level.transpose("seed", "mode").values  # each seed's modes by level
    n_lev = h.levels + 1
    snrs, depths = ds.snr.values, list(ds.depth.values)
    noise = 1.0 / snrs  # σ_ε² (σ_w² = 1)
    wiener = lam[None, :] / (lam[None, :] + noise[:, None])  # (snr, level)
    frac = ds.mode_strength / ds.teacher_singular_value
    fig = Figure(figsize=(4.2 * (len(depths) + 1), 3.8), layout="constrained")
    axes = fig.subplots(1, len(depths) + 1)
    res = {"level_eigenvalue": [num(x) for x in lam]}
    ridge_runs = ds.best_ridge_test_error.transpose("snr", "seed").values
    for k, d in enumerate(depths):
        mean = ds.test_error.sel(depth=d).mean("seed")
        star = mean.argmin("epoch").values  # (snr,)
        per_seed = np.stack(
            [
                np.stack(
                    [
                        level_mean(
                            frac.sel(depth=d, snr=s).isel(epoch=int(e)).transpose("seed", "mode").values,
                            levels,
                            lev,
                        )
                        for lev in range(n_lev)
                    ],
                    1,
                )
                for s, e in zip(snrs, star, strict=True)
            ]
        )  # (snr, seed, level): each seed's mean u/s over a level's modes at t*
        learnt, learnt_se = _mean_sem(per_seed, axis=1)  # (snr, level)
        for lev in range(n_lev):
            label = rf"level {lev} ($\lambda$ = {lam[lev]:.2f})"
            style = {"marker": "o", "color": COLOURS[lev], "capsize": 2, "label": label}
            axes[k].errorbar(snrs, learnt[:, lev], learnt_se[:, lev], **style)
            axes[k].plot(snrs, wiener[:, lev], color=COLOURS[lev], ls="--", lw=0.8)
        axes[k].axhline(0.5, color="0.6", lw=0.6)
        axes[k].set_xscale("log")
        plot.log_ticks(axes[k], "x")
        axes[k].set_ylim(-0.05, 1.05)
        axes[k].set_xlabel(r"SNR = $1/\sigma_\varepsilon^2$")
        axes[k].set_ylabel(r"$u/s$ at $t^*$ (level's mean; seeds ± s.e.)")
        axes[k].set_title(
            rf"depth {d} (dashed: optimal filter $\lambda/(\lambda+\sigma_\varepsilon^2)$)", fontsize=9
        )
        t_star = ds.time.values[star] if ds.time.ndim == 1 else np.nan
        e_runs = np.stack(
            [
                ds.test_error.sel(depth=d, snr=s).isel(epoch=int(e)).values
                for s, e in zip(snrs, star, strict=True)
            ]
        )  # (snr, seed): each seed at the seed-mean t*
        excess, excess_se = _mean_sem(100 * (e_runs / ridge_runs - 1), axis=1)  # paired per seed
        above = learnt - 2 * learnt_se > 0.5  # decided: more than 2 s.e. above a half
        below = learnt + 2 * learnt_se < 0.5
        res[f"depth={d}"] = {
            f"snr={s:g}": {
                "t_star": num(np.atleast_1d(t_star)[j]),
                "error_at_t_star": num(float(mean.sel(snr=s).isel(epoch=int(star[j])))),
                "learnt_fraction": [num(x, 3) for x in learnt[j]],
                "learnt_fraction_sem": [num(x, 2) for x in learnt_se[j]],
                "levels_over_half": int(np.sum(learnt[j] > 0.5)),
                "levels_over_half_by_2_sem": int(np.sum(above[j])),
                "levels_within_2_sem_of_half": int(np.sum(~above[j] & ~below[j])),
                "levels_over_half_optimal_filter": int(np.sum(wiener[j] > 0.5)),
                "excess_over_oracle_ridge_percent": [num(excess[j], 3), num(excess_se[j], 2)],
            }
            for j, s in enumerate(snrs)
        }
        axes[-1].errorbar(
            snrs, excess, excess_se, marker="o", color=COLOURS[k], capsize=2, label=f"depth {d}"
        )
    axes[-1].axhline(0, color="0.6", lw=0.6)
    axes[-1].set_xscale("log")
    plot.log_ticks(axes[-1], "x")
    axes[-1].set_xlabel(r"SNR = $1/\sigma_\varepsilon^2$")
    axes[-1].set_ylabel(r"excess of $E_g(t^*)$ over the oracle ridge (%)")
    axes[-1].set_title(r"$E_g(t^*)$ against the oracle ridge, same data (paired, ± s.e.)", fontsize=9)
    axes[-1].legend(fontsize=8)
    axes[0].legend(fontsize=7)
    res["oracle_ridge"] = [num(x) for x in ds.best_ridge_test_error.mean("seed").values.ravel()]
    res["claim"] = (
        "noise moves the stopping time up the tree: at t* depth >= 2 has learnt the broad levels more than "
        "the fine ones (the root most, the finest level least, until at the lowest noise nearly every level "
        "is learnt) and fewer of them as the noise grows, while depth 1 learns every level by about the same "
        "fraction; the optimal per-level filter lambda/(lambda+sigma^2) keeps "
        "more than half of level l iff lambda_l > sigma^2 (levels_over_half_optimal_filter), and the deep "
        "networks' count (levels_over_half; levels_over_half_by_2_sem counts only levels more than 2 s.e. "
        "above a half, levels_within_2_sem_of_half those the seeds cannot decide) is compared with it; a "
        "heuristic for their lag: the data's "
        "singular values include the noise's (about sigma (sqrt(N_out) + sqrt(N)) at the top), so a level "
        "is learnt only well above it"
    )
    fig.suptitle(
        "(d) which levels are learnt by the optimal stopping time $t^*$ (the minimum of the seed-mean "
        f"$E_g$), against the noise; {spec.problem.n_out} features, {ds.sizes['seed']} seeds"
    )
    save(fig, out, "hierarchy_noise", written)
    return res
