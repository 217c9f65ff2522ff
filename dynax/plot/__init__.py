"""Figures of a sweep: phase diagrams, maps, learning curves, error against N/P.

Every function takes a Dataset or DataArray (a sweep result, its summary from
``dynax.analysis.summarize``, or a theory Dataset), draws on ``ax`` when given, returns
the figure and never calls ``plt.show()``. Figures are built on
``matplotlib.figure.Figure``, so nothing depends on pyplot's global state.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colors, ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import analysis

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

NP_LABEL = "parameters per sample  N/P"
SNR_LABEL = r"signal-to-noise ratio  SNR = $\sigma_w^2/\sigma_\varepsilon^2$"


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges for a log-spaced axis: geometric midpoints, extended at both ends."""
    v = np.log(np.asarray(values, dtype=np.float64))
    if len(v) == 1:
        return np.exp(np.array([v[0] - 0.5, v[0] + 0.5]))
    mid = (v[1:] + v[:-1]) / 2
    return np.exp(np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]]))


def log_ticks(ax, axis: str = "both") -> None:
    """Plain numbers at 1, 2, 5 × 10^k on log axes (only 10^k over more than three
    decades, 1, 2, 3, 5 over half to one, every digit under half a decade); no minor labels
    (they collide). Call after plotting."""
    for name in ("x", "y") if axis == "both" else (axis,):
        a = getattr(ax, f"{name}axis")
        lo, hi = sorted(getattr(ax, f"get_{name}lim")())
        decades = np.log10(hi / lo) if lo > 0 else 1.0
        subs = (
            (1.0,) if decades > 3 else (1.0, 2.0, 5.0) if decades > 1 else (1.0, 2.0, 3.0, 5.0)
            if decades > 0.5 else tuple(range(1, 10))
        )  # fmt: skip
        a.set_major_locator(ticker.LogLocator(base=10, subs=subs))
        a.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        a.set_minor_formatter(ticker.NullFormatter())


def _round_levels(lo: float, hi: float, log: bool) -> list[float]:
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return []
    if log:
        cands = [m * 10.0**e for e in range(-6, 7) for m in (1, 1.25, 1.5, 2, 3, 5)]
    else:
        step = 10 ** np.floor(np.log10((hi - lo) / 4))
        cands = list(np.arange(np.ceil(lo / step) * step, hi, step))
    levels = [c for c in cands if lo < c < hi]
    while len(levels) > 8:
        levels = levels[::2]
    return levels


