"""Gallery item `modes`: mode-by-mode learning of deep linear networks (Saxe, McClelland &
Ganguli 2014; docs/theory.md §3.1), simulation beside :mod:`dynax.theory`'s mode solutions
(``saxe_mode``, ``saxe_mode_discrete``, ``saxe_escape_time``, ``saxe_plateau_time``).

(a) mode curves at depth 1-3 from the aligned and from a small fan-in Gaussian init,
(b) the plateau (time to s/2) against u0 and s, (c) the learning time against depth from
orthogonal and Gaussian inits at the rate eta0/D, (d) which modes of a noisy teacher are
learnt at the optimal early-stopping time, against their SNR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import analysis, plot, theory
from ..sim import data
from ..sim.init import InitConfig, init_from
from ..spec import INITS
from ..store import spec_of
from .common import COLOURS, crossing, nearest, num, realized_teacher_var, rounded, save
from .modes_generalization import generalization

__all__ = ["modes"]

RANDOM = "gaussian_fan_in"  # the small random init of (a) and (b)
CRITERION = 0.1  # (c): learnt when E_g ≤ 0.1 σ_w² (σ_w²: the zero network's error)


def modes(results, out: Path) -> tuple[dict, list]:
    """Results: ``modes_plateau`` (a, b), ``modes_depth`` (c), ``modes_generalization`` (d)."""
    (plateau, _), (deep, _), (gen, gen_th) = results
    written = []
    nums = {
        "mode_curves": _mode_curves(plateau, out, written),
        "plateau": _plateau(plateau, out, written),
        "depth": _depth(deep, out, written),
        "generalization": generalization(gen, gen_th, out, written),
    }
    return nums, written


# --------------------------------------------------------------------------- shared


def _half_flow(s, u0, depth, alpha) -> np.ndarray:
    """Time for the flow to take a mode from u0 to s/2 (depth 1: the exponential approach)."""
    s, u0 = np.broadcast_arrays(np.asarray(s, float), np.asarray(u0, float))
    if depth == 1:
        return np.log((s - u0) / (s / 2)) / alpha
    flat = [
        theory.saxe_escape_time(a, b, depth, alpha=alpha) for a, b in zip(s.ravel(), u0.ravel(), strict=True)
    ]
    return np.reshape(flat, s.shape)


def _point(ds):
    """The result without its single-valued n_over_p and snr (sweeps a-c have one of each)."""
    ds = ds.isel(n_over_p=0, snr=0)
    return (
        ds.assign(mode_strength=ds.mode_strength.transpose(..., "seed", "mode", "epoch"))
        if "mode" in ds.dims
        else ds
    )


def _range(x) -> list:
    return [num(np.nanmin(x), 3), num(np.nanmax(x), 3)]


_lists = rounded


def _slopes(x, y) -> list:
    """The least-squares slope of each column of ``y`` against ``x`` (NaN if a point is missing)."""
    return [np.polyfit(x, c, 1)[0] if np.isfinite(c).all() else np.nan for c in np.asarray(y).T]


def _u0_linear_phase(ds, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth 2 from a random init, per (seed, mode). Early on (u ≪ s) a mode's vectors
    a = W1 V_α, b = W2ᵀ U_α follow da/dt = αs b, db/dt = αs a: a + b grows as e^{αst} and
    a − b decays, so the mode then follows the sigmoid from u0 = |a0 + b0|²/4 (≈ a0²/2, not
    the aligned a0²). A mode learnt later also loses the parts of a0 + b0 along the hidden
    directions the stronger modes take when they are learnt: ``projected`` removes them.
    ``start`` is bᵀa, the strength at t = 0 (a check against the recorded one)."""
    spec = spec_of(ds)
    pr = spec.problem
    cfg = InitConfig(2, int(spec.setting("width")), pr.n_in, pr.n_out, (RANDOM,), "float64", spec.seed)
    plain, projected, start = [], [], []
    for seed in (int(q) for q in ds.seed.values):
        w1, w2 = (np.asarray(w) for w in init_from(cfg, seed, INITS.index(RANDOM), np.float64(scale), None))
        w_bar = data.seed_teacher(
            spec.seed, seed, pr.n_in, pr.n_out, pr.teacher_var, pr.teacher_singular_values
        )
        u, s, v = data.teacher_modes(spec.seed, seed, np.asarray(w_bar), pr.teacher_singular_values)
        a, b = w1 @ v, w2.T @ u
        grow = a + b
        plain.append(np.sum(grow**2, 0) / 4)
        start.append(np.sum(a * b, 0))
        row = []
        for m in range(len(s)):
            q, _ = np.linalg.qr(grow[:, s > s[m]]) if np.any(s > s[m]) else (np.zeros((len(grow), 0)), None)
            rest = grow[:, m] - q @ (q.T @ grow[:, m])
            row.append(np.sum(rest**2) / 4)
        projected.append(row)
    return np.asarray(plain), np.asarray(projected), np.asarray(start)


