"""Gallery item: weight decay against early stopping (docs/theory.md §2.5, §2.7, §3.1, §3.3).

Four specs: ``regularization_path`` (a: the ridge path over γ and the early-stopping path
over t = 1/γ on the same training sets), ``regularization_null`` (b, top: weight decay empties
the frozen subspace), ``regularization_modes`` (b, bottom: shrinkage, threshold and the
init-dependence of deep modes) and ``regularization_peak`` (d: E_g(t → ∞) over N/P per γ).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import ticker
from matplotlib.figure import Figure

from .. import analysis, plot, theory
from ..sim import data
from ..sim.ridge import ridge_error
from ..store import spec_of
from .common import COLOURS, num, save

__all__ = ["exact_ridge", "regularization", "teacher_parts"]

NODES = 2000  # quadrature nodes of the depth-1 theory (docs/theory.md §2.6)
# docs/theory.md §2.5: E_g(t*)/σ_ε² and Bayes E_g/σ_ε² (σ_0 = 0), keyed (SNR, α)
TABLE_2_5 = {
    (1.0, 0.5): (1.7836, 1.7808), (1.0, 1.0): (1.6246, 1.6180), (1.0, 2.0): (1.4232, 1.4142),
    (10.0, 0.5): (6.7704, 6.7417), (10.0, 1.0): (3.7766, 3.7016), (10.0, 2.0): (1.8737, 1.8443),
}  # fmt: skip
TABLE_T_STAR = {(1.0, 0.5): 0.697, (1.0, 1.0): 0.681, (1.0, 2.0): 0.619,
                (10.0, 0.5): 4.787, (10.0, 1.0): 6.082, (10.0, 2.0): 4.000}  # fmt: skip


def regularization(results, out: Path) -> tuple[dict, list]:
    """Ridge vs early stopping, the frozen subspace under weight decay, deep modes, the peak."""
    written = []
    parts = zip(("path", "null_space", "modes", "peak"), (_path, _null, _modes, _peak), results, strict=True)
    return {name: make(ds, out, written) for name, make, (ds, _) in parts}, written


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=1024)
def _stats(root: int, seed: int, p_values: tuple, n: int, n_out: int, tv: float):
    """One seed's sufficient statistics at each P: the engine's own (compiled once per sweep)."""
    st = data.seed_stats(root, seed, np.asarray(p_values), n, n_out, tv)
    return st.ls_spectrum, st.teacher


def _seed_data(ds: xr.Dataset) -> list:
    """(ls_spectrum (n_P, 4, K), teacher) per seed of ``ds``."""
    spec = spec_of(ds)
    pr, p = spec.problem, tuple(int(v) for v in ds.n_train.values)
    return [_stats(spec.seed, int(s), p, pr.n_in, pr.n_out, pr.teacher_var) for s in ds.seed.values]


def teacher_parts(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Each seed's ‖w̄‖²/(N·N_out), and per (n_over_p, seed) its part outside the span of the
    inputs (the null space of XᵀX, which no estimator learns): noiseless ridge at γ = 0."""
    draws = _seed_data(ds)
    n = draws[0][1].size
    var = [float(np.sum(w**2)) / n for _, w in draws]
    null = [[float(ridge_error(sp[j], float(np.sum(w**2)), 0.0, 0.0, n, 1)) for sp, w in draws]
            for j in range(ds.sizes["n_over_p"])]  # fmt: skip
    coords = {"n_over_p": ds.n_over_p, "seed": ds.seed}
    return xr.DataArray(var, dims="seed", coords={"seed": ds.seed}), xr.DataArray(null, coords=coords)


def exact_ridge(ds: xr.Dataset, gammas) -> xr.DataArray:
    """Population E_g of ridge at each γ (sum-loss units; 0: min-norm) fitted to each run's own
    training set, over (n_over_p, snr, seed, gamma) (:func:`dynax.sim.ridge.ridge_error`)."""
    gammas = np.atleast_1d(np.asarray(gammas, np.float64))
    draws, n = _seed_data(ds), int(ds.attrs["n_in"]) * int(ds.attrs["n_out"])
    out = [[[ridge_error(sp[j], float(np.sum(w**2)), np.sqrt(nv), gammas, n, 1) for sp, w in draws]
            for nv in ds.noise_var.values] for j in range(ds.sizes["n_over_p"])]  # fmt: skip
    coords = {"n_over_p": ds.n_over_p, "snr": ds.snr, "seed": ds.seed, "gamma": gammas}
    return xr.DataArray(np.asarray(out), dims=("n_over_p", "snr", "seed", "gamma"), coords=coords)


