"""What every gallery item shares: rounding for numbers.json, saving figures, reading
curves at a time, selecting grid points, and the Bayes limit of the realised teachers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.figure import Figure

from .. import analysis, theory
from ..sim import data
from ..sim.scope import float64
from ..store import spec_of

__all__ = [
    "COLOURS",
    "interp_log_t",
    "mark",
    "mean_time",
    "nearest",
    "num",
    "realized_bayes",
    "realized_teacher_var",
    "save",
    "sel",
]

COLOURS = list(colors.TABLEAU_COLORS)


def num(x, digits: int = 4):
    """A JSON-able rounded float (None for NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else float(f"{x:.{digits}g}")


def save(fig: Figure, out: Path, name: str, written: list) -> None:
    path = out / f"{name}.png"
    fig.savefig(path, dpi=120)
    written.append(str(path))


def interp_log_t(time, values, t):
    """Linear interpolation in log t of a curve recorded at ``time`` (> 0 entries)."""
    time, values = np.asarray(time, float).ravel(), np.asarray(values, float).ravel()
    keep = (time > 0) & np.isfinite(values)
    return float(np.interp(np.log(t), np.log(time[keep]), values[keep], left=np.nan, right=np.nan))


def nearest(values, target, tol=1e-6):
    """The entry of ``values`` equal to ``target`` up to ``tol`` relative, or None."""
    values = np.asarray(values, float)
    i = int(np.argmin(abs(values - target)))
    return values[i] if abs(values[i] - target) <= tol * max(1.0, abs(target)) else None


def sel(da, point: dict):
    """``da.sel`` over the keys of ``point`` that are dims of ``da``."""
    return da.sel({k: v for k, v in point.items() if k in da.dims})


def mean_time(ds):
    return ds.time.where(analysis.valid(ds)).mean("seed") if "seed" in ds.time.dims else ds.time


@float64
def realized_teacher_var(ds) -> xr.DataArray:
    """‖w̄‖²/(N·N_out) of each seed's teacher: the variance the seed actually drew."""
    spec = spec_of(ds)
    pr = spec.problem
    values = [
        float(
            np.mean(
                np.asarray(
                    data.seed_teacher(
                        spec.seed, int(seed), pr.n_in, pr.n_out, pr.teacher_var, pr.teacher_singular_values
                    )
                )
                ** 2
            )
        )
        for seed in ds.seed.values
    ]
    return xr.DataArray(values, dims="seed", coords={"seed": ds.seed})


def realized_bayes(ds) -> xr.DataArray:
    """The Bayes-optimal error averaged over the seeds' realized teacher variances,
    over (n_over_p, snr): the limit the seed-mean error of these very teachers has."""
    tv = realized_teacher_var(ds).values
    out = np.array(
        [
            [np.mean([theory.bayes_error(float(a), v, float(nv)) for v in tv]) for nv in ds.noise_var.values]
            for a in ds.alpha.values
        ]
    )
    return xr.DataArray(out, dims=("n_over_p", "snr"), coords={"n_over_p": ds.n_over_p, "snr": ds.snr})


def mark(fig: Figure, mask: xr.DataArray) -> None:
    """An x on every grid cell of a heatmaps figure where ``mask`` (depth, n_over_p, snr) holds."""
    for ax, d in zip(fig.axes, mask.depth.values, strict=False):
        m = mask.sel(depth=d)
        r, q = np.meshgrid(m.n_over_p.values, m.snr.values, indexing="ij")
        sel = m.transpose("n_over_p", "snr").values
        ax.plot(r[sel], q[sel], "x", color="red", ms=4, mew=0.8, ls="none")
