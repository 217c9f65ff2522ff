"""Gallery item `hierarchy`: semantic development in a deep linear network (Saxe, McClelland &
Ganguli 2019; docs/theory.md §3.5), simulation beside :mod:`dynax.theory` — the tree's closed
form (``hierarchy_*``) and each mode's exact GD recursion (``saxe_mode_discrete``).

(a) stage-like transitions: each level's mode strengths, depth 1-3, on the theory; (b) the
item similarity over time, broad distinctions before fine ones; (c) illusory correlations: a
feature predicted for an item that lacks it, rising then falling, with the times it appears
and disappears against depth and initial scale; (d) which levels are learnt by the optimal
stopping time as the features get noisier.

With the aligned init every mode of a noiseless hierarchy follows its own recursion, so the
theory of a run is exact: ``W(t) = Σ_α u_α(t) U_α V_αᵀ`` over the SVD of the seed's features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import plot, theory
from ..sim import data
from ..store import spec_of
from .common import COLOURS, crossing, num, save

__all__ = ["hierarchy"]

ILLUSORY = 0.1  # a feature is predicted for an item when its output is above +0.1 (features are ±1)


def hierarchy(results, out: Path) -> tuple[dict, list]:
    """Results: ``hierarchy_stages`` (a-c) and ``hierarchy_noise`` (d)."""
    (stages, _), (noise, _) = results
    written = []
    runs = _Runs(stages)
    nums = {
        "tree": runs.tree_numbers(),
        "stages": _stages(runs, out, written),
        "similarity": _similarity(runs, out, written),
        "illusory": _illusory(runs, out, written),
        "noise": _noise(noise, out, written),
    }
    return nums, written


# --------------------------------------------------------------------------- shared


class _Runs:
    """The noiseless sweep, one (depth, init_scale, seed) run at a time, with its exact theory."""

    def __init__(self, ds):
        self.ds = ds.isel(n_over_p=0, snr=0)
        self.spec = spec_of(ds)
        pr = self.spec.problem
        self.h, self.n_out = pr.hierarchy, pr.n_out
        self.lr = float(self.spec.setting("learning_rate"))
        self.epochs = np.asarray(self.spec.record_epochs)
        self.t = self.lr * self.epochs
        self.fine = np.arange(self.spec.train.epochs + 1)  # the theory at every epoch
        # each seed's modes by tree level (a draw's modes may cross between adjacent levels)
        self.levels = self.ds.teacher_mode_level.transpose("seed", "mode").values
        self._svd = {}

    def features(self, seed: int):
        """The seed's features w̄ (N_out, N) and their SVD (U, s, V), float64."""
        if seed not in self._svd:
            w = np.asarray(data.hierarchy_features(self.spec.seed, seed, self.n_out, self.h))
            u, s, vt = np.linalg.svd(w, full_matrices=False)
            self._svd[seed] = (w, u, s, vt.T)
        return self._svd[seed]

    def level_of(self, seed) -> np.ndarray:
        return self.ds.teacher_mode_level.sel(seed=seed).values

    def run(self, depth, scale, seed):
        return self.ds.sel(depth=depth, init_scale=scale, seed=seed)

    def modes(self, depth, scale, seed, fine: bool = False) -> np.ndarray:
        """The exact strengths u_α (epochs, modes) at the recorded epochs (or every epoch)."""
        _, _, s, _ = self.features(seed)
        return theory.saxe_mode_discrete(s, scale**depth, self.fine if fine else self.epochs, self.lr, depth)

    def weights(self, depth, scale, seed, fine: bool = False) -> np.ndarray:
        """The exact W_eff(t) (epochs, N_out, N)."""
        _, u, _, v = self.features(seed)
        return np.einsum("oa,ea,ia->eoi", u, self.modes(depth, scale, seed, fine), v)

    def tree_numbers(self) -> dict:
        h = self.h
        lam, mult = theory.hierarchy_eigenvalues(h.branching, h.levels, h.flip)
        s = theory.hierarchy_singular_values(h.branching, h.levels, h.flip, self.n_out)
        seeds = [int(q) for q in self.ds.seed.values]
        sampled = np.stack([self.features(q)[2] for q in seeds])  # (seed, mode), descending
        levels = np.stack([self.level_of(q) for q in seeds])
        return {
            "branching": h.branching,
            "levels": h.levels,
            "flip": list(h.flip),
            "n_out": self.n_out,
            "level_eigenvalue": [num(x) for x in lam],
            "level_multiplicity": [int(m) for m in mult],
            "level_singular_value_closed_form": [num(x) for x in s],
            "level_singular_value_sampled": [
                num(np.sqrt(np.mean(sampled[levels == lev] ** 2))) for lev in range(h.levels + 1)
            ],
            "note": "closed form sqrt(N_out lambda_l) is the mean square over draws; sampled: the rms of "
            "these seeds' singular values whose modes lie mostly in each level (teacher_mode_level): a few "
            "draws of N_out features scatter widely about it (and sit above it on average by the O(N/N_out) "
            "level repulsion of docs/theory.md §3.5)",
            "seeds": len(seeds),
            "modes_off_their_rank_level": int(np.sum(levels != self.ds.level.values[None, :])),
        }