def _ridge_theory(alpha, tv, nv, gamma) -> np.ndarray:
    """E_g^ridge(γ) = E_g(t → ∞) with weight decay (docs/theory.md §2.7) over α or over γ."""
    pairs = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(gamma, float))
    return np.array(
        [
            theory.test_error(a, tv, nv, t=[np.inf], weight_decay=g, n=NODES)[0]
            for a, g in zip(*pairs, strict=True)
        ]
    )


def _step(ds: xr.Dataset) -> xr.DataArray:
    """Time per epoch of each run (ε in sum units)."""
    return ds.time.isel(epoch=-1) / float(ds.epoch.values[-1])


def _sem(x: xr.DataArray, dim: str = "seed") -> xr.DataArray:
    return x.std(dim, ddof=1) / np.sqrt(x.notnull().sum(dim))


# --------------------------------------------------------------------------- (a) the two paths


def _path(ds: xr.Dataset, out: Path, written: list) -> dict:
    """(a) Per (α, SNR): the ridge path E_g(γ) and the early-stopping path E_g(t = 1/γ) on the same
    training sets, their paired difference and the theory; the optima of both in a table."""
    d, tv = ds.sel(depth=1), float(teacher_parts(ds)[0].mean())
    gd, g_runs = d.sel(weight_decay=0.0), d.weight_decay.values[d.weight_decay.values > 0]
    # convergence: the long weight-decay runs end at ridge on their own data
    final = d.test_error.sel(weight_decay=g_runs).isel(epoch=-1)
    gfine = np.geomspace(min(g_runs.min(), 1e-2) / 3, g_runs.max() * 3, 61)
    both = exact_ridge(ds, np.r_[g_runs, gfine])
    exact_at = both.isel(gamma=slice(0, len(g_runs))).rename(gamma="weight_decay")
    conv = float((abs(final - exact_at.assign_coords(weight_decay=g_runs)) / exact_at).max())
    ridge = both.isel(gamma=slice(len(g_runs), None))
    opt = analysis.optimal_early_stopping(gd)
    exc = analysis.excess_over_ridge(gd, opt)
    # each seed at the seed-mean optimum (common time) against its own ridge at γ*: how many are below
    at_opt = analysis.on_common_time(gd, "test_error").sel(epoch=opt.opt_epoch_of_mean)
    below = (at_opt < gd.ridge_test_error).sum("seed")
    fig = Figure(figsize=(4.1 * d.sizes["n_over_p"], 3.3 * d.sizes["snr"] + 0.6), layout="constrained")
    axes = fig.subplots(2 * d.sizes["snr"], d.sizes["n_over_p"], squeeze=False, sharex=True,
                        height_ratios=[3, 1.2] * d.sizes["snr"])  # fmt: skip
    table, ex_fig = {}, []
    for i, q in enumerate(d.snr.values):
        nv = float(d.noise_var.sel(snr=q))
        for j, r in enumerate(d.n_over_p.values):
            a, pt = float(d.alpha.sel(n_over_p=r)), {"n_over_p": r, "snr": q}
            ax, dx, g = axes[2 * i, j], axes[2 * i + 1, j], gd.sel(pt)
            eps, m, g_best = _path_cell(ax, dx, g, ridge.sel(pt), final.sel(pt), g_runs, gfine, a, tv, nv,
                                        opt.sel(pt))  # fmt: skip
            ax.set_title(f"$\\alpha$ = P/N = {a:g}, SNR {q:g} ($\\gamma^*$ = {nv:g}, grey)", fontsize=9)
            if j == 0:
                ax.set_ylabel(r"$E_g/\sigma_\varepsilon^2$")
                dx.set_ylabel("stop − ridge\n" + r"($\div\sigma_\varepsilon^2$, paired)", fontsize=8)
            row = _path_row(g, pt, opt, exc, below, a, tv, nv, eps, m, g_best)
            table[f"alpha={a:g},snr={q:g}"] = row
            ex_fig.append((a, q, row))
    for ax in axes[-1]:
        ax.set_xlabel(r"weight decay $\gamma$  (early stopping: $\gamma$ = 1/t)")
    axes[0, min(1, axes.shape[1] - 1)].legend(fontsize=6, loc="upper right")
    fig.suptitle(
        f"depth 1, N = {int(ds.attrs['n_in'])}, zero init, {ds.sizes['seed']} seeds: ridge path against "
        "the early-stopping path on the same training sets\n(seed means, bands ± 2 s.e.; lower panels: "
        r"stop(t = 1/$\gamma$) − ridge($\gamma$) paired per seed; black: theory at the seeds' mean "
        r"realised $\sigma_w^2$)",
        fontsize=9,
    )
    save(fig, out, "regularization_path", written)
    _excess_figure(ex_fig, out, written)
    neg = [k for k, v in table.items() if (v["excess_over_ridge_percent"] or 0) < 0]
    return {
        "table": table,
        "negative_excess": neg,
        "negative_excess_note": (
            "excess < 0 would mean stopping below ridge on the same data: gamma* = 1/SNR is Bayes-optimal "
            "only on average over teachers from the prior, and the stopping time is an oracle chosen "
            "on these seeds; the theory puts stopping 0.1-2.5% above ridge (docs/theory.md §2.5)"
        ),
        "ridge_runs_vs_exact_ridge_max_rel_dev": num(conv, 3),
        "mean_realised_teacher_var": num(tv),
        "final_time_min": num(d.time.isel(epoch=-1).min(), 4),
    }


