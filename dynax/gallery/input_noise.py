"""Gallery item `input_noise`: input noise against weight decay at the same strength γ = Pσ_n²,
mode by mode at depths 1 and 2 (docs/theory.md §3.7 and §3.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, theory
from .common import COLOURS, crossing, mean_sem, num, save

__all__ = ["input_noise"]


def _decay_mode(s: float, u0: float, t: np.ndarray, gamma: float, depth: int, alpha: float) -> np.ndarray:
    """A mode under weight decay from the balanced aligned start, integrated finely:
    du/dt = αD u^(2−2/D)(s − u) − Dγu (each layer's penalty; depth 1 α(s − u) − γu, depth 2
    2u[α(s − u) − γ]; at depth ≥ 3 u = 0 is stable, so a mode that starts small can die)."""

    def rhs(u):
        return alpha * depth * u ** (2 - 2 / depth) * (s - u) - depth * gamma * u

    dt = min(1e-3, t[-1] / 2e5)
    grid = np.arange(0.0, t[-1] + dt, dt)
    u = np.empty_like(grid)
    u[0] = u0
    for i in range(1, len(grid)):
        u[i] = u[i - 1] + dt * rhs(u[i - 1])
    return np.interp(t, grid, u)


def _per_mode(ds, axis: str) -> dict:
    """Per depth and strength: the mode strengths over s (seed, mode, epoch) and each seed's start."""
    s = np.asarray(ds.singular_value.values, float)
    t = (
        np.asarray(ds.time.values, float)
        if ds.time.ndim == 1
        else np.asarray(ds.time.isel({d: 0 for d in ds.time.dims if d != "epoch"}).values, float)
    )
    out = {}
    for d in ds.depth.values:
        for v in ds[axis].values:
            pt = {"depth": d, axis: v, "n_over_p": ds.n_over_p.values[0], "snr": ds.snr.values[0]}
            u = ds.mode_strength.sel(pt).where(analysis.valid(ds).sel(pt))
            out[int(d), float(v)] = np.asarray(u.transpose("seed", "mode", "epoch").values, float)
    return {
        "s": s,
        "t": t,
        "alpha": float(ds.alpha.isel(n_over_p=0)),
        "n_in": int(ds.attrs["n_in"]),
        "u": out,
    }


def _theory(kind: str, c: dict, depth: int, value: float, u0: float, s: float) -> np.ndarray:
    if kind == "noise":
        return theory.input_noise_mode(s, u0, c["t"], c["n_in"], value, depth, c["alpha"])
    return _decay_mode(s, u0, c["t"], value, depth, c["alpha"])


def input_noise(results, out: Path) -> tuple[dict, list]:
    """Fixed points and learning times of each mode under input noise and weight decay."""
    (noisy, _), (decay, _) = results
    cases = {"noise": _per_mode(noisy, "input_noise"), "decay": _per_mode(decay, "weight_decay")}
    p = int(noisy.n_train.values.ravel()[0])
    nums, rows = {"P": p, "singular_values": [num(v) for v in cases["noise"]["s"]]}, {}
    for kind, c in cases.items():
        for (depth, value), u in c["u"].items():
            start = np.nanmean(u[:, :, 0], 0)
            th = np.stack(
                [_theory(kind, c, depth, value, u0, s) for u0, s in zip(start, c["s"], strict=True)]
            )
            end = np.nanmean(u[:, :, -1], 0)
            half_sim, half_th = [], []
            for k, s in enumerate(c["s"]):
                fixed = th[k, -1]
                rising = fixed > start[k]
                half_sim.append(
                    crossing(c["t"], np.nanmean(u[:, k], 0), (start[k] + fixed) / 2, rising)
                    if fixed > 1e-3 * s
                    else np.nan
                )
                half_th.append(
                    crossing(c["t"], th[k], (start[k] + fixed) / 2, rising) if fixed > 1e-3 * s else np.nan
                )
            label = f"{kind} depth={depth} " + (
                f"sigma_n={value:g} (gamma={p * value**2:g})" if kind == "noise" else f"gamma={value:g}"
            )
            rows[label] = {
                "fixed_point_over_s": {
                    "sim": [num(e / s) for e, s in zip(end, c["s"], strict=True)],
                    "theory": [num(v / s) for v, s in zip(th[:, -1], c["s"], strict=True)],
                },
                "half_time": {"sim": [num(v) for v in half_sim], "theory": [num(v) for v in half_th]},
                "max_abs_curve_difference_over_s": num(
                    np.nanmax(np.abs(np.nanmean(u, 0) - th) / c["s"][:, None])
                ),
            }
            c.setdefault("theory", {})[depth, value] = th
    nums["by_case"] = rows
    written = []
    _shrink_figure(cases, p, out, written)
    _curve_figure(cases, out, written)
    return nums, written


