"""Figures of a sweep: phase diagrams, maps, learning curves, error against N/P.

Every function takes a Dataset or DataArray (a sweep result, its summary from
``dynax.analysis.summarize``, or a theory Dataset), draws on ``ax`` when given, returns
the figure and never calls ``plt.show()``. Figures are built on
``matplotlib.figure.Figure``, so nothing depends on pyplot's global state. The maps over
N/P × SNR and the log-axis ticks every figure shares are in :mod:`.maps`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .. import analysis
from .maps import NP_LABEL, heatmaps, log_ticks
from .maps import SNR_LABEL as SNR_LABEL  # dynax.plot's name before the maps moved to .maps

__all__ = [
    "analysis_figures",
    "error_vs",
    "error_vs_n_over_p",
    "heatmaps",
    "learning_curves",
    "learning_figure",
    "log_ticks",
    "phase_diagram",
]


def _summary(ds: xr.Dataset) -> xr.Dataset:
    return ds if "opt_error_of_mean" in ds else analysis.summarize(ds)


def phase_diagram(ds: xr.Dataset, fig: Figure | None = None, **kw) -> Figure:
    """The optimal early-stopping error ``E_g*/σ_ε²`` over N/P × SNR, one panel per depth.

    ``ds`` is a sweep result or its summary; the colour is ``opt_error_of_mean`` (the
    minimum of the seed-mean curve, the quantity the theory predicts) over σ_ε².
    """
    s = _summary(ds)
    da = s.opt_error_of_mean / s.noise_var.where(s.noise_var > 0)
    kw.setdefault("late", _late(s))
    return heatmaps(
        da,
        label=r"$E_g^*/\sigma_\varepsilon^2$ (min over t of the seed-mean $E_g$)",
        title="optimal early-stopping error (minimum of the seed-mean curve)",
        fig=fig,
        **kw,
    )


def _late(s: xr.Dataset) -> xr.DataArray | None:
    """Grid points where some noisy run's best epoch fell in its last 10% of epochs."""
    return (s.reached_optimum < 1) if "reached_optimum" in s else None


def learning_curves(
    ds: xr.Dataset,
    depth=None,
    n_over_p=None,
    snr=None,
    theory: xr.Dataset | None = None,
    ax=None,
    train_ax=None,
):
    """``E_g`` and ``E_t`` against time t for chosen (depth, N/P, SNR): seed mean with a
    ±1 standard-error band, the theory dashed on top, the noise floor σ_ε² dotted.

    Each of depth, n_over_p, snr may be a value or a list (default: every value). Without
    axes the figure has two panels, ``E_g`` above ``E_t``; with ``ax`` alone only ``E_g``
    is drawn (on ``ax``), with ``train_ax`` too ``E_t`` goes there.
    """
    sel = {k: v for k, v in (("depth", depth), ("n_over_p", n_over_p), ("snr", snr)) if v is not None}
    sub = ds.sel({k: np.atleast_1d(v) for k, v in sel.items()}, method="nearest")
    stats = analysis.seed_statistics(sub)
    if ax is None:
        fig = Figure(figsize=(7, 7), layout="constrained")
        ax, train_ax = fig.subplots(2, 1, sharex=True)
    fig = ax.figure
    time = sub.time.where(analysis.valid(sub)).mean("seed") if "seed" in sub.time.dims else sub.time
    colours = iter(colors.TABLEAU_COLORS)
    have_theory = False
    drawn = {id(ax): [], id(train_ax): []}  # the values drawn on each axis: its limits
    for d in sub.depth.values:
        for r in sub.n_over_p.values:
            for q in sub.snr.values:
                c = next(colours, "k")
                pt = {"depth": d, "n_over_p": r, "snr": q}
                t = time.sel({k: v for k, v in pt.items() if k in time.dims}).values.ravel()
                keep = t > 0
                lab = f"D={d}, N/P={r:.3g}, SNR={q:g}"
                for a, name in ((ax, "test_error"), (train_ax, "train_error")):
                    if a is None:
                        continue
                    m = stats[f"{name}_mean"].sel(pt).values.ravel()
                    e = stats[f"{name}_sem"].sel(pt).values.ravel()
                    a.plot(t[keep], m[keep], color=c, label=lab)
                    a.fill_between(t[keep], (m - e)[keep], (m + e)[keep], color=c, alpha=0.3, lw=0)
                    drawn[id(a)].append(m[keep])
                    if theory is not None and name in theory:
                        th = theory.sel({k: v for k, v in pt.items() if k in theory.dims}, method="nearest")
                        th_t, th_e = th.time.values.ravel(), th[name].values.ravel()
                        if np.isfinite(th_e).any():
                            have_theory = True
                            a.plot(th_t[th_t > 0], th_e[th_t > 0], color="k", ls="--", lw=1.0)
                            drawn[id(a)].append(th_e[th_t > 0])
                noise = float(sub.noise_var.sel(snr=q))
                if noise > 0:
                    ax.axhline(noise, color=c, ls=":", lw=0.8)
                    drawn[id(ax)].append(np.array([noise]))
    for a, what in ((ax, r"generalization error $E_g$"), (train_ax, r"training error $E_t$")):
        if a is None:
            continue
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_ylabel(what)
        values = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in drawn[id(a)]] or [np.ones(1)])
        top = float(values.max()) if values.size else 1.0
        bottom = max(float(values.min()) if values.size else top / 10, 1e-6 * top)  # E_t → 0: interpolation
        a.set_ylim(bottom / 1.3, top * 1.3)
        a.tick_params(labelleft=True)
        log_ticks(a, "y")
        a.set_xlabel(r"time  $t = \eta\,\mathrm{epoch}$")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="gray", alpha=0.3, lw=0))
    labels.append("seed mean ± 1 standard error")
    if have_theory:
        handles.append(Line2D([], [], color="k", ls="--"))
        labels.append("theory")
    handles.append(Line2D([], [], color="gray", ls=":"))
    labels.append(r"noise floor $\sigma_\varepsilon^2$")
    ax.legend(handles, labels, fontsize=7, loc="best")
    return fig


