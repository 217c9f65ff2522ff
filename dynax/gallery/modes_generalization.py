"""Gallery item `modes`, panel (d): which modes of a noisy low-rank teacher are learnt by the
optimal early-stopping time, against their SNR, and the error there per depth beside ridge on the
same data and the mode oracle (docs/theory.md §3.1), depth d − depth 1 paired per seed."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .. import analysis, plot
from ..predict.modes import mode_oracle_dataset
from ..store import spec_of
from .common import COLOURS, mean_sem, num, save
from .common import rounded as _lists

__all__ = ["generalization"]


def _logistic_fit(x, y) -> tuple[float, float, float]:
    """Least-squares 1/(1 + (x½/x)^k) over a grid: (x½, k, rms residual)."""
    lx, y = np.log(np.asarray(x, float)), np.asarray(y, float)
    keep = np.isfinite(lx) & np.isfinite(y)
    lx, y = lx[keep], y[keep]
    centres, slopes = np.linspace(lx.min(), lx.max(), 200), np.geomspace(0.2, 20, 80)
    pred = 1 / (1 + np.exp(-slopes[:, None, None] * (lx[None, None, :] - centres[None, :, None])))
    err = np.mean((pred - y) ** 2, axis=-1)
    i, j = np.unravel_index(np.argmin(err), err.shape)
    return float(np.exp(centres[j])), float(slopes[i]), float(np.sqrt(err[i, j]))


def _at_common_optimum(ds, ok):
    """Each seed's E_g at the minimum of the seed-mean curve (seeds at equal t), and that epoch index."""
    curves = analysis.on_common_time(ds, "test_error").where(ok)
    k = int(curves.mean("seed").argmin("epoch"))
    return curves.isel(epoch=k), k


def _mean_sem(x):
    mean, sem = mean_sem(np.ravel(x))
    return float(mean), float(sem)


