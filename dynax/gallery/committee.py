"""Gallery item `committee`: soft committee machines learning online (docs/theory.md §6). Each run
against the ODEs integrated from its own initial overlaps (``dynax theory``): the plateau and its
escape for K = M = 2, 3, 4; the paired difference simulation − ODE at N = 250, 500, 1000 (its
size shrinking like 1/√N); the plateau's length against the rate and the initial asymmetry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .. import analysis
from ..predict.committee import integrate
from ..spec import derived
from ..store import spec_of
from .common import COLOURS, crossing, mean_sem, num, save

__all__ = ["committee"]

FLOOR = 1e-5  # the plots' lowest E_g: float32 overlaps give the O(1) terms of E_g to about 1e-7
ESCAPE_MARGIN = 1.5  # the escape window: the runs' escape times (sim and ODE) widened by this factor


def _symmetric(a) -> np.ndarray:
    """A square matrix with every diagonal entry its diagonal's mean and every other its mean."""
    k = len(a)
    off = np.mean(a[~np.eye(k, dtype=bool)]) if k > 1 else 0.0
    return np.where(np.eye(k, dtype=bool), np.mean(np.diag(a)), off)


def _plateau(q0, r0, t, v_star, eta, noise_var, alpha_max=200.0) -> float:
    """E_g of the symmetric plateau: the ODE from a start where every student and every teacher unit
    is alike (Q₀ and T replaced by their symmetric means, every R₀ entry by their mean) stays on the symmetric
    subspace and settles on the plateau; its value at ``alpha_max`` (long after it settles, before
    rounding errors could grow off the subspace). K = M, equal teacher readouts, fixed student
    readouts and no weight decay (checked by the caller)."""
    k = len(q0)
    start = (_symmetric(q0), np.full_like(r0, r0.mean()), _symmetric(t), np.ones(k))
    args = [np.stack([a]) for a in (*start, v_star, eta, noise_var, 0.0, 0.0)]
    return float(integrate(*args, np.array([[0.0, alpha_max / 2, alpha_max]]))[3][0, -1])


def _alpha(ds, spec) -> np.ndarray:
    return derived.online_examples(spec)[0] / spec.problem.n_in


def _escape(alpha, e, level) -> float:
    """The first α at which E_g falls below ``level`` after its start (linear between records)."""
    return crossing(alpha, e, level, rising=False)


def _runs(ds, th, spec):
    """Per (snr, rate): the sim and ODE curves (seed, epoch), the level halfway from the symmetric
    plateau to the lowest end any run's ODE reaches (σ_ε² plus what a finite rate leaves), and each
    seed's escape α (its first crossing) in both."""
    alpha = _alpha(ds, spec)
    ok = analysis.valid(ds)
    out = {}
    for snr in np.atleast_1d(ds.snr.values):
        for eta in np.atleast_1d(ds.learning_rate.values) if "learning_rate" in ds.dims else [None]:
            pt = {"snr": snr, **({"learning_rate": eta} if eta is not None else {})}
            rate = float(eta if eta is not None else spec.train.learning_rate)
            sim = ds.test_error.sel(pt).where(ok.sel(pt)).squeeze(["depth", "n_over_p"]).values
            ode = th.ode_test_error.sel(pt).squeeze(["depth", "n_over_p"]).values
            s0 = int(ds.seed.values[0])
            q0 = ds.overlap_Q.sel(pt).sel(seed=s0).isel(epoch=0).squeeze().values
            r0 = ds.overlap_R.sel(pt).isel(epoch=0).squeeze(["depth", "n_over_p"]).values
            t = ds.overlap_T.sel(seed=s0).values
            nv = float(derived.noise_var(spec.problem.teacher_var, snr))
            v_star = np.asarray(spec.problem.teacher_readout or np.ones(spec.problem.teacher_width))
            plateau = _plateau(q0, r0.mean(0), t, v_star, rate, nv)
            level = 0.5 * (plateau + np.nanmin(ode[:, -1]))  # halfway to the lowest run's end
            esc_sim = np.array([_escape(alpha, c, level) for c in sim])
            esc_ode = np.array([_escape(alpha, c, level) for c in ode])
            asym = np.array([_asymmetry(r) for r in r0])
            out[float(snr), rate] = dict(sim=sim, ode=ode, plateau=plateau, level=level, esc_sim=esc_sim,
                                         esc_ode=esc_ode, asym=asym, noise_var=nv)  # fmt: skip
    return alpha, out


