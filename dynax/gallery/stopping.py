"""Gallery item: early stopping without the oracle. A practitioner holds out V of the P
examples and stops where the held-out error is least; against the oracle stop on the same
fit set, the depth-1 refit on all P, and ridge at γ* = 1/SNR on the same fit set (the Bayes
estimate given those examples), with standard errors over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis
from .common import COLOURS, num, save

__all__ = ["stopping"]


def _paired(a, b):
    """Seed mean of a/b − 1 per grid point (paired) and its standard error."""
    r = (a / b - 1).where(a.notnull() & b.notnull())
    n = r.notnull().sum("seed")
    return r.mean("seed"), r.std("seed", ddof=1) / np.sqrt(n)


def stopping(results, out: Path) -> tuple[dict, list]:
    """E_g/σ_ε² against N/P per depth and SNR: oracle stop, held-out stop, refit, ridge."""
    ((ds, th),) = results
    written = []
    ok = analysis.valid(ds)
    ridge = ds.ridge_test_error.broadcast_like(ds.best_test_error)
    curves = {
        "oracle stop (each run's best E_g)": ds.best_test_error.where(ok),
        "held-out stop (stopped_test_error)": ds.stopped_test_error.where(ok),
        "refit on all P at the stopped epoch (depth 1)": ds.refit_test_error.where(ok),
        r"ridge at $\gamma^*=1/$SNR on the same fit set": ridge.where(ok),
    }
    fig = Figure(figsize=(4.2 * ds.sizes["snr"], 3.6 * ds.sizes["depth"]), layout="constrained")
    axes = fig.subplots(ds.sizes["depth"], ds.sizes["snr"], squeeze=False, sharex=True)
    x = ds.n_over_p.values
    for i, depth in enumerate(ds.depth.values):
        for j, snr in enumerate(ds.snr.values):
            ax = axes[i, j]
            nv = float(ds.noise_var.sel(snr=snr))
            for k, (label, da) in enumerate(curves.items()):
                v = da.sel(depth=depth, snr=snr) / nv
                m, se = v.mean("seed"), v.std("seed", ddof=1) / np.sqrt(v.notnull().sum("seed"))
                if not np.isfinite(m).any():
                    continue
                ax.errorbar(x, m, yerr=se, marker="os^v"[k], ms=4, capsize=2, color=COLOURS[k], label=label)
            bayes = th.bayes_test_error.sel(depth=depth, snr=snr) / nv
            ax.plot(x, bayes, "k:", lw=1, label="Bayes, population theory at the fit set's alpha")
            ax.set_xscale("log")
            ax.set_xticks([0.25, 0.5, 1, 2, 4], ["0.25", "0.5", "1", "2", "4"])
            ax.minorticks_off()
            ax.set_title(f"depth {depth}, SNR {snr:g}", fontsize=10)
            if i == ds.sizes["depth"] - 1:
                ax.set_xlabel("N/P (P: all examples; GD fits 0.8 P)")
            if j == 0:
                ax.set_ylabel(r"$E_g/\sigma_\varepsilon^2$ (seed mean ± s.e.)")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "early stopping without the oracle: 20% held out, seed means with standard errors", fontsize=11
    )
    save(fig, out, "stopping", written)

    nums = {"n_seeds": int(ds.sizes["seed"]), "held_out_fraction": 0.2}
    cost, cost_se = _paired(ds.stopped_test_error.where(ok), ds.best_test_error.where(ok))
    over_ridge, over_ridge_se = _paired(ds.stopped_test_error.where(ok), ridge.where(ok))
    oracle_ridge, oracle_ridge_se = _paired(ds.best_test_error.where(ok), ridge.where(ok))
    refit, refit_se = _paired(ds.refit_test_error.where(ok), ds.stopped_test_error.where(ok))
    for depth in ds.depth.values:
        d = {}
        for snr in ds.snr.values:
            sel = {"depth": depth, "snr": snr}
            d[f"snr={snr:g}"] = {
                "n_over_p": [num(v) for v in x],
                "stopped_over_oracle": [num(v) for v in cost.sel(sel).values],
                "stopped_over_oracle_se": [num(v) for v in cost_se.sel(sel).values],
                "stopped_over_ridge": [num(v) for v in over_ridge.sel(sel).values],
                "stopped_over_ridge_se": [num(v) for v in over_ridge_se.sel(sel).values],
                "oracle_over_ridge": [num(v) for v in oracle_ridge.sel(sel).values],
                "oracle_over_ridge_se": [num(v) for v in oracle_ridge_se.sel(sel).values],
                **(
                    {
                        "refit_over_stopped": [num(v) for v in refit.sel(sel).values],
                        "refit_over_stopped_se": [num(v) for v in refit_se.sel(sel).values],
                    }
                    if depth == 1
                    else {}
                ),
            }
        nums[f"depth={depth}"] = d
    nums["mean_stopped_over_oracle"] = {
        f"depth={d}": num(float(cost.sel(depth=d).mean())) for d in ds.depth.values
    }
    nums["negative_excess"] = (
        "oracle_over_ridge < 0 where the oracle stopping time beat ridge at the fixed gamma* on "
        "these draws (the oracle picks its time per run, gamma* is fixed; for depth 2 also the "
        "deep network's own bias): "
        + ", ".join(
            f"depth {int(d)} SNR {float(s):g} N/P {float(r):g}: {float(v):+.3f}±{float(e):.3f}"
            for d in ds.depth.values
            for s in ds.snr.values
            for r, v, e in zip(
                x,
                oracle_ridge.sel(depth=d, snr=s).values,
                oracle_ridge_se.sel(depth=d, snr=s).values,
                strict=True,
            )
            if v < 0
        )
    )
    return nums, written