def generalization(ds, th, out, written) -> dict:
    """u_α(t*)/s_α at the minimum of the seed-mean E_g curve, against s_α and the mode SNR
    α s_α²/σ_ε²; and E_g* per depth beside the best-γ ridge and the mode oracle on the same data
    (docs/theory.md §3.1), with depth d − depth 1 paired per seed."""
    spec = spec_of(ds)
    pr, s, c0 = spec.problem, ds.singular_value.values, float(spec.setting("init_scale"))
    threshold, ok, depths = np.sqrt(pr.n_in * pr.n_out), analysis.valid(ds), list(ds.depth.values)
    fig = Figure(figsize=(4.3 * (len(depths) + 1), 8.4), layout="constrained")
    axes = fig.subplots(2, len(depths) + 1, squeeze=False)
    markers, opt = ["o", "s", "^", "D"], {}
    res = {"snr_alpha": "alpha s^2 / sigma_eps^2", "detection_threshold_sqrt_N_Nout": num(threshold)}
    for col, d in enumerate(depths):
        pooled = []
        for ri, r in enumerate(ds.n_over_p.values):
            alpha = float(ds.alpha.sel(n_over_p=r))
            for qi, q in enumerate(ds.snr.values):
                x, good = ds.sel(depth=d, n_over_p=r, snr=q), ok.sel(depth=d, n_over_p=r, snr=q)
                at_opt, k = _at_common_optimum(x, good)
                t, nv = (
                    float(analysis.on_common_time(x, "time").where(good).mean("seed")[k]),
                    float(x.noise_var),
                )
                u = x.mode_strength.where(good).isel(epoch=k)
                frac, sem = (u.mean("seed") / s).values, (u.std("seed") / np.sqrt(good.sum()) / s).values
                snr_a = alpha * s**2 / nv
                pooled.append(np.stack([s, snr_a, frac]))
                lab, c, mk = rf"$\alpha$ = {alpha:g}, SNR {q:g}", COLOURS[qi], markers[ri % len(markers)]
                for row, xv in ((0, s), (1, snr_a)):
                    axes[row, col].errorbar(
                        xv, frac, sem, color=c, marker=mk, ls="none", ms=4, capsize=2, label=lab
                    )
                e_opt = _mean_sem(at_opt / nv)
                res[f"depth={d},alpha={alpha:g},snr={q:g}"] = {
                    "t_star": num(t, 3),
                    "opt_error_of_mean_over_noise": num(e_opt[0], 4),
                    "opt_error_of_mean_over_noise_sem": num(e_opt[1], 2),
                    "u_over_s_at_t_star": _lists(frac, 3),
                    "u_over_s_sem": _lists(sem, 2),
                    "snr_alpha": _lists(snr_a, 3),
                }
                opt.setdefault((d, ri), []).append((q, e_opt[0], at_opt / nv))
                if ri == len(ds.n_over_p) - 1 and qi == min(1, ds.sizes["snr"] - 1):
                    eg = analysis.on_common_time(x, "test_error").where(good).mean("seed") / nv
                    tt = analysis.on_common_time(x, "time").where(good).mean("seed")
                    axes[0, -1].plot(tt[1:], eg.values[1:], color=COLOURS[col + 4], label=f"depth {d}: {lab}")
                    axes[0, -1].plot(t, e_opt[0], "*", color=COLOURS[col + 4], ms=11)
        pooled = np.concatenate(pooled, axis=1)
        fs, fq = _logistic_fit(pooled[0], pooled[2]), _logistic_fit(pooled[1], pooled[2])
        res[f"depth={d},pooled_logistic_fit"] = {
            f"against_{n}": {"half_learnt_at": num(f[0], 3), "steepness": num(f[1], 3), "rms": num(f[2], 3)}
            for n, f in (("snr_alpha", fq), ("s", fs))
        } if d > 1 else "none: depth 1 shrinks every mode alike (no selection by s)"  # fmt: skip
        _mode_axes(axes[:, col], d, fs, fq, threshold)
    th_ax = axes[1, min(1, len(depths) - 1)]
    th_ax.legend(handles=th_ax.get_lines()[-1:], fontsize=7, loc="upper left")
    fig.legend(handles=axes[1, 0].containers, loc="outside lower center", ncol=8, fontsize=8)
    _curves_axes(axes[0, -1])
    res["error_at_optimum"] = _baselines_panel(ds, th, axes[1, -1], opt, depths, markers)
    fig.suptitle(
        f"(d) noisy {len(s)}-mode teacher, Gaussian inputs, N = N_out = N_h = {pr.n_in}, fan-in init {c0:g}, "
        f"{ds.sizes['seed']} seeds. Points: simulation at $t^*$ (the minimum of the seed-mean $E_g$, "
        "seeds at equal $t$);\nbottom right: $E_g^*$ per depth beside ridge at each seed's best $\\gamma$ "
        "and the mode oracle (knows the teacher's singular vectors: a reference no network reaches)",
        fontsize=10,
    )
    save(fig, out, "modes_generalization", written)
    return res


def _mode_axes(axes, d, fs, fq, threshold: float) -> None:
    """Depth ``d``'s two panels (u/s at t* against s, above; against the mode SNR, below): scales,
    labels, the logistic fits ``fs``, ``fq`` in the titles and the detection threshold."""
    for row in range(2):
        ax = axes[row]
        ax.set_xscale("log")
        plot.log_ticks(ax, "x")
        for level in (0, 1):
            ax.axhline(level, color="grey", lw=0.5)
        ax.set_ylabel(r"$u_\alpha(t^*)/s_\alpha$ (seed mean ± s.e.)")
        fit, var = (fq, r"SNR$_\alpha$") if row else (fs, "$s$")
        fit = f"logistic fit: half at {var} = {fit[0]:.3g}, rms {fit[2]:.2f}" if d > 1 else "no selection"
        ax.set_title(f"depth {d}, modes at $t^*$ ({fit})", fontsize=9)
    axes[0].set_xlabel(r"teacher singular value $s_\alpha$")
    axes[1].set_xlabel(r"mode SNR $\alpha s_\alpha^2/\sigma_\varepsilon^2$")
    axes[1].axvline(
        threshold, color="k", lw=0.8, ls="-.", label=r"$\sqrt{N N_{out}}$ (white-input detection)"
    )


