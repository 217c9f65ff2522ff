"""Gallery item `pretraining`: learning time against depth for small Gaussian, orthogonal,
greedily pretrained and aligned starts at one small per-layer scale, on inputs whose covariance
has a few strong directions: the teacher aligned with them (pretraining helps, at a learning time
that hardly grows with depth) and a teacher in random directions (it helps less, and the time
grows with depth). docs/theory.md §2.10 (the covariance) and §3.1 ("Unsupervised pretraining")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, theory
from ..sim import data
from ..spec import OverDepth, derived
from ..store import spec_of
from .common import COLOURS, crossing, mean_sem, num, save

__all__ = ["pretraining"]

CRITERION = 0.1  # learnt: E_g ≤ 0.1 × the zero network's error ‖w̄ A‖²/(N N_out) (noiseless)
LARGE_D = 2000  # the recursion at this depth stands for D → ∞
STYLE = {
    "gaussian_fan_in": (COLOURS[3], "s"),
    "orthogonal": (COLOURS[0], "o"),
    "pretrained": (COLOURS[2], "D"),
    "aligned": ("k", "^"),
}


def _zero_errors(ds) -> np.ndarray:
    """Each seed's zero-network error tr(w̄ C w̄ᵀ)/(N N_out) = ‖w̄ A‖²/(N N_out) (its own teacher and
    input covariance; noiseless runs)."""
    spec = spec_of(ds)
    pr = spec.problem
    out = []
    for seed in ds.seed.values:
        w_bar = data.problem_teacher(spec.seed, int(seed), pr)
        a = np.asarray(
            data.input_root(
                spec.seed, int(seed), pr.n_in, pr.n_out, pr.input_spectrum, pr.input_basis,
                pr.teacher_singular_values,
            )
        )  # fmt: skip
        out.append(float(np.sum((w_bar @ a) ** 2)) / (pr.n_in * pr.n_out))
    return np.asarray(out)


def _times(ds, zero) -> dict:
    """Per init: each seed's epochs to the criterion per depth (inf: diverged, NaN: never)."""
    ok = analysis.valid(ds)
    epochs = ds.epoch.values.astype(float)
    out = {}
    for init in ds.init.values:
        rows = []
        for d in ds.depth.values:
            pt = {"init": init, "depth": d}
            e = ds.test_error.sel(pt).squeeze().transpose("seed", "epoch").values
            good = ok.sel(pt).squeeze().values
            rows.append(
                [
                    crossing(epochs, row, CRITERION * z, rising=False) if g else np.inf
                    for row, g, z in zip(e, good, zero, strict=True)
                ]
            )
        out[str(init)] = np.asarray(rows)  # (depth, seed)
    return out


def _summary(t: np.ndarray) -> dict:
    mean, sem = mean_sem(np.where(np.isfinite(t), t, np.nan), axis=1)
    return {
        "epochs_mean": [num(v) for v in mean],
        "epochs_sem": [num(v, 2) for v in sem],
        "n_learnt": [int(v) for v in np.isfinite(t).sum(1)],
        "n_not_reached": [int(v) for v in np.isnan(t).sum(1)],
        "n_diverged": [int(v) for v in np.isinf(t).sum(1)],
    }


def _decoupled_theory(spec, depths) -> tuple[list, float]:
    """The decoupled network at per-layer scale 1 (every mode at u0 = 1: what pretraining of every
    layer to convergence, the output layer included and aligned, would give), exact per-mode GD
    recursion with each mode's input strength α λ_α (the population's), epochs to the criterion
    Σ λ_α (s_α − u_α)² ≤ CRITERION Σ λ_α s_α²; and the D → ∞ limit. Teacher basis only."""
    pr = spec.problem
    s = np.asarray(pr.teacher_singular_values, float)
    lam = np.asarray(pr.input_spectrum[: len(s)], float)
    p = spec.n_train[0]
    eta0 = spec.train.learning_rate.eta0 * float(derived.grad_scale(spec.train.loss, p))
    every = np.arange(spec.train.epochs + 1)

    def epochs(depth):
        u = np.stack(
            [theory.saxe_mode_discrete(si, 1.0, every, eta0 / depth, depth, p / pr.n_in * li)
             for si, li in zip(s, lam, strict=True)], axis=1,
        )  # fmt: skip
        err = np.sum(lam * (s - u) ** 2, axis=1)
        return crossing(every, err, CRITERION * float(np.sum(lam * s**2)), rising=False)

    return [epochs(int(d)) for d in depths], epochs(LARGE_D)


