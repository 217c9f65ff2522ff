"""The ``dynax`` command line (DESIGN.md §4 "Command line").

Exit codes: 0 success, 2 bad input (spec or arguments), 1 any other failure.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys
import time
import traceback
from pathlib import Path

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is 2 already; keep its format
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use bytes or e.g. 512MiB, 4GiB")
    value = float(m.group(1))
    unit = (m.group(2) or "b").lower()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(unit[0], 1)
    return int(value * scale)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be ≥ 1")
    return v


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dynax", description="Train thousands of deep linear networks at once.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a sweep spec and write its netCDF result")
    run.add_argument("spec", help="sweep spec (TOML)")
    run.add_argument("-o", "--output", help="output file (default results/<spec stem>.nc)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
    run.add_argument("--chunk-size", type=_positive_int, help="runs per chunk (a whole number of batches)")
    run.add_argument("--memory-budget", type=_bytes, help="device bytes per compiled call, e.g. 2GiB")
    run.add_argument("--resume", action="store_true", help="reuse the finished chunks in OUT.parts/")
    run.add_argument("--shard", metavar="I/N", help="run chunks I, I+N, ... (0-based) into a full-shape OUT")
    run.add_argument("--devices", type=_positive_int, default=1, help="local devices to shard the runs over")
    run.add_argument("--scheduler", metavar="ADDR", help="Dask: local:N (a LocalCluster) or tcp://host:port")
    run.add_argument("--quiet", action="store_true", help="no progress or summary")

    bn = sub.add_parser("bench", help="benchmark dynax against the obvious ways, on this machine")
    bn.add_argument(
        "--quick", action="store_true", help="a smaller workload (under 3 minutes on 2 CPU cores)"
    )
    bn.add_argument("-o", "--output", help="JSON file (default results/benchmarks/<host kind>.json)")

    mg = sub.add_parser("merge", help="merge shard outputs into one result")
    mg.add_argument("output", help="the merged result")
    mg.add_argument("parts", nargs="+", help="shard outputs of dynax run --shard")

    th = sub.add_parser("theory", help="the theory's predictions on a spec's grid")
    th.add_argument("spec")
    th.add_argument("-o", "--output", help="output file (default results/<spec stem>.theory.nc)")
    th.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    an = sub.add_parser("analyze", help="reduce a result to its summary and figures")
    an.add_argument("result", help="a result netCDF from dynax run")
    an.add_argument("-o", "--output", help="summary file (default <result stem>.summary.nc)")
    an.add_argument("--figures", help="figure folder (default <result stem>/ beside the result)")
    an.add_argument(
        "--theory",
        nargs="?",
        const="",
        metavar="PATH",
        help="compare with theory: a theory netCDF, or computed from the result's spec when no PATH",
    )
    an.add_argument("--pdf", action="store_true", help="also write each figure as PDF")

    ga = sub.add_parser("gallery", help="figures and numbers of a gallery item (results/README.md)")
    ga.add_argument(
        "item", help="learning_curves, phase_diagram, frozen_subspace, depth, replay_vs_online, nonlinear"
    )
    ga.add_argument(
        "--results", default="results", help="results folder (default results): reads <item>/<spec>.nc"
    )
    ga.add_argument("--out", help="figure folder (default <results>/<item>/)")

    val = sub.add_parser("validate", help="check a spec and print its plan")
    val.add_argument("spec")
    val.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    val.add_argument("--chunk-size", type=_positive_int)
    val.add_argument("--memory-budget", type=_bytes)
    return p


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _lr_warnings(spec) -> list[str]:
    """Fixed learning rates above the stability bound, with the theory's λ_max = (1+√α)²."""
    from .kernel import KernelConfig
    from .spec import Auto
    from .theory import stability_bound

    if spec.dims.count("learning_rate"):
        rates = spec.axis("learning_rate").values
    else:
        rates = [spec.train.learning_rate]
    if any(isinstance(r, Auto) for r in rates) or spec.model.student == "random_features":
        return []  # random features: the bound is 2/λ_max of the feature Gram, not of the inputs
    pr = spec.problem
    teacher_norm = math.sqrt(pr.n_in * pr.n_out * pr.teacher_var)
    inits = spec.axis("init").values if "init" in spec.dims else [spec.model.init]
    scales = spec.axis("init_scale").values if "init_scale" in spec.dims else [spec.model.init_scale]
    widths = spec.axis("width").values if "width" in spec.dims else [spec.model.width]
    out = []
    for depth in spec.axis("depth").values:
        for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
            lam_max = (1 + math.sqrt(p / pr.n_in)) ** 2
            scale = 1.0 / p if spec.train.loss == "mean" else 1.0
            worst = math.inf
            for init in inits:
                for s in scales:
                    for w in widths:
                        shapes = KernelConfig(depth, w, pr.n_in, pr.n_out, 1, 1, (0, 1)).shapes()
                        eps = float(stability_bound(depth, lam_max, teacher_norm, init, shapes, s))
                        worst = min(worst, eps / scale)
            bad = [lr for lr in rates if lr > worst]
            if bad:
                out.append(
                    f"learning rate {max(bad):g} exceeds the stability bound {worst:.3g} at depth {depth}, "
                    f"N/P = {r:g} (science.md §3.2); those runs will likely diverge"
                )
    return out