def _level_mean(x, levels, lev):
    """The mean over the last axis of ``x`` where ``levels == lev`` (NaN where there is none)."""
    mask = np.broadcast_to(levels == lev, np.shape(x))
    count = mask.sum(-1)
    total = np.where(mask, np.nan_to_num(np.asarray(x, float)), 0.0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# --------------------------------------------------------------------------- (a) stages


def _stages(runs: _Runs, out, written) -> dict:
    """u_α(t)/s_α by level, simulation (solid) on the exact recursion (dashed)."""
    ds, levels = runs.ds, runs.levels
    depths, scales, seeds = list(ds.depth.values), list(ds.init_scale.values), list(ds.seed.values)
    small = float(min(scales))
    fig = Figure(figsize=(4.4 * len(depths), 3.8), layout="constrained")
    axes = fig.subplots(1, len(depths), squeeze=False)[0]
    res = {"init_scale_shown": num(small), "seed_shown": int(seeds[0])}
    worst = 0.0
    for col, d in enumerate(depths):
        ax = axes[col]
        per_depth = {}
        for a in scales:
            halves_sim, halves_th = [], []
            for q in seeds:
                s = runs.features(int(q))[2]
                sim = runs.run(d, a, q).mode_strength.transpose("epoch", "mode").values
                worst = max(worst, float(np.nanmax(np.abs(sim - runs.modes(d, a, int(q))) / s)))
                fine = runs.modes(d, a, int(q), fine=True)
                halves_sim.append([crossing(runs.t, sim[:, m], s[m] / 2) for m in range(len(s))])
                halves_th.append([crossing(runs.lr * runs.fine, fine[:, m], s[m] / 2) for m in range(len(s))])
                if a == small and q == seeds[0]:
                    for m, lev in enumerate(runs.level_of(q)):
                        c = COLOURS[int(lev) % len(COLOURS)]
                        ax.plot(runs.t[1:], sim[1:, m] / s[m], color=c, lw=1.6, label=f"level {lev}")
                        ax.plot(runs.lr * runs.fine[1:], fine[1:, m] / s[m], color="k", lw=0.7, ls="--")
            hs, ht = np.asarray(halves_sim), np.asarray(halves_th)
            lev_s = [_level_mean(hs, levels, lev).mean() for lev in range(runs.h.levels + 1)]
            lev_t = [_level_mean(ht, levels, lev).mean() for lev in range(runs.h.levels + 1)]
            closed = theory.hierarchy_singular_values(
                runs.h.branching, runs.h.levels, runs.h.flip, runs.n_out
            )
            flow = [
                np.log(2 * (1 - a / sl)) if d == 1 else theory.saxe_escape_time(sl, a**d, d) for sl in closed
            ]
            per_depth[f"init_scale={a:g}"] = {
                "half_time_sim": [num(x) for x in lev_s],
                "half_time_theory": [num(x) for x in lev_t],
                "half_time_flow_closed_form_s": [num(x) for x in flow],
                "last_over_first_level": num(lev_s[-1] / lev_s[0]),  # ≈ 1 at depth 1 (u0/s shifts it)
            }
        res[f"depth={d}"] = per_depth
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.1)
        ax.set_xlabel("time t = eta * epoch")
        ax.set_ylabel("mode strength u_alpha / s_alpha")
        ax.set_title(f"depth {d}, aligned init {small:g}: " + ("together" if d == 1 else "in stages"))
        handles, labels = ax.get_legend_handles_labels()
        keep = dict(zip(labels, handles, strict=True))
        ax.legend(
            keep.values(), keep.keys(), fontsize=8, title="solid: sim; dashed: theory", title_fontsize=8
        )
    res["max_abs_sim_minus_theory_over_s"] = num(worst, 3)
    res["claim"] = (
        "depth >= 2 learns the tree level by level (half times increase down the tree, the finest level "
        "last_over_first_level times later than the root); depth 1 learns every level together "
        "(last_over_first_level near 1, below it by the u0/s of the weaker modes); each mode on its exact "
        "recursion to max_abs_sim_minus_theory_over_s; half_time_flow_closed_form_s: the gradient flow at "
        "the closed-form level singular value (not the seed's own: they differ by the sampling scatter)"
    )
    fig.suptitle("(a) a hierarchy's modes, stage by stage (simulation on the exact GD recursion)")
    save(fig, out, "hierarchy_stages", written)
    return res


