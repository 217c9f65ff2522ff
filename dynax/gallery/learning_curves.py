"""Gallery item 1: depth-1 learning curves and double descent against the random-matrix theory
(docs/theory.md §2.3-§2.5, §2.8), and the optimal error against ridge on the same training sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .. import analysis, plot, theory
from .common import (
    BEST_RIDGE_REDUCTION,
    NEGATIVE_EXCESS,
    RIDGE_REDUCTION,
    excess_numbers,
    interp_log_t,
    mean_time,
    nearest,
    num,
    save,
)

__all__ = ["learning_curves"]


# --------------------------------------------------------------------------- item 1

# docs/theory.md §2.8: (alpha, sigma_w^2, sigma_eps^2, sigma_0^2) -> E_g at t = 1, 3, 10, 100 and E_t at t = 1
TABLE_2_8 = [
    ((0.5, 1, 1, 0), (1.795, 1.979, 2.320, 2.500), 0.387, (1.802, 1.973, 2.288, 2.456), 0.364),
    ((0.5, 1, 1, 1), (2.429, 2.518, 2.824, 3.000), 0.506, (2.468, 2.556, 2.876, 3.067), 0.508),
    ((1.0, 1, 1, 0), (1.643, 1.926, 2.745, 7.16), 0.475, (1.640, 1.919, 2.731, 6.98), 0.463),
    ((2.0, 1, 1, 0), (1.452, 1.688, 1.953, 2.000), 0.604, (1.460, 1.691, 1.951, 1.999), 0.593),
    ((2.0, 1, 0.1, 0.5), (0.328, 0.201, 0.196, 0.200), 0.115, (0.329, 0.200, 0.197, 0.201), 0.116),
    ((0.7, 4, 1, 0), (3.294, 3.142, 3.529, 4.509), 0.748, (3.332, 3.176, 3.507, 4.440), 0.725),
]
TABLE_2_5_ALPHA = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
TABLE_2_5 = {  # SNR -> E_g(t*)/sigma_eps^2, Bayes, t* at the alphas above
    0.1: ((1.0978, 1.0956, 1.0936, 1.0916, 1.0879, 1.0845, 1.0729),
          (1.0978, 1.0956, 1.0936, 1.0916, 1.0879, 1.0844, 1.0728),
          (0.094, 0.093, 0.093, 0.092, 0.090, 0.088, 0.083)),
    0.5: ((1.4608, 1.4260, 1.3951, 1.3676, 1.3210, 1.2836, 1.1891),
          (1.4606, 1.4254, 1.3940, 1.3660, 1.3187, 1.2808, 1.1861),
          (0.399, 0.393, 0.385, 0.378, 0.363, 0.348, 0.295)),
    1.0: ((1.8837, 1.7836, 1.6978, 1.6246, 1.5086, 1.4232, 1.2422),
          (1.8828, 1.7808, 1.6930, 1.6180, 1.5000, 1.4142, 1.2361),
          (0.697, 0.697, 0.691, 0.681, 0.653, 0.619, 0.487)),
    2.0: ((2.6891, 2.4232, 2.2010, 2.0189, 1.7531, 1.5803, 1.2831),
          (2.6861, 2.4142, 2.1861, 2.0000, 1.7321, 1.5616, 1.2749),
          (1.179, 1.237, 1.267, 1.269, 1.212, 1.119, 0.779)),
    5.0: ((5.0070, 4.1303, 3.4018, 2.8376, 2.1311, 1.7704, 1.3138),
          (5.0000, 4.1085, 3.3646, 2.7913, 2.0895, 1.7417, 1.3066),
          (2.276, 2.707, 2.983, 3.067, 2.815, 2.394, 1.327)),
    10.0: ((8.7928, 6.7704, 5.0572, 3.7766, 2.4134, 1.8737, 1.3245),
           (8.7846, 6.7417, 5.0000, 3.7016, 2.3589, 1.8443, 1.3193),
           (3.586, 4.787, 5.735, 6.082, 5.200, 4.000, 1.841)),
}  # fmt: skip
OVERTRAINING_2_4 = {0.5: 0.72, 0.8: 3.14, 0.9: 4.69, 1.0: 5.53, 1.1: 5.00, 1.25: 3.19, 2.0: 0.58}
INIT_2_5 = {0.5: (1.784, 1.950, 2.423), 1.0: (1.625, 1.734, 2.019), 2.0: (1.423, 1.473, 1.580)}


def _by_alpha(ds, alpha):
    r = nearest(1.0 / ds.alpha.values, 1.0 / alpha, 1e-3)
    return None if r is None else ds.n_over_p.values[int(np.argmin(abs(1.0 / ds.alpha.values - r)))]


def _init_sel(ds, s0_sq):
    """Select the init scale giving sigma_0^2 (gaussian init: s^2), if present."""
    if "init_scale" not in ds.dims:
        return ds if s0_sq == 0 else None
    s = nearest(ds.init_scale.values**2, s0_sq, 1e-3)
    return None if s is None else ds.sel(init_scale=np.sqrt(s), method="nearest")


def learning_curves(results, out: Path) -> tuple[dict, list]:
    """Depth-1 E_g(t), E_t(t) over theory, double descent in P, docs/theory.md §2.4/2.5/2.8, and
    the optimal error against ridge on the same training sets (paired per seed)."""
    ((ds, th),) = results
    written = []
    noise = ds.noise_var
    stats = analysis.seed_statistics(ds)
    opt = analysis.optimal_early_stopping(ds)
    zero = {"init_scale": 0.0} if "init_scale" in ds.dims else {}
    snrs = [q for q in (1.0, 10.0) if nearest(ds.snr.values, q)] or list(ds.snr.values[:2])  # the figures'
    t_end = float(mean_time(ds).isel(epoch=-1).max())
    ex = xr.Dataset(analysis.excess_over_ridge(ds, opt))  # over ridge on the same training sets
    _curves_figure(ds, th, snrs, zero, out, written)
    _double_descent_figure(ds, th, stats, opt, ex, noise, snrs, zero, t_end, out, written)

    # the numbers: depth 1 only (noise, t_end and the order of alpha from the whole sweep)
    order = np.argsort(ds.alpha.values)
    final = stats.test_error_mean.isel(epoch=-1)
    ds, th, opt, stats, final, ex = (x.isel(depth=0) for x in (ds, th, opt, stats, final, ex))
    nums = {"table_2_8": _table_2_8(ds, th, noise)}
    nums.update(_table_2_5(ds, th, opt, ex, noise, zero))
    nums.update(_excess_over_ridge(ds, ex))
    nums.update(_overtraining_2_4(ds, opt, final, noise, zero, t_end))
    nums.update(_init_variance_2_5(ds, opt, noise))
    nums.update(_claims(ds, th, opt, stats, noise, zero, order))
    return nums, written


def _curves_figure(ds, th, snrs, zero, out, written) -> None:
    """E_g(t) and E_t(t) against the theory at two SNRs (sigma_0 = 0), a few alphas each."""
    alphas = [a for a in (0.25, 0.5, 1.0, 2.0, 4.0) if _by_alpha(ds, a) is not None]
    fig = Figure(figsize=(5.2 * len(snrs), 8), layout="constrained")
    axes = fig.subplots(2, len(snrs), sharex=True, squeeze=False)
    for j, q in enumerate(snrs):
        sub = ds.sel(snr=[q], **zero)
        tsub = th.sel(snr=[q], **zero)
        plot.learning_curves(
            sub, n_over_p=[_by_alpha(ds, a) for a in alphas], theory=tsub, ax=axes[0, j], train_ax=axes[1, j]
        )
        axes[0, j].set_title(f"depth 1, SNR {q:g}, $\\sigma_0 = 0$, N = {ds.attrs['n_in']}")
    save(fig, out, "learning_curves", written)


def _double_descent_figure(ds, th, stats, opt, ex, noise, snrs, zero, t_end, out, written) -> None:
    """Double descent: E_g at the end (t = t_final) and at t* against P/N, with the theory's
    final, optimal, t -> infinity and Bayes errors; below, the optimum's excess over ridge on
    the same training sets (paired) beside the theory's excess over Bayes."""
    fig = Figure(figsize=(5.0 * len(snrs), 6.6), layout="constrained")
    axes = fig.subplots(2, len(snrs), squeeze=False, sharex=True, height_ratios=(3, 2))
    alpha = ds.alpha.values
    order = np.argsort(alpha)
    final = stats.test_error_mean.isel(epoch=-1)
    final_sem = stats.test_error_sem.isel(epoch=-1)
    for ax, low, q in zip(axes[0], axes[1], snrs, strict=True):
        pt = {"snr": q, **zero}
        nv = float(noise.sel(snr=q))
        f, fe = final.sel(pt).values.ravel() / nv, final_sem.sel(pt).values.ravel() / nv
        o, oe = (opt[v].sel(pt).values.ravel()[order] / nv for v in ("opt_error_of_mean", "opt_error_sem"))
        ax.errorbar(
            alpha[order], f[order], fe[order], fmt="o", ms=3, color="C3", label=f"final, t = {t_end:g}"
        )
        ax.plot(
            alpha[order], th.test_error.sel(pt).isel(epoch=-1).values.ravel()[order] / nv, color="C3", lw=1
        )
        ax.errorbar(
            alpha[order], o, oe, fmt="s", ms=3, color="C0", label="optimal: min of the seed-mean curve"
        )
        th_opt = th.optimal_test_error.sel(pt).values.ravel()[order] / nv
        ax.plot(alpha[order], th_opt, color="C0", lw=1)
        dense = np.linspace(alpha.min(), alpha.max(), 400)
        dense = dense[abs(dense - 1) > 0.01]
        asym = [theory.asymptotic_test_error(a, 1.0, 1.0 / q) * q for a in dense]
        ax.plot(dense, asym, color="gray", ls=":", label=r"$t \to \infty$")
        bay = th.bayes_test_error.sel(pt).values.ravel()[order] / nv
        ax.plot(alpha[order], bay, "k--", lw=0.8, label="Bayes, population theory (average teacher)")
        ax.set_yscale("log")
        ax.set_ylim(0.9, max(2 * np.nanmax(f), 3))
        ax.set_title(f"SNR {q:g}")
        # like with like: the optimum against ridge fitted to the same training sets
        e, es = (
            100 * ex[v].sel(pt).values.ravel()[order] for v in ("excess_over_ridge", "excess_over_ridge_sem")
        )
        low.errorbar(
            alpha[order],
            e,
            2 * es,
            fmt="s",
            ms=3,
            color="C0",
            capsize=2,
            label=r"simulation: over ridge at $\gamma^*$ on the same training sets (paired, ±2 s.e.)",
        )
        low.plot(alpha[order], 100 * (th_opt / bay - 1), color="C0", lw=1, label="theory: over Bayes")
        low.plot(alpha[order], 100 * (o / bay - 1), ".", ms=4, color="gray",
                 label="simulation over population Bayes (unpaired: the teachers differ)")  # fmt: skip
        low.axhline(0, color="k", lw=0.8)
        low.set_xlabel(r"$\alpha = P/N$ (N fixed)")
    for ax in axes.ravel():
        ax.axvline(1.0, color="red", lw=0.8, ls="--")
    axes[0, 0].set_ylabel(r"$E_g/\sigma_\varepsilon^2$  (points: simulation ± s.e.; lines: theory)")
    axes[1, 0].set_ylabel(r"excess of $E_g^*$ (%)")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=6, loc="lower right")
    save(fig, out, "double_descent", written)