def _asymmetry(r0) -> float:
    """How far a start is from the symmetric plateau: the largest entry of R₀ double-centred (less
    its row and column means, plus their mean), the part that is neither a student's nor a teacher
    unit's common component; for K = M = 2 each entry is ±(R₁₁ − R₁₂ − R₂₁ + R₂₂)/4, the
    specialisation the plateau waits for."""
    dev = r0 - r0.mean(axis=1, keepdims=True) - r0.mean(axis=0, keepdims=True) + r0.mean()
    return float(np.max(np.abs(dev)))


def _agreement(alpha, run) -> dict:
    """The paired difference sim − ODE per record: its seed mean over its s.e., the largest outside
    the escape window and inside it (reported apart), and its root mean square over the seeds."""
    d = run["sim"] - run["ode"]
    mean, sem = mean_sem(d)
    esc = np.concatenate([run["esc_sim"], run["esc_ode"]])
    esc = esc[np.isfinite(esc)]
    lo, hi = (esc.min() / ESCAPE_MARGIN, esc.max() * ESCAPE_MARGIN) if esc.size else (np.nan, np.nan)
    inside = (alpha >= lo) & (alpha <= hi)
    z = np.abs(mean) / np.where(sem > 0, sem, np.nan)
    outside = ~inside & np.isfinite(z)
    if not outside.any():
        raise ValueError("gallery committee: every record lies in the escape window; record longer runs")
    rms = np.sqrt(np.nanmean(d[:, outside & (alpha > 0)] ** 2))
    return {
        "escape_window_alpha": [num(lo), num(hi)],
        "max_abs_mean_over_sem_outside_window": num(np.nanmax(z[outside]), 3),
        "records_outside_within_3_sem": f"{int(np.sum(z[outside] <= 3))}/{int(outside.sum())}",
        "max_abs_mean_over_sem_inside_window": num(np.nanmax(z[inside]), 3) if inside.any() else None,
        "rms_difference_outside_window": num(rms),
        "max_abs_seed_mean_difference_outside_window": num(np.nanmax(np.abs(mean[outside]))),
    }


def committee(results, out: Path) -> tuple[dict, list]:
    """K = M = 2 at N = 250, 500 (three rates), 1000; K = M = 3 at N = 1000; K = M = 4 at N = 500."""
    by_name = {}
    for ds, th in results:
        spec = spec_of(ds)
        pr, m = spec.problem, spec.model
        plain = len(set(pr.teacher_readout)) <= 1 and not m.train_readout and not spec.train.weight_decay
        if m.student != "committee" or m.width != pr.teacher_width or not plain or "weight_decay" in ds.dims:
            raise ValueError(f"gallery committee: {spec.name} is not a K = M committee sweep with equal "
                             "teacher readouts, fixed student readouts and no weight decay")  # fmt: skip
        by_name[spec.name] = (ds, th, spec, *_runs(ds, th, spec))
    nums, gap = {"runs": {}}, {}
    for name, (_, _, spec, alpha, runs) in by_name.items():
        pr = spec.problem
        for (snr, eta), run in runs.items():
            key = f"{name}: N={pr.n_in},K=M={pr.teacher_width},eta={eta:g},snr={snr:g}"
            agree = _agreement(alpha, run)
            if pr.teacher_width == 2 and eta == 0.5:
                gap[pr.n_in, snr] = agree["rms_difference_outside_window"]
            nums["runs"][key] = {
                "plateau_test_error_ode": num(run["plateau"]),
                "final_test_error_seed_mean": {
                    "sim": num(np.nanmean(run["sim"][:, -1])),
                    "ode": num(np.nanmean(run["ode"][:, -1])),
                },
                "escape_alpha_seed_mean": {k: num(mean_sem(run[f"esc_{k}"])[0]) for k in ("sim", "ode")},
                "escape_alpha_against_log_initial_specialisation": _fit(run),
                "escape_alpha_unreached": {
                    "sim": int(np.isnan(run["esc_sim"]).sum()),
                    "ode": int(np.isnan(run["esc_ode"]).sum()),
                },
                **agree,
            }
    nums["gap_vs_n"] = _gap_slopes(gap)
    written = []
    _plateau_figure(by_name, out, written)
    _agreement_figure(by_name, gap, out, written)
    _escape_figure(by_name, out, written)
    return nums, written