def _validate(args) -> int:
    from .engine import plan_sweep
    from .spec import load_spec

    spec = load_spec(args.spec, args.set)
    plan = plan_sweep(spec, args.chunk_size, args.memory_budget)
    dims = " x ".join(f"{a.name} {len(a.values)}" for a in spec.axes)
    print(f"spec        {spec.path}  (sha256 {spec.sha256[:12]})")
    print(f"runs        {spec.n_runs} = {dims}")
    rec = spec.train.record
    print(f"epochs      {spec.train.epochs}, {len(spec.record_epochs)} recorded ({rec.kind} {rec.value})")
    print(f"P values    {', '.join(str(p) for p in spec.n_train)}  (N = {spec.problem.n_in})")
    print(f"groups      {len(plan.groups)} compile group(s)")
    for gi, g in enumerate(plan.groups):
        per_call = plan.bytes_per_run[gi] * g.batch
        print(
            f"  {g.label():45s} {len(g.runs):7d} runs  batch {g.batch:6d}  chunk {g.chunk_size:7d}  "
            f"{g.n_chunks:5d} chunk(s)  ~{_mib(per_call)} per call and device"
        )
    print(f"output      ~{_mib(plan.output_bytes())} (netCDF, uncompressed)")
    for w in _lr_warnings(spec):
        print(f"warning: {w}")
    return 0


class _Progress:
    """A progress bar on a terminal (runs done, runs/s, ETA); plain lines every 10 s
    otherwise. It only formats a line after each chunk, so it costs nothing measurable."""

    def __init__(self, quiet: bool, stream=None):
        self.quiet, self.stream = quiet, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last = -math.inf
        self.first = None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if self.first is None:  # runs reused from part files do not count towards the rate
            self.first = (now, done)
        elapsed, ran = now - self.first[0], done - self.first[1]
        rate = ran / elapsed if elapsed > 0 and ran > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else math.inf
        eta_text = "--" if not math.isfinite(eta) else time.strftime("%H:%M:%S", time.gmtime(eta))
        if self.tty:
            width = 30
            filled = int(width * done / max(total, 1))
            bar = "#" * filled + "." * (width - filled)
            line = f"\r[{bar}] {done}/{total} runs  {rate:.0f} runs/s  ETA {eta_text}"
            print(line, end="\n" if done >= total else "", file=self.stream, flush=True)
        elif now - self.last >= 10 or done >= total:
            self.last = now
            print(f"  {done}/{total} runs  {rate:.0f} runs/s  ETA {eta_text}", file=self.stream, flush=True)


