"""Gallery item 5: replay against one-pass online learning at equal data (docs/theory.md §4.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .. import analysis, plot
from .common import (
    num,
    save,
)

__all__ = ["replay_vs_online"]


# --------------------------------------------------------------------------- item 5

TABLE_4_2_SNR10 = {0.25: 1.03, 0.5: 1.11, 1.0: 1.52, 2.0: 2.30, 4.0: 2.15, 8.0: 1.63}
TABLE_4_2_SNR1 = {0.25: 1.00, 1.0: 1.03, 4.0: 1.12}


def replay_vs_online(results, out: Path) -> tuple[dict, list]:
    """Replay with oracle early stopping against one pass of online SGD at equal data."""
    ((ds, th),) = results
    written, nums = [], {}
    save(replay_figure(ds, th), out, "replay_vs_online", written)
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
                "online": num(on / nv),
                "replay": num(rep / nv),
                "excess_ratio": num((on - nv) / (rep - nv), 3),
                "table_ratio": tab,
            }
        ratios[f"snr={q:g}"] = row
    nums["equal_data"] = ratios
    return nums, written


def replay_figure(ds: xr.Dataset, theory: xr.Dataset | None = None, depth=None) -> Figure:
    """Test error against examples seen, online and replay, one column per SNR.

    One x axis, data: examples available / N. Top row: E_g/σ_ε² of the online run's
    seed-mean curve (one pass of fresh examples; the longest run covers every shorter one,
    since online example k is the same at every P) and each replay run's oracle
    early-stopping error (``mean_of_best_error`` ± SE) at its stored set α = P/N (replay's
    learning curves are over compute, epochs × P, so they are not drawn on this axis),
    theory dashed, Bayes dotted. Bottom row:
    the excess-error ratio (online − σ_ε²)/(replay − σ_ε²) at equal data, online read at
    exactly P examples: above 1, replay wins.
    """
    if "protocol" not in ds.dims or set(ds.protocol.values) != {"replay", "online"}:
        raise ValueError("replay_vs_online needs a sweep with grid.protocol = ['replay', 'online']")
    depth = ds.depth.values[0] if depth is None else depth
    d = ds.sel(depth=depth)
    n_in = float(ds.attrs["n_in"])
    snrs = d.snr.values
    fig = Figure(figsize=(4.2 * len(snrs), 7.2), layout="constrained")
    axes = fig.subplots(2, len(snrs), squeeze=False, sharex="col", height_ratios=(2.2, 1))
    order = np.argsort(d.n_train.values)
    for c, snr in enumerate(snrs):
        ax, rx = axes[0, c], axes[1, c]
        s = d.sel(snr=snr)
        nv = float(s.noise_var)
        on, rep = s.sel(protocol="online"), s.sel(protocol="replay")
        big = int(order[-1])
        ex_on = on.examples.isel(n_over_p=big).values / n_in
        ok = ex_on > 0
        curve = on.test_error.isel(n_over_p=big).mean("seed").values / nv
        ax.plot(ex_on[ok], curve[ok], color="C3", lw=2, label="online (fresh examples)")
        alphas, best, se, ratio = _replay_points(on, rep, order, n_in, nv)
        ax.errorbar(alphas, best, yerr=se, fmt="o", color="k", ms=4, capsize=2, zorder=5,
                    label="replay, oracle early stopping")  # fmt: skip
        rx.plot(alphas, ratio, "o-", color="k", label="simulation")
        if theory is not None:
            _draw_theory(ax, rx, theory.sel(depth=depth, snr=snr), order, ex_on, ok, nv)
        ax.axhline(1.0, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        lo = min(alphas) / 20
        ax.set_xlim(lo, max(alphas) * 4)
        top = float(np.nanmax(curve[ok]))
        ax.set_ylim(0.8, top * 1.3)
        ax.set_title(f"SNR = {snr:g}")
        rx.axhline(1.0, color="0.6", lw=0.8)
        rx.set_xscale("log")
        rx.set_xlabel(r"examples / N")
        plot.log_ticks(ax)
        plot.log_ticks(rx, "x")
        ax.grid(alpha=0.3, which="major")
        rx.grid(alpha=0.3)
    axes[0, 0].set_ylabel(r"test error  $E_g/\sigma_\varepsilon^2$")
    axes[1, 0].set_ylabel("excess ratio online / replay\n(equal data, > 1: replay wins)")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[1, -1].legend(fontsize=7)
    fig.suptitle(f"replay vs online learning (depth {depth}, N = {int(n_in)})", fontsize=10)
    fig.supxlabel(
        r"x: examples available / N (data): online's fresh examples seen, replay's stored set $\alpha$ = P/N",
        fontsize=9,
    )
    return fig


def _replay_points(on, rep, order, n_in: float, nv: float) -> tuple[list, list, list, list]:
    """At each stored set, in order of P: α = P/N, replay's oracle early-stopping error/σ_ε²
    (seed mean, its s.e.) and the excess ratio against online read at exactly P examples."""
    alphas, best, se, ratio = [], [], [], []
    for j in order:
        r = rep.isel(n_over_p=int(j))
        p = int(r.n_train)
        b = r.best_test_error.values / nv
        alphas.append(p / n_in)
        best.append(np.nanmean(b))
        se.append(np.nanstd(b, ddof=1) / np.sqrt(np.isfinite(b).sum()) if b.size > 1 else 0.0)
        o = on.isel(n_over_p=int(j))
        at = int(np.argmin(np.abs(o.examples.values - p)))
        e_on = float(o.test_error.isel(epoch=at).mean("seed")) / nv
        ratio.append((e_on - 1) / (best[-1] - 1))
    return alphas, best, se, ratio


def _draw_theory(ax, rx, th: xr.Dataset, order, ex_on, ok, nv: float) -> None:
    """One SNR's theory (dashed): online over the longest run's examples/N ``ex_on`` (where
    ``ok``) and replay at each stored set with Bayes (``ax``), and their excess ratio at equal
    data (``rx``)."""
    big = int(order[-1])
    t_on = th.sel(protocol="online").isel(n_over_p=big)
    ax.plot(ex_on[ok], t_on.test_error.values[ok] / nv, "--", color="C3", lw=1, label="online theory")
    a_th = th.alpha.values[order]
    t_rep = th.sel(protocol="replay").optimal_test_error.values[order] / nv
    ax.plot(a_th, t_rep, "--", color="k", lw=1, label="replay theory (optimal stopping)")
    bayes = th.sel(protocol="replay").bayes_test_error.values[order] / nv
    ax.plot(a_th, bayes, ":", color="0.4", lw=1, label="Bayes")
    t_on_p = []
    for j in order:
        o = th.sel(protocol="online").isel(n_over_p=int(j))
        at = int(np.argmin(np.abs(o.examples.values - int(o.n_train))))
        t_on_p.append(float(o.test_error.isel(epoch=at)) / nv)
    rx.plot(a_th, (np.asarray(t_on_p) - 1) / (t_rep - 1), "--", color="0.3", label="theory")