def _fit(run) -> dict:
    """The escape α against ln of the initial specialisation (:func:`_asymmetry`), over the seeds
    that escaped: slope and correlation, simulation and ODE (a linear instability: α_esc ≈
    a − ln(d₀)/λ)."""
    out = {}
    for kind in ("sim", "ode"):
        esc = run[f"esc_{kind}"]
        ok = np.isfinite(esc)
        if ok.sum() < 3:
            out[kind] = None
            continue
        x = np.log(run["asym"][ok])
        out[kind] = {
            "slope": num(np.polyfit(x, esc[ok], 1)[0], 3),
            "correlation": num(np.corrcoef(x, esc[ok])[0, 1], 3),
        }
    return out


def _gap_slopes(gap: dict) -> dict:
    """The RMS sim − ODE difference (outside the escape window) at each N, and the slope of
    log RMS against log N (−1/2 for fluctuations of order 1/√N)."""
    out = {}
    for snr in sorted({s for _, s in gap}):
        ns = sorted(n for n, s in gap if s == snr)
        rms = [gap[n, snr] for n in ns]
        ok = [(n, r) for n, r in zip(ns, rms, strict=True) if r]
        slope = (
            np.polyfit(np.log([n for n, _ in ok]), np.log([r for _, r in ok]), 1)[0] if len(ok) > 1 else None
        )
        out[f"snr={snr:g}"] = {"N": ns, "rms": rms, "log_log_slope": num(slope, 3) if slope else None}
    return out


def _pick(by_name, k: int, eta: float = 0.5):
    """The largest-N sweep of K = M = k that has the rate ``eta``."""
    found = [(s.problem.n_in, name) for name, (_, _, s, _, runs) in by_name.items()
             if s.problem.teacher_width == k and any(e == eta for _, e in runs)]  # fmt: skip
    return by_name[max(found)[1]] if found else None


def _plateau_figure(by_name, out: Path, written: list) -> None:
    ks = [k for k in (2, 3, 4) if _pick(by_name, k)]
    fig = Figure(figsize=(5 * len(ks), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(ks)))
    for ax, k in zip(axes, ks, strict=True):
        _, _, spec, alpha, runs = _pick(by_name, k)
        a = alpha[1:]
        for j, ((snr, eta), run) in enumerate(sorted(runs.items())):
            if eta != 0.5:
                continue
            colour = COLOURS[j % len(COLOURS)]
            for c, o in zip(run["sim"], run["ode"], strict=True):
                ax.plot(a, c[1:], color=colour, lw=0.4, alpha=0.35)
                ax.plot(a, o[1:], color="k", lw=0.4, alpha=0.35, ls="--")
            ax.plot(a, np.nanmean(run["sim"], 0)[1:], color=colour, lw=2, label=f"SNR {snr:g}: simulation")
            ax.plot(a, np.nanmean(run["ode"], 0)[1:], color="k", lw=1.5, ls="--")
            ax.axhline(run["plateau"], color=colour, lw=0.8, ls=":")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="α = examples / N",
            title=f"K = M = {k}, N = {spec.problem.n_in}, η = 0.5",
        )
        ax.set_ylim(bottom=FLOOR)  # below it a float32 run's closed form is its rounding
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("E_g (includes σ_ε²; twice the papers' ε_g)")
    fig.suptitle(
        "Soft committee machines, online SGD: each seed (thin) and its own ODE from its initial overlaps "
        "(black dashed);\nseed means bold; dotted: the symmetric plateau (the ODE from a symmetric start); "
        f"float32 runs (below {FLOOR:g} their E_g is rounding)",
        fontsize=9,
    )
    save(fig, out, "committee_plateau", written)