# --------------------------------------------------------------------------- (a) mode curves


def _mode_curves(ds, out, written) -> dict:
    """u_α(t)/s_α at one init scale (nearest 0.1): depths × {aligned, random}, on the flow."""
    ds = _point(ds)
    s, alpha, t = ds.singular_value.values, float(ds.alpha), ds.time.values
    a0 = float(ds.init_scale.values[np.argmin(abs(np.log(ds.init_scale.values / 0.1)))])
    depths, step = list(ds.depth.values), spec_of(ds).setting("learning_rate")
    if not isinstance(step, int | float):  # the flow's time t = step·epoch at every depth
        raise ValueError(f"gallery modes: needs one numeric learning rate, got {step!r}")
    step = float(step)
    fig = Figure(figsize=(4.4 * len(depths), 8), layout="constrained")
    axes = fig.subplots(2, len(depths), squeeze=False)
    res, xmax = {"init_scale_a0": num(a0), "alpha": num(alpha), "learning_rate": num(step)}, {}
    for row, init in enumerate(("aligned", RANDOM)):
        for col, d in enumerate(depths):
            u = ds.mode_strength.sel(depth=d, init=init, init_scale=a0).values
            flow, sim_half, note = _curve_numbers(ds, u, init, d, a0, step, res)
            end = [crossing(t, uj[m], 0.95 * s[m]) for uj in u for m in range(len(s))]
            xmax[d] = max(xmax.get(d, 0), 1.15 * np.nanmax(end) if np.isfinite(end).any() else t[-1])
            _draw_curves(axes[row, col], ds, u, flow, sim_half, init, d, a0, note)
    for col, d in enumerate(depths):
        for row in range(2):
            axes[row, col].set_xlim(0, min(xmax[d], t[-1]))
    axes[0, 0].legend(fontsize=7, title="teacher mode", title_fontsize=7, loc="lower right")
    axes[1, 0].plot([], [], color="k", ls="--", lw=0.9, label="flow from the $u_0$ in the title")
    axes[1, 0].plot([], [], color="grey", ls=":", lw=0.9, label="depth 2: flow from $u_0 = a_0^D$ (nominal)")
    axes[1, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        rf"(a) mode strengths at $a_0$ = {a0:.3g} per layer, $\alpha = P/N$ = {alpha:g}, white noiseless "
        f"data: simulation (colour: seed mean of {ds.sizes['seed']}; band: min-max over seeds; depth 3 from "
        "the random init: each seed)\nagainst the flow "
        r"$du/dt = \alpha D u^{2-2/D}(s-u)$ (dashed black)",
        fontsize=10,
    )
    save(fig, out, "modes_curves", written)
    return res


