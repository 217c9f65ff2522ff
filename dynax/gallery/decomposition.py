"""Gallery item 6b: the random-feature error decomposition into approximation, null-space and
over-fitting error (docs/theory.md §5 item 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, plot
from .common import (
    num,
    save,
)

__all__ = ["decomposition"]


# --------------------------------------------------------------------------- item 6b (§5 item 8)


def decomposition(results, out: Path) -> tuple[dict, list]:
    """The error of a random-feature student of a noiseless ReLU teacher, split into
    approximation, null-space and over-fitting error (NN2020 Fig. 9), against width."""
    ((ds, th),) = results
    written = []
    ok = analysis.valid(ds)
    sel = {"depth": ds.depth.values[0], "n_over_p": ds.n_over_p.values[0], "snr": ds.snr.values[0]}
    sub, okk, th = ds.sel(sel), ok.sel(sel), th.sel(sel)
    p = int(ds.n_train.values[0])
    widths = sub.width.values
    e = _errors(sub, okk, th)
    _decomposition_figure(e, widths, p, int(ds.epoch.values[-1]), out, written)
    nums = _decomposition_numbers(e, widths, p, okk)
    nums["n_diverged"] = int((~ok).sum())
    return nums, written


def _errors(sub, okk, th) -> dict:
    """Per width: the simulation's final and early-stopped errors (seed mean and sem), the
    exact ones, and the exact decomposition (approximation, null space, over-fitting, cross)."""
    n = okk.sum("seed")
    final = sub.test_error.where(okk).isel(epoch=-1)
    sim, sim_sem = final.mean("seed"), final.std("seed") / np.sqrt(n)
    exact = th.test_error.isel(epoch=-1)
    approx, null = th.approximation_error, th.null_space_error
    over, cross = th.overfitting_error.isel(epoch=-1), th.cross_error.isel(epoch=-1)
    curve = sub.test_error.where(okk).mean("seed")
    k = curve.argmin("epoch")
    opt_sim = curve.isel(epoch=k)
    opt_sem = sub.test_error.where(okk).isel(epoch=k).std("seed") / np.sqrt(n)
    return {
        "sim": sim,
        "sim_sem": sim_sem,
        "exact": exact,
        "approx": approx,
        "null": null,
        "over": over,
        "cross": cross,
        "opt_sim": opt_sim,
        "opt_sem": opt_sem,
        "opt_exact": th.optimal_test_error,
        "converged": th.test_error_converged,
        "over_converged": th.overfitting_error_converged,
    }


def _decomposition_figure(e, widths, p, last_epoch, out, written) -> None:
    """The final error's decomposition, what no training removes, and early stopping against
    training to the end, over the width."""
    sim, sim_sem, exact = e["sim"], e["sim_sem"], e["exact"]
    approx, null, over = e["approx"], e["null"], e["over"]
    opt_sim, opt_sem, opt_exact = e["opt_sim"], e["opt_sem"], e["opt_exact"]
    three = approx + null + over
    fig = Figure(figsize=(13, 4.4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.plot(widths, approx, "o-", ms=3, color="C0", label="approximation")
    ax1.plot(widths, null, "o-", ms=3, color="C3", label="null space")
    ax1.plot(widths, over, "o-", ms=3, color="C1", label="over-fitting")
    ax1.plot(widths, three, "-", lw=2, color="c", label="sum of the three")
    ax1.errorbar(widths, sim, sim_sem, fmt="k_", ms=9, capsize=2, label="$E_g$, 5000 new examples (sim)")
    ax1.set_title(f"final epoch ({last_epoch}): decomposition")
    ax1.set_ylabel("error (seed mean)")
    ax2.plot(widths, approx, "o-", ms=3, color="C0", label="approximation")
    ax2.plot(widths, null, "o-", ms=3, color="C3", label="null space")
    ax2.plot(widths, approx + null, "k--", label="approximation + null space")
    ax2.set_title("what no training on P examples removes")
    ax2.set_ylabel("error (seed mean)")
    ax3.errorbar(
        widths, opt_sim, opt_sem, marker="o", ms=3, label="early-stopped (sim: min of the seed mean)"
    )
    ax3.plot(widths, opt_exact, "-", color="C0", alpha=0.6, label="early-stopped (exact)")
    ax3.errorbar(widths, sim, sim_sem, marker="x", ms=4, ls="--", color="C1", label="final (sim)")
    ax3.plot(widths, exact, "-", color="C1", alpha=0.6, label="final (exact)")
    conv = e["converged"]
    ax3.plot(widths, conv, ":", color="grey", label=r"$t\to\infty$ (exact)")
    top = 2.5 * float(np.nanmax(sim.values))
    ax3.set_ylim(0.5 * float(np.nanmin(opt_sim.values)), top)
    if float(conv.max()) > top:
        w_peak = float(widths[int(np.nanargmax(conv.values))])
        ax3.annotate(
            f"$t \\to \\infty$: {float(conv.max()):.3g} at $N_h$ = {w_peak:g}",
            (w_peak, top), xytext=(0.04, 0.93), textcoords="axes fraction", fontsize=7, color="grey",
        )  # fmt: skip
    ax3.set_yscale("log")
    ax3.set_title("early stopping against training to the end")
    ax3.set_ylabel("test error (seed mean ± s.e.)")
    for ax in (ax1, ax2, ax3):
        ax.axvline(p, color="red", ls="--", lw=1, label=f"$N_h = P$ = {p}")
        ax.set_xscale("log")
        ax.set_xlabel("hidden units $N_h$ (trained parameters)")
        ax.legend(fontsize=7)
        plot.log_ticks(ax, "x")
    plot.log_ticks(ax3, "y")
    ax1.set_ylim(0, None)
    ax2.set_ylim(0, None)
    save(fig, out, "decomposition", written)


def _decomposition_numbers(e, widths, p, okk) -> dict:
    """The errors per width, the simulation against the exact final error, and where the
    null-space and over-fitting errors peak."""
    sim, sim_sem, exact = e["sim"], e["sim_sem"], e["exact"]
    null, over, cross = e["null"], e["over"], e["cross"]
    nums = {}
    z = (sim - exact) / sim_sem
    nums["width"] = [int(w) for w in widths]
    nums["n_train"] = p
    nums["n_seeds"] = int(okk.sizes["seed"])
    nums["final_error_sim"] = [num(v) for v in sim.values]
    nums["final_error_sim_sem"] = [num(v, 2) for v in sim_sem.values]
    nums["final_error_exact"] = [num(v) for v in exact.values]
    nums["sim_minus_exact_in_sem"] = [num(v, 2) for v in z.values]
    nums["approximation_error"] = [num(v) for v in e["approx"].values]
    nums["null_space_error"] = [num(v) for v in null.values]
    nums["overfitting_error"] = [num(v) for v in over.values]
    nums["cross_error"] = [num(v) for v in cross.values]
    nums["optimal_error_sim"] = [num(v) for v in e["opt_sim"].values]
    nums["optimal_error_exact"] = [num(v) for v in e["opt_exact"].values]
    nums["converged_error_exact"] = [num(v) for v in e["converged"].values]
    nums["max_abs_sim_minus_exact_in_sem"] = num(np.nanmax(abs(z.values)), 3)
    nums["null_space_error_max_at_or_below_p"] = float(null.where(null.width <= p).max())
    nums["max_rel_sim_minus_exact"] = num(np.nanmax(abs(sim / exact - 1).values), 3)
    nums["width_of_max_overfitting"] = int(widths[int(np.nanargmax(over.values))])
    conv = e["over_converged"]
    nums["width_of_max_overfitting_converged"] = int(widths[int(np.nanargmax(conv.values))])
    nums["max_abs_cross_error"] = num(float(abs(cross).max()), 3)
    return nums
