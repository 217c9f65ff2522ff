"""The gallery: the papers' results reproduced from the sweep specs in ``sweeps/``.

Each item is one or two specs, a result and its theory in ``results/<item>/``, figures
(PNG) beside them and ``numbers.json``: the measured numbers next to what science.md
states. ``dynax gallery ITEM`` makes the figures and numbers from a result written by
``dynax run sweeps/<spec>.toml -o results/<item>/<spec>.nc``; ``make(item, results)``
does the same in Python for results already in memory (the tests use tiny versions).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.figure import Figure

from . import analysis, plot, theory

__all__ = ["ITEMS", "SPECS", "make"]

# item -> the specs (sweeps/<name>.toml) whose results it reads, in order
SPECS = {
    "learning_curves": ("learning_curves",),
    "phase_diagram": ("phase_diagram",),
    "frozen_subspace": ("frozen_subspace",),
    "depth": ("depth", "depth_balanced"),
    "replay_vs_online": ("replay_vs_online",),
    "nonlinear": ("nonlinear", "nonlinear_snr"),
    "decomposition": ("decomposition",),
}
ITEMS = tuple(SPECS)
_COLOURS = list(colors.TABLEAU_COLORS)


def _f(x, digits: int = 4):
    """A JSON-able rounded float (None for NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else float(f"{x:.{digits}g}")


def _save(fig: Figure, out: Path, name: str, written: list) -> None:
    path = out / f"{name}.png"
    fig.savefig(path, dpi=120)
    written.append(str(path))


def _interp_log_t(time, values, t):
    """Linear interpolation in log t of a curve recorded at ``time`` (> 0 entries)."""
    time, values = np.asarray(time, float).ravel(), np.asarray(values, float).ravel()
    keep = (time > 0) & np.isfinite(values)
    return float(np.interp(np.log(t), np.log(time[keep]), values[keep], left=np.nan, right=np.nan))


def _nearest(values, target, tol=1e-6):
    """The entry of ``values`` equal to ``target`` up to ``tol`` relative, or None."""
    values = np.asarray(values, float)
    i = int(np.argmin(abs(values - target)))
    return values[i] if abs(values[i] - target) <= tol * max(1.0, abs(target)) else None


def _sel(da, point: dict):
    """``da.sel`` over the keys of ``point`` that are dims of ``da``."""
    return da.sel({k: v for k, v in point.items() if k in da.dims})


def _mean_time(ds):
    return ds.time.where(analysis.valid(ds)).mean("seed") if "seed" in ds.time.dims else ds.time


# --------------------------------------------------------------------------- item 1

# science.md §2.8: (alpha, sigma_w^2, sigma_eps^2, sigma_0^2) -> E_g at t = 1, 3, 10, 100 and E_t at t = 1
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
    r = _nearest(1.0 / ds.alpha.values, 1.0 / alpha, 1e-3)
    return None if r is None else ds.n_over_p.values[int(np.argmin(abs(1.0 / ds.alpha.values - r)))]


def _init_sel(ds, s0_sq):
    """Select the init scale giving sigma_0^2 (gaussian init: s^2), if present."""
    if "init_scale" not in ds.dims:
        return ds if s0_sq == 0 else None
    s = _nearest(ds.init_scale.values**2, s0_sq, 1e-3)
    return None if s is None else ds.sel(init_scale=np.sqrt(s), method="nearest")


def learning_curves(results, out: Path) -> tuple[dict, list]:
    """Depth-1 E_g(t), E_t(t) over theory, double descent in P, and science.md §2.4/2.5/2.8."""
    ((ds, th),) = results
    written, nums = [], {}
    noise = ds.noise_var
    stats = analysis.seed_statistics(ds)
    opt = analysis.optimal_early_stopping(ds)
    time = _mean_time(ds)
    zero = {"init_scale": 0.0} if "init_scale" in ds.dims else {}

    # learning curves at two SNRs (sigma_0 = 0)
    snrs = [q for q in (1.0, 10.0) if _nearest(ds.snr.values, q)] or list(ds.snr.values[:2])
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
    _save(fig, out, "learning_curves", written)

    # double descent: E_g at the end (t = t_final) and at t* against P/N
    fig = Figure(figsize=(5.0 * len(snrs), 4.2), layout="constrained")
    axes = fig.subplots(1, len(snrs), squeeze=False)[0]
    alpha = ds.alpha.values
    order = np.argsort(alpha)
    final = stats.test_error_mean.isel(epoch=-1)
    final_sem = stats.test_error_sem.isel(epoch=-1)
    t_end = float(time.isel(epoch=-1).max())
    for ax, q in zip(axes, snrs, strict=True):
        pt = {"snr": q, **zero}
        nv = float(noise.sel(snr=q))
        f, fe = final.sel(pt).values.ravel() / nv, final_sem.sel(pt).values.ravel() / nv
        o = opt.opt_error_of_mean.sel(pt).values.ravel() / nv
        ax.errorbar(
            alpha[order], f[order], fe[order], fmt="o", ms=3, color="C3", label=f"final, t = {t_end:g}"
        )
        ax.plot(
            alpha[order], th.test_error.sel(pt).isel(epoch=-1).values.ravel()[order] / nv, color="C3", lw=1
        )
        ax.plot(alpha[order], o[order], "s", ms=3, color="C0", label="optimal (early stopping)")
        ax.plot(alpha[order], th.optimal_test_error.sel(pt).values.ravel()[order] / nv, color="C0", lw=1)
        dense = np.linspace(alpha.min(), alpha.max(), 400)
        dense = dense[abs(dense - 1) > 0.01]
        asym = [theory.asymptotic_test_error(a, 1.0, 1.0 / q) * q for a in dense]
        ax.plot(dense, asym, color="gray", ls=":", label=r"$t \to \infty$")
        bay = th.bayes_test_error.sel(pt).values.ravel()[order] / nv
        ax.plot(alpha[order], bay, "k--", lw=0.8, label="Bayes")
        ax.axvline(1.0, color="red", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_ylim(0.9, max(2 * np.nanmax(f), 3))
        ax.set_xlabel(r"$\alpha = P/N$ (N fixed)")
        ax.set_title(f"SNR {q:g}")
    axes[0].set_ylabel(r"$E_g/\sigma_\varepsilon^2$  (points: simulation; lines: theory)")
    axes[0].legend(fontsize=7)
    _save(fig, out, "double_descent", written)

    # the numbers: depth 1 only
    ds, th, opt, stats, final = (x.isel(depth=0) for x in (ds, th, opt, stats, final))
    # science.md §2.8: E_g at t = 1, 3, 10, 100 (flow theory, N = 400 in the table)
    rows = []
    for (a, sw, se, s0), th_tab, et_tab, sim_tab, et_sim_tab in TABLE_2_8:
        r = _by_alpha(ds, a)
        q = _nearest(ds.snr.values, sw / se, 1e-3)
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
        row["sim"] = [_f(_interp_log_t(tt, m, t) * scale) for t in (1, 3, 10, 100)]
        row["sim_sem"] = [_f(_interp_log_t(tt, sem, t) * scale, 2) for t in (1, 3, 10, 100)]
        row["theory_dynax"] = [
            _f(_interp_log_t(tsub.time, tsub.test_error_flow, t) * scale) for t in (1, 3, 10, 100)
        ]
        row["theory_table"], row["sim_table_N400"] = list(th_tab), list(sim_tab)
        et = sub.train_error.where(analysis.valid(sub)).mean("seed")
        row["train_t1"] = {
            "sim": _f(_interp_log_t(tt, et, 1.0) * scale),
            "theory_dynax_discrete": _f(_interp_log_t(tsub.time, tsub.train_error, 1.0) * scale),
            "theory_table": et_tab,
            "sim_table_N400": et_sim_tab,
        }
        rows.append(row)
    nums["table_2_8"] = rows

    # science.md §2.5: optimal early-stopping error, Bayes and t* (sigma_0 = 0)
    tab = {}
    for q, (eg, bayes, tstar) in TABLE_2_5.items():
        qq = _nearest(ds.snr.values, q, 1e-3)
        if qq is None:
            continue
        keys = ("alpha", "sim", "sim_sem", "theory_dynax", "table", "bayes_dynax", "bayes_table")
        entry = {k: [] for k in (*keys, "t_star_sim", "t_star_theory_dynax", "t_star_table")}
        nv = float(noise.sel(snr=qq))
        for i, a in enumerate(TABLE_2_5_ALPHA):
            r = _by_alpha(ds, a)
            if r is None:
                continue
            pt = {"n_over_p": r, "snr": qq, **zero}
            entry["alpha"].append(a)
            entry["sim"].append(_f(opt.opt_error_of_mean.sel(pt) / nv))
            entry["sim_sem"].append(_f(opt.opt_error_sem.sel(pt) / nv, 2))
            entry["theory_dynax"].append(_f(th.optimal_test_error.sel(pt) / nv))
            entry["table"].append(eg[i])
            entry["bayes_dynax"].append(_f(th.bayes_test_error.sel(pt) / nv))
            entry["bayes_table"].append(bayes[i])
            entry["t_star_sim"].append(_f(opt.opt_time_of_mean.sel(pt), 3))
            entry["t_star_theory_dynax"].append(_f(th.optimal_time.sel(pt), 3))
            entry["t_star_table"].append(tstar[i])
        tab[f"snr={q:g}"] = entry
    nums["table_2_5"] = tab
    worst = [
        abs(s / t - 1)
        for e in tab.values()
        for s, t in zip(e["sim"], e["table"], strict=True)
        if s is not None
    ]
    nums["table_2_5_max_rel_dev_sim_vs_table"] = _f(max(worst), 3) if worst else None

    # science.md §2.4: overtraining E_g(t = 100) - E_g(t*) at SNR 1
    q1 = _nearest(ds.snr.values, 1.0)
    if q1 is not None and abs(t_end - 100) < 1e-6:
        over = {}
        for a, ref in OVERTRAINING_2_4.items():
            r = _by_alpha(ds, a)
            if r is not None:
                pt = {"n_over_p": r, "snr": q1, **zero}
                sim = (final.sel(pt) - opt.opt_error_of_mean.sel(pt)) / float(noise.sel(snr=q1))
                over[f"alpha={a:g}"] = {"sim": _f(sim, 3), "table": ref}
        nums["overtraining_2_4_snr1"] = over

    # science.md §2.5: effect of sigma_0 (SNR 1)
    if q1 is not None and "init_scale" in ds.dims:
        eff = {}
        for a, refs in INIT_2_5.items():
            r = _by_alpha(ds, a)
            vals = []
            for s0 in (0.0, 0.25, 1.0):
                sub = _init_sel(opt.opt_error_of_mean.sel(n_over_p=r, snr=q1), s0) if r is not None else None
                vals.append(None if sub is None else _f(sub / float(noise.sel(snr=q1))))
            eff[f"alpha={a:g}"] = {"sigma_0_2": [0, 0.25, 1], "sim": vals, "table": list(refs)}
        nums["init_variance_2_5_snr1"] = eff

    # the claims: E_g* falls with alpha (sigma_0 = 0), E_t never rises, E_t(inf) = (1 - 1/alpha)_+
    e_opt = opt.opt_error_of_mean.sel(**zero) / noise
    sem = opt.opt_error_sem.sel(**zero) / noise
    ordered = e_opt.sortby("alpha") if "alpha" in e_opt.dims else e_opt.isel(n_over_p=order)
    rises = ordered.diff("n_over_p")
    s2 = sem.isel(n_over_p=order)
    limit = 2 * np.sqrt(s2.values[1:] ** 2 + s2.values[:-1] ** 2)
    th_opt = (th.optimal_test_error.sel(**zero) / noise).isel(n_over_p=order).diff("n_over_p")
    nums["optimal_error_monotone_in_alpha"] = {
        "theory_max_rise": _f(th_opt.max()),
        "sim_rises_beyond_2_sem": int((rises.values > limit).sum()),
        "sim_steps": int(rises.size),
    }
    et = stats.train_error_mean
    late = {}
    for a in (2.0, 4.0):  # converged by t = 100: E_t(inf) = sigma^2 (1 - 1/alpha)
        r = _by_alpha(ds, a)
        if r is not None:
            v = (et.sel(n_over_p=r, **zero).isel(epoch=-1) / noise).values.ravel()
            late[f"alpha={a:g}"] = {"sim_over_snrs": [_f(x) for x in v], "theory": 1 - 1 / a}
    nums["train_error_final_vs_1_minus_1_over_alpha"] = late
    nums["train_error_max_rise_between_records"] = _f((et.diff("epoch") / et.isel(epoch=0)).max(), 3)
    return nums, written


# --------------------------------------------------------------------------- item 2


def _realized_teacher_var(ds) -> xr.DataArray:
    """‖w̄‖²/(N·N_out) of each seed's teacher: the variance the seed actually drew."""
    from . import data
    from .spec import parse_spec

    root = parse_spec(ds.attrs["spec_toml"], "<result>").seed
    n, n_out, var = int(ds.attrs["n_in"]), int(ds.attrs["n_out"]), float(ds.attrs["teacher_var"])
    values = [
        float(np.mean(np.asarray(data.teacher(data.data_key(root, int(seed)), n, n_out, var)) ** 2))
        for seed in ds.seed.values
    ]
    return xr.DataArray(values, dims="seed", coords={"seed": ds.seed})


def _realized_bayes(ds) -> xr.DataArray:
    """The Bayes-optimal error averaged over the seeds' realized teacher variances,
    over (n_over_p, snr): the limit the seed-mean error of these very teachers has."""
    tv = _realized_teacher_var(ds).values
    out = np.array(
        [
            [np.mean([theory.bayes_error(float(a), v, float(nv)) for v in tv]) for nv in ds.noise_var.values]
            for a in ds.alpha.values
        ]
    )
    return xr.DataArray(out, dims=("n_over_p", "snr"), coords={"n_over_p": ds.n_over_p, "snr": ds.snr})


def _mark(fig: Figure, mask: xr.DataArray) -> None:
    """An x on every grid cell of a heatmaps figure where ``mask`` (depth, n_over_p, snr) holds."""
    for ax, d in zip(fig.axes, mask.depth.values, strict=False):
        m = mask.sel(depth=d)
        r, q = np.meshgrid(m.n_over_p.values, m.snr.values, indexing="ij")
        sel = m.transpose("n_over_p", "snr").values
        ax.plot(r[sel], q[sel], "x", color="red", ms=4, mew=0.8, ls="none")


def phase_diagram(results, out: Path) -> tuple[dict, list]:
    """E_g* maps per depth with the Bayes map, the excess, t* and the final error."""
    ((ds, th),) = results
    written, nums = [], {}
    s = analysis.summarize(ds, th)
    noise = s.noise_var
    bayes = th.bayes_test_error.isel(depth=0) / noise
    e_opt = s.opt_error_of_mean / noise
    late = (ds.best_epoch >= 0.9 * ds.attrs["epochs"]).any("seed")  # optimum maybe not reached
    realized = _realized_bayes(ds)
    excess_realized = 100 * (s.opt_error_of_mean / realized - 1)

    fig = Figure(figsize=(4.2 * (s.sizes["depth"] + 1) + 1.2, 3.8), layout="constrained")
    both = xr.concat([bayes.expand_dims(depth=[0]), e_opt], "depth", coords="minimal", compat="override")
    plot.heatmaps(both, label=r"$E_g^*/\sigma_\varepsilon^2$", fig=fig)
    fig.axes[0].set_title("Bayes-optimal (ridge at 1/SNR)")
    fig.suptitle(
        "optimal early-stopping error (minimum of the seed-mean curve) and the Bayes limit; "
        "x: a seed's best epoch in the last 10% of training"
    )
    _mark_late = late.reindex(depth=[0, *late.depth.values], fill_value=False)
    _mark(fig, _mark_late)
    _save(fig, out, "phase_diagram", written)
    fig = plot.heatmaps(
        excess_realized.clip(-5, 25),
        log=False,
        center=0.0,
        cmap="RdBu_r",
        label=r"$E_g^*/E_{Bayes} - 1$ (%), clipped to [-5, 25]",
        title="excess over the Bayes-optimal error of the same teachers (x: optimum maybe not reached)",
    )
    _mark(fig, late)
    _save(fig, out, "excess_over_bayes", written)
    _save(
        plot.heatmaps(
            s.opt_time_of_mean, label=r"optimal stopping time $t^*$ ($\tau$)", title="optimal time"
        ),
        out,
        "optimal_time",
        written,
    )
    t_end = _mean_time(ds).isel(epoch=-1)
    _save(
        plot.heatmaps(
            s.final_error / noise,
            label=r"$E_g(t_{final})/\sigma_\varepsilon^2$",
            title=f"final error after {ds.attrs['epochs']} epochs (t_final depends on the run's rate)",
        ),
        out,
        "final_error",
        written,
    )
    _save(plot.error_vs_n_over_p(s.isel(snr=slice(None, None, 3))), out, "error_vs_n_over_p", written)

    excess = excess_realized
    late = ds.best_epoch >= 0.9 * ds.attrs["epochs"]
    tv = _realized_teacher_var(ds)
    nums["realized_teacher_var_seed_mean"] = _f(tv.mean(), 4)
    nums["realized_teacher_var_seeds"] = [_f(v, 3) for v in tv.values]
    nums["excess_over_population_bayes_percent"] = {
        f"depth={d}": [
            _f(100 * s.excess_over_bayes.sel(depth=d).min(), 3),
            _f(100 * s.excess_over_bayes.sel(depth=d).max(), 3),
        ]
        for d in s.depth.values
    }
    nums["excess_over_bayes_percent"] = {
        f"depth={d}": {
            "max": _f(excess.sel(depth=d).max(), 3),
            "median": _f(excess.sel(depth=d).median(), 3),
            "min": _f(excess.sel(depth=d).min(), 3),
        }
        for d in s.depth.values
    }
    in_range = (s.snr >= 0.1) & (s.snr <= 10) & (s.n_over_p >= 0.25) & (s.n_over_p <= 4)
    nums["excess_over_bayes_percent_depth1_on_the_2_5_grid"] = [
        _f(excess.sel(depth=1).where(in_range).min(), 3),
        _f(excess.sel(depth=1).where(in_range).max(), 3),
    ]
    th_excess = 100 * (th.optimal_test_error.sel(depth=1) / th.bayes_test_error.sel(depth=1) - 1)
    nums["theory_excess_over_bayes_percent_depth1"] = {
        "whole_grid": [_f(th_excess.min(), 3), _f(th_excess.max(), 3)],
        "on_the_2_5_grid": [_f(th_excess.where(in_range).min(), 3), _f(th_excess.where(in_range).max(), 3)],
    }
    z = (s.opt_error_of_mean - realized) / s.opt_error_sem
    nums["excess_over_bayes_in_sem"] = {
        f"depth={d}": {
            "within_2_sem": _f(float((abs(z.sel(depth=d)) <= 2).mean()), 3),
            "within_3_sem": _f(float((abs(z.sel(depth=d)) <= 3).mean()), 3),
        }
        for d in s.depth.values
    }
    clean = ~late.any("seed") if "seed" in late.dims else ~late
    for d in s.depth.values:
        nums["excess_over_bayes_percent"][f"depth={d}"]["max_where_every_optimum_reached"] = _f(
            excess.sel(depth=d).where(clean.sel(depth=d)).max(), 3
        )
    peak = s.peak_n_over_p
    nums["final_error_peak_n_over_p"] = {
        f"depth={d}": {
            "snr": [_f(q, 3) for q in s.snr.values],
            "peak": [_f(v, 3) for v in peak.sel(depth=d).values],
            "within_0.9_1.12": int(((peak.sel(depth=d) >= 0.9) & (peak.sel(depth=d) <= 1.12)).sum()),
        }
        for d in s.depth.values
    }
    nums["optimal_time_range"] = {
        f"depth={d}": [
            _f(s.opt_time_of_mean.sel(depth=d).min(), 3),
            _f(s.opt_time_of_mean.sel(depth=d).max(), 3),
        ]
        for d in s.depth.values
    }
    nums["final_time_range"] = [_f(t_end.min(), 3), _f(t_end.max(), 3)]
    d1 = s.sel(depth=1)
    rel = abs(d1.opt_error_of_mean / th.optimal_test_error.sel(depth=1) - 1)
    nums["depth1_sim_vs_theory_optimal_error"] = {
        "max_rel_dev": _f(rel.max(), 3),
        "median_rel_dev": _f(rel.median(), 3),
        "max_in_sem": _f(
            (abs(d1.opt_error_of_mean - th.optimal_test_error.sel(depth=1)) / d1.opt_error_sem).max(), 3
        ),
    }
    rises = (e_opt.sortby("n_over_p", ascending=False).diff("n_over_p") > 0).sum("n_over_p")
    nums["optimal_error_rises_with_alpha"] = {
        f"depth={d}": int(rises.sel(depth=d).sum()) for d in s.depth.values
    }
    nums["runs_with_best_epoch_in_last_10_percent"] = {
        f"depth={d}": int(late.sel(depth=d).sum()) for d in s.depth.values
    }
    nums["n_runs"] = int(ds.diverged.size)
    nums["n_diverged"] = int(ds.diverged.sum())
    return nums, written


# --------------------------------------------------------------------------- item 3


def _teacher_null(ds) -> xr.DataArray:
    """‖P_null w̄‖²/N per (n_over_p, seed): the teacher's own part of the null-space error,
    which no student can learn, from each seed's data."""
    from . import data

    pr_n, n_out = int(ds.attrs["n_in"]), int(ds.attrs["n_out"])
    from .spec import parse_spec

    root = parse_spec(ds.attrs["spec_toml"], "<result>").seed
    out = np.zeros((ds.sizes["n_over_p"], ds.sizes["seed"]))
    for j, p in enumerate(ds.n_train.values):
        for k, seed in enumerate(ds.seed.values):
            x, _, w_bar, _ = data.raw_data(
                root, int(seed), int(p), pr_n, n_out, float(ds.attrs["teacher_var"]), 1.0
            )
            null = np.linalg.svd(x)[2][int(p) :]
            out[j, k] = np.sum((w_bar @ null.T) ** 2) / (pr_n * n_out)
    return xr.DataArray(out, dims=("n_over_p", "seed"), coords={"n_over_p": ds.n_over_p, "seed": ds.seed})


def frozen_subspace(results, out: Path) -> tuple[dict, list]:
    """The null-space error over init scale, shallow and deep, and E_g* against init."""
    ((ds, _),) = results
    written, nums = [], {}
    n = int(ds.attrs["n_in"])
    ok = analysis.valid(ds)
    teacher = _teacher_null(ds)
    carried = (ds.null_space_error - teacher).where(ok)  # the part the initial weights put there
    opt = analysis.optimal_early_stopping(ds)
    # the null-space error at the epoch of the seed-mean optimum
    i_opt = ds.test_error.where(ok).mean("seed").fillna(np.inf).argmin("epoch")
    at_opt = carried.isel(epoch=i_opt).mean("seed")
    start, end = carried.isel(epoch=0).mean("seed"), carried.isel(epoch=-1).mean("seed")
    alphas = [r for r in ds.n_over_p.values if r > 1]  # N > P: a null space
    snr = ds.snr.values[0]
    scales = ds.init_scale.values
    fig = Figure(figsize=(4.6 * len(alphas), 7.6), layout="constrained")
    axes = fig.subplots(2, len(alphas), squeeze=False, sharex=True)
    for j, r in enumerate(alphas):
        a = float(ds.alpha.sel(n_over_p=r))
        ax = axes[0, j]
        for c, d in zip(_COLOURS, ds.depth.values, strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            floor = 1e-6  # tiny values are dominated by the (signed) cross term with the teacher
            ax.plot(scales, end.sel(pt).clip(min=floor), color=c, marker="o", ms=3, label=f"depth {d}: end")
            ax.plot(scales, start.sel(pt).clip(min=floor), color=c, ls=":", label=f"depth {d}: initial")
        theory_line = (1 - a) * scales**2 / n
        ax.plot(scales, theory_line, "k-", lw=3, alpha=0.25, label=r"$(1-\alpha)\sigma_0^2$ (depth 1)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-6)
        ax.set_title(f"N/P = {r:.3g} (alpha = {a:.2f}), SNR {snr:g}")
        ax.set_ylabel(r"null-space error $-$ teacher's part (seed mean)")
        ax2 = axes[1, j]
        for c, d in zip(_COLOURS, ds.depth.values, strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            nv = float(ds.noise_var.sel(snr=snr))
            ax2.plot(
                scales,
                opt.opt_error_of_mean.sel(pt) / nv,
                color=c,
                marker="o",
                ms=3,
                label=f"depth {d}: optimal",
            )
            ax2.plot(scales, analysis.final_error(ds).sel(pt) / nv, color=c, ls="--", label=f"depth {d}: end")
        s0 = scales**2 / n
        shallow = [theory.optimal_stopping(a, float(ds.attrs["teacher_var"]), nv, v)[1] / nv for v in s0]
        ax2.plot(scales, shallow, "k-", lw=2, alpha=0.3, label="depth-1 theory (optimal)")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlabel("init_scale s (gaussian_fan_in: N(0, s²/fan_in))")
        ax2.set_ylabel(r"$E_g/\sigma_\varepsilon^2$")
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].legend(fontsize=6)
    _save(fig, out, "frozen_subspace", written)

    d1 = ds.null_space_error.sel(depth=1)
    nums["depth1_null_error_max_change_over_training"] = _f(abs(d1 - d1.isel(epoch=0)).max(), 3)
    nums["teacher_null_part_vs_1_minus_alpha"] = {
        f"alpha={float(ds.alpha.sel(n_over_p=r)):.3g}": [
            _f(teacher.sel(n_over_p=r).mean()), _f(1 - float(ds.alpha.sel(n_over_p=r)))
        ]
        for r in ds.n_over_p.values
    }  # fmt: skip
    table = {}
    for r in alphas:
        a = float(ds.alpha.sel(n_over_p=r))
        for d in ds.depth.values:
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            table[f"alpha={a:.3g},depth={d}"] = {
                "init_scale": [_f(v, 3) for v in scales],
                "initial": [_f(v, 3) for v in start.sel(pt).values],
                "at_t_star": [_f(v, 3) for v in at_opt.sel(pt).values],
                "end": [_f(v, 3) for v in end.sel(pt).values],
                "theory_depth1": [_f((1 - a) * v**2 / n, 3) for v in scales] if d == 1 else None,
                "optimal_error": [
                    _f(v, 4) for v in (opt.opt_error_of_mean.sel(pt) / ds.noise_var.sel(snr=snr)).values
                ],
            }
    nums["carried_null_space_error"] = table
    t_end = _mean_time(ds).isel(epoch=-1)
    nums["final_time_range"] = [_f(t_end.min(), 3), _f(t_end.max(), 3)]
    nums["n_diverged"] = int(ds.diverged.sum())
    return nums, written


# --------------------------------------------------------------------------- item 4

# science.md §3.4 (N = N_h = 100, SNR 1, 10 seeds, fan-in init): min_t E_g (t*); None: no escape by t = 4
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
    """Fan-in runs against the §3.4 table (paired deep − shallow), and balanced runs
    against the exact end-to-end flow of §3.2; the speed-accuracy trade-off."""
    (ds, _), (bal, bal_th) = results
    written, nums = [], {}
    ok = analysis.valid(ds)
    best = ds.best_test_error.where(ok)
    opt = analysis.optimal_early_stopping(ds)
    scales = ds.init_scale.values
    snr = ds.snr.values[0]
    nv = float(ds.noise_var.sel(snr=snr))
    shallow = best.sel(depth=1).isel(init_scale=0)  # depth 1: sigma_0^2 = s^2/N, the smallest is ~0
    n_ok = np.sqrt(ok.sum("seed"))
    # the table's reduction: minimum of the seed-mean curve, deep minus shallow on the same seeds
    # (the sem from the seed-wise differences at the two minima)
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
    rows = {}
    fig = Figure(figsize=(4.6 * ds.sizes["n_over_p"], 7.6), layout="constrained")
    axes = fig.subplots(2, ds.sizes["n_over_p"], squeeze=False)
    for j, r in enumerate(ds.n_over_p.values):
        a = float(ds.alpha.sel(n_over_p=r))
        ref = TABLE_3_4.get(_nearest(list(TABLE_3_4), a, 1e-3))
        ax = axes[0, j]
        for c, d in zip(_COLOURS[1:], [d for d in ds.depth.values if d > 1], strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            ax.errorbar(scales, pm.sel(pt), 4 * ps.sel(pt), color=c, marker="o", ms=3, capsize=2,
                        label=f"depth {d} − 1: min of seed mean (±4 s.e.)")  # fmt: skip
            ax.errorbar(scales, om.sel(pt), 4 * osem.sel(pt), color=c, marker="s", mfc="none", ms=4, ls=":",
                        capsize=2, label=f"depth {d} − 1: each run's own best")  # fmt: skip
            if ref:
                xs = [s for s, v in ref[d].items() if v is not None]
                ax.plot(xs, [ref[d][s][0] - ref[1][0] for s in xs], color=c, marker="*", ms=9, ls="none",
                        label=f"depth {d}: science.md §3.4 table")  # fmt: skip
            for s in scales:
                key = f"alpha={a:g},depth={d},init={s:g}"
                tab = ref[d].get(_nearest(list(ref[d]), s, 1e-3)) if ref else None
                rows[key] = {
                    "paired_diff_sim": _f(pm.sel(pt).sel(init_scale=s)),
                    "paired_diff_sem": _f(ps.sel(pt).sel(init_scale=s), 2),
                    "paired_diff_table": _f(tab[0] - ref[1][0]) if tab else None,
                    "own_best_paired_diff_sim": _f(om.sel(pt).sel(init_scale=s)),
                    "own_best_paired_diff_sem": _f(osem.sel(pt).sel(init_scale=s), 2),
                    "opt_error_of_mean_sim": _f(opt.opt_error_of_mean.sel(pt).sel(init_scale=s) / nv),
                    "opt_time_sim": _f(opt.opt_time_of_mean.sel(pt).sel(init_scale=s), 3),
                    "table": list(tab) if tab else None,
                }
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"alpha = {a:g}, SNR {snr:g}: paired E_g* difference")
        ax.set_xlabel("init_scale (gaussian_fan_in)")
        ax.set_ylabel(r"$(E_g^{*,deep} - E_g^{*,shallow})/\sigma_\varepsilon^2$")
        # speed-accuracy: t* against E_g* per depth, one point per init scale
        ax = axes[1, j]
        for c, d in zip(_COLOURS, ds.depth.values, strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            tt, ee = opt.opt_time_of_mean.sel(pt).values, opt.opt_error_of_mean.sel(pt).values / nv
            ax.plot(tt, ee, color=c, marker="o", ms=4, label=f"depth {d}")
            if d > 1:
                for s, x, y in zip(scales, tt, ee, strict=True):
                    ax.annotate(f"{s:g}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.axhline(
            float(theory.bayes_error(a, 1.0, 1.0 / snr)) * snr, color="k", ls="--", lw=0.8, label="Bayes"
        )
        ax.set_xscale("log")
        ax.set_xlabel(r"optimal stopping time $t^*$ ($\tau$): speed")
        ax.set_ylabel(r"$E_g^*/\sigma_\varepsilon^2$: accuracy")
        ax.set_title("speed-accuracy (labels: init scale)")
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].legend(fontsize=6)
    _save(fig, out, "depth_fan_in", written)
    nums["fan_in_vs_table_3_4"] = rows
    within = [
        abs(v["paired_diff_sim"] - v["paired_diff_table"]) <= 4 * max(v["paired_diff_sem"], 1e-12)
        for v in rows.values()
        if v["paired_diff_table"] is not None and v["paired_diff_sim"] is not None
    ]
    nums["fan_in_paired_diffs_within_4_sem_of_table"] = f"{sum(within)} of {len(within)}"

    # balanced init: simulation against the exact end-to-end flow (seed means)
    bok = analysis.valid(bal)
    sim = bal.test_error.where(bok).mean("seed")
    deep = [d for d in bal.depth.values if d > 1]
    fig = Figure(figsize=(4.6 * len(deep), 4.2 * bal.sizes["n_over_p"]), layout="constrained")
    axes = fig.subplots(bal.sizes["n_over_p"], len(deep), squeeze=False)
    worst = {}
    tbal = _mean_time(bal)
    for i, r in enumerate(bal.n_over_p.values):
        for j, d in enumerate(deep):
            ax = axes[i, j]
            for c, s in zip(_COLOURS, bal.init_scale.values, strict=False):
                pt = {"depth": d, "n_over_p": r, "snr": bal.snr.values[0], "init_scale": s}
                t = _sel(tbal, pt).values
                ax.plot(
                    t[t > 0], sim.sel(pt).values[t > 0], color=c, lw=2, alpha=0.6, label=f"sim, s = {s:g}"
                )
                f = _sel(bal_th.test_error_flow, pt).values
                ax.plot(t[t > 0], f[t > 0], color="k", ls="--", lw=0.9)
                dev = abs(sim.sel(pt).values / f - 1)
                k = int(np.nanargmin(f))  # up to three times the flow's optimal time
                early = t <= 3 * t[k]
                worst[f"alpha={float(bal.alpha.sel(n_over_p=r)):g},depth={d},init={s:g}"] = {
                    "max_rel_dev_to_3_t_star": _f(np.nanmax(dev[early]), 3),
                    "max_rel_dev_whole_run": _f(np.nanmax(dev), 3),
                    "optimal_error_rel_dev": _f(np.nanmin(sim.sel(pt).values) / f[k] - 1, 3),
                }
            ax.set_xscale("log")
            ax.set_title(
                f"balanced, depth {d}, alpha = {float(bal.alpha.sel(n_over_p=r)):g} (dashed: §3.2 flow)"
            )
            ax.set_xlabel(r"$t$ ($\tau$)")
            ax.set_ylabel(r"$E_g$ (seed mean)")
    axes[0, 0].legend(fontsize=6)
    _save(fig, out, "depth_balanced", written)
    nums["balanced_sim_vs_flow_max_rel_dev"] = worst
    return nums, written


# --------------------------------------------------------------------------- item 5

TABLE_4_2_SNR10 = {0.25: 1.03, 0.5: 1.11, 1.0: 1.52, 2.0: 2.30, 4.0: 2.15, 8.0: 1.63}
TABLE_4_2_SNR1 = {0.25: 1.00, 1.0: 1.03, 4.0: 1.12}


def replay_vs_online(results, out: Path) -> tuple[dict, list]:
    """Replay with oracle early stopping against one pass of online SGD at equal data."""
    ((ds, th),) = results
    written, nums = [], {}
    _save(plot.replay_vs_online(ds, th), out, "replay_vs_online", written)
    ok = analysis.valid(ds)
    ratios = {}
    for q in ds.snr.values:
        nv = float(ds.noise_var.sel(snr=q))
        row = {}
        for r in ds.n_over_p.values:
            a = float(ds.alpha.sel(n_over_p=r))
            pt = {"snr": q, "n_over_p": r, "depth": ds.depth.values[0]}
            rp, op = {**pt, "protocol": "replay"}, {**pt, "protocol": "online"}
            rep = ds.best_test_error.sel(rp).where(ok.sel(rp)).mean("seed")
            onl = ds.sel(op)
            at_p = int(np.argmin(abs(onl.examples.values - int(ds.n_train.sel(n_over_p=r)))))
            on = onl.test_error.isel(epoch=at_p).where(ok.sel(op)).mean("seed")
            tab = (
                TABLE_4_2_SNR10 if abs(q - 10) < 1e-9 else TABLE_4_2_SNR1 if abs(q - 1) < 1e-9 else {}
            ).get(a)
            row[f"alpha={a:g}"] = {
                "online": _f(on / nv),
                "replay": _f(rep / nv),
                "excess_ratio": _f((on - nv) / (rep - nv), 3),
                "table_ratio": tab,
            }
        ratios[f"snr={q:g}"] = row
    nums["equal_data"] = ratios
    return nums, written


# --------------------------------------------------------------------------- item 6


def _width_sweep(ds, th, ok, snr):
    """Seed statistics of one SNR of a random-feature width sweep (errors in units of σ_ε²),
    with the exact final error of the same runs where the theory has it."""
    sel = {"depth": ds.depth.values[0], "n_over_p": ds.n_over_p.values[0], "snr": snr}
    sub, okk = ds.sel(sel), ok.sel(sel)
    nv = float(ds.noise_var.sel(snr=snr))
    exact = None
    if th is not None and np.isfinite(th.test_error.values).any():
        exact = th.test_error.sel(sel).isel(epoch=-1) / nv
    n = okk.sum("seed")
    best = sub.best_test_error.where(okk) / nv
    final = sub.test_error.where(okk).isel(epoch=-1) / nv
    sem = lambda a: a.std("seed") / np.sqrt(n)  # noqa: E731
    return {
        "sub": sub,
        "ok": okk,
        "nv": nv,
        "best": (best.mean("seed"), sem(best)),
        "final": (final.mean("seed"), sem(final)),
        "over": ((final - best).mean("seed"), sem(final - best)),
        "n_diverged": (~okk).sum("seed"),
        "exact_final": exact,
    }


def _width_panels(ax1, ax2, w, p, title):
    widths = w["sub"].width.values
    (mb, sb), (mf, sf), (mo, so) = w["best"], w["final"], w["over"]
    ax1.errorbar(widths, mb, sb, marker="o", ms=3, label="optimal (early stopping)")
    ax1.errorbar(widths, mf, sf, marker="x", ms=4, ls="--", label="final")
    if w["exact_final"] is not None:
        ax1.plot(widths, w["exact_final"], color="k", lw=1, alpha=0.7, label="final, exact population risk")
    ax2.errorbar(widths, mo, so, marker="o", ms=3, color="C3")
    for ax in (ax1, ax2):
        ax.axvline(p, color="red", ls="--", lw=1, label=f"N_h = P = {p}")
        ax.set_xscale("log")
        ax.set_xlabel("hidden units N_h (trained parameters)")
        plot._log_ticks(ax, "x")
    ax1.set_yscale("log")
    ax1.set_ylabel(r"test error $E_g/\sigma_\varepsilon^2$ (seed mean ± s.e.)")
    ax1.set_title(title)
    ax1.legend(fontsize=7)
    ax2.set_yscale("log")
    ax2.set_ylabel("overtraining: final − optimal (seed mean)")
    ax2.set_title("overtraining peaks where N_h = P")


def _width_numbers(w, widths) -> dict:
    (mb, sb), (mf, sf), (mo, so) = w["best"], w["final"], w["over"]
    exact = {}
    if w["exact_final"] is not None:
        z = (mf - w["exact_final"]) / sf
        exact = {
            "final_error_exact": [_f(v) for v in w["exact_final"].values],
            "final_sim_minus_exact_in_sem": [_f(v, 2) for v in z.values],
        }
    return {
        "optimal_error": [_f(v) for v in mb.values],
        "optimal_error_sem": [_f(v, 2) for v in sb.values],
        "final_error": [_f(v) for v in mf.values],
        "overtraining": [_f(v) for v in mo.values],
        "overtraining_sem": [_f(v, 2) for v in so.values],
        "diverged_by_width": [int(v) for v in w["n_diverged"].values],
        "width_of_max_overtraining": int(widths[int(np.nanargmax(mo.values))]),
        "width_of_min_optimal_error": int(widths[int(np.nanargmin(mb.values))]),
        "n_seeds": int(w["ok"].sizes["seed"]),
        **exact,
    }


def _mp_continuous(lam, q, s2):
    """Continuous part of the MP law of ``(1/P) XᵀX`` (X: P × N_h entries of variance s2,
    q = N_h/P); it integrates to min(1, 1/q), the rest is a point mass at 0."""
    lo, hi = s2 * (1 - np.sqrt(q)) ** 2, s2 * (1 + np.sqrt(q)) ** 2
    lam = np.asarray(lam, float)
    inside = (lam > lo) & (lam < hi)
    safe = np.where(inside, lam, 1.0)
    return np.where(
        inside, np.sqrt(np.clip((hi - safe) * (safe - lo), 0, None)) / (2 * np.pi * s2 * q * safe), 0.0
    )


def hidden_spectrum(ds, widths=None, n_seeds: int = 10):
    """science.md §5 item 6 (E): the spectrum of the hidden-layer Gram ``(N_h/P) Σ_μ φφᵀ``
    of a random-feature sweep's own data and features (seeds 0 … n_seeds−1), its N + 1
    outliers (the constant and linear parts of the ReLU, rank N + 1) set apart, and the
    rest against an MP law whose scale matches the rest's mean, at N_h = P/2, P, 2P unless
    ``widths`` says otherwise. Returns the figure and the numbers."""
    from . import data, raw
    from .spec import parse_spec

    overrides = [o for o in ds.attrs.get("spec_overrides", "").split("\n") if o]
    spec = parse_spec(ds.attrs["spec_toml"], "<result>", overrides)
    n, p = spec.problem.n_in, spec.n_train[0]
    widths = widths or (p // 2, p, 2 * p)
    fig = Figure(figsize=(4.2 * len(widths), 3.9), layout="constrained")
    axes = fig.subplots(1, len(widths), squeeze=False)[0]
    nums = {}
    for ax, nh in zip(axes, widths, strict=True):
        bulk, outliers, mins, zeros = [], [], [], 0
        for seed in range(n_seeds):
            x = np.asarray(data.examples(data.data_key(spec.seed, seed), n, 1, p)[0])
            f = np.asarray(raw.feature_layer(spec.seed, seed, nh, n))
            phi = np.maximum(x @ f.T, 0.0)
            lam = np.sort(np.linalg.eigvalsh(phi.T @ phi / p) * nh)
            outliers.append(lam[-(n + 1) :])
            rest = lam[: -(n + 1)]
            nonzero = rest[rest > 1e-9 * lam[-1]]
            zeros += len(rest) - len(nonzero)
            bulk.append(nonzero)
            mins.append(nonzero.min())
        b, out_l = np.concatenate(bulk), np.concatenate(outliers)
        total = n_seeds * nh
        q = nh / p
        s2 = float(b.mean()) / max(q, 1.0)  # MP: the nonzero eigenvalues' mean is s2·max(q, 1)
        edges = np.geomspace(min(b.min(), s2 * 1e-3), out_l.max() * 1.2, 70)
        dlog = np.diff(np.log(edges))
        for vals, colour, label in ((b, "C0", "bulk"), (out_l, "C1", f"{n + 1} outliers per seed")):
            h, _ = np.histogram(vals, edges)
            ax.stairs(h / total / dlog, edges, color=colour, fill=True, alpha=0.5, label=label)
        grid = np.geomspace(edges[0], edges[-1], 2000)
        ax.plot(grid, grid * _mp_continuous(grid, q, s2), "k", lw=1.2, label=f"MP, q = {q:g}, scale {s2:.3f}")
        if zeros:
            ax.text(0.03, 0.9, f"{zeros / total:.1%} of eigenvalues are 0\n(MP: {max(0.0, 1 - 1 / q):.1%})",
                    transform=ax.transAxes, fontsize=7)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel(r"eigenvalue of $(N_h/P)\,\Sigma_\mu \phi\phi^T$")
        ax.set_title(f"N_h = {nh}, P = {p}")
        ax.legend(fontsize=6, loc="upper right")
        xs = np.sort(b)
        cdf = np.cumsum(_mp_continuous(grid, q, s2) * np.gradient(grid))
        cdf /= cdf[-1]
        ks = float(np.max(np.abs(np.interp(xs, grid, cdf) - np.arange(1, len(xs) + 1) / len(xs))))
        lo = s2 * (1 - np.sqrt(q)) ** 2
        nums[f"width={nh}"] = {
            "zero_fraction": _f(zeros / total, 3),
            "zero_fraction_mp": _f(max(0.0, 1 - 1 / q), 3),
            "smallest_nonzero_median": _f(np.median(mins), 3),
            "mp_lower_edge": _f(lo, 3),
            "mp_scale": _f(s2, 3),
            "bulk_q99": _f(np.quantile(b, 0.99), 3),
            "mp_upper_edge": _f(s2 * (1 + np.sqrt(q)) ** 2, 3),
            "ks_distance": _f(ks, 2),
            "outlier_median": _f(np.median(out_l), 3),
        }
    axes[0].set_ylabel("density per unit log eigenvalue")
    return fig, nums


def nonlinear(results, out: Path) -> tuple[dict, list]:
    """Random-feature student: optimal and final test error against the hidden width, at
    SNR 1 (science.md §5 item 6) and at the other SNRs of the second spec (item 7)."""
    written, nums = [], {}
    ds, th = results[0]
    ok = analysis.valid(ds)
    p = int(ds.n_train.values[0])
    widths = ds.width.values
    snr = float(ds.snr.values[0])
    w = _width_sweep(ds, th, ok, snr)
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    _width_panels(ax1, ax2, w, p, f"random-feature ReLU student, P = {p}, SNR {snr:g}")
    sub, okk, nv = w["sub"], w["ok"], w["nv"]
    curve = sub.test_error.where(okk)
    t = _mean_time(sub)
    for c, wd in zip(_COLOURS, [x for x in (widths.min(), p, widths.max()) if x in widths], strict=False):
        tw = t.sel(width=wd).values if "width" in t.dims else t.values
        keep = tw > 0
        ax3.plot(
            tw[keep], (curve.sel(width=wd).mean("seed") / nv).values[keep], color=c, label=f"E_g, N_h = {wd}"
        )
        tr = sub.train_error.where(okk).sel(width=wd).mean("seed") / nv
        ax3.plot(tw[keep], tr.values[keep], color=c, ls="--", label=f"E_t, N_h = {wd}")
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel(r"time $t = \eta\,$epoch")
    ax3.set_title("average training dynamics")
    ax3.legend(fontsize=6)
    plot._log_ticks(ax3, "x")
    _save(fig, out, "width_sweep", written)
    nums["width"] = [int(x) for x in widths]
    nums.update(_width_numbers(w, widths))
    nums["n_train"] = p
    nums["n_diverged"] = int((~ok).sum())
    fig, spectrum = hidden_spectrum(ds)
    _save(fig, out, "hidden_spectrum", written)
    nums["hidden_spectrum"] = spectrum
    if len(results) > 1:  # science.md §5 item 7: the same at other SNRs
        ds2, th2 = results[1]
        ok2 = analysis.valid(ds2)
        snrs = [float(q) for q in ds2.snr.values]
        fig = Figure(figsize=(8.5, 3.9 * len(snrs)), layout="constrained")
        axes = fig.subplots(len(snrs), 2, squeeze=False)
        by_snr = {}
        for (a1, a2), q in zip(axes, snrs, strict=True):
            w2 = _width_sweep(ds2, th2, ok2, q)
            _width_panels(a1, a2, w2, p, f"random-feature ReLU student, P = {p}, SNR {q:g}")
            by_snr[f"snr={q:g}"] = _width_numbers(w2, ds2.width.values)
        _save(fig, out, "width_sweep_snr", written)
        nums["other_snr"] = by_snr
    return nums, written


# --------------------------------------------------------------------------- item 6b (§5 item 8)


def decomposition(results, out: Path) -> tuple[dict, list]:
    """The error of a random-feature student of a noiseless ReLU teacher, split into
    approximation, null-space and over-fitting error (NN2020 Fig. 9), against width."""
    ((ds, th),) = results
    written, nums = [], {}
    ok = analysis.valid(ds)
    sel = {"depth": ds.depth.values[0], "n_over_p": ds.n_over_p.values[0], "snr": ds.snr.values[0]}
    sub, okk, th = ds.sel(sel), ok.sel(sel), th.sel(sel)
    p = int(ds.n_train.values[0])
    widths = sub.width.values
    n = okk.sum("seed")
    final = sub.test_error.where(okk).isel(epoch=-1)
    sim, sim_sem = final.mean("seed"), final.std("seed") / np.sqrt(n)
    exact = th.test_error.isel(epoch=-1)
    approx, null = th.approximation_error, th.null_space_error
    over, cross = th.overfitting_error.isel(epoch=-1), th.cross_error.isel(epoch=-1)
    three = approx + null + over
    curve = sub.test_error.where(okk).mean("seed")
    k = curve.argmin("epoch")
    opt_sim = curve.isel(epoch=k)
    opt_sem = sub.test_error.where(okk).isel(epoch=k).std("seed") / np.sqrt(n)
    opt_exact = th.optimal_test_error

    fig = Figure(figsize=(13, 4.4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.plot(widths, approx, "o-", ms=3, color="C0", label="approximation")
    ax1.plot(widths, null, "o-", ms=3, color="C3", label="null space")
    ax1.plot(widths, over, "o-", ms=3, color="C1", label="over-fitting")
    ax1.plot(widths, three, "-", lw=2, color="c", label="sum of the three")
    ax1.errorbar(widths, sim, sim_sem, fmt="k_", ms=9, capsize=2, label="E_g, 5000 new examples (sim)")
    ax1.set_title(f"final epoch ({int(ds.epoch.values[-1])}): decomposition")
    ax1.set_ylabel("error (seed mean)")
    ax2.plot(widths, approx, "o-", ms=3, color="C0", label="approximation")
    ax2.plot(widths, null, "o-", ms=3, color="C3", label="null space")
    ax2.plot(widths, approx + null, "k--", label="approximation + null space")
    ax2.set_title("what no training on P examples removes")
    ax3.errorbar(widths, opt_sim, opt_sem, marker="o", ms=3, label="early-stopped (sim)")
    ax3.plot(widths, opt_exact, "-", color="C0", alpha=0.6, label="early-stopped (exact)")
    ax3.errorbar(widths, sim, sim_sem, marker="x", ms=4, ls="--", color="C1", label="final (sim)")
    ax3.plot(widths, exact, "-", color="C1", alpha=0.6, label="final (exact)")
    conv = th.test_error_converged
    ax3.plot(widths, conv, ":", color="grey", label=r"$t\to\infty$ (exact)")
    top = 2.5 * float(np.nanmax(sim.values))
    ax3.set_ylim(0.5 * float(np.nanmin(opt_sim.values)), top)
    if float(conv.max()) > top:
        w_peak = float(widths[int(np.nanargmax(conv.values))])
        ax3.annotate(
            f"t → ∞: {float(conv.max()):.3g} at N_h = {w_peak:g}",
            (w_peak, top), xytext=(0.04, 0.93), textcoords="axes fraction", fontsize=7, color="grey",
        )  # fmt: skip
    ax3.set_yscale("log")
    ax3.set_title("early stopping against training to the end")
    for ax in (ax1, ax2, ax3):
        ax.axvline(p, color="red", ls="--", lw=1, label=f"N_h = P = {p}")
        ax.set_xscale("log")
        ax.set_xlabel("hidden units N_h (trained parameters)")
        ax.legend(fontsize=7)
        plot._log_ticks(ax, "x")
    ax1.set_ylim(0, None)
    ax2.set_ylim(0, None)
    _save(fig, out, "decomposition", written)

    z = (sim - exact) / sim_sem
    nums["width"] = [int(w) for w in widths]
    nums["n_train"] = p
    nums["n_seeds"] = int(okk.sizes["seed"])
    nums["final_error_sim"] = [_f(v) for v in sim.values]
    nums["final_error_sim_sem"] = [_f(v, 2) for v in sim_sem.values]
    nums["final_error_exact"] = [_f(v) for v in exact.values]
    nums["sim_minus_exact_in_sem"] = [_f(v, 2) for v in z.values]
    nums["approximation_error"] = [_f(v) for v in approx.values]
    nums["null_space_error"] = [_f(v) for v in null.values]
    nums["overfitting_error"] = [_f(v) for v in over.values]
    nums["cross_error"] = [_f(v) for v in cross.values]
    nums["optimal_error_sim"] = [_f(v) for v in opt_sim.values]
    nums["optimal_error_exact"] = [_f(v) for v in opt_exact.values]
    nums["converged_error_exact"] = [_f(v) for v in th.test_error_converged.values]
    nums["max_abs_sim_minus_exact_in_sem"] = _f(np.nanmax(abs(z.values)), 3)
    nums["null_space_error_max_at_or_below_p"] = float(null.where(null.width <= p).max())
    nums["max_rel_sim_minus_exact"] = _f(np.nanmax(abs(sim / exact - 1).values), 3)
    nums["width_of_max_overfitting"] = int(widths[int(np.nanargmax(over.values))])
    conv = th.overfitting_error_converged
    nums["width_of_max_overfitting_converged"] = int(widths[int(np.nanargmax(conv.values))])
    nums["max_abs_cross_error"] = _f(float(abs(cross).max()), 3)
    nums["n_diverged"] = int((~ok).sum())
    return nums, written


_MAKERS = {
    "learning_curves": learning_curves,
    "phase_diagram": phase_diagram,
    "frozen_subspace": frozen_subspace,
    "depth": depth,
    "replay_vs_online": replay_vs_online,
    "nonlinear": nonlinear,
    "decomposition": decomposition,
}


def make(item: str, results, out: str | Path) -> dict:
    """Figures and numbers of a gallery item.

    Args:
        item: one of :data:`ITEMS`.
        results: one ``(result, theory)`` pair per spec of :data:`SPECS` [item], in order
            (theory may be None for nonlinear runs).
        out: the folder for the figures and ``numbers.json``.
    Returns:
        The numbers (also written to ``out/numbers.json``) with the figure paths.
    """
    if item not in _MAKERS:
        raise ValueError(f"unknown gallery item {item!r}; allowed: {', '.join(ITEMS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nums, written = _MAKERS[item](list(results), out)
    first = results[0][0]
    nums = {
        "item": item,
        "specs": list(SPECS[item]),
        "device_kind": first.attrs.get("device_kind", ""),
        "n_runs": sum(int(r.diverged.size) for r, _ in results),
        **nums,
        "figures": written,
    }
    (out / "numbers.json").write_text(json.dumps(nums, indent=1) + "\n")
    return nums
