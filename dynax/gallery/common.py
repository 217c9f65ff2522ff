"""What every gallery item shares: rounding for numbers.json, saving figures, reading
curves at a time, selecting grid points, the realised teachers' variance, and the excess
over ridge on the same training sets (the paired baseline) summarised with its sems."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.figure import Figure

from .. import analysis
from ..sim import data
from ..sim.scope import float64
from ..store import spec_of

__all__ = [
    "BEST_RIDGE_REDUCTION",
    "COLOURS",
    "NEGATIVE_EXCESS",
    "RIDGE_REDUCTION",
    "crossing",
    "excess_numbers",
    "interp_log_t",
    "mark",
    "mean_sem",
    "mean_time",
    "nearest",
    "num",
    "realized_teacher_var",
    "rounded",
    "save",
    "sel",
]

COLOURS = list(colors.TABLEAU_COLORS)

RIDGE_REDUCTION = (
    "paired per seed against ridge regression at gamma* = sigma_eps^2/sigma_w^2 fitted to the same "
    "training set (ridge_test_error: the Bayes estimate given those data): 100 x seed mean of "
    "(E_g - E_ridge) / seed mean of E_ridge, E_g of each seed at the minimum of the seed-mean curve "
    "(excess_over_ridge); sem: std of the paired differences / sqrt(seeds), same scale"
)
BEST_RIDGE_REDUCTION = (
    "each run's own best E_g over every epoch against ridge at the oracle gamma on the same training "
    "set (best_ridge_test_error), paired per seed like excess_over_ridge (best_excess_over_ridge)"
)
NEGATIVE_EXCESS = (
    "a negative excess over ridge: ridge at gamma* is the posterior mean, the best estimate only on "
    "average over the teachers and noise that could have made each training set, so early stopping "
    "can beat it on a given teacher; the paired seed mean scatters about its non-negative "
    "expectation by its sem, and the stopping time is picked on the test error itself (the minimum "
    "of a noisy seed-mean curve, an oracle choice biased low by up to about a sem) while gamma* is "
    "fixed in advance. Against the oracle gamma (best_excess_over_ridge) both sides are oracles and "
    "either may win (they tie in expectation on nearly noiseless data, so there about half the cells "
    "are negative). Every depth and init scale of a seed trains on the same data, so a draw that "
    "favours stopping shows at every depth of a cell at once: one draw, not several"
)


def num(x, digits: int = 4):
    """A JSON-able rounded float (None for NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else float(f"{x:.{digits}g}")


def rounded(x, digits: int = 4) -> list:
    """:func:`num` of every value of ``x``, flattened."""
    return [num(v, digits) for v in np.ravel(x)]


def mean_sem(x, axis=0):
    """Mean and standard error over ``axis``, NaN-aware (s.e. NaN with fewer than 2 values)."""
    x = np.asarray(x, float)
    n = np.sum(np.isfinite(x), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one seed, or an all-NaN slice: NaN
        mean = np.nanmean(x, axis=axis) if x.size else np.nan
        sem = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(n)
    return mean, np.where(n > 1, sem, np.nan)


def save(fig: Figure, out: Path, name: str, written: list) -> None:
    path = out / f"{name}.png"
    fig.savefig(path, dpi=120)
    written.append(str(path))


def crossing(t, y, level, rising: bool = True, after: float = -np.inf) -> float:
    """The first time after ``after`` that ``y`` reaches ``level`` from below (or from above
    when not ``rising``), linear between recorded points; NaN if never."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    hit = ((y >= level) if rising else (y <= level)) & (t > after)
    if not hit.any():
        return np.nan
    k = int(np.argmax(hit))
    if k == 0:
        return float(t[0])
    return float(t[k - 1] + (level - y[k - 1]) * (t[k] - t[k - 1]) / (y[k] - y[k - 1]))


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
    values = [float(np.mean(data.problem_teacher(spec.seed, int(seed), pr) ** 2)) for seed in ds.seed.values]
    return xr.DataArray(values, dims="seed", coords={"seed": ds.seed})


def _cell(da: xr.DataArray, index) -> str:
    return ",".join(f"{d}={float(da[d].values[i]):.3g}" for d, i in zip(da.dims, index, strict=True))


def excess_numbers(ex, sem, n_seeds: int, clean=None, ref=None) -> dict:
    """A relative excess (fractions) and its sem over grid cells, in %: the range, the
    largest sem, the fraction within 2 sem of 0 (and of ``ref``, the theory's excess, when
    given), every negative cell (``"cell": "% ± sem"``, most negative in sems first) and how
    many fall beyond 2 sem against how many would by chance at zero excess (t with
    n_seeds - 1 degrees of freedom), which says why; with ``clean`` (every optimum reached)
    the largest excess there."""
    e, s = (100 * x.transpose(*ex.dims).astype(float) for x in (ex, sem))
    z = e / s
    out = {
        "min": num(e.min(), 3),
        "median": num(e.median(), 3),
        "max": num(e.max(), 3),
        "max_sem": num(s.max(), 2),
        "within_2_sem_of_0": num((abs(z) <= 2).where(z.notnull()).mean(), 3),
    }
    if ref is not None:
        out["within_2_sem_of_theory"] = num((abs(e - 100 * ref) <= 2 * s).where(z.notnull()).mean(), 3)
    if clean is not None:
        out["max_where_every_optimum_reached"] = num(e.where(clean).max(), 3)
    from scipy import stats  # installed with jax

    neg = sorted(np.argwhere((e < 0).values), key=lambda i: float(z.values[tuple(i)]))
    cells, beyond = int(z.notnull().sum()), int((z < -2).sum())
    chance = cells * float(stats.t.cdf(-2.0, max(n_seeds - 1, 1)))
    out["negative"] = f"{len(neg)} of {cells} cells"
    out["negative_beyond_2_sem"] = f"{beyond} (by chance at zero excess: {chance:.2g})"
    out["negative_cells_percent"] = {
        _cell(e, i): f"{e.values[tuple(i)]:.3g} ± {s.values[tuple(i)]:.2g}" for i in neg
    }
    if neg:
        why = "seed scatter and the oracle choice of t" if beyond <= chance else "early stopping beats ridge"
        out["why_negative"] = (
            f"{beyond} beyond 2 sem, {chance:.2g} by chance: {why} (see negative_excess_over_ridge)"
        )
    return out


def mark(fig: Figure, mask: xr.DataArray) -> None:
    """An x on every grid cell of a heatmaps figure where ``mask`` (depth, n_over_p, snr) holds."""
    for ax, d in zip(fig.axes, mask.depth.values, strict=False):
        m = mask.sel(depth=d)
        r, q = np.meshgrid(m.n_over_p.values, m.snr.values, indexing="ij")
        sel = m.transpose("n_over_p", "snr").values
        ax.plot(r[sel], q[sel], "x", color="red", ms=4, mew=0.8, ls="none")