def _agreement_figure(by_name, gap: dict, out: Path, written: list) -> None:
    sweeps = sorted((s.problem.n_in, name) for name, (_, _, s, _, r) in by_name.items()
                    if s.problem.teacher_width == 2)  # fmt: skip
    snrs = sorted({s for _, s in gap})
    fig = Figure(figsize=(5 * (len(snrs) + 1), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(snrs) + 1))
    for ax, snr in zip(axes, snrs, strict=False):
        for j, (n, name) in enumerate(sweeps):
            _, _, _, alpha, runs = by_name[name]
            if (snr, 0.5) not in runs:
                continue
            run = runs[snr, 0.5]
            mean, sem = mean_sem(run["sim"] - run["ode"])
            colour = COLOURS[j % len(COLOURS)]
            ax.plot(alpha[1:], mean[1:], color=colour, lw=1.5, label=f"N = {n}")
            ax.fill_between(alpha[1:], (mean - 2 * sem)[1:], (mean + 2 * sem)[1:], color=colour, alpha=0.2)
            win = _agreement(alpha, run)["escape_window_alpha"]
            ax.axvspan(*win, color=colour, alpha=0.06)
        ax.axhline(0, color="k", lw=0.6)
        ax.set(xscale="log", xlabel="α = examples / N", title=f"K = M = 2, η = 0.5, SNR {snr:g}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("paired E_g(sim) − E_g(ODE): seed mean ± 2 s.e. (16 seeds)")
    ax = axes[-1]
    for j, snr in enumerate(snrs):
        ns = sorted(n for n, s in gap if s == snr)
        rms = [gap[n, snr] for n in ns]
        ax.plot(ns, rms, "o-", color=COLOURS[j % len(COLOURS)], label=f"SNR {snr:g}")
        if rms and rms[0]:
            ax.plot(ns, rms[0] * np.sqrt(ns[0] / np.asarray(ns, float)), color="k", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="N", ylabel="RMS over seeds and records of sim − ODE",
           title="outside the escape windows; dotted: ∝ 1/√N")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.suptitle("Simulation against its own ODE; shaded: the escape windows (reported apart)", fontsize=9)
    save(fig, out, "committee_ode_agreement", written)


def _escape_figure(by_name, out: Path, written: list) -> None:
    found = [(name, v) for name, v in by_name.items() if len(v[4]) > 2 and v[2].problem.teacher_width == 2]
    if not found:
        return
    spec, runs = found[0][1][2], found[0][1][4]
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    etas = sorted({e for _, e in runs})
    for snr in sorted({s for s, _ in runs}):
        if snr != np.inf:
            continue
        for j, eta in enumerate(etas):
            run, colour = runs[snr, eta], COLOURS[j % len(COLOURS)]
            ax.plot(run["asym"], run["esc_sim"], "o", color=colour, ms=4, label=f"η = {eta:g}: simulation")
            ax.plot(run["asym"], run["esc_ode"], "x", color="k", ms=4)
        sims = [mean_sem(runs[snr, e]["esc_sim"]) for e in etas]
        odes = [mean_sem(runs[snr, e]["esc_ode"]) for e in etas]
        bx.errorbar(
            etas, [m for m, _ in sims], [2 * s for _, s in sims], marker="o", capsize=3, label="simulation"
        )
        bx.errorbar(etas, [m for m, _ in odes], [2 * s for _, s in odes], marker="x", ls="--", color="k",
                    capsize=3, label="own ODEs")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="initial specialisation d₀ = |R₁₁ − R₁₂ − R₂₁ + R₂₂|/4",
           ylabel="escape α (E_g halfway from the plateau to the end)",
           title=f"K = M = 2, N = {spec.problem.n_in}, noiseless: each seed; x: its own ODE")  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    ax.xaxis.set_minor_formatter(NullFormatter())
    escaped = ", ".join(str(int(np.isfinite(runs[np.inf, e]["esc_sim"]).sum())) for e in etas)
    bx.set(xscale="log", yscale="log", xlabel="learning rate η", ylabel="escape α: seed mean ± 2 s.e.",
           title=f"plateau length against η (noiseless); seeds escaped\nby the last record: {escaped} "
           f"of {len(runs[np.inf, etas[0]]['esc_sim'])} (the mean over those)")  # fmt: skip
    bx.title.set_fontsize(9)
    bx.legend(fontsize=7)
    bx.grid(alpha=0.3, which="both")
    save(fig, out, "committee_escape", written)
