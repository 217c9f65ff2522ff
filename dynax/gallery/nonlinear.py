"""Gallery item 6: a random-feature ReLU student against its width, at three SNRs (docs/theory.md
§5 items 6-7), and the spectrum of its hidden-layer Gram (item 6 E)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, plot, theory
from ..sim import data
from ..sim.raw import feature_layer
from ..sim.scope import float64
from ..store import spec_of
from .common import (
    COLOURS,
    mean_time,
    num,
    save,
)

__all__ = ["nonlinear"]


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
    ax1.errorbar(widths, mb, sb, marker="o", ms=3, label="optimal: seed mean of each run's own best")
    ax1.errorbar(widths, mf, sf, marker="x", ms=4, ls="--", label="final")
    if w["exact_final"] is not None:
        ax1.plot(widths, w["exact_final"], color="k", lw=1, alpha=0.7, label="final, exact population risk")
    ax2.errorbar(widths, mo, so, marker="o", ms=3, color="C3")
    ax1.set_yscale("log")
    ax1.set_ylabel(r"test error $E_g/\sigma_\varepsilon^2$ (seed mean ± s.e.)")
    ax1.set_title(title)
    ax2.set_yscale("log")
    ax2.set_ylabel(
        r"overtraining: final − optimal $E_g/\sigma_\varepsilon^2$" "\n(seed mean of each run's own)"
    )
    ax2.set_title("overtraining peaks where $N_h = P$")
    for ax in (ax1, ax2):
        ax.axvline(p, color="red", ls="--", lw=1, label=f"$N_h = P$ = {p}")
        ax.set_xscale("log")
        ax.set_xlabel("hidden units $N_h$ (trained parameters)")
        plot.log_ticks(ax)  # both axes: plain labels, also on a y range under one decade
    ax1.legend(fontsize=7)


def _width_numbers(w, widths) -> dict:
    (mb, sb), (mf, sf), (mo, so) = w["best"], w["final"], w["over"]
    exact = {}
    if w["exact_final"] is not None:
        z = (mf - w["exact_final"]) / sf
        exact = {
            "final_error_exact": [num(v) for v in w["exact_final"].values],
            "final_sim_minus_exact_in_sem": [num(v, 2) for v in z.values],
        }
    return {
        "optimal_error": [num(v) for v in mb.values],
        "optimal_error_sem": [num(v, 2) for v in sb.values],
        "final_error": [num(v) for v in mf.values],
        "overtraining": [num(v) for v in mo.values],
        "overtraining_sem": [num(v, 2) for v in so.values],
        "diverged_by_width": [int(v) for v in w["n_diverged"].values],
        "width_of_max_overtraining": int(widths[int(np.nanargmax(mo.values))]),
        "width_of_min_optimal_error": int(widths[int(np.nanargmin(mb.values))]),
        "n_seeds": int(w["ok"].sizes["seed"]),
        **exact,
    }


def _mp_continuous(lam, q, s2):
    """Continuous part of the MP law of ``(1/P) XᵀX`` (X: P × N_h entries of variance s2,
    q = N_h/P): :func:`dynax.theory.mp_density` at load q rescaled by s2; it integrates to
    min(1, 1/q), the rest is a point mass at 0."""
    return theory.mp_density(np.asarray(lam, float) / s2, q) / (q * s2)


@float64
def hidden_spectrum(ds, widths=None, n_seeds: int = 10):
    """docs/theory.md §5 item 6 (E): the spectrum of the hidden-layer Gram ``(N_h/P) Σ_μ φφᵀ``
    of a random-feature sweep's own data and features (seeds 0 … n_seeds−1), its N + 1
    outliers (the constant and linear parts of the ReLU, rank N + 1) set apart, and the
    rest against an MP law whose scale matches the rest's mean, at N_h = P/2, P, 2P unless
    ``widths`` says otherwise. Returns the figure and the numbers."""
    spec = spec_of(ds)
    n, p = spec.problem.n_in, spec.n_train[0]
    widths = widths or (p // 2, p, 2 * p)
    fig = Figure(figsize=(4.2 * len(widths), 3.9), layout="constrained")
    axes = fig.subplots(1, len(widths), squeeze=False)[0]
    nums = {}
    for ax, nh in zip(axes, widths, strict=True):
        bulk, outliers, mins, zeros = [], [], [], 0
        for seed in range(n_seeds):
            x = np.asarray(data.examples(data.data_key(spec.seed, seed), n, 1, p)[0])
            f = np.asarray(feature_layer(spec.seed, seed, nh, n))
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
        ax.set_title(f"$N_h$ = {nh}, P = {p}")
        ax.legend(fontsize=6, loc="upper right")
        xs = np.sort(b)
        cdf = np.cumsum(_mp_continuous(grid, q, s2) * np.gradient(grid))
        cdf /= cdf[-1]
        ks = float(np.max(np.abs(np.interp(xs, grid, cdf) - np.arange(1, len(xs) + 1) / len(xs))))
        lo = s2 * (1 - np.sqrt(q)) ** 2
        nums[f"width={nh}"] = {
            "zero_fraction": num(zeros / total, 3),
            "zero_fraction_mp": num(max(0.0, 1 - 1 / q), 3),
            "smallest_nonzero_median": num(np.median(mins), 3),
            "mp_lower_edge": num(lo, 3),
            "mp_scale": num(s2, 3),
            "bulk_q99": num(np.quantile(b, 0.99), 3),
            "mp_upper_edge": num(s2 * (1 + np.sqrt(q)) ** 2, 3),
            "ks_distance": num(ks, 2),
            "outlier_median": num(np.median(out_l), 3),
        }
    axes[0].set_ylabel("density per unit log eigenvalue")
    return fig, nums


def nonlinear(results, out: Path) -> tuple[dict, list]:
    """Random-feature student: optimal and final test error against the hidden width, at
    SNR 1 (docs/theory.md §5 item 6) and at the other SNRs of the second spec (item 7)."""
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
    t = mean_time(sub)
    for c, wd in zip(COLOURS, [x for x in (widths.min(), p, widths.max()) if x in widths], strict=False):
        tw = t.sel(width=wd).values if "width" in t.dims else t.values
        keep = tw > 0
        ax3.plot(
            tw[keep],
            (curve.sel(width=wd).mean("seed") / nv).values[keep],
            color=c,
            label=f"$E_g$, $N_h$ = {wd}",
        )
        tr = sub.train_error.where(okk).sel(width=wd).mean("seed") / nv
        ax3.plot(tw[keep], tr.values[keep], color=c, ls="--", label=f"$E_t$, $N_h$ = {wd}")
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel(r"time $t = \eta\,$epoch")
    ax3.set_title("average training dynamics")
    ax3.set_ylabel(r"error / $\sigma_\varepsilon^2$ (seed mean)")
    ax3.legend(fontsize=6)
    plot.log_ticks(ax3, "x")
    save(fig, out, "width_sweep", written)
    nums["width"] = [int(x) for x in widths]
    nums.update(_width_numbers(w, widths))
    nums["n_train"] = p
    nums["n_diverged"] = int((~ok).sum())
    fig, spectrum = hidden_spectrum(ds)
    save(fig, out, "hidden_spectrum", written)
    nums["hidden_spectrum"] = spectrum
    if len(results) > 1:  # docs/theory.md §5 item 7: the same at other SNRs
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
        save(fig, out, "width_sweep_snr", written)
        nums["other_snr"] = by_snr
    return nums, written
