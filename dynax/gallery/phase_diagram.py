"""Gallery item 2: the phase diagram of optimal early stopping for depths 1-3, against ridge
regression on the same training sets (like with like) and the population Bayes limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .. import analysis, plot
from .common import (
    BEST_RIDGE_REDUCTION,
    NEGATIVE_EXCESS,
    RIDGE_REDUCTION,
    excess_numbers,
    mark,
    mean_time,
    num,
    realized_teacher_var,
    save,
)

__all__ = ["phase_diagram"]


def phase_diagram(results, out: Path) -> tuple[dict, list]:
    """E_g* maps per depth with the Bayes map, the excess over ridge on the same data and
    over the population Bayes error, t* and the final error."""
    ((ds, th),) = results
    written = []
    s = analysis.summarize(ds, th)
    e_opt = s.opt_error_of_mean / s.noise_var
    late = ds.best_epoch >= 0.9 * ds.attrs["epochs"]  # per run: optimum maybe not reached
    tv = realized_teacher_var(ds)
    _maps_figures(ds, th, s, e_opt, late.any("seed"), tv, out, written)
    _time_and_final_figures(ds, s, out, written)

    nums = _excess_numbers(s, th, late.any("seed"), tv)
    nums.update(_peak_and_time_numbers(ds, s))
    nums.update(_depth1_and_run_numbers(ds, th, s, e_opt, late))
    return nums, written


def _maps_figures(ds, th, s, e_opt, late, tv, out, written) -> None:
    """The E_g* maps per depth beside the population Bayes map; the excess over ridge on
    the same training sets (paired; seed-mean optimum above, each run's own best below); and
    the excess over the population Bayes error. x: a seed's best epoch in the last 10%."""
    bayes = th.bayes_test_error.isel(depth=0) / s.noise_var
    both = xr.concat([bayes.expand_dims(depth=[0]), e_opt], "depth", coords="minimal", compat="override")
    fig = plot.heatmaps(both, label=r"$E_g^*/\sigma_\varepsilon^2$", ncols=2)
    fig.axes[0].set_title("Bayes-optimal, population theory\n(ridge at 1/SNR, average teacher)", fontsize=11)
    fig.suptitle(
        "optimal early-stopping error (minimum of the seed-mean curve) and the population Bayes limit\n"
        "x: a seed's best epoch in the last 10% of training",
        fontsize=13,
    )
    mark(fig, late.reindex(depth=[0, *late.depth.values], fill_value=False))
    save(fig, out, "phase_diagram", written)

    depths = s.depth.values
    rows = {r"seed-mean minimum vs ridge at $\gamma^*$": ("excess_over_ridge", 0),
            r"own best vs ridge at the oracle $\gamma$": ("best_excess_over_ridge", 100)}  # fmt: skip
    ex = xr.concat([100 * s[v].assign_coords(depth=depths + k) for v, k in rows.values()], "depth")
    z = xr.concat([(s[v] / s[f"{v}_sem"]).assign_coords(depth=depths + k) for v, k in rows.values()], "depth")
    stacked = lambda m: xr.concat([m.assign_coords(depth=depths + k) for _, k in rows.values()], "depth")  # noqa: E731
    low, high = -5.0, float(np.ceil(float(ex.max())))
    fig = plot.heatmaps(
        ex,
        log=False,
        center=0.0,
        cmap="RdBu_r",
        limits=(low, high),
        label=f"excess over ridge on the same data (%, paired); colours {low:g} … {high:g}",
        late=stacked(late),
        within=abs(z) <= 2,
        within_text="within 2 s.e. of 0 (as good as ridge)",
        marks=[(stacked(coarse_optimum(s)), "+", "t* within the first 3 steps: resolved only to one step")],
        ncols=len(depths),
    )
    for ax, (title, d) in zip(fig.axes, [(t, d) for t in rows for d in depths], strict=False):
        ax.set_title(f"depth {d}: {title}", fontsize=10)
    fig.suptitle(
        r"excess of early stopping over ridge fitted to the same training set, paired per seed: "
        r"100$\cdot$mean($E_g - E_{ridge}$)/mean($E_{ridge}$)"
        "\ntop: each seed's $E_g$ at the minimum of the seed-mean curve (seeds at equal time $t$), ridge at "
        r"$\gamma^* = 1/$SNR; bottom: each run's best epoch, ridge at the oracle $\gamma$"
        "\n$\\cdot$: within 2 s.e. of 0; x: a seed's best epoch in the last 10%; +: the optimum lies within "
        "the first 3 steps, so the step size, not the method, sets the excess there",
        fontsize=11,
    )
    save(fig, out, "excess_over_ridge", written)

    fig = plot.heatmaps(
        100 * s.excess_over_bayes,
        log=False,
        center=0.0,
        cmap="RdBu_r",
        limits=(-25.0, 25.0),
        label=r"$E_g^*/E_{Bayes} - 1$ (%); colours from -25 to 25, values beyond take the end colours",
        late=late,
    )
    fig.suptitle(
        r"excess of the seed-mean optimum over the population Bayes error (average teacher, $\sigma_w^2 = 1$)"
        f"\nnegative where the {tv.size} realised teachers are smaller: seed mean "
        rf"$\|\bar w\|^2/N$ = {float(tv.mean()):.3g}; like with like: excess_over_ridge.png",
        fontsize=11,
    )
    save(fig, out, "excess_over_bayes", written)


def coarse_optimum(s) -> xr.DataArray:
    """Cells whose seed-mean optimum is at epoch 1-3 (or 0): one step of the automatic rate is
    already a large part of t*, so the excess there is the step size's (depth 1, low SNR)."""
    return (s.opt_epoch_of_mean >= 0) & (s.opt_epoch_of_mean <= 3)


def _time_and_final_figures(ds, s, out, written) -> None:
    """The optimal stopping time, the final error and the error at one time per depth, and
    the errors against N/P."""
    t = s.error_at_time.attrs["time"]
    maps = {
        "optimal_time": (
            s.opt_time_of_mean,
            r"optimal stopping time $t^*$ (of the seed-mean curve)",
            "optimal stopping time (white: t* = 0, no epoch beats the initial network)",
        ),
        "final_error": (
            s.final_error / s.noise_var,
            r"$E_g(t_{final})/\sigma_\varepsilon^2$",
            f"final error after {ds.attrs['epochs']} epochs (t_final depends on the run's rate)",
        ),
        "error_at_time": (
            s.error_at_time / s.noise_var,
            rf"$E_g(t = {t:.3g})/\sigma_\varepsilon^2$ (seed mean)",
            f"error at one time t = {t:.3g} for every run (the largest t every grid point reaches)",
        ),
    }
    for name, (da, label, title) in maps.items():
        save(plot.heatmaps(da, label=label, title=title), out, name, written)
    save(plot.error_vs_n_over_p(s.isel(snr=slice(None, None, 3))), out, "error_vs_n_over_p", written)


def _excess_numbers(s, th, late, tv) -> dict:
    """E_g*'s excess over ridge on the same training sets (paired, with sems; the seed-mean
    optimum and each run's own best), per depth, on the §2.5 grid and the negative cells
    explained; the excess over the population Bayes error and the theory's."""
    clean, n = ~late, len(tv)
    th_excess = th.optimal_test_error / th.bayes_test_error - 1  # the theory's, like excess_over_ridge

    def per_depth(v):
        return {
            f"depth={d}": excess_numbers(
                s[v].sel(depth=d),
                s[f"{v}_sem"].sel(depth=d),
                n,
                clean.sel(depth=d),
                th_excess.sel(depth=d) if v == "excess_over_ridge" and d == 1 else None,
            )
            for d in s.depth.values
        }

    nums = {
        "excess_over_ridge_percent": {"reduction": RIDGE_REDUCTION, **per_depth("excess_over_ridge")},
        "best_excess_over_ridge_percent": {
            "reduction": BEST_RIDGE_REDUCTION,
            **per_depth("best_excess_over_ridge"),
        },
    }
    in_range = (s.snr >= 0.1) & (s.snr <= 10) & (s.n_over_p >= 0.25) & (s.n_over_p <= 4)
    d1 = 100 * s.excess_over_ridge.sel(depth=1).where(in_range)
    nums["excess_over_ridge_percent_depth1_on_the_2_5_grid"] = [num(d1.min(), 3), num(d1.max(), 3)]
    nums["negative_excess_over_ridge"] = f"{NEGATIVE_EXCESS} ({len(tv)} seeds here)."
    nums["excess_over_population_bayes_percent"] = {
        **{
            f"depth={d}": [
                num(100 * s.excess_over_bayes.sel(depth=d).min(), 3),
                num(100 * s.excess_over_bayes.sel(depth=d).max(), 3),
            ]
            for d in s.depth.values
        },
        "why_negative": (
            "the population Bayes error is for the average teacher (sigma_w^2 = 1); the realised teachers "
            f"have seed-mean ||w||^2/N = {float(tv.mean()):.4g} (per seed: "
            + ", ".join(f"{v:.3g}" for v in tv.values)
            + "), so their errors sit below it where the teacher's part dominates (large N/P, high SNR). "
            "Not a like-with-like comparison: see excess_over_ridge_percent"
        ),
    }
    th_excess = 100 * th_excess.sel(depth=1)
    nums["theory_excess_over_bayes_percent_depth1"] = {
        "whole_grid": [num(th_excess.min(), 3), num(th_excess.max(), 3)],
        "on_the_2_5_grid": [num(th_excess.where(in_range).min(), 3), num(th_excess.where(in_range).max(), 3)],
    }
    return nums


def _peak_and_time_numbers(ds, s) -> dict:
    """Where the final error peaks in N/P at each SNR, and the ranges of t* and t_final."""
    nums = {}
    peak = s.peak_n_over_p
    nums["final_error_peak_n_over_p"] = {
        f"depth={d}": {
            "snr": [num(q, 3) for q in s.snr.values],
            "peak": [num(v, 3) for v in peak.sel(depth=d).values],
            "within_0.9_1.12": int(((peak.sel(depth=d) >= 0.9) & (peak.sel(depth=d) <= 1.12)).sum()),
        }
        for d in s.depth.values
    }
    nums["optimal_time_range"] = {
        f"depth={d}": [
            num(s.opt_time_of_mean.sel(depth=d).min(), 3),
            num(s.opt_time_of_mean.sel(depth=d).max(), 3),
        ]
        for d in s.depth.values
    }
    t_end = mean_time(ds).isel(epoch=-1)
    nums["final_time_range"] = [num(t_end.min(), 3), num(t_end.max(), 3)]
    return nums


def _depth1_and_run_numbers(ds, th, s, e_opt, late) -> dict:
    """Depth 1's E_g* against the theory, how often E_g* rises with alpha, and the runs whose
    best epoch is late or that diverged."""
    nums = {}
    d1 = s.sel(depth=1)
    rel = abs(d1.opt_error_of_mean / th.optimal_test_error.sel(depth=1) - 1)
    nums["depth1_sim_vs_theory_optimal_error"] = {
        "max_rel_dev": num(rel.max(), 3),
        "median_rel_dev": num(rel.median(), 3),
        "max_in_sem": num(
            (abs(d1.opt_error_of_mean - th.optimal_test_error.sel(depth=1)) / d1.opt_error_sem).max(), 3
        ),
    }
    rises = (e_opt.sortby("n_over_p", ascending=False).diff("n_over_p") > 0).sum("n_over_p")
    nums["optimal_error_rises_with_alpha"] = {
        f"depth={d}": int(rises.sel(depth=d).sum()) for d in s.depth.values
    }
    nums["runs_with_best_epoch_in_last_10_percent"] = {
        f"depth={d}": int(late.sel(depth=d).sum()) for d in s.depth.values
    }
    nums["n_runs"] = int(ds.diverged.size)
    nums["n_diverged"] = int(ds.diverged.sum())
    return nums
