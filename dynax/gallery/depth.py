"""Gallery item 4: depth and the speed-accuracy trade-off (docs/theory.md §3.4) against ridge
on the same training sets, and balanced deep networks against the exact end-to-end flow (§3.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, theory
from .common import (
    BEST_RIDGE_REDUCTION,
    COLOURS,
    NEGATIVE_EXCESS,
    RIDGE_REDUCTION,
    excess_numbers,
    mean_time,
    nearest,
    num,
    save,
    sel,
)

__all__ = ["depth"]


# --------------------------------------------------------------------------- item 4

# docs/theory.md §3.4 (N = N_h = 100, SNR 1, 10 seeds, fan-in init): min_t E_g (t*); None: no escape by t = 4
TABLE_3_4 = {
    0.5: {
        1: (1.729, 0.69),
        2: {0.01: (1.784, 0.56), 0.1: (1.757, 0.36), 0.5: (1.751, 0.21), 1.0: (1.758, 0.14)},
        3: {0.01: None, 0.1: (1.875, 0.94), 0.5: (1.779, 0.17), 1.0: (1.819, 0.06)},
    },
    1.0: {
        1: (1.645, 0.61),
        2: {0.01: (1.678, 0.40), 0.1: (1.664, 0.25), 0.5: (1.667, 0.15), 1.0: (1.687, 0.11)},
        3: {0.01: None, 0.1: (1.857, 0.67), 0.5: (1.696, 0.13), 1.0: (1.736, 0.05)},
    },
    2.0: {
        1: (1.391, 0.66),
        2: {0.01: (1.431, 0.26), 0.1: (1.414, 0.17), 0.5: (1.416, 0.11), 1.0: (1.435, 0.09)},
        3: {0.01: (1.844, 3.7), 0.1: (1.523, 0.44), 0.5: (1.456, 0.09), 1.0: (1.458, 0.04)},
    },
}


def depth(results, out: Path) -> tuple[dict, list]:
    """Fan-in runs against the §3.4 table (paired deep − shallow) and against ridge on the
    same training sets (paired), and balanced runs against the exact end-to-end flow of
    §3.2; the speed-accuracy trade-off."""
    (ds, _), (bal, bal_th) = results
    written = []
    opt = analysis.optimal_early_stopping(ds)
    snr = ds.snr.values[0]
    nv = float(ds.noise_var.sel(snr=snr))
    paired = _paired_differences(ds, nv)
    _fan_in_figure(ds, paired, opt, nv, out, written)
    nums = _fan_in_vs_table_3_4(ds, paired, opt, nv)
    nums["excess_over_ridge_percent"] = _excess_over_ridge(ds, opt)
    nums["balanced_sim_vs_flow_max_rel_dev"] = _balanced_vs_flow(bal, bal_th, out, written)
    return nums, written


def _paired_differences(ds, nv) -> dict:
    """E_g* of each deep run minus that of depth 1 on the same seed, in units of σ_ε²: the
    seed mean and its sem, at the minimum of the seed-mean curve (the table's reduction; the
    sem from the seed-wise differences at the two minima) and at each run's own best epoch."""
    ok = analysis.valid(ds)
    best = ds.best_test_error.where(ok)
    shallow = best.sel(depth=1).isel(init_scale=0)  # depth 1: sigma_0^2 = s^2/N, the smallest is ~0
    n_ok = np.sqrt(ok.sum("seed"))
    # the table's reduction: minimum of the seed-mean curve, deep minus shallow on the same seeds
    curves = ds.test_error.where(ok)
    at_min = curves.isel(epoch=curves.mean("seed").argmin("epoch"))
    sh_curves = curves.sel(depth=1).isel(init_scale=0)
    sh_min = sh_curves.isel(epoch=sh_curves.mean("seed").argmin("epoch"))
    pm = (at_min - sh_min).mean("seed") / nv
    ps = (at_min - sh_min).std("seed") / n_ok / nv
    # each run stopped at its own best epoch (oracle per run), paired per seed
    paired = best - shallow
    om = paired.mean("seed") / nv
    osem = paired.std("seed") / n_ok / nv
    return {"min_of_mean": (pm, ps), "own_best": (om, osem)}


def _excess_over_ridge(ds, opt) -> dict:
    """E_g* of every (alpha, depth, init) against ridge on the same 50 training sets, paired
    per seed: the seed-mean optimum against γ*, each run's own best against the oracle γ."""
    ex = analysis.excess_over_ridge(ds, opt)
    late = (ds.best_epoch >= 0.9 * ds.attrs["epochs"]).any("seed")
    n = ds.sizes["seed"]
    cells = {}
    for r in ds.n_over_p.values:
        for d in ds.depth.values:
            for s in ds.init_scale.values:
                pt = {"n_over_p": r, "depth": d, "init_scale": s, "snr": ds.snr.values[0]}
                cells[f"alpha={float(ds.alpha.sel(n_over_p=r)):g},depth={d},init={s:g}"] = {
                    k: [num(100 * ex[v].sel(pt), 3), num(100 * ex[f"{v}_sem"].sel(pt), 2)]
                    for k, v in (("min_of_mean", "excess_over_ridge"), ("own_best", "best_excess_over_ridge"))
                }
    return {
        "reduction": {"min_of_mean": RIDGE_REDUCTION, "own_best": BEST_RIDGE_REDUCTION},
        "cells_percent_sem": cells,
        "min_of_mean": excess_numbers(ex["excess_over_ridge"], ex["excess_over_ridge_sem"], n, ~late),
        "own_best": excess_numbers(ex["best_excess_over_ridge"], ex["best_excess_over_ridge_sem"], n, ~late),
        "negative": f"{NEGATIVE_EXCESS} ({n} seeds here).",
    }


