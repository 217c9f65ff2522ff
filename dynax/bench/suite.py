"""The suite: the standard workload, the scaling curves, the record (JSON and PNG) and its table."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import jax
import numpy as np

from .. import engine
from .._version import __version__
from ..sim.eigen import MAX_SIDE
from ..sim.scope import float64
from ..spec import parse_spec
from .contenders import (
    dynax_group,
    fused_costs,
    gd_costs,
    jax_vmap_raw,
    numpy_loop,
    raw_costs,
    subset,
    warm,
)
from .end_to_end import end_to_end
from .machine import cache_sizes, host, machine_peaks, peak_rss_bytes, rss_reset

STANDARD = """
name = "bench-standard"
[grid]
depth    = {depths}
n_over_p = {{ geomspace = [0.1, 10.0, 16] }}
snr      = {{ geomspace = [0.1, 100.0, 16] }}
seed     = {{ count = {seeds} }}
[problem]
n_in = {n}
[model]
width = {n}
init = "gaussian_fan_in"
init_scale = 0.1
[train]
learning_rate = {{ auto = 0.5 }}
epochs = {epochs}
record = {{ log = 100 }}
"""


FAST_LABELS = {"fused": "fused CPU kernel", "pallas": "Pallas GPU kernel"}


def fast_kernel() -> str | None:
    """The eigenbasis kernel this backend runs: the fused kernel on CPU, Pallas on a GPU
    (None elsewhere)."""
    return {"cpu": "fused", "gpu": "pallas"}.get(jax.default_backend())


# --------------------------------------------------------------------------- machine


def standard(quick: bool, peaks: dict, log) -> dict:
    """The standard workload (issue: depths 1-3, N = N_h = 100, 16 × 16 × 8 networks)."""
    seeds, epochs = (2, 500) if quick else (8, 2000)
    spec = parse_spec(STANDARD.format(depths=[1, 2, 3], seeds=seeds, n=100, epochs=epochs), "<bench>")
    spec_gd = parse_spec(spec.text, "<bench>", ["train.method=gd", "train.kernel=xla"])
    out = {"workload": {"networks_per_depth": spec.n_runs // 3, "epochs": epochs, "n_in": 100, "width": 100}}
    out["depths"] = {
        str(depth): _standard_depth(spec, spec_gd, depth, quick, peaks, log) for depth in (1, 2, 3)
    }
    return out


def _standard_depth(spec, spec_gd, depth: int, quick: bool, peaks: dict, log) -> dict:
    """One depth of the standard workload: dynax's XLA kernel, the obvious ways on subsets of its
    runs, and dynax's fastest path there (the eigenbasis kernel; at depth 1 the closed form)."""
    epochs = spec.train.epochs
    plan = engine.plan_sweep(
        parse_spec(spec_gd.text, "<bench>", ["train.method=gd", "train.kernel=xla", f"grid.depth=[{depth}]"])
    )
    gi = 0
    group = plan.groups[gi]
    k = group.config.k
    rss_reset()
    res, c_s, r_s = dynax_group(plan, gi)
    mem = peak_rss_bytes()
    n_net = len(group.runs)
    rate = n_net * epochs / r_s
    flops, nbytes = gd_costs(depth, 100, 100, k, 4)
    entry = {
        "dynax_gd": _entry(rate, c_s, mem, flops, nbytes, peaks, n_net, epochs),
    }
    log(f"depth {depth}: dynax_gd {rate:.3g} network-epochs/s (compile {c_s:.1f} s)")
    agree, numpy_ref = _obvious_ways(entry, plan, group, res, depth, spec.record_epochs, quick, peaks, log)
    contender = "dynax_gd"
    fast = fast_kernel()
    if depth >= 2 and fast:
        if _fast_kernel(entry, agree, spec, depth, fast, res, numpy_ref, n_net, peaks, log) > rate:
            contender = f"dynax_{fast}"  # the headline: dynax's fastest path
    if depth == 1:
        _closed_form(entry, agree, spec, res, k, peaks, log)
        contender = "closed_form"
    best = entry[contender]["network_epochs_per_s"]
    entry.update(
        contender=contender,
        speedup_vs_numpy_loop=best / entry["numpy_loop"]["network_epochs_per_s"],
        speedup_vs_jax_vmap_raw=best / entry["jax_vmap_raw"]["network_epochs_per_s"],
        gd_speedup_vs_numpy_loop=rate / entry["numpy_loop"]["network_epochs_per_s"],
        gd_speedup_vs_jax_vmap_raw=rate / entry["jax_vmap_raw"]["network_epochs_per_s"],
        speedup_vs_dynax_gd=best / rate,
        agreement=agree,
    )
    return entry