def pretraining(results, out: Path) -> tuple[dict, list]:
    """Each seed's epochs to E_g ≤ 0.1 × its zero network's error (linear between records), seed
    mean and s.e. per (basis, init, depth), unfinished and diverged runs counted apart; the
    pretraining's own epochs beside; the decoupled network's recursion for the aligned basis."""
    (aligned_ds, _), (random_ds, _) = results
    spec = spec_of(aligned_ds)
    for ds, basis in ((aligned_ds, "teacher"), (random_ds, "random")):
        sp = spec_of(ds)
        if sp.problem.input_basis != basis or not isinstance(sp.train.learning_rate, OverDepth):
            raise ValueError(
                f"gallery pretraining: {sp.name} needs problem.input_basis = {basis!r} and "
                "learning_rate = {over_depth = eta0} (the item's two specs, in order)"
            )
    depths = [int(d) for d in aligned_ds.depth.values]
    k = spec.model.pretrain_epochs
    nums = {
        "criterion": f"E_g <= {CRITERION} x the zero network's error ||w_bar A||^2/(N N_out), per seed",
        "depths": depths,
        "init_scale": float(spec.model.init_scale),
        "eta0": num(spec.train.learning_rate.eta0),
        "max_epochs": int(spec.train.epochs),
        "n_seeds": int(aligned_ds.sizes["seed"]),
        "pretrain_epochs_per_hidden_layer": int(k),
        "pretrain_epochs_in_all": [int(k * (d - 1)) for d in depths],
        "input_spectrum": [num(v) for v in spec.problem.input_spectrum],
    }
    times = {}
    for ds, basis in ((aligned_ds, "teacher"), (random_ds, "random")):
        zero = _zero_errors(ds)
        times[basis] = _times(ds, zero)
        rows = {init: _summary(t) for init, t in times[basis].items()}
        orth, pre = (
            np.where(np.isfinite(times[basis][i]), times[basis][i], np.nan)
            for i in ("orthogonal", "pretrained")
        )
        unfinished = np.isnan(orth).any(1) | np.isnan(pre).any(1)
        ratio = np.where(unfinished, np.nan, np.mean(orth, 1) / np.mean(pre, 1))
        at_most = np.where(np.isnan(orth), float(spec.train.epochs), orth)  # unfinished: the last epoch
        nums[f"input_basis={basis}"] = {
            "zero_network_error_seed_mean": num(zero.mean()),
            "by_init": rows,
            # ratio of seed means where every run of both finished (None otherwise)
            "orthogonal_over_pretrained_epochs": [num(v, 3) for v in ratio],
            # the same with unfinished orthogonal runs counted at the last epoch: a lower bound
            "orthogonal_over_pretrained_epochs_lower_bound": [
                num(v, 3) for v in np.mean(at_most, 1) / np.nanmean(pre, 1)
            ],
        }
    th, limit = _decoupled_theory(spec, depths)
    nums["decoupled_scale1_theory_epochs"] = [num(v) for v in th]
    nums["decoupled_large_depth_limit_epochs"] = num(limit)
    written = []
    _figure(times, depths, th, limit, spec, out, written)
    _curves_figure(aligned_ds, random_ds, out, written)
    return nums, written