def _deep(ds) -> list:
    """The depths above 1, as many as there are colours for them."""
    return [d for d in ds.depth.values if d > 1][: len(COLOURS) - 1]


def _table_3_4(a):
    """The §3.4 table's rows at alpha ``a``, or None."""
    return TABLE_3_4.get(nearest(list(TABLE_3_4), a, 1e-3))


def _fan_in_vs_table_3_4(ds, paired, opt, nv) -> dict:
    """One row per (alpha, deep depth, init scale): the paired differences, E_g* and t* of
    the simulation beside the §3.4 table's; and how many paired differences are within 4 sem
    of the table's."""
    (pm, ps), (om, osem) = paired["min_of_mean"], paired["own_best"]
    snr = ds.snr.values[0]
    rows = {}
    for r in ds.n_over_p.values:
        a = float(ds.alpha.sel(n_over_p=r))
        ref = _table_3_4(a)
        for d in _deep(ds):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            for s in ds.init_scale.values:
                key = f"alpha={a:g},depth={d},init={s:g}"
                tab = ref[d].get(nearest(list(ref[d]), s, 1e-3)) if ref else None
                rows[key] = {
                    "paired_diff_sim": num(pm.sel(pt).sel(init_scale=s)),
                    "paired_diff_sem": num(ps.sel(pt).sel(init_scale=s), 2),
                    "paired_diff_table": num(tab[0] - ref[1][0]) if tab else None,
                    "own_best_paired_diff_sim": num(om.sel(pt).sel(init_scale=s)),
                    "own_best_paired_diff_sem": num(osem.sel(pt).sel(init_scale=s), 2),
                    "opt_error_of_mean_sim": num(opt.opt_error_of_mean.sel(pt).sel(init_scale=s) / nv),
                    "opt_time_sim": num(opt.opt_time_of_mean.sel(pt).sel(init_scale=s), 3),
                    "table": list(tab) if tab else None,
                }
    within = [
        abs(v["paired_diff_sim"] - v["paired_diff_table"]) <= 4 * max(v["paired_diff_sem"], 1e-12)
        for v in rows.values()
        if v["paired_diff_table"] is not None and v["paired_diff_sim"] is not None
    ]
    return {
        "fan_in_vs_table_3_4": rows,
        "fan_in_paired_diffs_within_4_sem_of_table": f"{sum(within)} of {len(within)}",
    }


