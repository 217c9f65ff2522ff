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
from .common import mean_sem as _mean_sem
from .hierarchy_noise import level_mean as _level_mean
from .hierarchy_noise import noise_levels

__all__ = ["hierarchy"]

ILLUSORY = 0.1  # a feature is predicted for an item when its output is above +0.1 (features are ±1)


def hierarchy(results, out: Path) -> tuple[dict, list]:
    """Results: ``hierarchy_stages`` (a, b), ``hierarchy_illusory`` (c) and ``hierarchy_noise`` (d)."""
    (stages, _), (illusory, _), (noise, _) = results
    written = []
    runs = _Runs(stages)
    nums = {
        "tree": runs.tree_numbers(),
        "stages": _stages(runs, out, written),
        "similarity": _similarity(runs, out, written),
        "illusory": _illusory(_Runs(illusory), out, written),
        "noise": noise_levels(noise, out, written),
    }
    return nums, written


# --------------------------------------------------------------------------- shared


def _one_rate(spec) -> float:
    """The item's one fixed learning rate (its theory steps every depth at it)."""
    lr = spec.setting("learning_rate")
    if not isinstance(lr, int | float):
        raise ValueError(f"gallery hierarchy: needs one numeric learning rate, got {lr!r}")
    return float(lr)


class _Runs:
    """The noiseless sweep, one (depth, init_scale, seed) run at a time, with its exact theory."""

    def __init__(self, ds):
        self.ds = ds.isel(n_over_p=0, snr=0)
        self.spec = spec_of(ds)
        pr = self.spec.problem
        self.h, self.n_out = pr.hierarchy, pr.n_out
        self.lr = _one_rate(self.spec)
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
            per_seed = np.stack([_level_mean(hs, levels, lev) for lev in range(runs.h.levels + 1)], 1)
            lev_s, lev_se = _mean_sem(per_seed)
            lev_t = [_level_mean(ht, levels, lev).mean() for lev in range(runs.h.levels + 1)]
            out_of_order = int(np.sum(np.any(np.diff(per_seed, axis=1) < 0, axis=1)))
            closed = theory.hierarchy_singular_values(
                runs.h.branching, runs.h.levels, runs.h.flip, runs.n_out
            )
            flow = [
                np.log(2 * (1 - a / sl)) if d == 1 else theory.saxe_escape_time(sl, a**d, d) for sl in closed
            ]
            per_depth[f"init_scale={a:g}"] = {
                "half_time_sim": [num(x) for x in lev_s],
                "half_time_sim_sem": [num(x, 2) for x in lev_se],
                "seeds_with_a_finer_level_before_a_broader": out_of_order,
                "half_time_theory": [num(x) for x in lev_t],
                "half_time_flow_closed_form_s": [num(x) for x in flow],
                "last_over_first_level": num(lev_s[-1] / lev_s[0]),  # ≈ 1 at depth 1 (u0/s shifts it)
            }
        res[f"depth={d}"] = per_depth
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.1)
        ax.set_xlabel(r"time $t = \eta\cdot$epoch")
        ax.set_ylabel(r"mode strength $u_\alpha/s_\alpha$")
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
        "the closed-form level singular value (not the seed's own: they differ by the sampling scatter); "
        "half_time_sim is the seed mean of each seed's level mean, with its s.e. over seeds; "
        "seeds_with_a_finer_level_before_a_broader counts seeds whose level half times are not in tree order"
    )
    fig.suptitle(
        "(a) a hierarchy's modes, stage by stage (simulation on the exact GD recursion; "
        f"seed {int(seeds[0])} of {len(seeds)} shown)"
    )
    save(fig, out, "hierarchy_stages", written)
    return res


# --------------------------------------------------------------------------- (b) similarity


def _differentiation(sim_matrix, target, modes, levels, lev):
    """How far the similarity has grown along level ``lev``'s tree modes: Σ vᵀS(t)v / Σ vᵀS_∞v."""
    v = modes[:, levels == lev]
    return np.einsum("ia,...ij,ja->...", v, sim_matrix, v) / np.einsum("ia,ij,ja->", v, target, v)