def _path_cell(ax, dx, g, rp, fin, g_runs, gfine, a, tv, nv, opt) -> tuple[float, xr.DataArray, float]:
    """One (α, SNR) cell: the exact ridge path ``rp`` and the long weight-decay runs ``fin``, the
    early-stopping path of the runs ``g`` at t = 1/γ and both theories (``ax``), stop − ridge
    paired per seed (``dx``); returns the step, the seed-mean ridge path and its minimising γ."""
    eps = float(_step(g).mean())
    # ridge: exact per seed on a fine grid, the long runs as markers, the MP limit
    _band(ax, gfine, rp.values / nv, "C0", r"ridge path E$_g$($\gamma$), exact per seed")
    ax.errorbar(g_runs, fin.mean("seed") / nv, _sem(fin) / nv, fmt="o", color="C0", ms=4,
                label=r"ridge: GD + weight decay $\gamma$, last epoch")  # fmt: skip
    th_r = _ridge_theory(a, tv, nv, gfine)
    ax.plot(gfine, th_r / nv, "k--", lw=1, label="ridge theory (§2.7)")
    t_of = 1 / gfine  # early stopping: each seed's curve at t = 1/γ
    curves = _at_times(g.time.values, g.test_error.values, t_of)
    curves[:, t_of < 3 * eps] = np.nan  # from the third step on
    _band(ax, gfine, curves / nv, "C3", "early-stopping path E$_g$(t = 1/$\\gamma$)")
    th_s = theory.test_error(a, tv, nv, epochs=np.maximum(t_of / eps, 3), step=eps, n=NODES)
    th_s[t_of < 3 * eps] = np.nan
    ax.plot(gfine, th_s / nv, "k-.", lw=1, label="theory of stopping at t = 1/$\\gamma$ (§2.3)")
    bayes = theory.bayes_error(a, tv, nv)
    ax.axhline(bayes / nv, color="0.5", ls=":", lw=1, label="Bayes (ridge at $\\gamma^*$)")
    ax.axvline(nv, color="0.7", lw=0.8)
    ax.plot(1 / float(opt.opt_time_of_mean), float(opt.opt_error_of_mean) / nv, "D",
            color="C3", mec="k", ms=6, label="min of the seed-mean stopping curve")  # fmt: skip
    m = rp.mean("seed")
    g_best = float(m.gamma[int(np.argmin(m.values))])
    ax.plot(g_best, float(m.min()) / nv, "*", color="C0", mec="k", ms=11,
            label="min of the seed-mean ridge path")  # fmt: skip
    ax.set(xscale="log", yscale="log")
    top = float(np.nanmax(np.r_[rp.mean("seed").values, curves.mean(0)])) / nv
    ax.set_ylim(0.95 * bayes / nv, min(top, 12 * bayes / nv) * 1.05)
    plot.log_ticks(ax, "y")
    diff = (curves - rp.values) / nv
    mean, se = diff.mean(0), diff.std(0, ddof=1) / np.sqrt(diff.shape[0])  # NaN beyond the runs
    _band(dx, gfine, diff, "C3", None)
    dx.plot(gfine, (th_s - th_r) / nv, "k--", lw=1)
    dx.axhline(0, color="0.5", lw=0.8)
    lo, hi = np.nanmin(mean - 2 * se), np.nanmax(mean + 2 * se)
    dx.set_ylim(min(lo, 0) - 0.1 * (hi - lo), max(hi, 0) + 0.1 * (hi - lo))
    return eps, m, g_best