def _obvious_ways(
    entry: dict, plan, group, res: dict, depth: int, record_epochs, quick: bool, peaks, log
) -> tuple:
    """The NumPy loop and jax.vmap over the raw data on subsets of the group's runs (at the rates
    dynax used), into ``entry``; returns their agreement with dynax on the same data, and the NumPy
    loop's curves at dynax's recorded epochs with the runs (``pick``) and epochs (``ok``) of dynax's."""
    sub_n, sub_e = (4, 100) if quick else (8, 200)
    sub_j = 64 if quick else 256
    used = res["learning_rate_used"]  # the rate each run trained at (auto: halved where it rose)
    pick, raws = subset(plan, group, sub_n, used)
    np_curves, np_s = numpy_loop(raws, sub_e)
    p_mean = float(np.mean([r[0].shape[0] for r in raws]))
    f_np, b_np = raw_costs(depth, 100, 100, p_mean, 8)
    entry["numpy_loop"] = _entry(len(raws) * sub_e / np_s, 0.0, None, f_np, b_np, peaks, len(raws), sub_e)
    log(f"depth {depth}: numpy_loop {entry['numpy_loop']['network_epochs_per_s']:.3g} network-epochs/s")
    pick_j, raws_j = subset(plan, group, sub_j, used)
    rss_reset()
    jx_curves, jx_c, jx_s, p_max = jax_vmap_raw(raws_j, sub_e)
    f_jx, b_jx = raw_costs(depth, 100, 100, p_max, 4)
    entry["jax_vmap_raw"] = _entry(
        len(raws_j) * sub_e / jx_s, jx_c, peak_rss_bytes(), f_jx, b_jx, peaks, sub_j, sub_e
    )
    log(f"depth {depth}: jax_vmap_raw {entry['jax_vmap_raw']['network_epochs_per_s']:.3g} network-epochs/s")
    # agreement: the same curves on the same data (dynax at its recorded epochs)
    rec = np.asarray(record_epochs)
    ok = rec <= sub_e
    dyn = res["test_error"][pick][:, ok]
    dyn_j = res["test_error"][pick_j][:, ok]
    agree = {
        "numpy_loop_vs_dynax_max_rel": float(np.max(np.abs(np_curves[:, rec[ok]] / dyn - 1))),
        "jax_vmap_raw_vs_dynax_max_rel": float(np.max(np.abs(jx_curves[:, rec[ok]] / dyn_j - 1))),
        "epochs_compared": int(sub_e),
    }
    return agree, (np_curves[:, rec[ok]], pick, ok)


def _fast_kernel(entry, agree, spec, depth: int, fast: str, res, numpy_ref, n_net: int, peaks, log) -> float:
    """dynax's eigenbasis kernel at one depth, into ``entry`` and its agreement with the XLA kernel
    and the NumPy loop (``numpy_ref``) into ``agree``; returns its rate (0 where it failed)."""
    epochs = spec.train.epochs
    name = f"dynax_{fast}"
    try:  # a kernel that fails on this machine is a finding, not the end of the record
        plan_f = engine.plan_sweep(
            parse_spec(spec.text, "<bench>", [f"train.kernel={fast}", f"grid.depth=[{depth}]"])
        )
        warm(plan_f)
        rss_reset()
        res_f, c_f, r_f = dynax_group(plan_f, 0)
    except Exception as e:
        entry[name] = {"error": f"{type(e).__name__}: {e}"[:4000]}
        log(f"depth {depth}: {name} failed: {entry[name]['error'][:300]}")
        return 0.0
    f_f, b_f = fused_costs(depth, 100, 100, 4)
    entry[name] = _entry(n_net * epochs / r_f, c_f, peak_rss_bytes(), f_f, b_f, peaks, n_net, epochs)
    agree[f"{name}_vs_dynax_gd_max_rel"] = float(
        np.nanmax(np.abs(res_f["test_error"] / res["test_error"] - 1))
    )
    np_curves, pick, ok = numpy_ref
    agree[f"{name}_vs_numpy_loop_max_rel"] = float(
        np.max(np.abs(np_curves / res_f["test_error"][pick][:, ok] - 1))
    )
    log(f"depth {depth}: {name} {entry[name]['network_epochs_per_s']:.3g} network-epochs/s")
    return entry[name]["network_epochs_per_s"]


