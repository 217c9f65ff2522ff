"""Gallery item `dropout`, third part: modes sharing a hidden layer under dropout. The expected
loss's minimum equalises the hidden units' shares of W_eff and cuts every mode by one common
threshold (docs/theory.md §3.6, "Modes sharing a hidden layer"; ``theory.dropout_shared_minimum``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, theory
from .common import COLOURS, mean_sem, num, save

__all__ = ["shared"]

LAST = 10  # the last records averaged: the masks keep the weights fluctuating about the minimum


def _spread(share: np.ndarray) -> np.ndarray:
    """Coefficient of variation of the units' shares (…, unit, epoch) over the units."""
    return np.nanstd(share, axis=-2) / np.nanmean(share, axis=-2)


def shared(ds, out: Path, written: list) -> dict:
    """Per width and q: mode strengths and the units' shares at the end against the equalised
    minimum, and the shares' spread over time."""
    s = np.asarray(ds.singular_value.values, float)
    scaling = ds.attrs["dropout_scaling"]
    ok = analysis.valid(ds)
    t = np.asarray(ds.time.values, float) if ds.time.ndim == 1 else None
    rows, curves = {}, {}
    for h in ds.width.values:
        for q in ds.dropout.values:
            pt = {"width": h, "dropout": q}
            x = ds.sel(pt).where(ok.sel(pt)).squeeze()
            u = x.mode_strength.transpose("seed", "mode", "epoch").values
            share = x.hidden_unit_product.transpose("seed", "unit", "epoch").values[:, : int(h)]
            m, common = theory.dropout_shared_minimum(s, float(q), int(h), scaling)
            end = np.nanmean(u[:, :, -LAST:], axis=2)  # (seed, mode)
            mean, sem = mean_sem(end)
            spread = _spread(share)  # (seed, epoch)
            curves[int(h), float(q)] = (np.nanmean(spread, 0), mean, m)
            rows[f"width={int(h)},q={float(q):g}"] = {
                "mode_strength_end": [num(v) for v in mean],
                "mode_strength_end_sem": [num(v, 2) for v in sem],
                "theory_equalised_minimum": [num(v) for v in m],
                "max_abs_difference_over_s": num(np.nanmax(np.abs(mean - m) / s)),
                "unit_share_end": num(np.nanmean(share[:, :, -LAST:])),
                "theory_common_share": num(common),
                "unit_share_spread_end": num(np.nanmean(spread[:, -1])),
                "unit_share_spread_start": num(np.nanmean(spread[:, 0])),
            }
    _figure(ds, s, t, curves, out, written)
    return {
        "what": "modes sharing one hidden layer: the mean of the last "
        f"{LAST} records (the masks keep the weights fluctuating), seed mean and s.e.; spread: the "
        "units' shares' standard deviation over their mean, seed mean",
        "by_case": rows,
    }


def _figure(ds, s, t, curves, out: Path, written: list) -> None:
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    ax_m, ax_s = fig.subplots(1, 2)
    widths = [int(h) for h in ds.width.values]
    qs = [float(q) for q in ds.dropout.values]
    markers = ["o", "s", "^", "D"]
    for ci, q in enumerate(qs):
        for wi, h in enumerate(widths):
            spread, mean, m = curves[h, q]
            x = s * (1 + 0.03 * (wi - 1))  # the widths side by side
            ax_m.plot(x, mean / s, markers[wi % 4], color=COLOURS[ci], ms=6, mfc="none" if q else COLOURS[ci])
            ax_m.plot(x, m / s, "_", color=COLOURS[ci], ms=14, mew=2)
            if t is not None:
                ax_s.plot(
                    t[1:],
                    spread[1:],
                    ["-", "--", ":"][wi % 3],
                    color=COLOURS[ci],
                    label=f"q = {q:g}, width {h}",
                )
    for wi, h in enumerate(widths):
        ax_m.plot([], [], markers[wi % 4], color="0.3", mfc="none", label=f"width {h} (simulation)")
    for ci, q in enumerate(qs):
        ax_m.plot([], [], "_", color=COLOURS[ci], ms=14, mew=2, label=f"q = {q:g}: equalised minimum")
    ax_m.set(xscale="log", xlabel="teacher singular value s", ylabel="mode strength u/s at the end",
             title="one common threshold θ ∝ 1/width for every mode")  # fmt: skip
    ax_m.set_xticks(s, [f"{v:g}" for v in s])
    ax_m.set_xticks([], minor=True)
    ax_m.legend(fontsize=7)
    ax_m.grid(alpha=0.3)
    ax_s.set(xscale="log", yscale="log", xlabel=r"time $t = \eta\,$epoch",
             ylabel="spread of the units' shares (std/mean)",
             title="the hidden units equalise under dropout")  # fmt: skip
    ax_s.legend(fontsize=7, ncols=2)
    ax_s.grid(alpha=0.3)
    fig.suptitle(
        f"Modes sharing a hidden layer: depth 2, four modes s = {', '.join(f'{v:g}' for v in s)}, white "
        f"noiseless data at P = N = {ds.attrs['n_in']}, aligned start, {ds.attrs['dropout_scaling']} "
        f"scaling, {ds.sizes['seed']} seeds (means of the last {LAST} records)",
        fontsize=10,
    )
    save(fig, out, "dropout_shared", written)