def _run(args) -> int:
    import shutil

    import jax

    from .engine import execute, parse_shard, plan_sweep, recorded_layout
    from .spec import SpecError, load_spec
    from .store import build_dataset, write_netcdf

    spec = load_spec(args.spec, args.set)
    out = Path(args.output) if args.output else Path("results") / f"{Path(args.spec).stem}.nc"
    shard = parse_shard(args.shard) if args.shard else (0, 1)
    n_dev = len(jax.local_devices())
    if args.devices > n_dev:
        raise SpecError(f"--devices {args.devices}: only {n_dev} local device(s) ({jax.default_backend()})")
    parts = out.with_name(out.name + ".parts")
    layout = recorded_layout(parts) if args.resume else None
    if layout is not None and layout.get("spec_sha256") != spec.sha256:
        layout = None  # execute() refuses the mix with a clear message
    plan = plan_sweep(spec, args.chunk_size, args.memory_budget, args.devices, layout)
    history = "dynax " + " ".join(shlex.quote(a) for a in args.argv)
    t0 = time.perf_counter()
    if not args.quiet:
        where = f" on {args.scheduler}" if args.scheduler else ""
        part = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
        print(
            f"dynax: {spec.n_runs} runs in {len(plan.groups)} compile group(s), "
            f"{len(plan.chunks)} chunk(s){part}{where} -> {out}",
            file=sys.stderr,
        )
    try:
        res = execute(
            plan,
            _Progress(args.quiet),
            parts=parts,
            resume=args.resume,
            shard=shard,
            scheduler=args.scheduler,
        )
    except KeyboardInterrupt:
        saved = len(list(parts.glob("chunk-*.nc"))) if parts.exists() else 0
        print(
            f"\ndynax: interrupted; {saved} finished chunk(s) are saved in {parts}/ "
            f"(the chunk in flight was discarded). To finish, run the same command with --resume.",
            file=sys.stderr,
        )
        return 1
    ds = build_dataset(plan, res, history=history)
    write_netcdf(ds, out)
    shutil.rmtree(parts, ignore_errors=True)
    wall = time.perf_counter() - t0
    if not args.quiet:
        _summary(ds, res, wall, out)
    return 0


def _merge(args) -> int:
    import numpy as np
    import xarray as xr

    from .engine import SweepResult, plan_sweep
    from .spec import SpecError, parse_spec
    from .store import build_dataset, write_netcdf

    dss = []
    for p in args.parts:
        try:
            dss.append(xr.open_dataset(p).load())
        except (OSError, ValueError) as e:
            raise SpecError(f"{p}: not a readable result ({e})") from None
    shas = {ds.attrs.get("spec_sha256") for ds in dss}
    if len(shas) != 1:
        listing = ", ".join(
            f"{p}: {ds.attrs.get('spec_sha256', '?')[:12]}" for p, ds in zip(args.parts, dss, strict=True)
        )
        raise SpecError(f"merge: the parts come from different specs ({listing})")
    first = dss[0]
    overrides = [o for o in first.attrs.get("spec_overrides", "").split("\n") if o]
    spec = parse_spec(first.attrs["spec_toml"], first.attrs.get("spec_path", args.parts[0]), overrides)
    present = [
        (ds.present if "present" in ds else xr.ones_like(ds.diverged)).transpose(*spec.dims).values.ravel()
        == 1
        for ds in dss
    ]
    count = np.sum(present, axis=0)
    if (count > 1).any():
        both = [p for p, m in zip(args.parts, present, strict=True) if (m & (count > 1)).any()]
        raise SpecError(
            f"merge: {int((count > 1).sum())} run(s) are in more than one part ({', '.join(both)})"
        )
    if (count == 0).any():
        raise SpecError(f"merge: {int((count == 0).sum())} run(s) are in no part: a shard is missing")
    res = SweepResult.empty(spec)
    for ds, mask in zip(dss, present, strict=True):
        flat = {
            v: ds[v].transpose(*spec.dims, *(["epoch"] if "epoch" in ds[v].dims else [])).values
            for v in (
                "train_error",
                "test_error",
                "best_test_error",
                "best_epoch",
                "best_examples",
                "diverged",
            )
        }
        n = spec.n_runs
        res.train_error[mask] = flat["train_error"].reshape(n, -1)[mask]
        res.test_error[mask] = flat["test_error"].reshape(n, -1)[mask]
        res.best_test_error[mask] = flat["best_test_error"].reshape(n)[mask]
        res.best_epoch[mask] = flat["best_epoch"].reshape(n)[mask]
        res.best_examples[mask] = flat["best_examples"].reshape(n)[mask]
        res.diverged[mask] = flat["diverged"].reshape(n)[mask]
        if res.null_space_error is not None:
            null = ds.null_space_error.transpose(*spec.dims, "epoch").values
            res.null_space_error[mask] = null.reshape(n, -1)[mask]
        if "learning_rate_used" in ds:
            res.learning_rate_used[mask] = ds.learning_rate_used.transpose(*spec.dims).values.reshape(n)[mask]
        res.present |= mask
    plan = plan_sweep(spec)
    if "learning_rate_used" not in first:  # a fixed rate: the same in every part
        res.learning_rate_used[:] = plan.table.lr
    ds = build_dataset(plan, res, history="dynax " + " ".join(shlex.quote(a) for a in args.argv))
    write_netcdf(ds, args.output)
    print(f"wrote {args.output}: {spec.n_runs} runs merged from {len(dss)} part(s)")
    return 0


