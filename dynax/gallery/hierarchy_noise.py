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
    snrs, depths = ds.snr.values, list(ds.depth.values)
    noise = 1.0 / snrs  # σ_ε² (σ_w² = 1)
    wiener = lam[None, :] / (lam[None, :] + noise[:, None])  # (snr, level)
    fig = Figure(figsize=(4.2 * (len(depths) + 1), 3.8), layout="constrained")
    axes = fig.subplots(1, len(depths) + 1)
    res = {"level_eigenvalue": [num(x) for x in lam]}
    for k, d in enumerate(depths):
        mean = ds.test_error.sel(depth=d).mean("seed")
        star = mean.argmin("epoch").values  # (snr,)
        learnt, learnt_se = _mean_sem(_learnt_per_seed(ds, d, star, h.levels + 1), axis=1)  # (snr, level)
        _draw_levels(axes[k], d, snrs, learnt, learnt_se, wiener, lam)
        excess, excess_se = _excess_over_ridge(ds, d, star)
        above = learnt - 2 * learnt_se > 0.5  # decided: more than 2 s.e. above a half
        below = learnt + 2 * learnt_se < 0.5
        t_star = ds.time.values[star] if ds.time.ndim == 1 else np.nan
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
    _draw_excess_axes(axes[-1])
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


def _learnt_per_seed(ds, d, star, n_lev: int) -> np.ndarray:
    """(snr, seed, level): each seed's mean u/s over a level's modes at the seed-mean t* of
    each SNR (``star``: its epoch index), at depth ``d``."""
    levels = ds.teacher_mode_level.transpose("seed", "mode").values  # each seed's modes by level
    frac = ds.mode_strength / ds.teacher_singular_value
    return np.stack(
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
            for s, e in zip(ds.snr.values, star, strict=True)
        ]
    )


def _excess_over_ridge(ds, d, star) -> tuple[np.ndarray, np.ndarray]:
    """Per SNR, the seed mean and s.e. of E_g at the seed-mean t* over each seed's oracle ridge
    on the same data, in % (paired per seed), at depth ``d``."""
    ridge_runs = ds.best_ridge_test_error.transpose("snr", "seed").values
    e_runs = np.stack(
        [
            ds.test_error.sel(depth=d, snr=s).isel(epoch=int(e)).values
            for s, e in zip(ds.snr.values, star, strict=True)
        ]
    )  # (snr, seed): each seed at the seed-mean t*
    return _mean_sem(100 * (e_runs / ridge_runs - 1), axis=1)


def _draw_levels(ax, d, snrs, learnt, learnt_se, wiener, lam) -> None:
    """Depth ``d``'s panel: each level's learnt fraction at t* against the SNR, beside the
    optimal per-level filter (dashed)."""
    for lev in range(len(lam)):
        label = rf"level {lev} ($\lambda$ = {lam[lev]:.2f})"
        style = {"marker": "o", "color": COLOURS[lev], "capsize": 2, "label": label}
        ax.errorbar(snrs, learnt[:, lev], learnt_se[:, lev], **style)
        ax.plot(snrs, wiener[:, lev], color=COLOURS[lev], ls="--", lw=0.8)
    ax.axhline(0.5, color="0.6", lw=0.6)
    ax.set_xscale("log")
    plot.log_ticks(ax, "x")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(r"SNR = $1/\sigma_\varepsilon^2$")
    ax.set_ylabel(r"$u/s$ at $t^*$ (level's mean; seeds ± s.e.)")
    ax.set_title(rf"depth {d} (dashed: optimal filter $\lambda/(\lambda+\sigma_\varepsilon^2)$)", fontsize=9)


def _draw_excess_axes(ax) -> None:
    """The last panel's frame: E_g(t*) over the oracle ridge (%) against the SNR."""
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xscale("log")
    plot.log_ticks(ax, "x")
    ax.set_xlabel(r"SNR = $1/\sigma_\varepsilon^2$")
    ax.set_ylabel(r"excess of $E_g(t^*)$ over the oracle ridge (%)")
    ax.set_title(r"$E_g(t^*)$ against the oracle ridge, same data (paired, ± s.e.)", fontsize=9)
    ax.legend(fontsize=8)