def _curve_numbers(ds, u, init: str, d, a0: float, step: float, res: dict) -> tuple:
    """One (init, depth) panel's numbers into ``res``: the flow from its u0 (aligned: a0^D;
    random: each mode's own start), the half times against it and the GD recursion; returns the
    flow, each seed's half times and the u0 the title names."""
    s, alpha, t = ds.singular_value.values, float(ds.alpha), ds.time.values
    u0, note = np.full(u.shape[:2], a0**d), f"$u_0 = a_0^D$ = {a0**d:.2g}"
    if init != "aligned" and d == 1:  # linear: each mode relaxes from its own projection
        u0, note = u[:, :, 0], "$u_0$ = each mode's initial projection"
    elif init != "aligned" and d == 2:
        plain, u0, start = _u0_linear_phase(ds, a0)
        note = "$u_0 = |a_0 + b_0|^2/4$ less the stronger modes' part"
        res["depth2_random_start_check_max_abs"] = num(np.max(abs(start - u[:, :, 0])), 2)
    flow = theory.saxe_mode(s[None, :, None], u0[:, :, None], t[None, None, :], d, alpha)
    sim_half = np.array([[crossing(t, uj[m], s[m] / 2) for m in range(len(s))] for uj in u])
    th_half = _half_flow(s[None, :], u0, d, alpha)
    shift = sim_half - th_half
    after = [
        np.max(abs(u[j, m] - np.interp(t - shift[j, m], t, flow[j, m]))) / s[m]
        for j, m in zip(*np.nonzero(np.isfinite(shift)), strict=True)
    ]
    r = res[f"{init},depth={d}"] = {
        "theory_u0": note,
        "max_dev_seed_mean_vs_flow": num(np.max(abs(u.mean(0) - flow.mean(0)) / s[:, None]), 3),
        "half_time_sim": _lists(np.nanmean(sim_half, 0)),
        "half_time_flow": _lists(th_half.mean(0)),
        "half_time_shift_relative": _lists(np.nanmean(shift, 0) / th_half.mean(0), 3),
        "max_dev_after_shifting_each_curve": num(max(after, default=np.nan), 3),
    }
    if init == "aligned":
        gd = theory.saxe_mode_discrete(s, a0**d, ds.epoch.values, step, d, alpha).T
        r["max_dev_vs_gd_recursion"] = num(np.max(abs(u - gd[None]) / s[None, :, None]), 3)
    elif d >= 2:
        nom = _half_flow(s, a0**d, d, alpha)
        r["half_time_shift_vs_nominal_u0_relative"] = _lists(np.nanmean(sim_half, 0) / nom - 1, 3)
    if init != "aligned" and d == 2:
        r["expected_shift_vs_nominal_ln2_over_2as_relative"] = _lists(np.log(2) / (2 * alpha * s) / nom, 3)
        unproj = np.nanmean(sim_half / _half_flow(s[None, :], plain, d, alpha), 0) - 1
        r["half_time_shift_vs_unprojected_u0_relative"] = _lists(unproj, 3)
    if init != "aligned" and d >= 3:  # drawn seed by seed: how far apart the seeds start
        per_seed = sim_half / _half_flow(s, a0**d, d, alpha)[None, :] - 1
        r["half_time_delay_per_seed_range_relative"] = _range(per_seed)
    return flow, sim_half, note