def _theory(args) -> int:
    from .spec import load_spec
    from .store import write_netcdf
    from .theory import theory_dataset

    spec = load_spec(args.spec, args.set)
    out = Path(args.output) if args.output else Path("results") / f"{Path(args.spec).stem}.theory.nc"
    ds = theory_dataset(spec)
    ds.attrs["history"] = "dynax " + " ".join(shlex.quote(a) for a in args.argv)
    write_netcdf(ds, out)
    n_ok = int(ds.optimal_test_error.notnull().sum())
    print(f"wrote {out}: theory at {n_ok} of {ds.optimal_test_error.size} grid points")
    for name in ("test_error", "optimal_test_error"):
        if "comment" in ds[name].attrs:
            print(f"  {name}: {ds[name].attrs['comment']}")
    return 0


def _analyze(args) -> int:
    import itertools

    import numpy as np
    import xarray as xr

    from . import analysis, plot
    from .spec import CORE_DIMS, SpecError, parse_spec
    from .store import write_netcdf
    from .theory import theory_dataset

    path = Path(args.result)
    if not path.exists():
        raise SpecError(f"{path}: no such result file")
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}: not a readable netCDF result ({e})") from None
    missing = [v for v in ("test_error", "best_test_error", "diverged", "noise_var") if v not in ds.variables]
    if missing:
        raise SpecError(f"{path}: not a dynax result (missing {', '.join(missing)})")
    theory = None
    if args.theory is not None:
        if args.theory:
            theory = xr.open_dataset(args.theory)
        else:
            overrides = [o for o in ds.attrs.get("spec_overrides", "").split("\n") if o]
            theory = theory_dataset(parse_spec(ds.attrs["spec_toml"], str(path), overrides))
    summary = analysis.summarize(ds, theory)
    summary.attrs["history"] = "dynax " + " ".join(shlex.quote(a) for a in args.argv)
    out = Path(args.output) if args.output else path.with_name(f"{path.stem}.summary.nc")
    write_netcdf(summary, out)
    figdir = Path(args.figures) if args.figures else path.with_name(path.stem)
    figdir.mkdir(parents=True, exist_ok=True)
    extra = [d for d in summary.dims if d not in CORE_DIMS]
    combos = list(itertools.product(*[[(d, v) for v in summary[d].values] for d in extra])) or [()]
    written = []
    for combo in combos:
        sel = dict(combo)
        suffix = "".join(f"_{d}={v}" for d, v in combo)
        s, r = summary.sel(sel), ds.sel(sel)
        th = theory.sel({k: v for k, v in sel.items() if k in theory.dims}) if theory is not None else None
        noisy = bool(np.isfinite(s.snr.values).any())  # the maps are over finite SNRs, in units of σ_ε²
        figs = {}
        if noisy:
            figs["phase_diagram"] = plot.phase_diagram(s)
            figs["optimal_time"] = plot.heatmaps(
                s.opt_time_of_mean, label="optimal stopping time t* (seed-mean curve)", title="optimal time"
            )
            figs["overtraining"] = plot.heatmaps(
                (s.overtraining / s.noise_var.where(s.noise_var > 0)).clip(min=1e-4),
                label=r"overtraining $(E_g^{final} - E_g^*)/\sigma_\varepsilon^2$",
                title="overtraining",
            )
            figs["error_vs_n_over_p"] = plot.error_vs_n_over_p(s)
        figs["learning_curves"] = _learning_figure(plot, r, th)
        if theory is not None and noisy:
            figs["excess_over_bayes"] = plot.heatmaps(
                100 * s.excess_over_bayes,
                log=False,
                center=0.0,
                cmap="RdBu_r",
                label=r"excess over Bayes, $E_g^*/E_{Bayes} - 1$ (%)",
                title="excess over the Bayes-optimal error",
            )
        for name, fig in figs.items():
            for ext in ("png", "pdf") if args.pdf else ("png",):
                target = figdir / f"{name}{suffix}.{ext}"
                fig.savefig(target, dpi=130)
                written.append(target)
    print(f"wrote {out} and {len(written)} figure(s) in {figdir}/")
    return 0