def _path_row(g, pt, opt, exc, below, a, tv, nv, eps, m, g_best) -> dict:
    """The numbers of the cell ``pt``: both optima (simulation, theory, the §2.5 tables), the excess
    of stopping over ridge paired per seed and how many seeds stop below ridge at γ*."""
    q = pt["snr"]
    th_t, th_stop = theory.optimal_stopping(a, 1.0, nv, step=eps, n=NODES)
    tab = TABLE_2_5.get((float(q), a))
    return {
        "stop_min_of_mean": num(opt.opt_error_of_mean.sel(pt) / nv),
        "stop_opt_time": num(opt.opt_time_of_mean.sel(pt), 3),
        "theory_opt_time": num(th_t, 3),
        "table_2_5_opt_time": TABLE_T_STAR.get((float(q), a)),
        "stop_mean_of_own_best": num(opt.mean_of_best_error.sel(pt) / nv),
        "ridge_gamma_star_mean": num(g.ridge_test_error.mean() / nv),
        "ridge_min_of_mean_path": num(m.min() / nv),
        "ridge_min_of_mean_gamma": num(g_best, 3),
        "ridge_oracle_mean": num(g.best_ridge_test_error.mean() / nv),
        **{f"{k}_percent": num(100 * v.sel(pt), 4 if "sem" not in k else 2) for k, v in exc.items()},
        "seeds_below_ridge_at_gamma_star": int(below.sel(pt)),
        "theory_stop": num(th_stop / nv),
        "theory_stop_at_realised_teacher_var": num(
            theory.optimal_stopping(a, tv, nv, step=eps, n=NODES)[1] / nv
        ),
        "theory_bayes": num(theory.bayes_error(a, 1.0, nv) / nv),
        "theory_excess_percent": num(100 * (th_stop / theory.bayes_error(a, 1.0, nv) - 1), 3),
        "table_2_5_stop_bayes": list(tab) if tab else None,
        "step": num(eps, 3),
    }


def _band(ax, x, runs, colour, label) -> None:
    """Seed mean (line) and ± 2 standard errors (band) of per-seed curves (seed, x)."""
    mean, se = runs.mean(0), runs.std(0, ddof=1) / np.sqrt(runs.shape[0])
    ax.fill_between(x, mean - 2 * se, mean + 2 * se, color=colour, alpha=0.25, lw=0)
    ax.plot(x, mean, color=colour, lw=2, label=label)


def _at_times(time, err, at):
    """Each run's curve (seed, epoch) at the times ``at``, linear in log t; NaN outside."""
    return np.array([np.interp(np.log(at), np.log(t[t > 0]), e[t > 0], left=np.nan, right=np.nan)
                     for t, e in zip(time, err, strict=True)])  # fmt: skip