# --------------------------------------------------------------------------- (b) similarity


def _differentiation(sim_matrix, target, modes, levels, lev):
    """How far the similarity has grown along level ``lev``'s tree modes: Σ vᵀS(t)v / Σ vᵀS_∞v."""
    v = modes[:, levels == lev]
    return np.einsum("ia,...ij,ja->...", v, sim_matrix, v) / np.einsum("ia,ij,ja->", v, target, v)


def _similarity(runs: _Runs, out, written) -> dict:
    """Depth 2, the smallest init, seed 0: similarity matrices at the levels' half times."""
    ds, h = runs.ds, runs.h
    tree = theory.hierarchy_modes(h.branching, h.levels)
    tree_levels = theory.hierarchy_levels(h.branching, h.levels)
    small, q0 = float(min(ds.init_scale.values)), int(ds.seed.values[0])
    res = {}
    for d in ds.depth.values:
        times = []
        for q in ds.seed.values:
            w = runs.features(int(q))[0]
            target = w.T @ w / runs.n_out
            sim = runs.run(d, small, q).similarity.transpose("epoch", ...).values
            times.append(
                [
                    crossing(runs.t, _differentiation(sim, target, tree, tree_levels, lev), 0.5)
                    for lev in range(h.levels + 1)
                ]
            )
        res[f"depth={d}"] = {"half_differentiation_time": [num(x) for x in np.mean(times, axis=0)]}
    d = 2 if 2 in ds.depth.values else int(ds.depth.values[-1])
    sim = runs.run(d, small, q0).similarity.transpose("epoch", ...).values
    w = runs.features(q0)[0]
    target = w.T @ w / runs.n_out
    th = np.einsum("eoi,eoj->eij", runs.weights(d, small, q0), runs.weights(d, small, q0)) / runs.n_out
    res["max_abs_sim_minus_theory"] = num(np.max(np.abs(sim - th)), 3)
    marks = res[f"depth={d}"]["half_differentiation_time"]
    picks = [int(np.argmin(abs(runs.t - (t or runs.t[-1])))) for t in marks] + [len(runs.t) - 1]
    fig = Figure(figsize=(3.0 * (len(picks) + 1), 3.4), layout="constrained")
    axes = fig.subplots(1, len(picks) + 1)
    vmax = float(np.abs(target).max())
    for ax, k in zip(axes[:-1], picks, strict=True):
        img = ax.imshow(sim[k], vmin=-vmax, vmax=vmax, cmap="RdBu_r")
        ax.set_title(f"t = {runs.t[k]:.3g}", fontsize=9)
    for ax, lev in zip(axes, range(h.levels + 1), strict=False):
        ax.set_title(f"{ax.get_title()}: level {lev} half", fontsize=9)
    c = theory.hierarchy_covariance(h.branching, h.levels, h.flip)
    axes[-1].imshow(c, vmin=-vmax, vmax=vmax, cmap="RdBu_r")
    axes[-1].set_title("closed form C (mean over draws)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("item")
        ax.set_ylabel("item")
    fig.colorbar(img, ax=axes, shrink=0.8, label="W_eff^T W_eff / N_out")
    fig.suptitle(
        f"(b) item similarity, depth {d}, aligned init {small:g}, seed {q0}: broad distinctions first "
        "(snapshots at the time each level is half differentiated)"
    )
    save(fig, out, "hierarchy_similarity", written)
    res["claim"] = (
        "half_differentiation_time: when the similarity has grown half-way along each level's tree modes "
        "(root first); increasing down the tree at depth >= 2, equal at depth 1"
    )
    return res


# --------------------------------------------------------------------------- (c) illusory correlations


def _episodes(t, w, w_bar) -> list[tuple[int, int, float, float, float]]:
    """Each (feature, item) the item lacks (w̄ = −1) whose output starts below +0.1, rises
    above it and falls back: (feature, item, appears, disappears, peak)."""
    found = []
    for f, i in zip(*np.nonzero(w_bar < 0), strict=True):
        y = w[:, f, i]
        if y[0] >= ILLUSORY or y.max() <= ILLUSORY:
            continue
        up = crossing(t, y, ILLUSORY)
        found.append((int(f), int(i), up, crossing(t, y, ILLUSORY, rising=False, after=up), float(y.max())))
    return found


def _illusory(runs: _Runs, out, written) -> dict:
    ds = runs.ds
    depths, scales = list(ds.depth.values), list(ds.init_scale.values)
    res, table = {}, {}
    for d in depths:
        for a in scales:
            sim_ep, th_ep = [], []
            for q in ds.seed.values:
                w_bar = runs.features(int(q))[0]
                sim = runs.run(d, a, q).weights.transpose("epoch", ...).values
                sim_ep += _episodes(runs.t, sim, w_bar)
                th_ep += _episodes(runs.lr * runs.fine, runs.weights(d, a, int(q), fine=True), w_bar)
            row = {"pairs_sim": len(sim_ep), "pairs_theory": len(th_ep)}
            for name, ep in (("sim", sim_ep), ("theory", th_ep)):
                if ep:
                    e = np.asarray([x[2:] for x in ep])
                    row[f"appears_median_{name}"] = num(np.median(e[:, 0]))
                    row[f"disappears_median_{name}"] = num(np.nanmedian(e[:, 1]))
                    row[f"peak_median_{name}"] = num(np.median(e[:, 2]), 3)
            table[(d, a)] = row
            res.setdefault(f"depth={d}", {})[f"init_scale={a:g}"] = row
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_ex, ax_t = fig.subplots(1, 2)
    # the example: the strongest episode of the first deep run that has one (depth 2 first,
    # the smallest init first), every depth drawn at that init and seed
    example = None
    for d_ex in sorted(depths, key=lambda d: (d < 2, d)):
        for a_ex in sorted(scales):
            for q in (int(v) for v in ds.seed.values):
                w = runs.run(d_ex, a_ex, q).weights.transpose("epoch", ...).values
                ep = _episodes(runs.t, w, runs.features(q)[0]) if d_ex >= 2 and example is None else []
                if ep:
                    example = (d_ex, a_ex, q, *max(ep, key=lambda x: x[4])[:2])
    if example is None:
        ax_ex.text(0.5, 0.5, "no illusory correlation in this sweep", ha="center", transform=ax_ex.transAxes)
    else:
        d_ex, small, q0, f, i = example
        for k, d in enumerate(depths):
            sim = runs.run(d, small, q0).weights.sel(output=f, input=i).values
            ax_ex.plot(runs.t[1:], sim[1:], color=COLOURS[k], lw=1.6, label=f"depth {d}")
            th = runs.weights(d, small, q0, fine=True)[:, f, i]
            ax_ex.plot(runs.lr * runs.fine[1:], th[1:], color="k", lw=0.7, ls="--")
        ax_ex.axhline(0, color="0.6", lw=0.6)
        ax_ex.axhline(-1, color="0.3", lw=0.6, ls=":")
        ax_ex.set_title(
            f"item {i}, feature {f}, init {small:g}, seed {q0}: the item lacks it (target -1)", fontsize=9
        )
        ax_ex.legend(fontsize=8, title="solid: sim; dashed: theory", title_fontsize=8)
        res["example"] = {"item": i, "feature": f, "depth": int(d_ex), "init_scale": num(small), "seed": q0}
    ax_ex.set_xscale("log")
    ax_ex.set_xlabel("time t")
    ax_ex.set_ylabel("predicted feature (W_eff)_{f,i}")
    for k, d in enumerate(depths):
        for key, marker in (("appears", "o"), ("disappears", "s")):
            ys = [table[(d, a)].get(f"{key}_median_sim", np.nan) for a in scales]
            yt = [table[(d, a)].get(f"{key}_median_theory", np.nan) for a in scales]
            if np.isfinite(np.asarray(ys, float)).any():
                ax_t.plot(scales, ys, marker=marker, color=COLOURS[k], ls="none", label=f"depth {d} {key}")
                ax_t.plot(scales, yt, color=COLOURS[k], lw=0.8, ls="--")
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    plot.log_ticks(ax_t)
    ax_t.set_xlabel("initial scale (aligned init, u0 = scale^D)")
    ax_t.set_ylabel("median time over (item, feature) pairs")
    ax_t.set_title("when they appear and disappear (markers: sim; lines: theory)", fontsize=9)
    if ax_t.get_legend_handles_labels()[0]:
        ax_t.legend(fontsize=7)
    fig.suptitle(f"(c) illusory correlations: output above +{ILLUSORY:g} for a feature the item lacks")
    save(fig, out, "hierarchy_illusory", written)
    res["claim"] = (
        "pairs: (feature, item) with target -1 whose output starts below +0.1, rises above it and falls "
        "back, summed over seeds; none at depth 1 (every entry moves monotonically to its target); at "
        "depth >= 2 they appear when the broad levels are learnt and disappear when the finer ones are, "
        "both later for a smaller init; theory: the same criterion on the exact W(t) at every epoch (the "
        "simulation is read at its recorded epochs, interpolated)"
    )
    return res


# --------------------------------------------------------------------------- (d) noise


def _noise(ds, out, written) -> dict:
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
    for k, d in enumerate(depths):
        mean = ds.test_error.sel(depth=d).mean("seed")
        star = mean.argmin("epoch").values  # (snr,)
        learnt = np.stack(
            [
                [
                    _level_mean(frac.sel(depth=d, snr=s).isel(epoch=int(e)).values, levels, lev).mean()
                    for lev in range(n_lev)
                ]
                for s, e in zip(snrs, star, strict=True)
            ]
        )  # (snr, level): the seed mean of each level's mean u/s at t*
        for lev in range(n_lev):
            axes[k].plot(
                snrs, learnt[:, lev], "o-", color=COLOURS[lev], label=f"level {lev} (lambda {lam[lev]:.2f})"
            )
            axes[k].plot(snrs, wiener[:, lev], color=COLOURS[lev], ls="--", lw=0.8)
        axes[k].axhline(0.5, color="0.6", lw=0.6)
        axes[k].set_xscale("log")
        plot.log_ticks(axes[k], "x")
        axes[k].set_ylim(-0.05, 1.05)
        axes[k].set_xlabel("SNR = 1/sigma_eps^2")
        axes[k].set_ylabel("fraction of the level learnt at t*, u/s")
        axes[k].set_title(f"depth {d} (dashed: optimal filter lambda/(lambda+sigma^2))", fontsize=9)
        t_star = ds.time.values[star] if ds.time.ndim == 1 else np.nan
        e_star = [float(mean.sel(snr=s).isel(epoch=int(e))) for s, e in zip(snrs, star, strict=True)]
        res[f"depth={d}"] = {
            f"snr={s:g}": {
                "t_star": num(np.atleast_1d(t_star)[j]),
                "error_at_t_star": num(e_star[j]),
                "learnt_fraction": [num(x, 3) for x in learnt[j]],
                "levels_over_half": int(np.sum(learnt[j] > 0.5)),
                "levels_over_half_optimal_filter": int(np.sum(wiener[j] > 0.5)),
            }
            for j, s in enumerate(snrs)
        }
        ridge = ds.best_ridge_test_error.mean("seed").values.ravel()
        excess = 100 * (np.asarray(e_star) / ridge - 1)
        for j, s in enumerate(snrs):
            res[f"depth={d}"][f"snr={s:g}"]["excess_over_oracle_ridge_percent"] = num(excess[j], 3)
        axes[-1].plot(snrs, excess, "o-", color=COLOURS[k], label=f"depth {d}")
    axes[-1].axhline(0, color="0.6", lw=0.6)
    axes[-1].set_xscale("log")
    plot.log_ticks(axes[-1], "x")
    axes[-1].set_xlabel("SNR = 1/sigma_eps^2")
    axes[-1].set_ylabel("100 x (E_g(t*) / oracle ridge - 1), seed means")
    axes[-1].set_title("E_g(t*) against the oracle ridge, same data", fontsize=9)
    axes[-1].legend(fontsize=8)
    axes[0].legend(fontsize=7)
    res["oracle_ridge"] = [num(x) for x in ds.best_ridge_test_error.mean("seed").values.ravel()]
    res["claim"] = (
        "noise moves the stopping time up the tree: at t* depth >= 2 has learnt the broad levels more than "
        "the fine ones (the root most, the finest level least, until at the lowest noise nearly every level "
        "is learnt) and fewer of them as the noise grows, while depth 1 learns every level by about the same "
        "fraction; the optimal per-level filter lambda/(lambda+sigma^2) keeps "
        "more than half of level l iff lambda_l > sigma^2 (levels_over_half_optimal_filter), and the deep "
        "networks' count (levels_over_half) is compared with it; a heuristic for their lag: the data's "
        "singular values include the noise's (about sigma (sqrt(N_out) + sqrt(N)) at the top), so a level "
        "is learnt only well above it"
    )
    fig.suptitle("(d) which levels are learnt by the optimal stopping time, against the noise")
    save(fig, out, "hierarchy_noise", written)
    return res