def _closed_form(entry: dict, agree: dict, spec, res: dict, k: int, peaks: dict, log) -> None:
    """dynax's depth-1 closed form, into ``entry``, and its agreement with the XLA kernel into
    ``agree``."""
    epochs = spec.train.epochs
    plan_cf = engine.plan_sweep(parse_spec(spec.text, "<bench>", ["grid.depth=[1]"]))
    rss_reset()
    res_cf, c_cf, r_cf = dynax_group(plan_cf, 0)
    n_cf = len(plan_cf.groups[0].runs)
    n = 100
    f_cf = 6.0 * n + (10 / 3 * n**3 + 4 * n * n * k) / epochs  # per epoch; eigh amortised
    entry["closed_form"] = _entry(
        n_cf * epochs / r_cf, c_cf, peak_rss_bytes(), f_cf, 8.0 * n, peaks, n_cf, epochs
    )
    agree["closed_form_vs_dynax_gd_max_rel"] = float(
        np.nanmax(np.abs(res_cf["test_error"] / res["test_error"] - 1))
    )
    log(f"depth 1: closed_form {entry['closed_form']['network_epochs_per_s']:.3g} network-epochs/s")


def _entry(rate, compile_s, mem, flops, nbytes, peaks, networks, epochs) -> dict:
    return {
        "network_epochs_per_s": rate,
        "compile_s": compile_s,
        "peak_rss_bytes": mem,
        "flops_per_network_epoch": flops,
        "bytes_per_network_epoch": nbytes,
        "flops_fraction_of_peak": rate * flops / peaks["matmul_flops_per_s"],
        "bytes_fraction_of_peak": rate * nbytes / peaks["copy_bytes_per_s"],
        "networks_measured": int(networks),
        "epochs_measured": int(epochs),
    }


def _throughput(text: str, overrides) -> float:
    spec = parse_spec(text, "<bench>", overrides)
    plan = engine.plan_sweep(spec)
    engine.execute(plan)  # compile and warm the data cache
    t0 = time.perf_counter()
    engine.execute(plan)
    return spec.n_runs * spec.train.epochs / (time.perf_counter() - t0)


def scaling(quick: bool, log) -> dict:
    """Throughput of each GD kernel (XLA and the backend's eigenbasis kernel: fused on CPU,
    Pallas on a GPU) against networks per sweep, input dimension N = N_h, and depth; the
    depth-1 closed form beside them."""
    text = STANDARD.format(depths=2, seeds=16, n=100, epochs=100)
    grid = lambda nets: [f"grid.snr={{geomspace=[0.1, 100.0, {max(1, nets // 16)}]}}",  # noqa: E731
                         f"grid.seed={{count={min(nets, 16)}}}", "grid.n_over_p=[1.0]"]  # fmt: skip
    nets = [1, 4, 16, 64, 256, 1024, 4096] + ([] if quick else [16384, 65536])
    out = {}
    for kernel in ("xla", fast_kernel()):
        if kernel is None:  # no eigenbasis kernel on this backend
            continue
        k = [f"train.kernel={kernel}", "train.method=gd"]
        sc = out[kernel] = {"networks": {}, "n_in": {}, "depth": {}}
        for m in nets:
            sc["networks"][str(m)] = _throughput(text, [*grid(m), *k])
            log(f"scaling ({kernel}): {m} networks {sc['networks'][str(m)]:.3g} network-epochs/s")
        for n in [25, 50, 100, 200] + ([] if quick else [400]):
            if kernel == "pallas" and n > MAX_SIDE:  # one program no longer holds a network
                continue
            t = STANDARD.format(depths=2, seeds=16, n=n, epochs=100)
            sc["n_in"][str(n)] = _throughput(t, [*grid(256), *k])
            log(f"scaling ({kernel}): N = {n} {sc['n_in'][str(n)]:.3g} network-epochs/s")
        for d in range(1 if kernel == "xla" else 2, 7):
            sc["depth"][str(d)] = _throughput(text, [*grid(256), f"grid.depth=[{d}]", *k])
            log(f"scaling ({kernel}): depth {d} {sc['depth'][str(d)]:.3g} network-epochs/s")
    out["depth_closed_form_1"] = _throughput(text, [*grid(256), "grid.depth=[1]"])
    out["caches"] = cache_sizes()
    return out


