"""Gallery item 2: the phase diagram of optimal early stopping for depths 1-3, with the Bayes
limit of the realised teachers."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from .. import analysis, plot
from .common import (
    mark,
    mean_time,
    num,
    realized_bayes,
    realized_teacher_var,
    save,
)

__all__ = ["phase_diagram"]


def phase_diagram(results, out: Path) -> tuple[dict, list]:
    """E_g* maps per depth with the Bayes map, the excess, t* and the final error."""
    ((ds, th),) = results
    written = []
    s = analysis.summarize(ds, th)
    e_opt = s.opt_error_of_mean / s.noise_var
    realized = realized_bayes(ds)
    excess = 100 * (s.opt_error_of_mean / realized - 1)  # over the Bayes error of the same teachers
    _maps_figures(ds, th, s, e_opt, excess, out, written)
    _time_and_final_figures(ds, s, out, written)

    late = ds.best_epoch >= 0.9 * ds.attrs["epochs"]  # per run: optimum maybe not reached
    nums = _bayes_numbers(ds, th, s, realized, excess, late)
    nums.update(_peak_and_time_numbers(ds, s))
    nums.update(_depth1_and_run_numbers(ds, th, s, e_opt, late))
    return nums, written


def _maps_figures(ds, th, s, e_opt, excess, out, written) -> None:
    """The E_g* maps per depth beside the Bayes map, and the excess over the Bayes error of
    the same teachers; x where a seed's best epoch is in the last 10% of training."""
    bayes = th.bayes_test_error.isel(depth=0) / s.noise_var
    late = (ds.best_epoch >= 0.9 * ds.attrs["epochs"]).any("seed")  # optimum maybe not reached
    both = xr.concat([bayes.expand_dims(depth=[0]), e_opt], "depth", coords="minimal", compat="override")
    fig = plot.heatmaps(both, label=r"$E_g^*/\sigma_\varepsilon^2$", ncols=2)
    fig.axes[0].set_title("Bayes-optimal (ridge at 1/SNR)", fontsize=12)
    fig.suptitle(
        "optimal early-stopping error (minimum of the seed-mean curve) and the Bayes limit\n"
        "x: a seed's best epoch in the last 10% of training",
        fontsize=13,
    )
    _mark_late = late.reindex(depth=[0, *late.depth.values], fill_value=False)
    mark(fig, _mark_late)
    save(fig, out, "phase_diagram", written)
    fig = plot.heatmaps(
        excess.clip(-5, 25),
        log=False,
        center=0.0,
        cmap="RdBu_r",
        label=r"$E_g^*/E_{Bayes} - 1$ (%), clipped to [-5, 25]",
        title="excess over the Bayes-optimal error of the same teachers (x: optimum maybe not reached)",
    )
    mark(fig, late)
    save(fig, out, "excess_over_bayes", written)


def _time_and_final_figures(ds, s, out, written) -> None:
    """The optimal stopping time, the final error and the error at one time per depth, and
    the errors against N/P."""
    t = s.error_at_time.attrs["time"]
    maps = {
        "optimal_time": (
            s.opt_time_of_mean,
            r"optimal stopping time $t^*$ (of the seed-mean curve)",
            "optimal time",
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


def _bayes_numbers(ds, th, s, realized, excess, late) -> dict:
    """The realised teachers' variance and E_g*'s excess over the Bayes error: over the
    population's and the realised teachers', per depth, on the §2.5 grid, in the theory,
    in sems, and where every optimum was reached."""
    nums = {}
    tv = realized_teacher_var(ds)
    nums["realized_teacher_var_seed_mean"] = num(tv.mean(), 4)
    nums["realized_teacher_var_seeds"] = [num(v, 3) for v in tv.values]
    nums["excess_over_population_bayes_percent"] = {
        f"depth={d}": [
            num(100 * s.excess_over_bayes.sel(depth=d).min(), 3),
            num(100 * s.excess_over_bayes.sel(depth=d).max(), 3),
        ]
        for d in s.depth.values
    }
    nums["excess_over_bayes_percent"] = {
        f"depth={d}": {
            "max": num(excess.sel(depth=d).max(), 3),
            "median": num(excess.sel(depth=d).median(), 3),
            "min": num(excess.sel(depth=d).min(), 3),
        }
        for d in s.depth.values
    }
    in_range = (s.snr >= 0.1) & (s.snr <= 10) & (s.n_over_p >= 0.25) & (s.n_over_p <= 4)
    nums["excess_over_bayes_percent_depth1_on_the_2_5_grid"] = [
        num(excess.sel(depth=1).where(in_range).min(), 3),
        num(excess.sel(depth=1).where(in_range).max(), 3),
    ]
    th_excess = 100 * (th.optimal_test_error.sel(depth=1) / th.bayes_test_error.sel(depth=1) - 1)
    nums["theory_excess_over_bayes_percent_depth1"] = {
        "whole_grid": [num(th_excess.min(), 3), num(th_excess.max(), 3)],
        "on_the_2_5_grid": [num(th_excess.where(in_range).min(), 3), num(th_excess.where(in_range).max(), 3)],
    }
    z = (s.opt_error_of_mean - realized) / s.opt_error_sem
    nums["excess_over_bayes_in_sem"] = {
        f"depth={d}": {
            "within_2_sem": num(float((abs(z.sel(depth=d)) <= 2).mean()), 3),
            "within_3_sem": num(float((abs(z.sel(depth=d)) <= 3).mean()), 3),
        }
        for d in s.depth.values
    }
    clean = ~late.any("seed") if "seed" in late.dims else ~late
    for d in s.depth.values:
        nums["excess_over_bayes_percent"][f"depth={d}"]["max_where_every_optimum_reached"] = num(
            excess.sel(depth=d).where(clean.sel(depth=d)).max(), 3
        )
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