def _draw_curves(ax, ds, u, flow, sim_half, init: str, d, a0: float, note: str) -> None:
    """One (init, depth) panel: each mode's u/s, seed mean with its min-max band (or each seed,
    for staggered starts), on the flow from the u0 in the title (dashed)."""
    s, alpha, t = ds.singular_value.values, float(ds.alpha), ds.time.values
    separate = init != "aligned" and d >= 3  # staggered starts: a seed mean would be no sigmoid
    for c, m in zip(COLOURS, range(len(s)), strict=False):
        if separate:
            for j in range(u.shape[0]):
                ax.plot(
                    t,
                    u[j, m] / s[m],
                    color=c,
                    lw=1.1,
                    alpha=0.8,
                    label=f"$s$ = {s[m]:g}" if j == 0 else None,
                )
        else:
            if init != "aligned":
                ax.fill_between(t, u[:, m].min(0) / s[m], u[:, m].max(0) / s[m], color=c, alpha=0.2, lw=0)
            ax.plot(t, u[:, m].mean(0) / s[m], color=c, lw=2.2, alpha=0.75, label=f"$s$ = {s[m]:g}")
        ax.plot(t, flow[:, m].mean(0) / s[m], color="k", ls="--", lw=0.9)
        if init != "aligned" and d == 2:
            nominal_curve = theory.saxe_mode(s[m], a0**d, t, d, alpha) / s[m]
            ax.plot(t, nominal_curve, color="grey", ls=":", lw=0.9)
    kind = "aligned (decoupled) init" if init == "aligned" else "fan-in Gaussian init"
    title = f"{kind}, depth {d}\ndashed: flow from {note}"
    if separate:
        delay = np.nanmean(sim_half, 0) / _half_flow(s, a0**d, d, alpha) - 1
        lo, hi = 100 * np.nanmin(delay), 100 * np.nanmax(delay)
        title += f"\nthin: each seed; half-times {lo:.0f}-{hi:.0f}% later (seed means)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(r"time $t = \eta\cdot$epoch")
    ax.set_ylabel(r"$u_\alpha(t)/s_\alpha$")
    ax.axhline(0.5, color="grey", lw=0.5)


# --------------------------------------------------------------------------- (b) plateaus