def plot_scaling(report: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    from ..plot import log_ticks

    sc = report["scaling"]
    fig = Figure(figsize=(13, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, key, xlabel in (
        (axes[0], "networks", "networks in the sweep (depth 2, N = 100, 100 epochs)"),
        (axes[1], "n_in", "input dimension N = N_h (depth 2, 256 networks)"),
        (axes[2], "depth", "depth (N = 100, 256 networks)"),
    ):
        kernels = [("xla", "o-", "XLA GD kernel")] + [(k, "s-", v) for k, v in FAST_LABELS.items()]
        for kernel, style, label in kernels:
            if kernel not in sc:
                continue
            xs = np.asarray([float(k) for k in sc[kernel][key]])
            ax.plot(xs, list(sc[kernel][key].values()), style, label=label)
        if key == "depth":
            ax.plot([1], [sc["depth_closed_form_1"]], "D", color="C3", label="closed form (depth 1)")
        else:
            ax.set_xscale("log")
        if key == "n_in" and "pallas" in sc:  # the largest network one program holds
            ax.axvline(MAX_SIDE, color="0.5", ls=":", lw=1)
            ax.text(MAX_SIDE, 0.02, " > one program", transform=ax.get_xaxis_transform(), fontsize=7)
        elif key == "n_in":  # where one network's W_1 (N_h x N float32) stops fitting in a cache
            for level, size in sorted(sc.get("caches", {}).items())[:2]:  # L1, L2: a core's own
                n_fit = (size / 4) ** 0.5
                ax.axvline(n_fit, color="0.5", ls=":", lw=1)
                ax.text(n_fit, 0.02, f" W_1 > {level}", transform=ax.get_xaxis_transform(), fontsize=7)
        ax.set_yscale("log")
        log_ticks(ax, "both" if key != "depth" else "y")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("network-epochs per second")
    fig.suptitle(f"dynax scaling on {report['device_kind']} ({report['machine']})", fontsize=9)
    fig.savefig(path, dpi=120)


@float64
def run_bench(quick: bool = False, output: str | Path | None = None, log=print) -> dict:
    """Run the suite; write the JSON (and the scaling PNG beside it); return the report."""
    info = host()
    peaks = machine_peaks(quick)
    log(
        f"peaks: {peaks['matmul_flops_per_s']:.3g} FLOP/s (matmul), "
        f"{peaks['copy_bytes_per_s']:.3g} B/s (copy)"
    )
    report = {
        "machine": info["machine"],
        "device_kind": info["device_kind"],
        "platform": info["platform"],
        "versions": {"dynax": __version__, "jax": jax.__version__, "numpy": np.__version__},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": bool(quick),
        "peaks": peaks,
        "notes": (
            "network_epochs_per_s excludes compilation (compile_s); dynax's contenders are the best "
            "of two runs of the whole workload (a machine's speed drifts between runs); the slow "
            "contenders train a measured subset (networks_measured x epochs_measured) and are "
            "scaled per network-epoch; "
            "FLOP and byte counts are analytic estimates per network-epoch"
        ),
    }
    name = f"{info['host_kind']}{'-quick' if quick else ''}.json"
    path = Path(output) if output else Path("results") / "benchmarks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    report.update(standard(quick, peaks, log))
    path.write_text(json.dumps(report, indent=1))  # the standard workload kept if scaling is cut short
    report["end_to_end"] = end_to_end(log, epochs=200 if quick else None)
    path.write_text(json.dumps(report, indent=1))
    report["scaling"] = scaling(quick, log)
    path.write_text(json.dumps(report, indent=1))
    plot_scaling(report, path.with_suffix(".png"))
    report["path"] = str(path)
    return report


def table(report: dict) -> str:
    """The report as a text table (what ``dynax bench`` prints)."""
    rows = ["depth  contender       network-epochs/s  compile s  FLOP/s %peak  B/s %peak  speedup"]
    for d, entry in report["depths"].items():
        for name in ("numpy_loop", "jax_vmap_raw", "dynax_gd", "dynax_fused", "dynax_pallas", "closed_form"):
            if name not in entry:
                continue
            e = entry[name]
            if "error" in e:
                rows.append(f"{d:>5}  {name:14s}  failed: {e['error'][:80]}")
                continue
            speed = ""
            if name == entry["contender"]:
                speed = f"{entry['speedup_vs_numpy_loop']:.0f}x numpy"
                speed += f", {entry['speedup_vs_jax_vmap_raw']:.1f}x jax"
                speed += f", {entry['speedup_vs_dynax_gd']:.1f}x xla" if name != "dynax_gd" else ""
            rows.append(
                f"{d:>5}  {name:14s}  {e['network_epochs_per_s']:16.3g}  {e['compile_s']:9.2f}  "
                f"{100 * e['flops_fraction_of_peak']:12.2f}  {100 * e['bytes_fraction_of_peak']:9.2f}  "
                f"{speed}"
            )
    e2e = report.get("end_to_end")
    if e2e:
        rows.append(
            f"end to end ({e2e['networks']} depth-2 networks, {e2e['epochs']} epochs, spec to curves): "
            f"dynax {e2e['dynax_s']:.2f} s, plain jit(vmap) {e2e['jit_vmap_s']:.2f} s: {e2e['speedup']:.1f}x"
        )
    return "\n".join(rows)