def _figure(times, depths, th, limit, spec, out: Path, written: list) -> None:
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    top = float(spec.train.epochs)
    titles = {
        "teacher": "teacher along the 4 strong input directions",
        "random": "teacher in random directions",
    }
    for ax, basis in zip(axes, ("teacher", "random"), strict=True):
        for j, (init, t) in enumerate(times[basis].items()):
            colour, marker = STYLE.get(init, ("0.4", "d"))
            mean, sem = mean_sem(np.where(np.isfinite(t), t, np.nan), axis=1)
            ax.errorbar(depths, mean, 2 * sem, color=colour, marker=marker, ms=5, capsize=2, label=init)
            for d, col in zip(depths, t, strict=True):
                miss, div = int(np.isnan(col).sum()), int(np.isinf(col).sum())
                if miss or div:
                    note = "+".join(x for x in (f"{miss}∞" if miss else "", f"{div}✗" if div else "") if x)
                    ax.annotate(note, (d, 25 * top), xytext=(0, -4 - 9 * j), textcoords="offset points",
                                ha="center", va="top", fontsize=6, color=colour)  # fmt: skip
        if basis == "teacher":
            ax.plot(depths, th, "k--", lw=1, label="decoupled at scale 1: exact recursion")
            ax.axhline(limit, color="k", ls=":", lw=1, label=f"its D → ∞ limit (D = {LARGE_D})")
        ax.set(xscale="log", yscale="log", xlabel="depth D", title=titles[basis], ylim=(1, 30 * top))
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xticks([], minor=True)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"epochs to E_g ≤ {CRITERION} E_g(W = 0) (seed mean ± 2 s.e.)")
    axes[0].legend(fontsize=7, loc="upper left")
    pr = spec.problem
    n_seeds = len(next(iter(times["teacher"].values()))[0])
    rate, lam = spec.train.learning_rate.eta0, pr.input_spectrum
    fig.suptitle(
        f"Learning time against depth at the rate {rate:g}/D, every start at per-layer scale "
        f"{spec.model.init_scale:g}; pretrained: {spec.model.pretrain_epochs} autoencoder epochs per "
        f"hidden layer first (not counted)\nN = N_h = {pr.n_in}, N_out = {pr.n_out}, "
        f"s = {list(pr.teacher_singular_values)}, input eigenvalues {lam[0]:.3g} (×4) and {lam[-1]:.3g} "
        f"(×{pr.n_in - 4}), P = {spec.n_train[0]}, noiseless, {n_seeds} seeds\nAbove the data: runs "
        f"that never met the criterion within {int(top)} epochs (∞) or diverged (✗), per depth",
        fontsize=9,
    )
    save(fig, out, "pretraining", written)


def _curves_figure(aligned_ds, random_ds, out: Path, written: list) -> None:
    """E_g against epochs at the middle and deepest depths, seed means, both bases."""
    depths = [int(aligned_ds.depth.values[1]), int(aligned_ds.depth.values[-1])]
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    ep = aligned_ds.epoch.values.astype(float)
    for row, (ds, basis) in zip(axes, ((aligned_ds, "teacher"), (random_ds, "random")), strict=True):
        for ax, d in zip(row, depths, strict=True):
            for init in ds.init.values:
                colour, _ = STYLE.get(str(init), ("0.4", "d"))
                e = ds.test_error.sel(depth=d, init=init).squeeze().transpose("seed", "epoch").values
                ax.plot(ep[1:], e[:, 1:].T, color=colour, lw=0.4, alpha=0.35)
                ax.plot(ep[1:], np.nanmean(e[:, 1:], 0), color=colour, lw=2, label=f"{init} (seed mean)")
            ax.set(xscale="log", yscale="log", title=f"input_basis = {basis}, depth {d}", ylim=(1e-4, 10))
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch of fine-tuning (pretraining not counted)")
    for ax in axes[:, 0]:
        ax.set_ylabel("E_g (each seed thin)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        "E_g during fine-tuning, seed means thick and each seed thin (pretraining's epochs come before "
        "epoch 0 and are not shown); at depth 10 the three small starts lie on one another at E_g(W = 0)",
        fontsize=10,
    )
    save(fig, out, "pretraining_curves", written)