def _fan_in_figure(ds, paired, opt, nv, out, written) -> None:
    """Per alpha: the paired differences over the init scale beside the §3.4 table, and the
    speed-accuracy trade-off (t* against E_g* per depth)."""
    (pm, ps), (om, osem) = paired["min_of_mean"], paired["own_best"]
    scales = ds.init_scale.values
    snr = ds.snr.values[0]
    fig = Figure(figsize=(4.6 * ds.sizes["n_over_p"], 7.6), layout="constrained")
    axes = fig.subplots(2, ds.sizes["n_over_p"], squeeze=False)
    for j, r in enumerate(ds.n_over_p.values):
        a = float(ds.alpha.sel(n_over_p=r))
        ref = _table_3_4(a)
        ax = axes[0, j]
        for c, d in zip(COLOURS[1:], _deep(ds), strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            ax.errorbar(scales, pm.sel(pt), 4 * ps.sel(pt), color=c, marker="o", ms=3, capsize=2,
                        label=f"depth {d} − 1: min of seed mean (±4 s.e.)")  # fmt: skip
            ax.errorbar(scales, om.sel(pt), 4 * osem.sel(pt), color=c, marker="s", mfc="none", ms=4, ls=":",
                        capsize=2, label=f"depth {d} − 1: each run's own best")  # fmt: skip
            if ref:
                xs = [s for s, v in ref[d].items() if v is not None]
                ax.plot(xs, [ref[d][s][0] - ref[1][0] for s in xs], color=c, marker="*", ms=9, ls="none",
                        label=f"depth {d}: docs/theory.md §3.4 table")  # fmt: skip
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(rf"$\alpha$ = {a:g}, SNR {snr:g}: paired $E_g^*$ difference")
        ax.set_xlabel("init_scale (gaussian_fan_in)")
        ax.set_ylabel(r"$(E_g^{*,deep} - E_g^{*,shallow})/\sigma_\varepsilon^2$")
        # speed-accuracy: t* against E_g* per depth, one point per init scale
        ax = axes[1, j]
        for c, d in zip(COLOURS, ds.depth.values, strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            tt, ee = opt.opt_time_of_mean.sel(pt).values, opt.opt_error_of_mean.sel(pt).values / nv
            ax.plot(tt, ee, color=c, marker="o", ms=4, label=f"depth {d}: min of the seed mean")
            tb, eb = opt.mean_of_best_time.sel(pt).values, opt.mean_of_best_error.sel(pt).values / nv
            ax.plot(
                tb, eb, color=c, marker="s", mfc="none", ms=4, ls=":", label=f"depth {d}: each run's own best"
            )
            if d > 1:
                for s, x, y in zip(scales, tt, ee, strict=True):
                    ax.annotate(f"{s:g}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        for v, ls, what in (
            ("ridge_test_error", "--", r"$\gamma^*$ = 1/SNR"),
            ("best_ridge_test_error", ":", "the oracle γ"),
        ):
            y = ds[v].sel(n_over_p=r, snr=snr) / nv
            m, sem = float(y.mean("seed")), float(y.std("seed") / np.sqrt(y.sizes["seed"]))
            ax.axhline(
                m, color="k", ls=ls, lw=0.9, label=f"ridge at {what}, same training sets: {m:.3f} ± {sem:.3f}"
            )
        bayes = float(theory.bayes_error(a, 1.0, 1.0 / snr)) * snr
        ax.axhline(
            bayes, color="gray", lw=2, alpha=0.4, label=f"Bayes, population (average teacher): {bayes:.3f}"
        )
        ax.set_xscale("log")
        ax.set_xlabel(r"optimal stopping time $t^*$: speed")
        ax.set_ylabel(r"$E_g^*/\sigma_\varepsilon^2$: accuracy")
        ax.set_title(
            "speed-accuracy (labels: init scale)\nsolid: min of the seed mean "
            "(compare: ridge at $\\gamma^*$);\n"
            "dotted: mean of own bests (compare: ridge at the oracle $\\gamma$)",
            fontsize=9,
        )
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].legend(fontsize=6)
    for ax in axes[1, 1:]:  # each alpha's own reference levels
        refs = [(h, t) for h, t in zip(*ax.get_legend_handles_labels(), strict=True) if "depth" not in t]
        ax.legend(*zip(*refs, strict=True), fontsize=6, loc="upper center")
    save(fig, out, "depth_fan_in", written)


def _balanced_vs_flow(bal, bal_th, out, written) -> dict:
    """Balanced init: the seed-mean simulation against the exact end-to-end flow, a figure
    and the largest relative deviations per (alpha, depth, init scale)."""
    bok = analysis.valid(bal)
    sim = bal.test_error.where(bok).mean("seed")
    deep = [d for d in bal.depth.values if d > 1]
    fig = Figure(figsize=(4.6 * len(deep), 4.2 * bal.sizes["n_over_p"]), layout="constrained")
    axes = fig.subplots(bal.sizes["n_over_p"], len(deep), squeeze=False)
    worst = {}
    tbal = mean_time(bal)
    for i, r in enumerate(bal.n_over_p.values):
        for j, d in enumerate(deep):
            ax = axes[i, j]
            for c, s in zip(COLOURS, bal.init_scale.values, strict=False):
                pt = {"depth": d, "n_over_p": r, "snr": bal.snr.values[0], "init_scale": s}
                t = sel(tbal, pt).values
                ax.plot(
                    t[t > 0], sim.sel(pt).values[t > 0], color=c, lw=2, alpha=0.6, label=f"sim, $s$ = {s:g}"
                )
                f = sel(bal_th.test_error_flow, pt).values
                ax.plot(t[t > 0], f[t > 0], color="k", ls="--", lw=0.9)
                dev = abs(sim.sel(pt).values / f - 1)
                k = int(np.nanargmin(f))  # up to three times the flow's optimal time
                early = t <= 3 * t[k]
                worst[f"alpha={float(bal.alpha.sel(n_over_p=r)):g},depth={d},init={s:g}"] = {
                    "max_rel_dev_to_3_t_star": num(np.nanmax(dev[early]), 3),
                    "max_rel_dev_whole_run": num(np.nanmax(dev), 3),
                    "optimal_error_rel_dev": num(np.nanmin(sim.sel(pt).values) / f[k] - 1, 3),
                }
            ax.set_xscale("log")
            ax.set_title(
                f"balanced, depth {d}, $\\alpha$ = {float(bal.alpha.sel(n_over_p=r)):g}"
                "\n(dashed: the §3.2 flow)",
                fontsize=10,
            )
            ax.set_xlabel(r"time $t$")
            ax.set_ylabel(r"$E_g$ (seed mean)")
    axes[0, 0].legend(fontsize=6)
    save(fig, out, "depth_balanced", written)
    return worst