def _plateau(ds, out, written) -> dict:
    """Time to s/2 against u0 and against s at depths ≥ 2: simulation, the exact flow's
    escape time and the leading-order plateau law."""
    ds = _point(ds)
    s, alpha, t, scales = ds.singular_value.values, float(ds.alpha), ds.time.values, ds.init_scale.values
    depths = [d for d in ds.depth.values if d >= 2]
    fig = Figure(figsize=(11, 4.3 * len(depths)), layout="constrained")
    axes = fig.subplots(len(depths), 2, squeeze=False)
    res = {}
    for i, d in enumerate(depths):
        u0 = scales**d
        half = {}
        for init in ("aligned", RANDOM):
            u = ds.mode_strength.sel(depth=d, init=init).transpose("init_scale", ...).values
            h = [[[crossing(t, uj[m], s[m] / 2) for m in range(len(s))] for uj in ua] for ua in u]
            half[init] = np.nanmean(np.array(h), axis=1)  # (scale, mode): seed mean (aligned: seeds equal)
        esc = _half_flow(s[None, :], u0[:, None], d, alpha)
        law = theory.saxe_plateau_time(s[None, :], u0[:, None], d, alpha)
        if d == 2:  # t = ln(s/u0)/(2αs): the slope of t against ln(1/u0), times 2αs, is 1
            x, y, ey, expected = np.log(1 / u0), 2 * alpha * s * half["aligned"], 2 * alpha * s * esc, 1.0
        else:  # t ∝ u0^{-(D-2)/D} to leading order
            x, y, ey, expected = np.log(u0), np.log(half["aligned"]), np.log(esc), -(d - 2) / d
        what = "slope_of_2_alpha_s_t_vs_ln_1_over_u0" if d == 2 else "log_log_slope_vs_u0"
        res[f"depth={d}"] = {
            "u0": _lists(u0, 3),
            "aligned_sim_vs_escape_time_max_rel_dev": num(np.nanmax(abs(half["aligned"] / esc - 1)), 3),
            "plateau_law_over_escape_time_minus_1": _range(law / esc - 1),
            "random_sim_over_escape_time_at_nominal_u0": _range(half[RANDOM] / esc),
            "random_not_reaching_half": int(np.isnan(half[RANDOM]).sum()),
            f"{what}_aligned_sim": _lists(_slopes(x, y), 3),
            f"{what}_exact_flow": _lists(_slopes(x, ey), 3),
            f"{what}_plateau_law": num(expected, 3),
        }
        law_txt = rf"$u_0^{{-{d - 2}/{d}}}/({'' if d == 3 else d - 2}\alpha s)$"
        law_txt = r"$\ln(s/u_0)/(2\alpha s)$" if d == 2 else law_txt
        ax = axes[i, 0]  # against u0: one colour per s
        dense = np.geomspace(u0.min() / 1.5, u0.max() * 1.5, 60)
        for c, m in zip(COLOURS, range(len(s)), strict=False):
            ok = dense < s[m]
            ax.plot(dense[ok], _half_flow(np.full(ok.sum(), s[m]), dense[ok], d, alpha), color=c, lw=0.9)
            ax.plot(dense[ok], theory.saxe_plateau_time(s[m], dense[ok], d, alpha), color=c, ls="--", lw=0.9)
            ax.plot(u0, half["aligned"][:, m], "o", color=c, ms=5, label=f"$s$ = {s[m]:g}")
            ax.plot(u0, half[RANDOM][:, m], "s", color=c, mfc="none", ms=6)
        ax.set_xlabel(r"$u_0 = a_0^D$ (initial strength of the mode)")
        ax.set_title(
            f"depth {d}, against $u_0$ (colour: $s$)\nsolid: exact flow; dashed: plateau law {law_txt}",
            fontsize=9,
        )
        ax = axes[i, 1]  # against s: one colour per u0
        sd = np.geomspace(s.min() / 1.3, s.max() * 1.3, 60)
        for c, a in zip(COLOURS, range(len(scales)), strict=False):
            ax.plot(sd, _half_flow(sd, np.full(sd.shape, u0[a]), d, alpha), color=c, lw=0.9)
            ax.plot(sd, theory.saxe_plateau_time(sd, u0[a], d, alpha), color=c, ls="--", lw=0.9)
            ax.plot(s, half["aligned"][a], "o", color=c, ms=5, label=f"$u_0$ = {u0[a]:.2g}")
            ax.plot(s, half[RANDOM][a], "s", color=c, mfc="none", ms=6)
        ax.set_xlabel(r"teacher singular value $s$")
        ax.set_title(
            f"depth {d}, against $s$ (colour: $u_0$)\nsolid: exact flow; dashed: plateau law", fontsize=9
        )
        for ax, where in zip(axes[i], ("upper right", "lower left"), strict=True):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylabel(r"time $t$ to $u = s/2$")
            plot.log_ticks(ax)
            ax.plot([], [], "ko", ms=5, label="aligned init")
            ax.plot(
                [], [], "ks", mfc="none", ms=6, label="fan-in Gaussian (seed mean),\nat nominal $u_0 = a_0^D$"
            )
            ax.legend(fontsize=6, ncol=2, loc=where)
    fig.suptitle(
        f"(b) plateau length: time for a mode to reach s/2, α = {alpha:g}, white noiseless data "
        f"(simulation points, theory lines; {ds.sizes['seed']} seeds)",
        fontsize=10,
    )
    save(fig, out, "modes_plateau", written)
    return res


# --------------------------------------------------------------------------- (c) depth