def error_vs_n_over_p(ds: xr.Dataset, depth=None, ax=None, fig: Figure | None = None) -> Figure:
    """``E_g/σ_ε²`` at the optimal time (solid) and at the end (dashed) against N/P, one
    colour per SNR: the overtraining peak at N = P."""
    s = _summary(ds)
    depths = s.depth.values if depth is None else np.atleast_1d(depth)
    if ax is None:
        fig = fig or Figure(figsize=(4.2 * len(depths) + 0.8, 3.8), layout="constrained")
        axes = fig.subplots(1, len(depths), sharey=True, squeeze=False)[0]
    else:
        fig, axes = ax.figure, [ax]
    noise = s.noise_var.where(s.noise_var > 0)
    for ax_, d in zip(axes, depths, strict=True):
        for c, q in zip(colors.TABLEAU_COLORS, s.snr.values, strict=False):
            if not np.isfinite(noise.sel(snr=q)):
                continue
            opt = (s.opt_error_of_mean / noise).sel(depth=d, snr=q)
            fin = (s.final_error / noise).sel(depth=d, snr=q)
            ax_.plot(s.n_over_p, opt, color=c, marker="o", ms=3, label=f"SNR {q:.3g}")
            ax_.plot(s.n_over_p, fin, color=c, ls="--", marker="x", ms=3)
        ax_.axvline(1.0, color="red", lw=1, ls=":", label="N = P")
        ax_.set_xscale("log")
        ax_.set_yscale("log")
        log_ticks(ax_)
        ax_.set_xlabel(NP_LABEL)
        ax_.set_title(f"depth {d}")
    axes[0].set_ylabel(r"$E_g/\sigma_\varepsilon^2$")
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [
        Line2D([], [], color="gray", marker="o", ms=3),
        Line2D([], [], color="gray", ls="--", marker="x", ms=3),
    ]
    labels += ["optimal (min over t of the seed mean)", "final epoch (seed mean)"]
    fig.legend(handles, labels, fontsize=8, loc="outside right upper")
    return fig


_STYLES = ("-", "--", ":", "-.")