def hidden_similarity(similarity, n_out: int, layer: int, depth: int) -> np.ndarray:
    """The items' similarity at hidden layer ``layer`` of a depth-``depth`` aligned, balanced
    network, ``(W_effᵀ W_eff)^{layer/depth}``, from the recorded output similarity
    ``W_effᵀ W_eff / N_out`` (..., N, N): every layer carries the same strength a = u^{1/D} of each
    mode, so the first l layers map item i to R diag(u^{l/D}) Vᵀ e_i (R orthonormal)."""
    lam, vec = np.linalg.eigh(n_out * np.asarray(similarity, float))
    power = np.clip(lam, 0.0, None) ** (layer / depth)
    return np.einsum("...ia,...a,...ja->...ij", vec, power, vec)


def _similarity(runs: _Runs, out, written) -> dict:
    """When each level is half differentiated in the output and the hidden layers' similarity
    (seed means ± s.e.), and snapshots at depths 2 and 3 at those times."""
    ds = runs.ds
    small, q0 = float(min(ds.init_scale.values)), int(ds.seed.values[0])
    res = {f"depth={d}": _half_differentiation(runs, d, d, small) for d in ds.depth.values}
    sim0 = runs.run(2 if 2 in ds.depth.values else int(ds.depth.values[-1]), small, q0).similarity
    th = np.einsum("eoi,eoj->eij", *(2 * [runs.weights(int(sim0.depth), small, q0)])) / runs.n_out
    res["max_abs_sim_minus_theory"] = num(np.max(np.abs(sim0.transpose("epoch", ...).values - th)), 3)
    _similarity_figure(runs, res, small, q0, out, written)
    res["hidden_layer_1"] = {
        f"depth={d},layer=1": _half_differentiation(runs, d, 1, small) for d in (2, 3) if d in ds.depth.values
    }
    res["claim"] = (
        "half_differentiation_time: when the similarity has grown half-way along each level's tree modes "
        "(root first), seed means with s.e.; increasing down the tree at depth >= 2, equal at depth 1; "
        "hidden_layer_1: the same for the first hidden layer's similarity (W_eff^T W_eff)^(1/D)"
    )
    return res


def _half_differentiation(runs: _Runs, d, layer: int, small: float) -> dict:
    """When each level is half differentiated in the similarity at ``layer`` (``d``: the output)
    of the depth-``d`` runs from init ``small``: seed mean and s.e."""
    h = runs.h
    tree = theory.hierarchy_modes(h.branching, h.levels)
    tree_levels = theory.hierarchy_levels(h.branching, h.levels)
    times = []
    for q in runs.ds.seed.values:
        w = runs.features(int(q))[0]
        target = w.T @ w / runs.n_out
        sim = runs.run(d, small, q).similarity.transpose("epoch", ...).values
        if layer != d:
            target = hidden_similarity(target[None], runs.n_out, layer, d)[0]
            sim = hidden_similarity(sim, runs.n_out, layer, d)
        times.append([crossing(runs.t, _differentiation(sim, target, tree, tree_levels, lev), 0.5)
                      for lev in range(h.levels + 1)])  # fmt: skip
    mean, sem = _mean_sem(times)
    return {
        "half_differentiation_time": [num(x) for x in mean],
        "half_differentiation_time_sem": [num(x, 2) for x in sem],
    }