def _curves_axes(ax) -> None:
    """The learning-curve panel's scale, labels and legend."""
    ax.set_xscale("log")
    ax.set_xlabel(r"time $t$ (seeds at equal $t$)")
    ax.set_ylabel(r"$E_g/\sigma_\varepsilon^2$ (seed mean); $\star$: $t^*$")
    ax.legend(fontsize=7)
    ax.set_title("learning curves at one setting", fontsize=9)


def _baselines_panel(ds, th, ax, opt, depths, markers) -> dict:
    """E_g*/σ_ε² against SNR per depth and α, with the best-γ ridge and the mode oracle of the
    same seeds (seed means); numbers with depth d − depth 1 paired per seed."""
    ok = analysis.valid(ds)
    if th is None or "oracle_test_error" not in th:  # a theory file from before the oracle existed
        th = xr.Dataset(
            mode_oracle_dataset(spec_of(ds)), coords={"seed": ds.seed, "n_over_p": ds.n_over_p, "snr": ds.snr}
        )
    nums = {}
    for ri, r in enumerate(ds.n_over_p.values):
        alpha = float(ds.alpha.sel(n_over_p=r))
        nv = ds.noise_var
        ridge = (ds.best_ridge_test_error.sel(n_over_p=r) / nv).where(ok.sel(depth=depths[0], n_over_p=r))
        oracle = th.oracle_test_error.sel(n_over_p=r) / nv
        q = ds.snr.values
        ls = "--" if ri else ":"
        ax.plot(q, ridge.mean("seed"), color="k", marker=markers[ri % 4], ls=ls, mfc="none",
                label=rf"ridge, best $\gamma$ per seed, $\alpha$ = {alpha:g}")  # fmt: skip
        ax.plot(q, oracle.mean("seed"), color="grey", marker=markers[ri % 4], ls=ls, mfc="white",
                label=rf"mode oracle, $\alpha$ = {alpha:g}")  # fmt: skip
        for qi, snr in enumerate(q):
            key = f"alpha={alpha:g},snr={snr:g}"
            expected = th.oracle_expected_test_error.sel(n_over_p=r, snr=snr) / nv.sel(snr=snr)
            entry = {
                "best_ridge": _mean_sem(ridge.sel(snr=snr)),
                "mode_oracle": _mean_sem(oracle.sel(snr=snr)),
                "mode_oracle_expected": num(float(expected.mean()), 4),
            }
            base = opt[(depths[0], ri)][qi][2]
            for d in depths:
                e = opt[(d, ri)][qi][2]
                entry[f"depth={d}"] = _mean_sem(e)
                if d != depths[0]:
                    entry[f"depth={d}_minus_depth={depths[0]}_paired"] = _mean_sem(e - base)
                entry[f"depth={d}_minus_best_ridge_paired"] = _mean_sem(e - ridge.sel(snr=snr))
            nums[key] = {
                k: [num(v[0], 4), num(v[1], 2)] if isinstance(v, tuple) else v for k, v in entry.items()
            }
    for (d, ri), pts in opt.items():
        qv, e = np.array([p[:2] for p in pts]).T
        alpha = float(ds.alpha.values[ri])
        lab, c = rf"depth {d}, $\alpha$ = {alpha:g}", COLOURS[depths.index(d) + 4]
        ax.plot(qv, e, marker=markers[ri % 4], color=c, ls="--" if ri else ":", label=lab)
    ax.set_xscale("log")
    plot.log_ticks(ax, "x")
    ax.set_xlabel(r"SNR $\sigma_w^2/\sigma_\varepsilon^2$ ($\sigma_w^2 = \sum s^2/(N N_{out})$)")
    ax.set_ylabel(r"$E_g^*/\sigma_\varepsilon^2$ (seed mean)")
    ax.legend(fontsize=6)
    ax.set_title(r"optimal early-stopping error, ridge and the mode oracle", fontsize=9)
    return {"reduction": "seed means (± s.e.) over E_g/sigma_eps^2; differences paired per seed", **nums}
