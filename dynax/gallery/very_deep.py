"""Gallery item `very_deep`: learning time against depth 1-50 at the rate eta0/D, for the
aligned, a random orthogonal and a Gaussian (variance 1/N per layer) start at per-layer scales
near 1, beside the exact per-mode recursion of the aligned network (docs/theory.md §3.1,
"Very deep networks")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, theory
from ..spec import OverDepth, derived
from ..store import spec_of
from .common import COLOURS, crossing, mean_sem, num, save

__all__ = ["very_deep"]

CRITERION = 0.1  # learnt: E_g ≤ 0.1 × the zero network's error Σs²/(N N_out)
LARGE_D = 2000  # the recursion at this depth stands for the D → ∞ limit du/dk = η0 α u²(s − u)
STYLE = {"aligned": ("k", "^"), "orthogonal": (COLOURS[0], "o"), "gaussian_fan_in": (COLOURS[3], "s")}


def _theory_epochs(s, u0: float, depth: int, step: float, epochs, level: float, alpha: float = 1.0) -> float:
    """The aligned network's epochs to E_g ≤ level, exact GD recursion (white inputs at load α,
    ``step`` in sum-loss units) evaluated at ``epochs`` (the result's records: the simulation's own
    crossing rule; or every epoch), NaN if never."""
    u = theory.saxe_mode_discrete(s, u0, np.asarray(epochs), step, depth, alpha)
    return crossing(epochs, np.sum((s - u) ** 2, axis=1), level, rising=False)


def _measured(ds, ok, init, scale, depths, epochs, level) -> tuple:
    """One (init, scale): each seed's epochs to the criterion per depth; (mean, s.e.) and the row
    of counts (inf: diverged, NaN: never reached)."""
    pt = {"init": init, "init_scale": scale, "n_over_p": ds.n_over_p.values[0], "snr": ds.snr.values[0]}
    per_d = []
    for d in depths:
        e = ds.test_error.sel({**pt, "depth": d}).transpose("seed", "epoch").values
        good = ok.sel({**pt, "depth": d}).values
        per_d.append(
            [
                crossing(epochs, row, level, rising=False) if g else np.inf
                for row, g in zip(e, good, strict=True)
            ]
        )
    t = np.asarray(per_d)  # (depth, seed)
    mean, sem = mean_sem(np.where(np.isfinite(t), t, np.nan), axis=1)
    row = {
        "epochs_mean": [num(v) for v in mean],
        "epochs_sem": [num(v, 2) for v in sem],
        "n_learnt": [int(v) for v in np.isfinite(t).sum(1)],
        "n_not_reached": [int(v) for v in np.isnan(t).sum(1)],
        "n_diverged": [int(v) for v in np.isinf(t).sum(1)],
        # a mode still near the saddle u = 0 (it started with the wrong sign) at the last epoch
        "n_final_error_above_1e-6": [
            int((ds.test_error.sel({**pt, "depth": d}).isel(epoch=-1) > 1e-6).sum()) for d in depths
        ],
    }
    return (mean, sem), row


def very_deep(results, out: Path) -> tuple[dict, list]:
    """Each seed's epochs to E_g ≤ 0.1 E_g(W = 0) (linear between records), their seed mean and
    s.e. per (init, scale, depth); runs that diverged or never reached it counted apart."""
    ((ds, _),) = results
    spec = spec_of(ds)
    pr = spec.problem
    if not isinstance(spec.train.learning_rate, OverDepth) or not pr.white or not pr.teacher_singular_values:
        raise ValueError(
            "gallery very_deep: needs learning_rate = {over_depth = eta0}, whitened inputs and "
            "problem.teacher_singular_values (the aligned theory's setting)"
        )
    s = np.asarray(pr.teacher_singular_values, float)
    p = spec.n_train[0]
    alpha, gs = p / pr.n_in, float(derived.grad_scale(spec.train.loss, p))  # the step is eta·grad_scale
    eta0 = spec.train.learning_rate.eta0 * gs
    zero = float(np.sum(s**2) / (pr.n_in * pr.n_out))
    level = CRITERION * zero
    epochs = ds.epoch.values.astype(float)
    ok = analysis.valid(ds)
    depths = [int(d) for d in ds.depth.values]
    sims, rows = {}, {}
    for init in ds.init.values:
        for scale in ds.init_scale.values:
            key = f"{init},scale={float(scale):g}"
            sims[init, float(scale)], rows[key] = _measured(ds, ok, init, scale, depths, epochs, level)
    total = level * pr.n_in * pr.n_out  # the criterion on Σ(s − u)²
    every = np.arange(spec.train.epochs + 1)
    aligned_theory = {
        float(c): [_theory_epochs(s, float(c) ** d, d, eta0 / d, every, total, alpha) for d in depths]
        for c in ds.init_scale.values
    }
    on_records = {
        float(c): [_theory_epochs(s, float(c) ** d, d, eta0 / d, epochs, total, alpha) for d in depths]
        for c in ds.init_scale.values
    }
    limit = _theory_epochs(s, 1.0, LARGE_D, eta0 / LARGE_D, every, total, alpha)
    nums = {
        "eta0": num(eta0),
        "depths": depths,
        "criterion": f"E_g <= {CRITERION} x the zero network's error sum(s^2)/(N N_out) = {num(level)}",
        "max_epochs": int(spec.train.epochs),
        "n_seeds": int(ds.sizes["seed"]),
        "by_init": rows,
        "aligned_theory_epochs": {f"scale={c:g}": [num(v) for v in th] for c, th in aligned_theory.items()},
        "aligned_theory_epochs_on_records": {
            f"scale={c:g}": [num(v) for v in th] for c, th in on_records.items()
        },
        "aligned_sim_vs_theory_on_records_max_relative": num(
            np.nanmax(
                [np.abs(sims["aligned", c][0] / np.asarray(th, float) - 1) for c, th in on_records.items()]
            )
        )
        if any(k[0] == "aligned" for k in sims)
        else None,
        "large_depth_limit_epochs": num(limit),
        "large_depth_limit": f"the exact recursion at D = {LARGE_D}, scale 1 (u0 = 1)",
    }
    for key in ("aligned", "orthogonal"):
        mean = sims.get((key, 1.0), (None,))[0]
        if mean is not None:
            deep = mean[np.asarray(depths) >= 5]
            nums[f"{key}_scale1_epochs_max_over_min_depth_ge_5"] = num(np.nanmax(deep) / np.nanmin(deep), 3)
    written = []
    _figure(ds, depths, sims, aligned_theory, limit, rows, eta0, out, written)
    _curves_figure(ds, level, out, written)
    return nums, written


def _figure(ds, depths, sims, aligned_theory, limit, rows, eta0, out: Path, written: list) -> None:
    scales = [float(c) for c in ds.init_scale.values]
    fig = Figure(figsize=(14, 4.8), layout="constrained")
    axes = fig.subplots(1, len(scales), sharey=True)
    top = float(ds.epoch.values[-1])
    for ax, c in zip(np.atleast_1d(axes), scales, strict=True):
        for init in ds.init.values:
            colour, marker = STYLE.get(str(init), ("0.4", "d"))
            mean, sem = sims[init, c]
            row = rows[f"{init},scale={c:g}"]
            ax.errorbar(depths, mean, 2 * sem, color=colour, marker=marker, ms=5, capsize=2, label=str(init))
            for d, miss, div in zip(depths, row["n_not_reached"], row["n_diverged"], strict=True):
                if miss or div:
                    note = "+".join(x for x in (f"{miss}∞" if miss else "", f"{div}✗" if div else "") if x)
                    ax.annotate(
                        note, (d, top), xytext=(0, -4 - 9 * list(STYLE).index(str(init))),
                        textcoords="offset points", ha="center", va="top", fontsize=6, color=colour,
                    )  # fmt: skip
        ax.plot(depths, aligned_theory[c], "k--", lw=1, label="aligned: exact recursion")
        if c == 1.0:
            ax.axhline(limit, color="k", ls=":", lw=1, label=f"D → ∞ limit (recursion at D = {LARGE_D})")
        ax.set(xscale="log", yscale="log", xlabel="depth D", title=f"per-layer scale {c:g} (u0 = {c:g}^D)",
               ylim=(0.1, 2 * top))  # fmt: skip
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xticks([], minor=True)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel(f"epochs to E_g ≤ {CRITERION} E_g(W = 0) (seed mean ± 2 s.e.)")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Learning time against depth at the rate {eta0:g}/D: N = N_h = N_out = {ds.attrs['n_in']}, 16 modes "
        f"s = 3 … 1, white noiseless data at P = N, {ds.sizes['seed']} seeds (the exact recursion lies on "
        f"the aligned simulation)\nAt the top: runs that never met the criterion within {int(top)} epochs "
        "(∞) or diverged (✗), per depth",
        fontsize=10,
    )
    save(fig, out, "very_deep", written)


def _curves_figure(ds, level: float, out: Path, written: list) -> None:
    """E_g against epochs at scale 1 for the deepest networks, every seed (thin) and the mean."""
    depths = [int(d) for d in ds.depth.values][-3:]
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, len(depths), sharey=True)
    ep = ds.epoch.values.astype(float)
    for ax, d in zip(np.atleast_1d(axes), depths, strict=True):
        for init in ds.init.values:
            colour, _ = STYLE.get(str(init), ("0.4", "d"))
            e = (
                ds.test_error.sel(depth=d, init=init, init_scale=1.0)
                .squeeze()
                .transpose("seed", "epoch")
                .values
            )
            ax.plot(ep[1:], e[:, 1:].T, color=colour, lw=0.5, alpha=0.4)
            ax.plot(ep[1:], np.nanmean(e[:, 1:], 0), color=colour, lw=2, label=f"{init} (seed mean)")
        ax.axhline(level, color="0.5", ls="--", lw=0.8, label="criterion")
        ax.set(xscale="log", yscale="log", xlabel="epoch", title=f"depth {d}, scale 1", ylim=(1e-4, 10))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("test error E_g (each seed thin; below 1e-4 off the axis)")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    save(fig, out, "very_deep_curves", written)