def _table_2_8(ds, th, noise) -> list:
    """docs/theory.md §2.8: E_g at t = 1, 3, 10, 100 and E_t at t = 1 (flow theory, N = 400 in
    the table), simulation and dynax's theory against the table, one row per table row present."""
    rows = []
    for (a, sw, se, s0), th_tab, et_tab, sim_tab, et_sim_tab in TABLE_2_8:
        r = _by_alpha(ds, a)
        q = nearest(ds.snr.values, sw / se, 1e-3)
        sub = None if r is None or q is None else _init_sel(ds.sel(n_over_p=r, snr=q), s0 / sw)
        if sub is None:
            continue
        nv = float(noise.sel(snr=q))
        scale = se / nv  # E_g/sigma_eps^2 is what is invariant
        tsub = _init_sel(th.sel(n_over_p=r, snr=q), s0 / sw)
        m = sub.test_error.where(analysis.valid(sub)).mean("seed")
        sem = sub.test_error.std("seed") / np.sqrt(sub.sizes["seed"])
        tt = sub.time if "seed" not in sub.time.dims else sub.time.mean("seed")
        row = {"alpha": a, "sigma_w2": sw, "sigma_eps2": se, "sigma_0_2": s0, "t": [1, 3, 10, 100]}
        row["sim"] = [num(interp_log_t(tt, m, t) * scale) for t in (1, 3, 10, 100)]
        row["sim_sem"] = [num(interp_log_t(tt, sem, t) * scale, 2) for t in (1, 3, 10, 100)]
        row["theory_dynax"] = [
            num(interp_log_t(tsub.time, tsub.test_error_flow, t) * scale) for t in (1, 3, 10, 100)
        ]
        row["theory_table"], row["sim_table_N400"] = list(th_tab), list(sim_tab)
        et = sub.train_error.where(analysis.valid(sub)).mean("seed")
        row["train_t1"] = {
            "sim": num(interp_log_t(tt, et, 1.0) * scale),
            "theory_dynax_discrete": num(interp_log_t(tsub.time, tsub.train_error, 1.0) * scale),
            "theory_table": et_tab,
            "sim_table_N400": et_sim_tab,
        }
        rows.append(row)
    return rows