def error_vs(summary: xr.Dataset, x: str, overlay: str | None = None, fig: Figure | None = None) -> Figure:
    """``E_g*/σ_ε²`` (the minimum of the seed-mean curve) against the grid axis ``x``, with
    ``overlay`` (a small extra axis, at most four values) as line styles in the same panels.

    Against ``n_over_p``: one panel per depth, one colour per finite SNR. Against an extra
    axis: one panel per (depth, finite SNR), one colour per N/P. Every other extra axis
    must be selected first."""
    s = summary
    others = [d for d in s.dims if d not in ("depth", "snr", "n_over_p", x, overlay) and s.sizes[d] > 1]
    if others:
        raise ValueError(f"select one value of {others} first (e.g. summary.sel({others[0]}=...))")
    if overlay is not None and s.sizes[overlay] > len(_STYLES):
        raise ValueError(
            f"overlay {overlay!r} has {s.sizes[overlay]} values; at most {len(_STYLES)} can be told apart"
        )
    noise = s.noise_var.where(s.noise_var > 0)
    e = s.opt_error_of_mean / noise
    snrs = [q for q in s.snr.values if np.isfinite(noise.sel(snr=q))]
    by_load = x != "n_over_p"
    if by_load:  # colours: the loads; panels: depth x SNR
        cmap = colors.LinearSegmentedColormap.from_list("np", ["#9ecae1", "#08306b"])
        n = s.sizes["n_over_p"]
        lines = [
            (cmap(i / max(1, n - 1)), {"n_over_p": r}, f"N/P {r:.3g}")
            for i, r in enumerate(s.n_over_p.values)
        ]
        panels = [({"depth": d, "snr": q}, f"depth {d}, SNR {q:.3g}") for d in s.depth.values for q in snrs]
        ncols = len(snrs)
    else:
        lines = [(c, {"snr": q}, f"SNR {q:.3g}") for c, q in zip(colors.TABLEAU_COLORS, snrs, strict=False)]
        panels = [({"depth": d}, f"depth {d}") for d in s.depth.values]
        ncols = len(panels)
    nrows = -(-len(panels) // ncols)
    fig = fig or Figure(figsize=(3.8 * ncols + 1.8, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    xs = s[x].values
    numeric = np.issubdtype(xs.dtype, np.number)
    pos = xs.astype(float) if numeric else np.arange(len(xs), dtype=float)
    styles = list(zip(s[overlay].values, _STYLES, strict=False)) if overlay else [(None, "-")]
    for ax, (where, title) in zip(axes, panels, strict=False):
        for c, line, _ in lines:
            for v, ls in styles:
                pt = {**where, **line, **({overlay: v} if overlay else {})}
                ax.plot(pos, e.sel(pt).transpose(..., x).values.reshape(-1), color=c, ls=ls, marker="o", ms=3)
        if numeric and (pos > 0).all() and pos.max() / pos.min() > 10:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(pos, [str(v) for v in xs])
        ax.set_yscale("log")
        log_ticks(ax, "y")
        ax.set_xlabel(NP_LABEL if x == "n_over_p" else x)
        ax.set_title(title, fontsize=10)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(r"$E_g^*/\sigma_\varepsilon^2$ (min over t of the seed mean)", fontsize=9)
    handles = [Line2D([], [], color=c, marker="o", ms=3) for c, _, _ in lines]
    labels = [lab for _, _, lab in lines]
    for v, ls in styles if overlay else []:
        handles.append(Line2D([], [], color="gray", ls=ls))
        labels.append(f"{overlay} = {v}")
    fig.legend(handles, labels, fontsize=8, loc="outside right upper")
    return fig


def learning_figure(ds: xr.Dataset, theory: xr.Dataset | None = None, fig: Figure | None = None) -> Figure:
    """Learning curves per depth (columns; E_g above E_t, E_g alone where no run has E_t) at the
    middle finite SNR and the N/P nearest 0.5, 1 and 2."""
    depths = ds.depth.values
    rows = 1 if bool(np.isnan(ds.train_error).all()) else 2  # no E_t (the committee's): E_g alone
    fig = fig or Figure(figsize=(5.5 * len(depths), 4 * rows - 0.5 * (rows - 1)), layout="constrained")
    axes = fig.subplots(rows, len(depths), sharex="col", squeeze=False)
    snrs = [q for q in ds.snr.values if q < float("inf")] or list(ds.snr.values)
    snr = snrs[len(snrs) // 2]
    ratios = sorted({float(ds.n_over_p.sel(n_over_p=r, method="nearest")) for r in (0.5, 1.0, 2.0)})
    for i, d in enumerate(depths):
        learning_curves(
            ds,
            depth=d,
            n_over_p=ratios,
            snr=snr,
            theory=theory,
            ax=axes[0, i],
            train_ax=axes[-1, i] if rows > 1 else None,
        )
        axes[0, i].set_title(f"depth {d}, SNR {snr:g}")
    return fig


def analysis_figures(
    summary: xr.Dataset, ds: xr.Dataset, theory: xr.Dataset | None = None, facet: str | None = None
) -> dict:
    """The figures of ``dynax analyze``: name -> Figure. ``facet``: an extra grid axis
    drawn inside each figure, one row of panels per value (the other extra axes must be
    selected first); without it every extra axis must be selected first."""
    if facet is None:
        return _analysis_figures(summary, ds, theory)
    values = summary[facet].values
    first = _analysis_figures(*_at(facet, values[0], summary, ds, theory))
    out = {}
    for name, one in first.items():
        w, h = one.get_size_inches()
        fig = Figure(figsize=(w, h * len(values)), layout="constrained")
        for sub, v in zip(fig.subfigures(len(values), 1, squeeze=False)[:, 0], values, strict=True):
            _analysis_figures(*_at(facet, v, summary, ds, theory), only=name, fig=sub)
            sub.supylabel(f"{facet} = {v}", fontsize=12, fontweight="bold")
        out[name] = fig
    return out


def _at(dim: str, value, summary, ds, theory) -> tuple:
    th = theory.sel({dim: value}) if theory is not None and dim in theory.dims else theory
    return summary.sel({dim: value}), ds.sel({dim: value}), th


def _analysis_figures(
    summary: xr.Dataset, ds: xr.Dataset, theory: xr.Dataset | None = None, only=None, fig=None
) -> dict:
    """The figures of ``dynax analyze`` for one value of every extra axis: name -> Figure
    (``only``: just that one, drawn into ``fig``, a figure or subfigure).

    The maps (over finite SNRs, in units of σ_ε²) only for sweeps over at least two finite
    SNRs and two loads; the excess over Bayes only with a theory Dataset, over ridge on the
    same training sets where the summary has it.
    """
    n_snr = int(np.isfinite(summary.snr.values).sum())
    maps = n_snr > 1 and summary.sizes["n_over_p"] > 1  # else a map is stripes: error_vs_n_over_p has them
    late = _late(summary)
    noise = summary.noise_var.where(summary.noise_var > 0)
    make = {}
    if maps:
        make["phase_diagram"] = lambda f: phase_diagram(summary, fig=f)
        make["optimal_time"] = lambda f: heatmaps(
            summary.opt_time_of_mean, label=r"$t^*$ (time of the minimum of the seed-mean curve)",
            title="optimal stopping time", late=late, fig=f,
        )  # fmt: skip
        make["overtraining"] = lambda f: heatmaps(
            (summary.overtraining / noise).clip(min=1e-4),
            label=r"$(E_g^{final} - E_g^*)/\sigma_\varepsilon^2$ (seed-mean curve)",
            title="overtraining: final minus optimal error of the seed-mean curve",
            late=late,
            fig=f,
        )
        if "error_at_time" in summary:
            t = summary.error_at_time.attrs.get("time", float("nan"))
            make["error_at_time"] = lambda f: heatmaps(
                summary.error_at_time / noise,
                label=rf"$E_g(t = {t:.3g})/\sigma_\varepsilon^2$ (seed mean)",
                title=f"error at one time t = {t:.3g} for every run (not at one epoch count)",
                late=late,
                fig=f,
            )
    if n_snr > 0:
        make["error_vs_n_over_p"] = lambda f: error_vs_n_over_p(summary, fig=f)
    make["learning_curves"] = lambda f: learning_figure(ds, theory, fig=f)
    refs, sem = {}, summary.get("opt_error_of_mean_sem")  # name -> (within 2 s.e., label, title)
    if theory is not None and "excess_over_bayes" in summary:
        refs["excess_over_bayes"] = (
            None if sem is None else abs(summary.opt_error_of_mean - summary.bayes_test_error) < 2 * sem,
            r"$E_g^*/E_{Bayes} - 1$ (%), $E_{Bayes}$: population theory",
            "excess of the seed-mean optimum over the population Bayes error\n"
            "(the average teacher, not these seeds' teachers; ·: within 2 s.e. of it)",
            "within 2 s.e. of the Bayes error",
        )
    if "excess_over_ridge" in summary and bool(summary.excess_over_ridge.notnull().any()):
        refs["excess_over_ridge"] = (
            abs(summary.excess_over_ridge) < 2 * summary.excess_over_ridge_sem,
            r"mean$(E_g - E_{ridge})$/mean $E_{ridge}$ (%), paired per seed",
            r"excess over ridge at $\gamma^*$ = 1/SNR fitted to the same training sets (like with like)"
            "\n$E_g$: each seed at the minimum of the seed-mean curve (seeds at equal $t$); ·: within 2 s.e.",
            "within 2 s.e. of 0 (as good as ridge)",
        )
    for name, (w, lab, ttl, within_text) in refs.items() if maps else ():
        kw = {"log": False, "center": 0.0, "cmap": "RdBu_r", "late": late, "within": w, "label": lab,
              "within_text": within_text}  # fmt: skip
        make[name] = lambda f, v=name, kw=kw, ttl=ttl: heatmaps(100 * summary[v], title=ttl, fig=f, **kw)
    if only is not None:
        return {only: make[only](fig)}
    return {name: build(None) for name, build in make.items()}