def _excess_figure(rows, out, written) -> None:
    fig = Figure(figsize=(5.6, 3.8), layout="constrained")
    ax = fig.subplots()
    alphas = np.geomspace(0.3, 3, 40)
    for c, q in zip(COLOURS, sorted({q for _, q, _ in rows}), strict=False):
        nv = 1 / q
        th = [100 * (theory.optimal_stopping(a, 1.0, nv, n=NODES)[1] / theory.bayes_error(a, 1.0, nv) - 1)
              for a in alphas]  # fmt: skip
        ax.plot(alphas, th, color=c, lw=1, ls="--", label=f"SNR {q:g}: theory, flow (§2.5)")
        sel = [(a, r) for a, qq, r in rows if qq == q]
        xs = np.array([a for a, _ in sel])
        for key, mk, dx, lab in (
            ("excess_over_ridge", "o", 1.0, "min of seed-mean curve vs ridge at γ*"),
            ("best_excess_over_ridge", "s", 1.06, "own best vs own oracle ridge"),
        ):
            y = [r[f"{key}_percent"] for _, r in sel]
            e = [2 * r[f"{key}_sem_percent"] for _, r in sel]
            ax.errorbar(xs * dx, y, e, fmt=mk, color=c, ms=4, capsize=2, label=f"SNR {q:g}: {lab}")
        tab = [(a, 100 * (r["table_2_5_stop_bayes"][0] / r["table_2_5_stop_bayes"][1] - 1))
               for a, r in sel if r["table_2_5_stop_bayes"]]  # fmt: skip
        if tab:
            ax.plot(*zip(*tab, strict=True), "x", color=c, ms=7, label=f"SNR {q:g}: §2.5 tables")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xscale="log", xlabel=r"$\alpha$ = P/N", ylabel="excess of early stopping over ridge (%)")
    plot.log_ticks(ax, "x")
    ax.set_title("paired per seed, mean ± 2 s.e. (depth 1, same training sets)", fontsize=9)
    ax.legend(fontsize=6)
    save(fig, out, "regularization_excess", written)


# --------------------------------------------------------------------------- (b) null space, modes