def _table_2_5(ds, th, opt, ex, noise, zero) -> dict:
    """docs/theory.md §2.5: the optimal early-stopping error, Bayes and t* (sigma_0 = 0) per SNR
    of the table, ridge at γ* on the same training sets and the excess over it (paired, in %,
    with its sem; the table's like-with-like counterpart is table/bayes_table - 1), and the
    largest relative deviation of the simulation from the table."""
    tab = {}
    for q, (eg, bayes, tstar) in TABLE_2_5.items():
        qq = nearest(ds.snr.values, q, 1e-3)
        if qq is None:
            continue
        keys = (
            *("alpha", "sim", "sim_sem", "theory_dynax", "table", "bayes_dynax", "bayes_table", "ridge_sim"),
            *("excess_over_ridge_sim_percent", "excess_over_ridge_sem_percent"),
            "excess_over_bayes_table_percent",
        )
        entry = {k: [] for k in (*keys, "t_star_sim", "t_star_theory_dynax", "t_star_table")}
        nv = float(noise.sel(snr=qq))
        for i, a in enumerate(TABLE_2_5_ALPHA):
            r = _by_alpha(ds, a)
            if r is None:
                continue
            pt = {"n_over_p": r, "snr": qq, **zero}
            entry["alpha"].append(a)
            entry["sim"].append(num(opt.opt_error_of_mean.sel(pt) / nv))
            entry["sim_sem"].append(num(opt.opt_error_sem.sel(pt) / nv, 2))
            entry["theory_dynax"].append(num(th.optimal_test_error.sel(pt) / nv))
            entry["table"].append(eg[i])
            entry["bayes_dynax"].append(num(th.bayes_test_error.sel(pt) / nv))
            entry["bayes_table"].append(bayes[i])
            entry["ridge_sim"].append(num(ds.ridge_test_error.sel(n_over_p=r, snr=qq).mean("seed") / nv))
            entry["excess_over_ridge_sim_percent"].append(num(100 * ex.excess_over_ridge.sel(pt), 3))
            entry["excess_over_ridge_sem_percent"].append(num(100 * ex.excess_over_ridge_sem.sel(pt), 2))
            entry["excess_over_bayes_table_percent"].append(num(100 * (eg[i] / bayes[i] - 1), 3))
            entry["t_star_sim"].append(num(opt.opt_time_of_mean.sel(pt), 3))
            entry["t_star_theory_dynax"].append(num(th.optimal_time.sel(pt), 3))
            entry["t_star_table"].append(tstar[i])
        tab[f"snr={q:g}"] = entry
    worst = [
        abs(s / t - 1)
        for e in tab.values()
        for s, t in zip(e["sim"], e["table"], strict=True)
        if s is not None
    ]
    return {
        "table_2_5": tab,
        "table_2_5_max_rel_dev_sim_vs_table": num(max(worst), 3) if worst else None,
    }