def _depth(ds, out, written) -> dict:
    """Time until E_g ≤ 0.1 σ_w² against depth at the rate eta0/D (the matching pairs of the
    depth × learning_rate grid), orthogonal and fan-in Gaussian inits, beside the decoupled
    flow from u0 = scale^D and, for scale-1 orthogonal layers, the linearised network."""
    ds = _point(ds)
    spec = spec_of(ds)
    pr, alpha, lrs = spec.problem, float(ds.alpha), ds.learning_rate.values
    eta0 = float(lrs.max())
    depths = [int(d) for d in ds.depth.values if nearest(lrs, eta0 / d) is not None]
    per_d = eta0 / np.array(depths)  # the rate of each depth
    tv_da, ok = realized_teacher_var(ds), analysis.valid(ds)
    w_bars = [data.seed_teacher(spec.seed, int(q), pr.n_in, pr.n_out, pr.teacher_var) for q in ds.seed.values]
    svals = [np.linalg.svd(np.asarray(w), compute_uv=False) for w in w_bars]
    top = float(np.mean([sv[0] for sv in svals]))
    res = {
        "eta0": num(eta0),
        "learning_rate_rule": "eta0/D: the matching pairs of the depth × learning_rate grid (rest unused)",
        "criterion": f"E_g ≤ {CRITERION} σ_w² on each seed's curve (σ_w² = ‖W̄‖²/(N·N_out)); seed mean",
        "teacher_top_singular_value_seed_mean": num(top, 3),
        "teacher_median_singular_value_seed_mean": num(np.mean([np.median(sv) for sv in svals]), 3),
    }
    fig = Figure(figsize=(11.5, 4.8), layout="constrained")
    ax_t, ax_e = fig.subplots(1, 2)
    for ci, scale in enumerate(ds.init_scale.values):
        c = COLOURS[ci]
        th = np.array([_decoupled_time(svals, d, scale**d, alpha) for d in depths])
        if scale < 1:  # at scale 1 the aligned network starts near the teacher: it describes no init here
            ax_t.plot(depths, th, color=c, ls=":", lw=1.2)
            ax_e.plot(depths, th / per_d, color=c, ls=":", lw=1.2)
        res[f"theory_decoupled,scale={scale:g}"] = {
            "time": _lists(th, 3),
            "epochs": _lists(th / per_d, 3),
            "drawn": bool(scale < 1),
            "what": "the aligned (decoupled) init's learning time from u0 = scale^D per mode: another start, "
            "not the orthogonal or Gaussian layers simulated; at scale 1 it is 3-4x faster than orthogonal "
            "init (its modes start aligned at u0/s >= 0.14), so it is not drawn",
        }
        for init in ds.init.values:
            pt = {"init": init, "init_scale": scale}
            res[f"{init},scale={scale:g}"] = _depth_sim(ds, ok, tv_da, pt, depths, eta0, top, (ax_t, ax_e), c)
    _depth_axes(ax_t, ax_e, depths, eta0)
    fig.suptitle(
        f"(c) learning time against depth: N = N_out = N_h = {pr.n_in}, Gaussian teacher "
        f"($\\sigma_w = 1$, top $s$ ≈ {top:.1f}, so $u_0/s$ ≥ {1 / top:.2f} at scale 1),\nwhite noiseless "
        f"data, rate {eta0:g}/D; seed mean ± s.d. of {ds.sizes['seed']} seeds, each seed's own time to the "
        "criterion",
        fontsize=10,
    )
    save(fig, out, "modes_depth", written)
    return res


def _decoupled_time(svals: list, d: int, u0: float, alpha: float) -> float:
    """The aligned network's time to the criterion from u0, seed mean, each seed's E_g(t)/σ_w² from
    its own spectrum ``svals``."""
    dense = np.geomspace(1e-4, 1e3, 3000)
    e = [np.sum((v[:, None] - theory.saxe_mode(v[:, None], u0, dense, d, alpha)) ** 2, 0) for v in svals]
    return np.mean(
        [crossing(dense, x / np.sum(v**2), CRITERION, False) for x, v in zip(e, svals, strict=True)]
    )


def _learn_times(ds, ok, tv: np.ndarray, pt: dict, rate) -> list:
    """Each seed's own time to E_g ≤ CRITERION σ_w² (``tv``: its σ_w²) at ``pt`` and ``rate``."""
    at = {**pt, "learning_rate": rate}
    curves = (ds.test_error.sel(at).where(ok.sel(at)) / tv[:, None]).values
    return [crossing(ds.time.sel(learning_rate=rate).values, e, CRITERION, rising=False) for e in curves]


