"""Maps over log N/P × log SNR, one panel per depth (:func:`heatmaps`, which the phase
diagram and the analysis maps draw), and the log-axis ticks and axis labels every figure of
:mod:`dynax.plot` shares.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colors, ticker
from matplotlib.figure import Figure

__all__ = ["NP_LABEL", "SNR_LABEL", "heatmaps", "log_ticks"]

NP_LABEL = "parameters per sample  N/P"
SNR_LABEL = r"signal-to-noise ratio  SNR = $\sigma_w^2/\sigma_\varepsilon^2$"


CONTOUR_MIN = 4  # values along each axis a map needs for its contours


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
    norm, extend, levels = _colour_scale(values, log, levels, center, limits)

    depths = da.depth.values
    ncols = ncols or len(depths)
    nrows = -(-len(depths) // ncols)
    fig = fig or Figure(figsize=(4.0 * ncols + 1.4, 4.2 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    for ax in grid[len(depths) :]:
        ax.set_visible(False)
    axes = grid[: len(depths)]
    x, y = da.n_over_p.values, da.snr.values
    masks = _cell_masks(late, within, within_text, marks, y)
    mesh = None
    for i, (ax, d, z) in enumerate(zip(axes, depths, values, strict=True)):
        cells = [(mask[i], marker, size, text) for mask, marker, size, text in masks]
        mesh = _map_panel(ax, x, y, z, cells, norm, cmap, levels, f"depth {d}" if d else (title or ""))
    for ax in axes[::ncols]:
        ax.set_ylabel(SNR_LABEL, fontsize=11)
    _legend_and_colour_bar(fig, axes, mesh, extend, log, label or da.attrs.get("long_name", da.name or ""))
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def _colour_scale(values: np.ndarray, log: bool, levels, center, limits) -> tuple:
    """The maps' shared norm, the colour bar's arrows (values beyond ``limits``) and the contour
    levels, from the finite values (positive ones on a log scale)."""
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
    return norm, extend, _round_levels(lo, hi, log) if levels is None else list(levels)


def _cell_masks(late, within, within_text: str, marks: tuple, y) -> list:
    """The cell markers that are given, each ``(mask (depth, snr, n_over_p), marker, size, legend
    text)`` at the map's SNRs ``y``."""
    markers = [(late, "x", 40, "optimum not reached by every run"), (within, ".", 30, within_text)]
    markers += [(m, marker, 40, text) for m, marker, text in marks]
    grid_of = lambda m: (m if "depth" in m.dims else m.expand_dims(depth=[0])).sel(snr=y)  # noqa: E731
    return [
        (grid_of(m).transpose("depth", "snr", "n_over_p").values.astype(bool), marker, size, text)
        for m, marker, size, text in markers
        if m is not None
    ]


def _map_panel(ax, x, y, z, cells: list, norm, cmap: str, levels: list, title: str):
    """One depth's map: the cells, labelled contours, the line N = P and the cell markers
    (``cells``: this depth's masks); returns the mesh the colour bar reads."""
    mesh = ax.pcolormesh(_edges(x), _edges(y), z, norm=norm, cmap=cmap, shading="flat")
    if levels and min(len(x), len(y)) >= CONTOUR_MIN and np.isfinite(z).sum() > 3:
        cs = ax.contour(x, y, np.ma.masked_invalid(z), levels=levels, colors="white", linewidths=0.8)
        ax.clabel(cs, fmt=lambda v: f"{v:g}", fontsize=9)
    elif levels and min(len(x), len(y)) < CONTOUR_MIN:  # through 2-3 rows: straight interpolation
        ax.plot([], [], " ", label=f"no contours: fewer than {CONTOUR_MIN} values of N/P or SNR")
    ax.axvline(1.0, color="red", lw=1.2, ls="--", label="N = P")
    gx, gy = np.meshgrid(x, y)
    for mask, marker, size, text in cells:
        if mask.any():
            ax.scatter(gx[mask], gy[mask], marker=marker, s=size, color="k", lw=1.2, label=text)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(NP_LABEL, fontsize=11)
    ax.set_title(title, fontsize=12)
    ax.tick_params(labelsize=10)
    log_ticks(ax)
    return mesh


def _legend_and_colour_bar(fig: Figure, axes, mesh, extend: str, log: bool, label: str) -> None:
    """One legend of every panel's distinct entries, and the colour bar the panels share."""
    handles = {}
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(n, h)
    axes[0].legend(list(handles.values()), list(handles), loc="upper left", fontsize=8, framealpha=0.8)
    cbar = fig.colorbar(mesh, ax=list(axes), shrink=0.95, extend=extend)
    cbar.set_label(label, fontsize=11)
    cbar.ax.tick_params(labelsize=10)
    if log:
        log_ticks(cbar.ax, "y")