def _excess_over_ridge(ds, ex) -> dict:
    """The optimal error against ridge on the same training sets over the whole grid, per
    sigma_0^2: the seed-mean optimum against γ*, each run's own best against the oracle γ."""
    n = ds.sizes["seed"]
    scales = ds.init_scale.values if "init_scale" in ex.dims else [None]
    out = {}
    for v, red in (("excess_over_ridge", RIDGE_REDUCTION), ("best_excess_over_ridge", BEST_RIDGE_REDUCTION)):
        key = f"{v}_percent"
        out[key] = {"reduction": red}
        for s in scales:
            pt = {} if s is None else {"init_scale": s}
            out[key][f"sigma_0_2={0 if s is None else s**2:.3g}"] = excess_numbers(
                ex[v].sel(pt), ex[f"{v}_sem"].sel(pt), n
            )
    out["negative_excess_over_ridge"] = (
        f"{NEGATIVE_EXCESS} ({n} seeds here). With sigma_0 > 0 the initial weights add their own "
        "variance, which ridge has not, so the excess grows with sigma_0^2."
    )
    return out


def _overtraining_2_4(ds, opt, final, noise, zero, t_end) -> dict:
    """docs/theory.md §2.4: overtraining E_g(t = 100) - E_g(t*) at SNR 1 (when the runs end
    at t = 100)."""
    q1 = nearest(ds.snr.values, 1.0)
    if q1 is not None and abs(t_end - 100) < 1e-6:
        over = {}
        for a, ref in OVERTRAINING_2_4.items():
            r = _by_alpha(ds, a)
            if r is not None:
                pt = {"n_over_p": r, "snr": q1, **zero}
                sim = (final.sel(pt) - opt.opt_error_of_mean.sel(pt)) / float(noise.sel(snr=q1))
                over[f"alpha={a:g}"] = {"sim": num(sim, 3), "table": ref}
        return {"overtraining_2_4_snr1": over}
    return {}


