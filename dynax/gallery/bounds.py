"""Gallery item `bounds`: the measured generalization gap against the norm-based (Rademacher)
bound and the frozen-subspace bound, over N/P and t, depths 1 and 2 (docs/theory.md §2.9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis
from .common import COLOURS, mean_sem, num, save

__all__ = ["bounds"]

CURVE_N_OVER_P = (2.0, 1.0, 0.5)  # the learning-curve panels: P < N, P = N, P > N
QUANTITIES = (
    ("generalization_gap", "measured gap $E_g - E_t$", "k"),
    ("frozen_subspace_gap_bound", "frozen-subspace bound", COLOURS[0]),
    ("rademacher_gap_bound", "norm-based (Rademacher) bound", COLOURS[3]),
)


def bounds(results, out: Path) -> tuple[dict, list]:
    """Both bounds against the gap at every run and epoch: whether they hold, how far they are
    (ratio of seed means) over N/P at chosen times, and the curves at three N/P."""
    ((ds, _),) = results
    b = analysis.generalization_bounds(ds)
    ok = analysis.valid(ds)
    e_g = ds.test_error
    t = np.asarray(ds.time.values, float)  # a fixed step: one time axis for every run
    held = {
        "rademacher": int((e_g <= b.rademacher_bound).where(ok).sum()),
        "frozen_subspace": int((e_g <= b.frozen_subspace_bound * (1 + 1e-12)).where(ok).sum()),
        "outside_region": int((b.rademacher_bound.isnull() & ok & e_g.notnull()).sum()),
        "of": int((ok & e_g.notnull()).sum()),
    }
    m = b.where(ok).mean("seed").isel(snr=0)
    times = [float(t[np.argmin(np.abs(t - 10.0))]), float(t[-1])]  # mid-run and the end
    by_depth = {}
    for d in ds.depth.values:
        rows = {}
        for when in times:
            e = int(np.argmin(np.abs(t - when)))
            x = m.sel(depth=d).isel(epoch=e)
            gap = x.generalization_gap.values
            rows[f"t={when:g}"] = {
                "gap": [num(v) for v in gap],
                "frozen_subspace_gap_bound": [num(v) for v in x.frozen_subspace_gap_bound.values],
                "rademacher_gap_bound": [num(v) for v in x.rademacher_gap_bound.values],
                "frozen_over_gap": [num(v) for v in x.frozen_subspace_gap_bound.values / gap],
                "rademacher_over_gap": [num(v) for v in x.rademacher_gap_bound.values / gap],
            }
        by_depth[f"depth={int(d)}"] = rows
    nums = {
        "delta": b.attrs["delta"],
        "n_in": int(ds.attrs["n_in"]),
        "n_over_p": [num(v) for v in ds.n_over_p.values],
        "snr": num(ds.snr.values[0]),
        "n_seeds": int(ds.sizes["seed"]),
        "bound_holds_at_run_epochs": held,
        "seed_means": by_depth,
        "peak_n_over_p_at_last_epoch": {
            f"depth={int(d)}": {
                name: num(ds.n_over_p.values[int(np.nanargmax(m[name].sel(depth=d).isel(epoch=-1).values))])
                for name, _, _ in QUANTITIES
            }
            for d in ds.depth.values
        },
    }
    written = []
    _figure(ds, b, ok, t, times, held, out, written)
    return nums, written


YLIM = (1e-2, 1e5)  # a value above is written beside the axis's top


def _off_scale(ax, x: float, y: float, colour) -> None:
    """Mark a value above the axis with its size at the top edge."""
    if np.isfinite(y) and y > YLIM[1]:
        ax.annotate(
            f"{y:.0e}", (x, YLIM[1]), xytext=(0, -12), textcoords="offset points", ha="center",
            fontsize=7, color=colour, arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8},
        )  # fmt: skip


def _figure(ds, b, ok, t, times, held: dict, out: Path, written: list) -> None:
    fig = Figure(figsize=(13, 8), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    axes = top.subplots(1, len(CURVE_N_OVER_P), sharey=True)
    for ax, r in zip(axes, CURVE_N_OVER_P, strict=True):
        for name, label, colour in QUANTITIES:
            for d, style in zip(ds.depth.values, ("-", "--"), strict=False):
                v = b[name].where(ok).sel(depth=d, n_over_p=r, method="nearest").isel(snr=0)
                mean, sem = mean_sem(v.transpose("seed", "epoch").values)
                ax.plot(t[1:], mean[1:], style, color=colour, label=f"{label}, depth {int(d)}")
                if name == "generalization_gap":
                    lo = mean - 2 * sem
                    ax.fill_between(t, np.where(lo > 0, lo, np.nan), mean + 2 * sem, color=colour, alpha=0.15)
                _off_scale(ax, t[-1], mean[-1], colour)
        ax.set(xscale="log", yscale="log", xlabel=r"time $t = \eta\,$epoch", title=f"N/P = {r:g}", ylim=YLIM)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("gap and bounds on it (seed mean)")
    top.suptitle(
        f"Learning curves: seed means of {ds.sizes['seed']} runs (gap with ±2 s.e.; a gap ≤ 0 is off the "
        f"log axis), SNR {ds.snr.values[0]:g}, N = {ds.attrs['n_in']}, δ = {b.attrs['delta']:g}",
        fontsize=10,
    )
    axes = bottom.subplots(1, len(times), sharey=True)
    x = ds.n_over_p.values
    for ax, when in zip(axes, times, strict=True):
        e = int(np.argmin(np.abs(t - when)))
        for name, label, colour in QUANTITIES:
            for d, style in zip(ds.depth.values, ("-o", "--s"), strict=False):
                v = b[name].where(ok).sel(depth=d).isel(snr=0, epoch=e)
                mean, sem = mean_sem(v.transpose("seed", "n_over_p").values)
                ax.errorbar(x, mean, 2 * sem, fmt=style, ms=4, color=colour, label=f"{label}, depth {int(d)}")
                for xi, mi in zip(x, mean, strict=True):
                    _off_scale(ax, xi, mi, colour)
        ax.set(xscale="log", yscale="log", xlabel="N/P", title=f"t = {t[e]:g}", ylim=YLIM)
        ax.set_xticks(x, [f"{v:g}" for v in x], minor=False)
        ax.set_xticks([], minor=True)
        ax.axvline(1.0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("gap and bounds on it (seed mean ± 2 s.e.)")
    axes[-1].legend(fontsize=7, loc="lower left", ncols=2)
    holds = ", ".join(f"{k.replace('_', '-')} {held[k]}" for k in ("frozen_subspace", "rademacher"))
    bottom.suptitle(
        f"Over N/P at two times. E_g within the bound at (run, epoch) pairs: {holds} of {held['of']}",
        fontsize=10,
    )
    save(fig, out, "bounds", written)