def heatmaps(
    da: xr.DataArray,
    *,
    log: bool = True,
    levels=None,
    cmap: str = "viridis",
    center: float | None = None,
    label: str | None = None,
    title: str | None = None,
    fig: Figure | None = None,
    late: xr.DataArray | None = None,
    within: xr.DataArray | None = None,
    ncols: int | None = None,
    limits: tuple[float, float] | None = None,
    within_text: str = "within 2 s.e. of the reference",
    marks: tuple = (),
) -> Figure:
    """One heatmap per depth over log N/P (x) × log SNR (y), one shared colour scale.

    Args:
        da: dims (depth, n_over_p, snr) in any order, or (n_over_p, snr). Infinite SNR
            (noiseless) columns are dropped: they have no place on a log axis.
        log: a log colour scale (else linear; ``center`` makes it diverging about it).
        levels: contour levels (labelled); default: round numbers in the data's range.
        late: where true a cell is crossed (×): some runs there had their best epoch in
            the last 10% of training, so their optimum may lie beyond the run
            (``reached_optimum < 1`` of :func:`dynax.analysis.summarize`).
        within: where true a cell is dotted (·): the value is within two standard errors
            of the reference it is compared with (``within_text`` says which).
        ncols: panels per row (default: all depths in one row).
        limits: the colour scale's (low, high); values beyond take the end colours and the
            colour bar shows an arrow on that side (default: the data's range).
        marks: more cell markers, each ``(mask, marker, legend text)``.
    """
    if "depth" not in da.dims:
        da = da.expand_dims(depth=[0])
    extra = [d for d in da.dims if d not in ("depth", "n_over_p", "snr")]
    if extra:
        raise ValueError(f"select one value of {extra} first (e.g. da.sel({extra[0]}=...))")
    da = da.where(np.isfinite(da.snr), drop=True) if bool(np.isinf(da.snr).any()) else da
    values = da.transpose("depth", "snr", "n_over_p").values.astype(np.float64)
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (1.0, 10.0)
    below, above = (lo < limits[0], hi > limits[1]) if limits is not None else (False, False)
    extend = ["neither", "max", "min", "both"][2 * below + above]  # the colour bar's arrows
    lo, hi = limits if limits is not None else (lo, hi)
    if log:
        norm = colors.LogNorm(vmin=lo, vmax=hi if hi > lo else lo * 1.01)
    elif center is not None and limits is not None:  # diverging about center, each side its own slope
        norm = colors.TwoSlopeNorm(vcenter=center, vmin=min(lo, center - 1e-12), vmax=max(hi, center + 1e-12))
    elif center is not None:
        span = max(abs(lo - center), abs(hi - center), 1e-12)
        norm = colors.TwoSlopeNorm(vcenter=center, vmin=center - span, vmax=center + span)
    else:
        norm = colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)
    levels = _round_levels(lo, hi, log) if levels is None else list(levels)

    depths = da.depth.values
    ncols = ncols or len(depths)
    nrows = -(-len(depths) // ncols)
    fig = fig or Figure(figsize=(4.0 * ncols + 1.4, 4.2 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    for ax in grid[len(depths) :]:
        ax.set_visible(False)
    axes = grid[: len(depths)]
    x, y = da.n_over_p.values, da.snr.values
    xe, ye = _edges(x), _edges(y)
    markers = [(late, "x", 40, "optimum not reached by every run"), (within, ".", 30, within_text)]
    markers += [(m, marker, 40, text) for m, marker, text in marks]
    grid_of = lambda m: (m if "depth" in m.dims else m.expand_dims(depth=[0])).sel(snr=y)  # noqa: E731
    masks = [
        (grid_of(m).transpose("depth", "snr", "n_over_p").values.astype(bool), marker, size, text)
        for m, marker, size, text in markers
        if m is not None
    ]
    mesh = None
    for i, (ax, d, z) in enumerate(zip(axes, depths, values, strict=True)):
        mesh = ax.pcolormesh(xe, ye, z, norm=norm, cmap=cmap, shading="flat")
        if levels and np.isfinite(z).sum() > 3 and len(x) > 1 and len(y) > 1:
            cs = ax.contour(x, y, np.ma.masked_invalid(z), levels=levels, colors="white", linewidths=0.8)
            ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=9)
        ax.axvline(1.0, color="red", lw=1.2, ls="--", label="N = P")
        gx, gy = np.meshgrid(x, y)
        for mask, marker, size, text in masks:
            if mask[i].any():
                ax.scatter(gx[mask[i]], gy[mask[i]], marker=marker, s=size, color="k", lw=1.2, label=text)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(NP_LABEL, fontsize=11)
        ax.set_title(f"depth {d}" if d else (title or ""), fontsize=12)
        ax.tick_params(labelsize=10)
        log_ticks(ax)
    for ax in axes[::ncols]:
        ax.set_ylabel(SNR_LABEL, fontsize=11)
    handles = {}
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(n, h)
    axes[0].legend(list(handles.values()), list(handles), loc="upper left", fontsize=8, framealpha=0.8)
    cbar = fig.colorbar(mesh, ax=list(axes), shrink=0.95, extend=extend)
    cbar.set_label(label or da.attrs.get("long_name", da.name or ""), fontsize=11)
    cbar.ax.tick_params(labelsize=10)
    if log:
        log_ticks(cbar.ax, "y")
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


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
    """Learning curves per depth (columns; E_g above E_t) at the middle finite SNR and the
    N/P nearest 0.5, 1 and 2."""
    depths = ds.depth.values
    fig = fig or Figure(figsize=(5.5 * len(depths), 7.5), layout="constrained")
    axes = fig.subplots(2, len(depths), sharex="col", squeeze=False)
    snrs = [q for q in ds.snr.values if q < float("inf")] or list(ds.snr.values)
    snr = snrs[len(snrs) // 2]
    ratios = sorted({float(ds.n_over_p.sel(n_over_p=r, method="nearest")) for r in (0.5, 1.0, 2.0)})
    for i, d in enumerate(depths):
        learning_curves(
            ds, depth=d, n_over_p=ratios, snr=snr, theory=theory, ax=axes[0, i], train_ax=axes[1, i]
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