def _init_variance_2_5(ds, opt, noise) -> dict:
    """docs/theory.md §2.5: the effect of sigma_0 on the optimal error (SNR 1), when the sweep
    has init scales."""
    q1 = nearest(ds.snr.values, 1.0)
    if q1 is not None and "init_scale" in ds.dims:
        eff = {}
        for a, refs in INIT_2_5.items():
            r = _by_alpha(ds, a)
            vals = []
            for s0 in (0.0, 0.25, 1.0):
                sub = _init_sel(opt.opt_error_of_mean.sel(n_over_p=r, snr=q1), s0) if r is not None else None
                vals.append(None if sub is None else num(sub / float(noise.sel(snr=q1))))
            eff[f"alpha={a:g}"] = {"sigma_0_2": [0, 0.25, 1], "sim": vals, "table": list(refs)}
        return {"init_variance_2_5_snr1": eff}
    return {}


def _claims(ds, th, opt, stats, noise, zero, order) -> dict:
    """The claims: E_g* falls with alpha (sigma_0 = 0), E_t never rises, E_t(inf) = (1 - 1/alpha)_+."""
    nums = {}
    e_opt = opt.opt_error_of_mean.sel(**zero) / noise
    sem = opt.opt_error_sem.sel(**zero) / noise
    ordered = e_opt.sortby("alpha") if "alpha" in e_opt.dims else e_opt.isel(n_over_p=order)
    rises = ordered.diff("n_over_p")
    s2 = sem.isel(n_over_p=order)
    limit = 2 * np.sqrt(s2.values[1:] ** 2 + s2.values[:-1] ** 2)
    th_opt = (th.optimal_test_error.sel(**zero) / noise).isel(n_over_p=order).diff("n_over_p")
    nums["optimal_error_monotone_in_alpha"] = {
        "theory_max_rise": num(th_opt.max()),
        "sim_rises_beyond_2_sem": int((rises.values > limit).sum()),
        "sim_steps": int(rises.size),
    }
    et = stats.train_error_mean
    late = {}
    for a in (2.0, 4.0):  # converged by t = 100: E_t(inf) = sigma^2 (1 - 1/alpha)
        r = _by_alpha(ds, a)
        if r is not None:
            v = (et.sel(n_over_p=r, **zero).isel(epoch=-1) / noise).values.ravel()
            late[f"alpha={a:g}"] = {"sim_over_snrs": [num(x) for x in v], "theory": 1 - 1 / a}
    nums["train_error_final_vs_1_minus_1_over_alpha"] = late
    nums["train_error_max_rise_between_records"] = num((et.diff("epoch") / et.isel(epoch=0)).max(), 3)
    return nums