def _similarity_figure(runs: _Runs, res: dict, small: float, q0: int, out, written) -> None:
    """Snapshots of the similarity of seed ``q0``'s depth-2 and depth-3 runs, in the output and
    the first hidden layer, at the times each level is half differentiated (from ``res``)."""
    ds, h = runs.ds, runs.h
    rows = [(d, layer) for d in (2, 3) if d in ds.depth.values for layer in (d, 1)]  # output, then layer 1
    picks = {}
    for d in {r[0] for r in rows}:
        marks = res[f"depth={d}"]["half_differentiation_time"]
        picks[d] = [int(np.argmin(abs(runs.t - (t or runs.t[-1])))) for t in marks] + [len(runs.t) - 1]
    ncol = h.levels + 2
    fig = Figure(figsize=(2.6 * ncol, 2.5 * len(rows) + 0.8), layout="constrained")
    axes = fig.subplots(len(rows), ncol, squeeze=False)
    for r, (d, layer) in enumerate(rows):
        sim = runs.run(d, small, q0).similarity.transpose("epoch", ...).values
        mats = sim if layer == d else hidden_similarity(sim, runs.n_out, layer, d)
        vmax = float(np.abs(mats[-1]).max())
        for c, k in enumerate(picks[d]):
            ax = axes[r, c]
            img = ax.imshow(mats[k], vmin=-vmax, vmax=vmax, cmap="RdBu_r")
            what = f"level {c} half" if c <= h.levels else "end"
            ax.set_title(f"$t$ = {runs.t[k]:.3g} ({what})", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        name = (
            r"output: $W_{eff}^T W_{eff}/N_{out}$"
            if layer == d
            else rf"hidden layer {layer}: $(W_{{eff}}^T W_{{eff}})^{{{layer}/{d}}}$"
        )
        axes[r, 0].set_ylabel(f"depth {d}\n{name}", fontsize=8)
        fig.colorbar(img, ax=axes[r, :], shrink=0.9)
    fig.suptitle(
        f"(b) item similarity ({h.items} items, tree order), aligned init {small:g}, seed {q0}: broad "
        "distinctions first, in the output and in the first hidden layer\n(snapshots at the seed-mean times "
        "each level is half differentiated in that depth's output; hidden layers from the recorded output "
        "similarity, exact for the aligned, balanced init)",
        fontsize=9,
    )
    save(fig, out, "hierarchy_similarity", written)


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
    """How many illusory correlations each run shows and when they appear and disappear, per
    depth and init scale, simulation beside the exact recursion; an example drawn."""
    ds = runs.ds
    res, table = _illusory_table(runs)
    fig = Figure(figsize=(16, 4.2), layout="constrained")
    ax_ex, ax_n, ax_t = fig.subplots(1, 3)
    example = _illusory_example(runs, ax_ex)
    if example is not None:
        res["example"] = example
    _illusory_counts(runs, table, ax_n, ax_t)
    fig.suptitle(
        f"(c) illusory correlations: output above +{ILLUSORY:g} for a feature the item lacks (target −1), "
        f"then unlearnt; {runs.n_out} features, {ds.sizes['seed']} seeds"
    )
    save(fig, out, "hierarchy_illusory", written)
    res["claim"] = (
        "pairs: (feature, item) with target -1 whose output starts below +0.1, rises above it and falls "
        "back, summed over seeds (pairs_per_seed: mean and s.e. over seeds); medians over pairs_sim pairs "
        "(few pairs: a rough median); none at depth 1 (every entry moves monotonically to its target); at "
        "depth >= 2 they appear when the broad levels are learnt and disappear when the finer ones are, "
        "both later for a smaller init; theory: the same criterion on the exact W(t) at every epoch (the "
        "simulation is read at its recorded epochs, interpolated)"
    )
    return res


def _illusory_table(runs: _Runs) -> tuple[dict, dict]:
    """Per (depth, init scale): the episodes of every seed, simulation and theory, counted and
    their median times and peaks; as numbers by depth, and as a table keyed (depth, scale)."""
    ds = runs.ds
    res, table = {}, {}
    for d in ds.depth.values:
        for a in ds.init_scale.values:
            sim_ep, th_ep, per_seed = [], [], []
            for q in ds.seed.values:
                w_bar = runs.features(int(q))[0]
                sim = _episodes(runs.t, runs.run(d, a, q).weights.transpose("epoch", ...).values, w_bar)
                th = _episodes(runs.lr * runs.fine, runs.weights(d, a, int(q), fine=True), w_bar)
                sim_ep, th_ep = sim_ep + sim, th_ep + th
                per_seed.append((len(sim), len(th)))
            mean, sem = _mean_sem(np.asarray(per_seed, float))
            row = {
                "pairs_sim": len(sim_ep),
                "pairs_theory": len(th_ep),
                "pairs_per_seed_sim": [num(mean[0], 4), num(sem[0], 2)],
                "pairs_per_seed_theory": [num(mean[1], 4), num(sem[1], 2)],
            }
            for name, ep in (("sim", sim_ep), ("theory", th_ep)):
                if ep:
                    e = np.asarray([x[2:] for x in ep])
                    row[f"appears_median_{name}"] = num(np.median(e[:, 0]))
                    row[f"disappears_median_{name}"] = num(np.nanmedian(e[:, 1]))
                    row[f"peak_median_{name}"] = num(np.median(e[:, 2]), 3)
            table[(d, a)] = row
            res.setdefault(f"depth={d}", {})[f"init_scale={a:g}"] = row
    return res, table


def _illusory_example(runs: _Runs, ax) -> dict | None:
    """Draws the strongest episode of the first deep run that has one (depth 2 first, the
    smallest init first), every depth at that init and seed; returns where it is (None: none)."""
    ds = runs.ds
    depths, scales = list(ds.depth.values), list(ds.init_scale.values)
    example = None
    for d_ex in sorted(depths, key=lambda d: (d < 2, d)):
        for a_ex in sorted(scales):
            for q in (int(v) for v in ds.seed.values):
                w = runs.run(d_ex, a_ex, q).weights.transpose("epoch", ...).values
                ep = _episodes(runs.t, w, runs.features(q)[0]) if d_ex >= 2 and example is None else []
                if ep:
                    example = (d_ex, a_ex, q, *max(ep, key=lambda x: x[4])[:2])
    found = None
    if example is None:
        ax.text(0.5, 0.5, "no illusory correlation in this sweep", ha="center", transform=ax.transAxes)
    else:
        d_ex, small, q0, f, i = example
        for k, d in enumerate(depths):
            sim = runs.run(d, small, q0).weights.sel(output=f, input=i).values
            ax.plot(runs.t[1:], sim[1:], color=COLOURS[k], lw=1.6, label=f"depth {d}")
            th = runs.weights(d, small, q0, fine=True)[:, f, i]
            ax.plot(runs.lr * runs.fine[1:], th[1:], color="k", lw=0.7, ls="--")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axhline(-1, color="0.3", lw=0.6, ls=":")
        ax.set_title(
            f"item {i}, feature {f}, init {small:g}, seed {q0}: the item lacks it (target -1)", fontsize=9
        )
        ax.legend(fontsize=8, title="solid: sim; dashed: theory", title_fontsize=8)
        found = {"item": i, "feature": f, "depth": int(d_ex), "init_scale": num(small), "seed": q0}
    ax.set_xscale("log")
    ax.set_xlabel("time $t$")
    ax.set_ylabel(r"predicted feature $(W_{eff})_{f,i}$")
    return found


def _illusory_counts(runs: _Runs, table: dict, ax_n, ax_t) -> None:
    """How many illusory pairs per run (``ax_n``) and when they appear and disappear (``ax_t``)
    against the init scale, one colour per depth: simulation points, theory lines."""
    ds = runs.ds
    depths, scales = list(ds.depth.values), list(ds.init_scale.values)
    for k, d in enumerate(depths):
        m = [table[(d, a)]["pairs_per_seed_sim"] for a in scales]
        ax_n.errorbar(scales, [v[0] for v in m], [v[1] or 0 for v in m], marker="o", color=COLOURS[k],
                      capsize=3, label=f"depth {d}: simulation")  # fmt: skip
        ax_n.plot(scales, [table[(d, a)]["pairs_per_seed_theory"][0] for a in scales], color=COLOURS[k],
                  ls="--", lw=0.8)  # fmt: skip
        for key, marker in (("appears", "o"), ("disappears", "s")):
            ys = [table[(d, a)].get(f"{key}_median_sim", np.nan) for a in scales]
            yt = [table[(d, a)].get(f"{key}_median_theory", np.nan) for a in scales]
            if np.isfinite(np.asarray(ys, float)).any():
                ax_t.plot(scales, ys, marker=marker, color=COLOURS[k], ls="none", label=f"depth {d} {key}")
                ax_t.plot(scales, yt, color=COLOURS[k], lw=0.8, ls="--")
                for a, y in zip(scales, ys, strict=True):  # a median of few pairs says little: say how few
                    n_pairs = table[(d, a)]["pairs_sim"]
                    if np.isfinite(y) and n_pairs < 5 and key == "appears":
                        ax_t.annotate(f"{n_pairs} pair{'s' * (n_pairs > 1)}", (a, y), fontsize=7,
                                      xytext=(4, -10), textcoords="offset points")  # fmt: skip
    ax_n.set_xscale("log")
    plot.log_ticks(ax_n, "x")
    ax_n.set_xlabel(r"initial scale (aligned init, $u_0$ = scale$^D$)")
    ax_n.set_ylabel(f"illusory (item, feature) pairs per run\n(mean ± s.e. over {ds.sizes['seed']} seeds)")
    ax_n.set_title("how many (points: simulation; dashed: theory)", fontsize=9)
    ax_n.legend(fontsize=7)
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    plot.log_ticks(ax_t)
    ax_t.set_xlabel(r"initial scale (aligned init, $u_0$ = scale$^D$)")
    ax_t.set_ylabel("median time over (item, feature) pairs")
    ax_t.set_title("when they appear and disappear (markers: sim; lines: theory)", fontsize=9)
    if ax_t.get_legend_handles_labels()[0]:
        ax_t.legend(fontsize=7)