def _depth_sim(ds, ok, tv_da, pt: dict, depths: list, eta0: float, top: float, axes, c) -> dict:
    """One (init, scale) of the simulation: each depth's learning time at eta0/D, drawn in time
    and in epochs (``axes``), and, for scale-1 orthogonal layers, the linearised network's."""
    lrs, tv, per_d = ds.learning_rate.values, tv_da.values, eta0 / np.array(depths)
    init, scale = pt["init"], pt["init_scale"]
    tl = np.array([_learn_times(ds, ok, tv, {**pt, "depth": d}, nearest(lrs, eta0 / d)) for d in depths])
    slow = np.array([np.nanmean(_learn_times(ds, ok, tv, {**pt, "depth": d}, lrs.min())) for d in depths])
    mean, sd = np.nanmean(tl, 1), np.nanstd(tl, 1)
    marker, ls = {"orthogonal": ("o", "-"), RANDOM: ("s", "--")}.get(init, ("^", "-."))
    lab = f"{init}, scale {scale:g}"
    for ax, f in zip(axes, (1.0, per_d), strict=True):
        ax.errorbar(depths, mean / f, sd / f, color=c, marker=marker, ls=ls, capsize=2, label=lab)
    r = {
        "u0_over_top_s_per_depth": [num(scale**d / top, 3) for d in depths],
        "time_sim": _lists(mean, 3),
        "time_sim_sd": _lists(sd, 2),
        "epochs_at_eta0_over_D": _lists(mean / per_d, 3),
        "epochs_max_over_min": num(np.nanmax(mean / per_d) / np.nanmin(mean / per_d), 3),
        "not_learnt_runs": int(np.isnan(tl).sum()),
        "time_vs_at_smallest_rate_relative": _lists(mean / slow - 1, 2),
    }
    if init == "orthogonal" and scale == 1:
        # every partial product of the layers is orthogonal: dW_eff/dt = αD(S − W_eff) at first,
        # the depth-1 flow at D times the rate, so the same number of epochs at eta0/D
        e0 = np.array(
            [float((ds.test_error.sel({**pt, "depth": d, "epoch": 0}) / tv_da).mean()) for d in depths]
        )
        lin = np.log(e0 / CRITERION) / (2 * float(ds.alpha) * np.array(depths))
        axes[0].plot(depths, lin, color="k", ls="-.", lw=1)
        axes[1].plot(depths, lin / per_d, color="k", ls="-.", lw=1)
        r["linearised_time"] = _lists(lin, 3)
        r["sim_over_linearised"] = _lists(mean / lin, 3)
    return r


def _depth_axes(ax_t, ax_e, depths: list, eta0: float) -> None:
    """The two panels' scales, labels and legend: learning time in t and in epochs at eta0/D."""
    ax_t.plot(
        [], [], color="grey", ls=":", label=r"aligned init from $u_0$ = scale$^D$ (decoupled flow), scale 0.5"
    )
    ax_t.plot([], [], color="k", ls="-.", label="linearised at orthogonal layers, scale 1")
    for ax in (ax_t, ax_e):
        ax.set_yscale("log")
        ax.set_xlabel("depth D (weight matrices)")
        ax.set_xticks(depths)
        plot.log_ticks(ax, "y")
    ax_t.set_ylabel(rf"time $t$ = lr·epoch to $E_g \leq {CRITERION}\,\sigma_w^2$")
    ax_e.set_ylabel(rf"epochs to $E_g \leq {CRITERION}\,\sigma_w^2$ at lr = {eta0:g}/D")
    ax_t.set_title(r"in time $t$ (a deep net at $u_0 = 1$ is $D$ times faster)", fontsize=9)
    ax_e.set_title(f"in epochs at the rate {eta0:g}/D (flat: depth-independent)", fontsize=9)
    ax_t.legend(fontsize=7)
