"""Gallery item: early stopping without the oracle. A practitioner holds out V of the P
examples and stops where the held-out error is least; against the oracle stop on the same
fit set, the depth-1 refit on all P (at equal epochs and at equal time λt), ridge at γ* =
1/SNR on the same fit set (the Bayes estimate given those examples), and the competitor a user
would actually run: ridge with γ chosen on the same held-out examples, refitted on all P. Seed
means with standard errors; every relative cost is paired per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis
from ..spec.derived import HELDOUT_GAMMAS
from .common import COLOURS, num, save

__all__ = ["stopping"]

TICKS = ([0.25, 0.5, 1, 2, 4], ["0.25", "0.5", "1", "2", "4"])
XLABEL = "N/P (P: all examples; GD fits 0.8 P)"


def _paired(a, b):
    """Seed mean of a/b − 1 per grid point (paired) and its standard error."""
    r = (a / b - 1).where(a.notnull() & b.notnull())
    n = r.notnull().sum("seed")
    return r.mean("seed"), r.std("seed", ddof=1) / np.sqrt(n)


def _errors(ds):
    """Each method's E_g per run (diverged runs left out), by its label in the figures."""
    ok = analysis.valid(ds)
    like = ds.best_test_error
    return {
        "oracle stop (each run's best $E_g$)": ds.best_test_error.where(ok),
        "held-out stop (stopped_test_error)": ds.stopped_test_error.where(ok),
        "refit on all P, equal epochs (depth 1)": ds.refit_test_error.where(ok),
        r"refit on all P, equal time $\lambda t$ (depth 1)": ds.refit_equal_time_test_error.where(ok),
        r"ridge at $\gamma^*=1/$SNR on the fit set": ds.ridge_test_error.broadcast_like(like).where(ok),
        r"ridge, $\gamma$ chosen on the held-out set, refit on all P": (
            ds.heldout_ridge_refit_test_error.broadcast_like(like).where(ok)
        ),
    }


def _grid(ds, height: float):
    fig = Figure(figsize=(4.2 * ds.sizes["snr"], height * ds.sizes["depth"]), layout="constrained")
    return fig, fig.subplots(ds.sizes["depth"], ds.sizes["snr"], squeeze=False, sharex=True)


def _axes_labels(ax, i, j, ds, ylabel):
    ax.set_xscale("log")
    ax.set_xticks(*TICKS)
    ax.minorticks_off()
    if i == ds.sizes["depth"] - 1:
        ax.set_xlabel(XLABEL)
    if j == 0:
        ax.set_ylabel(ylabel)


def _absolute_figure(ds, th, errors, out, written) -> None:
    """E_g/σ_ε² of every method against N/P, per depth and SNR, with the Bayes line."""
    fig, axes = _grid(ds, 3.6)
    x = ds.n_over_p.values
    for i, depth in enumerate(ds.depth.values):
        for j, snr in enumerate(ds.snr.values):
            ax = axes[i, j]
            nv = float(ds.noise_var.sel(snr=snr))
            for k, (label, da) in enumerate(errors.items()):
                v = da.sel(depth=depth, snr=snr) / nv
                m, se = v.mean("seed"), v.std("seed", ddof=1) / np.sqrt(v.notnull().sum("seed"))
                if not np.isfinite(m).any():
                    continue
                ax.errorbar(x, m, yerr=se, marker="os^v<>"[k], ms=4, capsize=2, color=COLOURS[k], label=label)
            bayes = th.bayes_test_error.sel(depth=depth, snr=snr) / nv
            ax.plot(x, bayes, "k:", lw=1, label=r"Bayes, population theory at the fit set's $\alpha$")
            ax.set_title(f"depth {depth}, SNR {snr:g}", fontsize=10)
            _axes_labels(ax, i, j, ds, r"$E_g/\sigma_\varepsilon^2$ (seed mean ± s.e.)")
    axes[0, 0].legend(fontsize=6.5, loc="upper left")
    fig.suptitle(
        "early stopping without the oracle: 20% held out, seed means with standard errors", fontsize=11
    )
    save(fig, out, "stopping", written)