def _shrink_figure(cases, p: int, out: Path, written: list) -> None:
    noise, decay = cases["noise"], cases["decay"]
    depths = sorted({d for d, _ in noise["u"]})
    fig = Figure(figsize=(5.5 * len(depths), 4.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(depths), sharey=True))
    s_fine = np.geomspace(0.3, 5, 200)
    for ax, depth in zip(axes, depths, strict=True):
        sigmas = sorted(v for d, v in noise["u"] if d == depth)
        for colour, sn in zip(COLOURS, sigmas, strict=False):
            gamma = p * sn**2
            u_n = np.nanmean(noise["u"][depth, sn][:, :, -1], 0) / noise["s"]
            match = [k for k in decay["u"] if k[0] == depth and np.isclose(k[1], gamma)]  # γ = Pσ_n²
            u_d = np.nanmean(decay["u"][match[0]][:, :, -1], 0) / decay["s"] if match else None
            xi = 1 + noise["n_in"] * sn**2
            ax.plot(noise["s"], u_n, "o", color=colour, label=rf"input noise $\sigma_n = {sn:g}$")
            ax.plot(s_fine, np.full_like(s_fine, 1 / xi), color=colour, lw=1)
            if u_d is not None:
                ax.plot(
                    decay["s"],
                    u_d,
                    "s",
                    mfc="none",
                    color=colour,
                    ms=8,
                    label=rf"weight decay $\gamma = P\sigma_n^2 = {gamma:g}$",
                )
                if depth <= 2:
                    th = (
                        1 / (1 + gamma / decay["alpha"])
                        if depth == 1
                        else np.clip(1 - gamma / (decay["alpha"] * s_fine), 0, None)
                    )
                    ax.plot(s_fine, np.broadcast_to(th, s_fine.shape), color=colour, lw=1, ls="--")
                else:  # no closed form: u = 0 is stable, the end depends on the start (integrated)
                    end = decay["theory"][match[0]][:, -1] / decay["s"]
                    ax.plot(decay["s"], end, color=colour, lw=1, ls="--")
        if depth == depths[0]:
            ax.plot([], [], "k-", lw=1, label=r"theory: $1/(1 + N\sigma_n^2)$ (noise)")
            ax.plot([], [], "k--", lw=1, label="theory: weight decay")
            ax.legend(fontsize=7, loc="lower right")
        note = {1: r"$\alpha/(\alpha + \gamma)$", 2: r"$1 - \gamma/\alpha s$"}
        note = "\n(dashed, decay: " + note.get(depth, "integrated from the start; u = 0 is stable") + ")"
        ax.set_xscale("log")
        ax.set_xticks(noise["s"], [f"{v:g}" for v in noise["s"]])
        ax.minorticks_off()
        ax.set_xlabel(r"teacher singular value $s$")
        ax.set_title(
            f"depth {depth}"
            + {1: ": the same penalty", 2: ": noise shrinks, decay thresholds"}.get(
                depth, ": decay lets small modes die"
            )
            + note,
            fontsize=10,
        )
    axes[0].set_ylabel(r"$u/s$ at the last epoch (seed mean)")
    fig.suptitle(
        r"input noise against weight decay at $\gamma = P\sigma_n^2$: white inputs at $P = N$, "
        "noiseless teacher, aligned start"
    )
    save(fig, out, "input_noise_shrinkage", written)


def _curve_figure(cases, out: Path, written: list) -> None:
    fig = Figure(figsize=(11, 4.3), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    noise, decay = cases["noise"], cases["decay"]
    sn = max(v for d, v in noise["u"] if d == 2)
    gamma = max(v for d, v in decay["u"] if d == 2)
    for ax, (_, c, value, title) in zip(
        axes,
        (
            ("noise", noise, sn, rf"input noise $\sigma_n = {sn:g}$"),
            ("decay", decay, gamma, rf"weight decay $\gamma = {gamma:g}$"),
        ),
        strict=True,
    ):
        m, e = mean_sem(c["u"][2, value])
        th = c["theory"][2, value]
        for k, (colour, s) in enumerate(zip(COLOURS, c["s"], strict=False)):
            ax.plot(c["t"], m[k] / s, color=colour, label=f"mode s = {s:g}")
            ax.fill_between(c["t"], (m[k] - e[k]) / s, (m[k] + e[k]) / s, color=colour, alpha=0.25, lw=0)
            ax.plot(c["t"], th[k] / s, "k--", lw=0.9)
        ax.plot([], [], "k--", lw=0.9, label="expected-loss theory")
        ax.set_title(f"depth 2, {title}")
        ax.set_xlabel(r"time $t = \eta\,$epoch")
        ax.set_xlim(0, 15)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(r"mode strength $u/s$ (seed mean ± 1 s.e.)")
    save(fig, out, "input_noise_modes", written)