def _gallery(args) -> int:
    import xarray as xr

    from . import gallery
    from .spec import SpecError, parse_spec
    from .store import write_netcdf
    from .theory import theory_dataset

    if args.item not in gallery.SPECS:
        raise SpecError(f"gallery: unknown item {args.item!r}; allowed: {', '.join(gallery.ITEMS)}")
    folder = Path(args.results) / args.item
    results = []
    for name in gallery.SPECS[args.item]:
        path = folder / f"{name}.nc"
        if not path.exists():
            raise SpecError(f"gallery: {path} is missing; run `dynax run sweeps/{name}.toml -o {path}` first")
        ds = xr.open_dataset(path).load()
        th_path = folder / f"{name}.theory.nc"
        overrides = [o for o in ds.attrs.get("spec_overrides", "").split("\n") if o]
        spec = parse_spec(ds.attrs["spec_toml"], str(path), overrides)
        if th_path.exists() and xr.open_dataset(th_path).attrs.get("spec_sha256") == spec.sha256:
            th = xr.open_dataset(th_path).load()
        else:
            th = theory_dataset(spec)
            th.attrs["history"] = f"dynax gallery {args.item}"
            write_netcdf(th, th_path)
        results.append((ds, th))
    nums = gallery.make(args.item, results, Path(args.out) if args.out else folder)
    print(f"{args.item}: {len(nums['figures'])} figure(s) and numbers.json in {args.out or folder}/")
    for key, value in nums.items():
        if key not in ("figures", "item", "specs") and not isinstance(value, dict | list):
            print(f"  {key}: {value}")
    return 0


def _learning_figure(plot, ds, theory):
    """Learning curves per depth at the middle SNR and N/P near 0.5, 1 and 2."""
    from matplotlib.figure import Figure

    depths = ds.depth.values
    fig = Figure(figsize=(5.5 * len(depths), 7.5), layout="constrained")
    axes = fig.subplots(2, len(depths), sharey="row", sharex="col", squeeze=False)
    snrs = [q for q in ds.snr.values if q < float("inf")] or list(ds.snr.values)
    snr = snrs[len(snrs) // 2]
    ratios = sorted({float(ds.n_over_p.sel(n_over_p=r, method="nearest")) for r in (0.5, 1.0, 2.0)})
    for i, d in enumerate(depths):
        plot.learning_curves(
            ds, depth=d, n_over_p=ratios, snr=snr, theory=theory, ax=axes[0, i], train_ax=axes[1, i]
        )
        axes[0, i].set_title(f"depth {d}, SNR {snr:g}")
    return fig


def _summary(ds, res, wall: float, out: Path) -> None:
    n = int(ds.diverged.size)
    print(f"wrote {out}: {n} runs in {wall:.1f} s ({n / wall:.0f} runs/s), {int(ds.diverged.sum())} diverged")
    for t in res.timings:
        print(
            f"  {t['label']:45s} {t['runs']:6d} runs  compile {t['compile_s']:.2f} s ({t['compiles']}x)  "
            f"total {t['wall_s']:.2f} s"
        )
    ratio = (ds.best_test_error / ds.noise_var.where(ds.noise_var > 0)).mean("seed")
    print("  seed-mean optimal early-stopping error E_g*/sigma_eps^2 (min .. max over the grid):")
    for d in ds.depth.values:
        r = ratio.sel(depth=d)
        if bool(r.notnull().any()):
            print(f"    depth {d}: {float(r.min()):.4g} .. {float(r.max()):.4g}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    from .spec import SpecError

    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "theory":
            return _theory(args)
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "gallery":
            return _gallery(args)
        if args.command == "bench":
            from .bench import run_bench, table

            report = run_bench(args.quick, args.output, log=lambda m: print(m, file=sys.stderr, flush=True))
            print(table(report))
            print(f"wrote {report['path']} and {Path(report['path']).with_suffix('.png')}")
            return 0
        return _run(args)
    except SpecError as e:
        print(f"dynax: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dynax: interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # unexpected: keep the traceback for the bug report
        traceback.print_exc()
        print(f"dynax: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