def _cost_figure(ds, errors, out, written) -> None:
    """Every method's error relative to the oracle stop on the same fit set, paired per seed
    (%): the held-out stop's cost is the headline; the refits and ridges beside it."""
    fig, axes = _grid(ds, 3.4)
    x = ds.n_over_p.values
    oracle = next(iter(errors.values()))
    for i, depth in enumerate(ds.depth.values):
        for j, snr in enumerate(ds.snr.values):
            ax = axes[i, j]
            for k, (label, da) in enumerate(list(errors.items())[1:], start=1):
                m, se = _paired(da.sel(depth=depth, snr=snr), oracle.sel(depth=depth, snr=snr))
                if not np.isfinite(m).any():
                    continue
                ax.errorbar(x, 100 * m, yerr=100 * se, marker="os^v<>"[k], ms=4, capsize=2, color=COLOURS[k],
                            label=label)  # fmt: skip
            ax.axhline(0, color="k", lw=0.8)
            ax.set_title(f"depth {depth}, SNR {snr:g}", fontsize=10)
            _axes_labels(ax, i, j, ds, "relative to the oracle stop (%)\nseed mean ± s.e., paired")
    axes[0, 0].legend(fontsize=6.5, loc="upper left")
    fig.suptitle(
        r"the cost of not knowing the test error: each method's $E_g$ against the oracle stop of the same "
        "run, 100·mean over seeds of ($E_g/E_g^{oracle}$ − 1)\n(0: as good as the oracle stop on the fit "
        "set; below 0: better, as the refits and the refitted ridge see all P examples)",
        fontsize=11,
    )
    save(fig, out, "stopping_cost", written)


def _lists(x):
    return [num(v) for v in np.ravel(x)]


def stopping(results, out: Path) -> tuple[dict, list]:
    """E_g/σ_ε² against N/P per depth and SNR, and the relative costs, with numbers.json."""
    ((ds, th),) = results
    written = []
    errors = _errors(ds)
    _absolute_figure(ds, th, errors, out, written)
    _cost_figure(ds, errors, out, written)
    oracle, stopped, refit, refit_t, ridge, heldout = errors.values()
    x = ds.n_over_p.values
    pairs = {
        "stopped_over_oracle": (stopped, oracle),
        "stopped_over_ridge": (stopped, ridge),
        "oracle_over_ridge": (oracle, ridge),
        "refit_over_stopped": (refit, stopped),
        "refit_equal_time_over_stopped": (refit_t, stopped),
        "heldout_ridge_refit_over_stopped": (heldout, stopped),
        "heldout_ridge_refit_over_refit": (heldout, refit),
        "heldout_ridge_refit_over_oracle": (heldout, oracle),
    }
    paired = {k: _paired(*v) for k, v in pairs.items()}
    nums = {
        "n_seeds": int(ds.sizes["seed"]),
        "held_out_fraction": 0.2,
        "heldout_ridge_gamma_grid": f"{len(HELDOUT_GAMMAS)} values geomspace(1e-3, 1e3), sum-loss units",
    }
    for depth in ds.depth.values:
        d = {}
        for snr in ds.snr.values:
            sel = {"depth": depth, "snr": snr}
            entry = {"n_over_p": _lists(x)}
            for k, (m, se) in paired.items():
                if not np.isfinite(m.sel(sel)).any():
                    continue
                entry[k], entry[f"{k}_se"] = _lists(m.sel(sel)), _lists(se.sel(sel))
            d[f"snr={snr:g}"] = entry
        nums[f"depth={depth}"] = d
    nums["mean_over_grid"] = {
        k: {
            f"depth={d}": num(float(m.sel(depth=d).mean()))
            for d in ds.depth.values
            if m.sel(depth=d).notnull().any()
        }
        for k, (m, _) in paired.items()
    }
    gam = ds.heldout_ridge_gamma
    nums["heldout_ridge_gamma_at_grid_edge"] = int(
        ((gam == HELDOUT_GAMMAS[0]) | (gam == HELDOUT_GAMMAS[-1])).sum()
    )
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
                paired["oracle_over_ridge"][0].sel(depth=d, snr=s).values,
                paired["oracle_over_ridge"][1].sel(depth=d, snr=s).values,
                strict=True,
            )
            if v < 0
        )
    )
    return nums, written
