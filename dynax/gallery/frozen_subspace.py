"""Gallery item 3: the frozen subspace (the error in the inputs' null space) over the init scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .. import analysis, theory
from ..sim import data
from ..store import spec_of
from .common import (
    COLOURS,
    mean_time,
    num,
    save,
)

__all__ = ["frozen_subspace"]


# --------------------------------------------------------------------------- item 3


def _teacher_null(ds) -> xr.DataArray:
    """‖P_null w̄‖²/N per (n_over_p, seed): the teacher's own part of the null-space error,
    which no student can learn, from each seed's data."""
    pr_n, n_out = int(ds.attrs["n_in"]), int(ds.attrs["n_out"])
    root = spec_of(ds).seed
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
    written = []
    ok = analysis.valid(ds)
    teacher = _teacher_null(ds)
    carried = (ds.null_space_error - teacher).where(ok)  # the part the initial weights put there
    opt = analysis.optimal_early_stopping(ds)
    # the null-space error at the epoch of the seed-mean optimum
    i_opt = ds.test_error.where(ok).mean("seed").fillna(np.inf).argmin("epoch")
    at_opt = carried.isel(epoch=i_opt).mean("seed")
    start, end = carried.isel(epoch=0).mean("seed"), carried.isel(epoch=-1).mean("seed")
    alphas = [r for r in ds.n_over_p.values if r > 1]  # N > P: a null space
    _frozen_figure(ds, opt, start, end, alphas, out, written)
    nums = _frozen_numbers(ds, teacher, opt, start, at_opt, end, alphas)
    return nums, written


def _frozen_figure(ds, opt, start, end, alphas, out, written) -> None:
    """Per N/P > 1: the carried null-space error at the start and end against the depth-1
    theory (top), and the optimal and final E_g against the depth-1 theory (bottom), over the
    init scale."""
    n = int(ds.attrs["n_in"])
    snr = ds.snr.values[0]
    scales = ds.init_scale.values
    fig = Figure(figsize=(4.6 * len(alphas), 7.6), layout="constrained")
    axes = fig.subplots(2, len(alphas), squeeze=False, sharex=True)
    for j, r in enumerate(alphas):
        a = float(ds.alpha.sel(n_over_p=r))
        ax = axes[0, j]
        for c, d in zip(COLOURS, ds.depth.values, strict=False):
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            # the carried part is a difference (null-space error minus the teacher's part), so
            # small values can be negative: a symmetric-log axis shows them as they are
            ax.plot(scales, end.sel(pt), color=c, marker="o", ms=3, label=f"depth {d}: end")
            ax.plot(scales, start.sel(pt), color=c, ls=":", label=f"depth {d}: initial")
        theory_line = (1 - a) * scales**2 / n
        ax.plot(scales, theory_line, "k-", lw=3, alpha=0.25, label=r"$(1-\alpha)\sigma_0^2$ (depth 1)")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-5)
        ax.axhline(0.0, color="gray", lw=0.6)
        ax.set_title(rf"N/P = {r:.3g} ($\alpha$ = {a:.2f}), SNR {snr:g}")
        ax.set_ylabel("null-space error $-$ teacher's part\n(seed mean; symlog axis, linear below 1e-5)")
        ax2 = axes[1, j]
        for c, d in zip(COLOURS, ds.depth.values, strict=False):
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
        ax2.set_xlabel(r"init_scale $s$ (gaussian_fan_in: $N(0, s^2/\mathrm{fan_{in}})$)")
        ax2.set_ylabel(r"$E_g/\sigma_\varepsilon^2$")
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].legend(fontsize=6)
    save(fig, out, "frozen_subspace", written)


def _frozen_numbers(ds, teacher, opt, start, at_opt, end, alphas) -> dict:
    """How far depth 1's null-space error moves in training; the teacher's part against
    1 - alpha; the carried null-space error at the start, at t* and at the end per (alpha, depth), with the
    depth-1 theory and E_g*."""
    nums = {}
    n = int(ds.attrs["n_in"])
    snr = ds.snr.values[0]
    scales = ds.init_scale.values
    d1 = ds.null_space_error.sel(depth=1)
    nums["depth1_null_error_max_change_over_training"] = num(abs(d1 - d1.isel(epoch=0)).max(), 3)
    nums["teacher_null_part_vs_1_minus_alpha"] = {
        f"alpha={float(ds.alpha.sel(n_over_p=r)):.3g}": [
            num(teacher.sel(n_over_p=r).mean()), num(1 - float(ds.alpha.sel(n_over_p=r)))
        ]
        for r in ds.n_over_p.values
    }  # fmt: skip
    table = {}
    for r in alphas:
        a = float(ds.alpha.sel(n_over_p=r))
        for d in ds.depth.values:
            pt = {"depth": d, "n_over_p": r, "snr": snr}
            table[f"alpha={a:.3g},depth={d}"] = {
                "init_scale": [num(v, 3) for v in scales],
                "initial": [num(v, 3) for v in start.sel(pt).values],
                "at_t_star": [num(v, 3) for v in at_opt.sel(pt).values],
                "end": [num(v, 3) for v in end.sel(pt).values],
                "theory_depth1": [num((1 - a) * v**2 / n, 3) for v in scales] if d == 1 else None,
                "optimal_error": [
                    num(v, 4) for v in (opt.opt_error_of_mean.sel(pt) / ds.noise_var.sel(snr=snr)).values
                ],
            }
    nums["carried_null_space_error"] = table
    t_end = mean_time(ds).isel(epoch=-1)
    nums["final_time_range"] = [num(t_end.min(), 3), num(t_end.max(), 3)]
    nums["n_diverged"] = int(ds.diverged.sum())
    return nums