def _null(ds: xr.Dataset, out: Path, written: list) -> dict:
    d, teacher, tv = ds.sel(depth=1).isel(snr=0), teacher_parts(ds)[1], float(ds.attrs["teacher_var"])
    s0 = float(ds.attrs["init_scale"]) ** 2  # init = "gaussian": per-entry variance
    rs = [r for r in d.n_over_p.values if r > 1]
    ridge = exact_ridge(ds, d.weight_decay.values).isel(snr=0)
    fig = Figure(figsize=(4.6 * len(rs), 3.9), layout="constrained")
    axes = fig.subplots(1, len(rs), squeeze=False, sharey=True)[0]
    nums = {}
    for ax, r in zip(axes, rs, strict=True):
        a, rows = float(d.alpha.sel(n_over_p=r)), {}
        for c, gam in zip(COLOURS, d.weight_decay.values, strict=False):
            x = d.sel(n_over_p=r, weight_decay=gam)
            ns, fin = x.null_space_error, x.test_error.isel(epoch=-1)
            t = (x.time.mean("seed") if "seed" in x.time.dims else x.time).values
            mean, se = ns.mean("seed").values, _sem(ns).values
            eps, k = np.atleast_1d(_step(x).values), x.epoch.values
            th = (1 - a) * (tv + s0 * np.mean((1 - eps[:, None] * gam) ** (2 * k[None, :]), 0))
            ax.fill_between(t, mean - 2 * se, mean + 2 * se, color=c, alpha=0.3, lw=0)
            ax.plot(t, mean, color=c, lw=1.5, label=f"$\\gamma$ = {gam:g}: simulation")
            ax.plot(t, th, "k--", lw=1)
            at = ridge.sel(n_over_p=r, gamma=gam)
            rows[f"gamma={gam:g}"] = {
                "start": num(mean[0]),
                "end": num(mean[-1]),
                "theory_end": num(th[-1]),
                "max_dev_in_sem": num(np.nanmax((np.abs(mean - th) / se)[1:]), 3),
                "end_minus_own_teacher_part": num((ns.isel(epoch=-1) - teacher.sel(n_over_p=r)).mean(), 3),
                "final_test_error": num(fin.mean()),
                "t_end": num(t[-1], 4),
                # γ = 0 ends near min-norm from its init; γ > 0 at ridge on its own data
                "final_vs_ridge_on_same_data_max_rel_dev": num((abs(fin - at) / at).max(), 3)
                if gam
                else None,
            }
        tp = float(teacher.sel(n_over_p=r).mean())
        ax.axhline(
            tp, color="0.3", ls=":", lw=1, label=r"teacher's part $\|P_{null}\bar w\|^2/N$ (seed mean)"
        )
        ax.plot([], [], "k--", lw=1, label=r"$(1-\alpha)[\sigma_w^2+\sigma_0^2(1-\varepsilon\gamma)^{2k}]$")
        ax.set(xscale="log", xlabel=r"time $t = \varepsilon\cdot$epoch")
        ax.set_title(
            f"$\\alpha$ = {a:g}: N − P = {int((1 - a) * ds.attrs['n_in'])} frozen directions", fontsize=9
        )
        plot.log_ticks(ax, "x")
        nums[f"alpha={a:g}"] = {
            "teacher_part": [num(tp), num((1 - a) * tv), num(tp / ((1 - a) * tv) - 1, 3)],
            **rows,
        }
    axes[0].set_ylabel("null-space error (seed mean, band ± 2 s.e.)")
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(
        f"depth 1: weight decay empties the frozen subspace ($\\sigma_0^2$ = {s0:g}, $\\sigma_w^2$ = {tv:g}, "
        f"SNR {float(d.snr):g}, {ds.sizes['seed']} seeds)",
        fontsize=9,
    )
    save(fig, out, "regularization_null_space", written)
    nums["note"] = (
        "teacher_part: [seed mean of ||P_null w_bar||^2/N, (1 - alpha) sigma_w^2, relative difference]: "
        "the seeds' own teachers against the nominal theory line, all of max_dev_in_sem at late times; "
        "end_minus_own_teacher_part: what the init still holds in the null space (its cross term with "
        "the teacher decays as e^(-gamma t)); with weight decay the run ends at ridge on its own data, "
        "best epoch last (no overtraining: the run's warning)"
    )
    return nums


def _fixed_point(s, gamma, alpha, depth, unstable=False):
    """The stable nonzero fixed point u of a mode under weight decay, or 0 (docs/theory.md
    §2.7); at depth ≥ 3 with ``unstable`` the unstable one between 0 and it (NaN if none)."""
    if depth == 1:
        return alpha * s / (alpha + gamma)
    if depth == 2:
        return max(s - gamma / alpha, 0.0)
    f = lambda u: alpha * u ** ((depth - 2) / depth) * (s - u) - gamma  # noqa: E731
    top = (depth - 2) * s / (2 * depth - 2)  # f is largest here, −γ at 0 and at s
    if f(top) <= 0:
        return np.nan if unstable else 0.0
    lo, hi = (0.0, top) if unstable else (top, s)
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (f(mid) > 0) != unstable else (lo, mid)
    return lo


