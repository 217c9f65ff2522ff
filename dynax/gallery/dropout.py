"""Gallery item `dropout`: one mode on one hidden unit under dropout, inverted and unscaled
masks, against the expected-loss logistic of docs/theory.md §3.6; and (a third result, in
:mod:`.dropout_shared`) modes sharing a hidden layer against the equalised minimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, theory
from .common import COLOURS, crossing, mean_sem, mean_time, num, save
from .dropout_shared import shared

__all__ = ["dropout"]

SCALING_WORDS = {"inverted": "inverted scaling (kept units × 1/p)", "none": "unscaled masks"}
SHORT = {"inverted": "inverted", "none": "unscaled"}


def _curves(ds) -> dict:
    """Per drop probability q: the mode strength over s (seed, epoch), each seed's start u0,
    and the theory's curve from that start (seed, epoch), at the run's time t = η·epoch."""
    scaling = ds.attrs["dropout_scaling"]
    s = float(ds.singular_value.isel(mode=0))  # the chosen spectrum (problem.teacher_singular_values)
    alpha = float(ds.alpha.isel(n_over_p=0))
    tt = mean_time(ds)  # one fixed rate: the same t for every run
    t = np.asarray(tt.isel({d: 0 for d in tt.dims if d != "epoch"}).values, float)
    out = {}
    for q in ds.dropout.values:
        pt = {"depth": ds.depth.values[0], "n_over_p": ds.n_over_p.values[0], "snr": ds.snr.values[0]}
        u = (
            ds.mode_strength.isel(mode=0)
            .sel(pt)
            .sel(dropout=q)
            .where(analysis.valid(ds).sel(pt).sel(dropout=q))
        )
        u = np.asarray(u.transpose("seed", "epoch").values, float)
        th = np.stack([theory.dropout_mode(s, u0, t, float(q), scaling, alpha) for u0 in u[:, 0]])
        out[float(q)] = (u / s, th / s, u[:, 0])
    return {"scaling": scaling, "s": s, "alpha": alpha, "t": t, "q": out}


def _half_times(c) -> dict:
    """Per q: each seed's time to half its fixed point in the simulation and in the theory."""
    out = {}
    for q, (u, _, u0) in c["q"].items():
        fixed = (1 - q) if c["scaling"] == "inverted" else 1.0  # over s
        sim = np.array([crossing(c["t"], row, fixed / 2) for row in u])
        exact = theory.dropout_learning_time(c["s"], u0, q, c["scaling"], 0.5, c["alpha"])
        out[q] = (sim, np.asarray(exact, float))
    return out


def dropout(results, out: Path) -> tuple[dict, list]:
    """Mode curves under dropout for each q and both scalings, the fixed points against p, and
    the time to half the fixed point against 1/p."""
    results, extra = results[:2], results[2:]  # one mode on one unit (both scalings); shared modes
    curves = [_curves(ds) for ds, _ in results]
    halves = [_half_times(c) for c in curves]
    written = []
    _curve_figure(curves, out, written)
    _law_figure(curves, halves, out, written)
    nums = {}
    for c, h in zip(curves, halves, strict=True):
        rows = {}
        for q, (u, th, _) in c["q"].items():
            end, end_sem = mean_sem(u[:, -1])
            sim_t, sim_sem = mean_sem(h[q][0])
            rows[f"q={q:g}"] = {
                "fixed_point_over_s": {"sim": num(end), "sem": num(end_sem), "theory": num(th[:, -1].mean())},
                "half_time": {"sim": num(sim_t), "sem": num(sim_sem), "theory": num(np.mean(h[q][1]))},
                "max_abs_curve_difference_over_s": num(np.nanmax(np.abs(u - th))),
            }
        nums[c["scaling"]] = {"s": num(c["s"]), "alpha": num(c["alpha"]), "by_q": rows}
    if extra:
        nums["shared"] = shared(extra[0][0], out, written)
    return nums, written


def _curve_figure(curves, out: Path, written: list) -> None:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, len(curves), sharey=True, squeeze=False)[0]
    for ax, c in zip(axes, curves, strict=True):
        for colour, (q, (u, th, _)) in zip(COLOURS, c["q"].items(), strict=False):
            m, e = mean_sem(u)
            ax.plot(c["t"], m, color=colour, label=f"q = {q:g} (p = {1 - q:g})")
            ax.fill_between(c["t"], m - e, m + e, color=colour, alpha=0.25, lw=0)
            ax.plot(c["t"], th.mean(0), color="k", ls="--", lw=0.9)
        ax.plot([], [], color="k", ls="--", lw=0.9, label="expected-loss logistic (theory)")
        ax.fill_between([], [], [], color="grey", alpha=0.25, lw=0, label="seed mean ± 1 s.e.")
        ax.set_title(SCALING_WORDS[c["scaling"]])
        ax.set_xlabel(r"time $t = \eta\,$epoch")
        ax.set_xlim(0, min(c["t"][-1], 25))  # every curve has settled by then (the run goes on)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel(r"mode strength $u/s$ (seed mean)")
    fig.suptitle(
        rf"one mode on one hidden unit under dropout: depth 2, $s = {curves[0]['s']:g}$, white inputs "
        rf"($\Sigma_{{xx}} = {curves[0]['alpha']:g}\,I$), noiseless"
    )
    save(fig, out, "dropout_modes", written)


def _law_figure(curves, halves, out: Path, written: list) -> None:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_fixed, ax_time = fig.subplots(1, 2)
    for marker, c, h in zip(("o", "s"), curves, halves, strict=True):
        qs = np.array(list(c["q"]))
        p = 1 - qs
        ends = np.array([mean_sem(u[:, -1]) for u, _, _ in c["q"].values()])
        ax_fixed.errorbar(
            p, ends[:, 0], ends[:, 1], ls="none", marker=marker, label=f"{SCALING_WORDS[c['scaling']]}"
        )
        sims = np.array([mean_sem(h[q][0]) for q in c["q"]])
        exact = np.array([np.mean(h[q][1]) for q in c["q"]])
        name = SHORT[c["scaling"]]
        ax_time.errorbar(1 / p, sims[:, 0], sims[:, 1], ls="none", marker=marker, label=f"{name}: simulation")
        ax_time.plot(1 / p, exact, "k--" if c["scaling"] == "none" else "k:", lw=1, label=f"{name}: theory")
    grid = np.linspace(0.15, 1, 50)
    ax_fixed.plot(grid, grid, "k:", lw=1, label=r"$u^* = p\,s$ (inverted)")
    ax_fixed.plot(grid, np.ones_like(grid), "k--", lw=1, label=r"$u^* = s$ (unscaled)")
    ax_fixed.set_xlabel(r"keep probability $p = 1 - q$")
    ax_fixed.set_ylabel(r"$u/s$ at the last epoch (seed mean ± s.e.)")
    ax_fixed.set_title("fixed point")
    ax_fixed.legend(fontsize=8)
    ax_time.set_xlabel(r"$1/p$")
    ax_time.set_ylabel(r"time to half the fixed point (seed mean ± s.e.)")
    ax_time.set_title(r"learning time ($\propto 1/(s\,p)$ with unscaled masks)")
    ax_time.legend(fontsize=8)
    save(fig, out, "dropout_laws", written)