def _modes(ds: xr.Dataset, out: Path, written: list) -> dict:
    d = ds.isel(n_over_p=0, snr=0)
    a, s, k, eps = float(d.alpha), d.singular_value.values, d.epoch.values, float(_step(d).max())
    gam = float(d.weight_decay.values.max())
    depths, scales = d.depth.values, d.init_scale.values
    fig = Figure(figsize=(4.2 * len(depths), 7.0), layout="constrained")
    axes = fig.subplots(2, len(depths), squeeze=False)
    nums = {"gamma": gam, "alpha": a, "singular_values": [num(v) for v in s]}
    for j, depth in enumerate(depths):
        ax, bx = axes[0, j], axes[1, j]
        x = d.sel(depth=depth, weight_decay=gam)
        show = scales.max()
        u = x.mode_strength.sel(init_scale=show).mean("seed")
        th = theory.saxe_mode_discrete(s, show**depth, k, eps, int(depth), a, gam)
        for c, m in zip(COLOURS, range(len(s)), strict=False):
            ax.plot(d.time, u.isel(mode=m), color=c, lw=2, label=f"$s$ = {s[m]:g}")
            ax.plot(d.time, th[:, m], "k--", lw=0.8)
            ax.axhline(_fixed_point(s[m], gam, a, depth), color=c, ls=":", lw=0.8)
        ax.set(xscale="log", xlabel=r"time $t = \varepsilon\cdot$epoch")
        ax.set_title(f"depth {depth}, $\\gamma$ = {gam:g}, init {show:g} (dotted: fixed points)", fontsize=9)
        sg = np.linspace(0, s.max() * 1.05, 200)
        bx.plot(sg, sg, color="0.7", lw=1, label=r"$\gamma$ = 0: $u = s$")
        bx.plot(sg, [_fixed_point(v, gam, a, depth) for v in sg], "k-", lw=1,
                label="fixed point " + {1: r"$\alpha s/(\alpha+\gamma)$", 2: r"$(s-\gamma/\alpha)_+$"}.get(
                    int(depth), r"stable root of $\alpha u^{1/3}(s-u)=\gamma$ (or 0)"))  # fmt: skip
        rows = {}
        for c, sc in zip(COLOURS[5:], scales, strict=False):
            end = x.mode_strength.sel(init_scale=sc).isel(epoch=-1)
            th_end = theory.saxe_mode_discrete(s, sc**depth, k[-1:], eps, int(depth), a, gam)[0]
            off = 0.04 * s.max() * (list(scales).index(sc) - (len(scales) - 1) / 2)
            bx.plot(s + off, end.mean("seed"), "o", color=c, ms=7, label=f"init scale {sc:g}: last epoch")
            bx.plot(s + off, th_end, "x", color="k", ms=4, mew=1)
            rows[f"init_scale={sc:g}"] = {
                "end": [num(v) for v in end.mean("seed").values],
                "theory_recursion": [num(v) for v in th_end],
                "max_abs_dev_vs_recursion": num(abs(end - th_end).max(), 3),
                "spread_over_seeds": num((end.max("seed") - end.min("seed")).max(), 3),
            }
        rows["fixed_points"] = [num(_fixed_point(v, gam, a, int(depth))) for v in s]
        if depth >= 3:
            a_u = [_fixed_point(v, gam, a, int(depth), unstable=True) ** (1 / depth) for v in s]
            rows["unstable_point_per_layer_strength"] = [num(v, 3) for v in a_u]
            text = "\n".join(f"$s$ = {v:g}: " + (f"> {au:.2g}" if np.isfinite(au) else "never")
                              for v, au in zip(s, a_u, strict=True))  # fmt: skip
            head = "learnt if the init scale\nexceeds the unstable\nfixed point (per layer):\n"
            box = {"fc": "w", "ec": "0.7"}
            bx.text(
                0.97, 0.1, head + text, transform=bx.transAxes, ha="right", va="bottom", fontsize=7, bbox=box
            )
        nums[f"depth={depth}"] = rows
        bx.set_xlabel(r"teacher singular value $s$ (points offset by init scale)")
        bx.set_title(
            f"depth {depth}: mode strength at $t$ = {float(d.time[-1]):g} (x: recursion)", fontsize=9
        )
        bx.legend(fontsize=6, loc="upper left")
    for ax in axes[:, 0]:
        ax.set_ylabel("mode strength $u$")
    axes[0, 0].legend(fontsize=6, loc="upper left")
    fig.suptitle(
        f"weight decay in aligned networks on white inputs ($\\alpha$ = {a:g}, noiseless; seed mean, the "
        "same for every seed; black dashed and x: the exact GD recursion)\nshrinkage at depth 1, "
        "threshold at depth 2, and at depth 3 the init scale decides which modes survive\nbottom: each init "
        "scale's points are drawn at $s$ + (−0.04, 0, +0.04)·max $s$ so that they do not hide each other",
        fontsize=9,
    )
    save(fig, out, "regularization_modes", written)
    return nums


# --------------------------------------------------------------------------- (d) the peak


def _peak(ds: xr.Dataset, out: Path, written: list) -> dict:
    d = ds.sel(depth=1).isel(snr=0)
    nv, tv, gammas = float(d.noise_var), float(teacher_parts(ds)[0].mean()), d.weight_decay.values
    final = d.test_error.isel(epoch=-1)
    exact = exact_ridge(ds, gammas).isel(snr=0).rename(gamma="weight_decay")
    conv = float((abs(final - exact.assign_coords(weight_decay=gammas)) / exact).max())
    order = np.argsort(d.n_over_p.values)
    r, rf = d.n_over_p.values[order], np.geomspace(d.n_over_p.min(), d.n_over_p.max(), 121)
    fig = Figure(figsize=(6.4, 6.2), layout="constrained")
    ax, rx = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.2))
    mean, se = final.mean("seed") / nv, _sem(final) / nv
    nums = {"n_over_p": [num(v) for v in r]}
    gstar = 1 / float(d.snr)
    for c, g in zip(COLOURS, gammas, strict=False):
        th_f, th = _ridge_theory(1 / rf, tv, nv, g) / nv, _ridge_theory(1 / r, tv, nv, g) / nv
        lab = f"$\\gamma$ = {g:g}" + (" = $\\gamma^*$" if np.isclose(g, gstar) else "")
        m, e = mean.sel(weight_decay=g).values[order], se.sel(weight_decay=g).values[order]
        ax.errorbar(r, m, 2 * e, fmt="o", color=c, ms=4, capsize=2, label=lab)
        ax.plot(rf, th_f, color=c, lw=1.8 if np.isclose(g, gstar) else 1)
        off = 1.012 ** (list(gammas).index(g) - (len(gammas) - 1) / 2)
        rx.errorbar(r * off, 100 * (m / th - 1), 200 * e / th, fmt="o", color=c, ms=3, lw=0.8, capsize=1.5)
        nums[f"gamma={g:g}"] = {
            "sim": [num(v) for v in m],
            "sem": [num(v, 2) for v in e],
            "theory": [num(v) for v in th],
            "peak_n_over_p_sim": num(r[int(np.argmax(m))]),
            "peak_n_over_p_theory": num(rf[int(np.argmax(th_f))], 3),
            "max_abs_dev_in_sem": num(np.max(np.abs(m - th) / e), 3),
        }
    star = mean.sel(weight_decay=gammas[np.argmin(abs(gammas - gstar))]).values[order]
    lowest = (mean.transpose("weight_decay", "n_over_p").values[:, order] >= star[None] - 1e-12).all(0)
    nums |= {
        "gamma_star_lowest_at_every_n_over_p": bool(lowest.all()),
        # E_g at γ* only falls as data grows (N/P falls): its largest step that way is < 0
        "gamma_star_max_step_toward_more_data": num(np.max(np.diff(star[::-1])), 3),
        "long_runs_vs_exact_ridge_max_rel_dev": num(conv, 3),
        "mean_realised_teacher_var": num(tv),
        "final_gamma_t_min": num((d.time.isel(epoch=-1) * d.weight_decay).min(), 3),
    }
    ax.axvline(1.0, color="r", lw=0.8)
    ax.set(yscale="log", ylabel=r"$E_g(t_{end})/\sigma_\varepsilon^2$")
    ax.set_title(
        f"depth 1, N = {int(ds.attrs['n_in'])}, SNR {float(d.snr):g}, {ds.sizes['seed']} seeds: E$_g$ at "
        "the end of long training\nwith weight decay $\\gamma$ (points: seed mean ± 2 s.e.; lines: ridge "
        "theory, t = ∞)",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    plot.log_ticks(ax, "y")
    rx.axhline(0, color="0.5", lw=0.8)
    rx.set(xscale="log", xlabel=plot.NP_LABEL)
    rx.set_xticks([v for v in (0.25, 0.5, 1, 2, 4) if r.min() <= v <= r.max()])
    rx.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    rx.xaxis.set_minor_formatter(ticker.NullFormatter())
    rx.set_ylabel("simulation / theory − 1 (%)\n± 2 s.e.", fontsize=8)
    save(fig, out, "regularization_peak", written)
    return nums
