"""The ``dynax`` command line (docs/design.md §4 "Command line"): argument parsing and
dispatch to the layers below; nothing here computes.

Exit codes: 0 success, 2 bad input (spec or arguments), 1 any other failure.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
import traceback
from pathlib import Path

from . import report

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is 2 already; keep its format
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _with_items(parser: argparse.ArgumentParser) -> str:
    from .gallery import ITEMS

    parser.description = f"items: {', '.join(ITEMS)}"
    return argparse.ArgumentParser.format_help(parser)


def _bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; use bytes or e.g. 512MiB, 4GiB")
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get((m.group(2) or "b")[0].lower(), 1)
    if int(float(m.group(1)) * scale) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a memory budget must be at least 1 byte (0 is not 'the default')"
        )
    return int(float(m.group(1)) * scale)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be ≥ 1")
    return v


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = _Parser(prog="dynax", description="Train thousands of deep linear networks at once.")
    p.add_argument("--version", action="version", version=f"dynax {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _add_run(sub)

    bn = sub.add_parser("bench", help="benchmark dynax against the obvious ways, on this machine")
    bn.add_argument(
        "--quick", action="store_true", help="a smaller workload (under 3 minutes on 2 CPU cores)"
    )
    bn.add_argument("-o", "--output", help="JSON file (default results/benchmarks/<host kind>.json)")

    mg = sub.add_parser("merge", help="merge shard outputs into one result")
    mg.add_argument("output", help="the merged result")
    mg.add_argument("parts", nargs="+", help="shard outputs of dynax run --shard")
    mg.add_argument("--force", action="store_true", help="replace an existing merged file")

    th = sub.add_parser("theory", help="the theory's predictions on a spec's grid")
    th.add_argument("spec", help="sweep spec (TOML)")
    th.add_argument("-o", "--output", help="output file (default results/<spec stem>.theory.nc)")
    th.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
    th.add_argument("--force", action="store_true", help="replace an existing output file")

    _add_analyze(sub)

    ga = sub.add_parser("gallery", help="figures and numbers of a gallery item (results/README.md)")
    ga.add_argument("item", help="a gallery item (listed above)")
    ga.format_help = lambda: _with_items(ga)  # the items, read when help is asked for (no import before)
    ga.add_argument(
        "--results", default="results", help="results folder (default results): reads <item>/<spec>.nc"
    )
    ga.add_argument("--out", help="figure folder (default <results>/<item>/)")
    ga.add_argument("--force", action="store_true", help="replace the item's numbers.json and figures")

    val = sub.add_parser("validate", help="check a spec and print its plan")
    val.add_argument("spec", help="sweep spec (TOML)")
    val.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
    val.add_argument("--chunk-size", type=_positive_int, help="runs per chunk, as for dynax run")
    val.add_argument("--memory-budget", type=_bytes, help="device bytes per compiled call, as for dynax run")
    val.add_argument(
        "--time",
        action="store_true",
        help="train each compile group's first batch briefly and predict the run time on this machine",
    )
    return p


def _add_run(sub) -> None:
    """The ``dynax run`` subcommand and its options."""
    run = sub.add_parser("run", help="run a sweep spec and write its netCDF result")
    run.add_argument("spec", nargs="?", help="sweep spec (TOML)")
    run.add_argument(
        "--from",
        dest="from_result",
        metavar="RESULT",
        help="run the spec and overrides recorded in a result netCDF again (instead of SPEC)",
    )
    run.add_argument("-o", "--output", help="output file (default results/<spec stem>.nc)")
    run.add_argument("--force", action="store_true", help="replace an existing output file")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
    run.add_argument("--chunk-size", type=_positive_int, help="runs per chunk (a whole number of batches)")
    run.add_argument("--memory-budget", type=_bytes, help="device bytes per compiled call, e.g. 2GiB")
    run.add_argument("--resume", action="store_true", help="reuse the finished chunks in OUT.parts/")
    run.add_argument(
        "--shard", metavar="I/N", help="run the I-th (0-based) of N slices of the runs into a full-shape OUT"
    )
    run.add_argument("--devices", type=_positive_int, default=1, help="local devices to shard the runs over")
    run.add_argument("--scheduler", metavar="ADDR", help="Dask: local:N (a LocalCluster) or tcp://host:port")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    run.add_argument(
        "--no-memory-check",
        action="store_true",
        help="run a plan whose run or result exceeds this machine's memory",
    )


def _add_analyze(sub) -> None:
    """The ``dynax analyze`` subcommand and its options."""
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
    an.add_argument("--force", action="store_true", help="replace an existing summary (and its figures)")
    an.add_argument(
        "--facet",
        metavar="DIM",
        help="an extra grid axis drawn inside each figure (a row of panels per value) "
        "instead of one set of figures per value",
    )
    an.add_argument(
        "--x",
        metavar="DIM",
        help="also draw E_g* against this grid axis (n_over_p or an extra axis): error_vs_DIM.png",
    )
    an.add_argument(
        "--overlay",
        metavar="DIM",
        help="with --x: an extra axis of at most 4 values drawn as line styles in that figure "
        "(default: the one other extra axis, if there is one that small)",
    )


def _validate(args) -> int:
    from .engine import plan_sweep
    from .engine.fits import check_fits, device_memory
    from .engine.rates import fixed_rate_warnings
    from .spec import load_spec
    from .spec.variables import recorded

    spec = load_spec(args.spec, args.set)
    plan = plan_sweep(spec, args.chunk_size, args.memory_budget)
    dims = " x ".join(f"{a.name} {len(a.values)}" for a in spec.axes)
    print(f"spec        {spec.path}  (sha256 {spec.sha256[:12]})")
    print(f"runs        {spec.n_runs} = {dims}")
    rec = spec.train.record
    print(f"epochs      {spec.train.epochs}, {len(spec.record_epochs)} recorded ({rec.kind} {rec.value})")
    print(f"P values    {', '.join(str(p) for p in spec.n_train)}  (N = {spec.problem.n_in})")
    if (h := spec.problem.hierarchy) is not None:
        print(f"teacher     hierarchy: {h.items} items (branching {h.branching}, levels {h.levels}), "
              f"{spec.problem.n_out} features, flip {', '.join(f'{f:g}' for f in h.flip)}")  # fmt: skip
    print(f"groups      {len(plan.groups)} compile group(s)")
    for gi, g in enumerate(plan.groups):
        per_call = plan.call_bytes(gi)
        print(
            f"  {g.label():45s} {len(g.runs):7d} runs  batch {g.batch:6d}  chunk {g.chunk_size:7d}  "
            f"{g.n_chunks:5d} chunk(s)  ~{report.mib(per_call)} per call and device"
        )
    print(f"output      ~{report.mib(plan.output_bytes())} (netCDF, uncompressed)")
    for v in recorded(spec):  # what train.record's flags add
        print(
            f"  {v.name} ~{report.mib(plan.variable_bytes(v.name))} of it (host memory and disk; cap 2 GiB)"
        )
    memory = device_memory()
    for gi, g in enumerate(plan.groups):
        per_call = plan.call_bytes(gi)
        if memory and per_call > memory:
            print(
                f"warning: {g.label()}: ~{report.mib(per_call)} per call is more than this device's memory "
                f"(~{report.mib(memory)}); one run alone needs ~{report.mib(plan.alone_bytes(gi))}: "
                f"lower n_in or width, or record fewer epochs"
            )
    check_fits(plan)  # what dynax run would refuse: a SpecError, exit 2
    for w in fixed_rate_warnings(spec):
        print(f"warning: {w}")
    if args.time:
        report.print_estimate(spec, plan)
    return 0


def _run(args) -> int:
    import jax

    from .api import Progress, spec_from, write_result
    from .engine import parse_shard
    from .spec import SpecError, load_spec

    if (args.spec is None) == (args.from_result is None):
        raise SpecError("dynax run: give a spec file, or --from RESULT.nc to run a result's spec again")
    spec = load_spec(args.spec, args.set) if args.spec else spec_from(Path(args.from_result), args.set)
    stem = Path(args.spec).stem if args.spec else Path(spec.path).stem
    out = Path(args.output) if args.output else Path("results") / f"{stem}.nc"
    shard = parse_shard(args.shard) if args.shard else (0, 1)
    n_dev = len(jax.local_devices())
    if args.devices > n_dev:
        raise SpecError(f"--devices {args.devices}: only {n_dev} local device(s) ({jax.default_backend()})")
    parts = out.with_name(out.name + ".parts")
    history = "dynax " + " ".join(shlex.quote(a) for a in args.argv)
    t0 = time.perf_counter()
    if not args.quiet:
        where = f" on {args.scheduler}" if args.scheduler else ""
        part = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
        print(f"dynax: {spec.n_runs} runs{part}{where} -> {out}", file=sys.stderr)
    try:
        done = write_result(
            spec,
            out,
            resume=args.resume,
            force=args.force,
            progress=Progress(not args.quiet),
            chunk_size=args.chunk_size,
            memory_budget=args.memory_budget,
            devices=args.devices,
            shard=shard,
            scheduler=args.scheduler,
            history=history,
            defaulted=args.output is None,
            check_memory=not args.no_memory_check,
        )
    except KeyboardInterrupt:
        report.interrupted(parts)
        return 130
    except Exception as e:  # said in its cause's words where known (report.run_failed), else a bug
        code = report.run_failed(e, out, parts)
        if code is None:
            raise
        return code
    if done is None:
        print(f"dynax: {out} already holds the finished result of this spec; nothing to do", file=sys.stderr)
        return 0
    ds, res = done
    if not args.quiet:
        report.run_summary(ds, res, time.perf_counter() - t0, out)
    return 0


def _merge(args) -> int:
    from .store import write_netcdf
    from .store.merge import merge_shards
    from .store.safety import check_target

    check_target(Path(args.output), args.force, what="merged output")
    ds = merge_shards(args.parts, history="dynax " + " ".join(shlex.quote(a) for a in args.argv))
    write_netcdf(ds, args.output)
    print(f"wrote {args.output}: {int(ds.diverged.size)} runs merged from {len(args.parts)} part(s)")
    return 0


def _theory(args) -> int:
    from .predict import theory_dataset
    from .spec import load_spec
    from .store import write_netcdf
    from .store.safety import check_target

    spec = load_spec(args.spec, args.set)
    out = Path(args.output) if args.output else Path("results") / f"{Path(args.spec).stem}.theory.nc"
    check_target(out, args.force, what="theory output")
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

    import xarray as xr

    from . import analysis, plot
    from .spec import CORE_DIMS, SpecError
    from .store import spec_of, write_netcdf
    from .store.safety import check_target

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
    if "present" in ds.variables:
        raise SpecError(
            f"{path}: a shard of a sweep (it holds {int(ds.present.sum())} of {ds.present.size} runs); "
            f"merge the shards first: dynax merge OUT.nc SHARD ..."
        )
    out = Path(args.output) if args.output else path.with_name(f"{path.stem}.summary.nc")
    if out.resolve() == path.resolve():
        raise SpecError(f"-o {out}: that is the result being analysed; give the summary another path")
    check_target(out, args.force, what="summary")
    # every argument is checked before anything is written
    extra = [d for d in ds.diverged.dims if d not in CORE_DIMS]  # the grid's extra axes only
    if args.facet is not None and args.facet not in extra:
        raise SpecError(
            f"--facet {args.facet}: not an extra grid axis of {path}; "
            f"allowed: {', '.join(extra) or '(this result has no extra axis)'}"
        )
    overlay = _check_x(args, extra, ds, path)
    if bool(ds.diverged.all()):
        raise SpecError(
            f"{path}: every run diverged ({int(ds.diverged.size)} runs): there is no error to analyse; "
            f"lower the learning rate (dynax validate warns about fixed rates above the stability bound)"
        )
    theory = None
    if args.theory is not None:
        if args.theory:
            theory = xr.open_dataset(args.theory)
        else:
            from .predict import theory_dataset  # JAX, for the flows of deep networks

            _jax_setup("analyze")
            theory = theory_dataset(spec_of(ds, str(path)))
    summary = analysis.summarize(ds, theory)
    summary.attrs["history"] = "dynax " + " ".join(shlex.quote(a) for a in args.argv)
    write_netcdf(summary, out)
    figdir = Path(args.figures) if args.figures else path.with_name(path.stem)
    figdir.mkdir(parents=True, exist_ok=True)
    all_extra = extra
    extra = [d for d in extra if d != args.facet]
    combos = list(itertools.product(*[[(d, v) for v in summary[d].values] for d in extra])) or [()]
    written = []
    for combo in combos:
        sel = dict(combo)
        suffix = "".join(f"_{d}={v}" for d, v in combo)
        th = theory.sel({k: v for k, v in sel.items() if k in theory.dims}) if theory is not None else None
        for name, fig in plot.analysis_figures(summary.sel(sel), ds.sel(sel), th, facet=args.facet).items():
            for ext in ("png", "pdf") if args.pdf else ("png",):
                target = figdir / f"{name}{suffix}.{ext}"
                fig.savefig(target, dpi=130)
                written.append(target)
    if args.x:
        rest = [d for d in all_extra if d not in (args.x, overlay)]
        for combo in itertools.product(*[[(d, v) for v in summary[d].values] for d in rest]) or [()]:
            fig = plot.error_vs(summary.sel(dict(combo)), args.x, overlay)
            suffix = "".join(f"_{d}={v}" for d, v in combo)
            for ext in ("png", "pdf") if args.pdf else ("png",):
                target = figdir / f"error_vs_{args.x}{suffix}.{ext}"
                fig.savefig(target, dpi=130)
                written.append(target)
    print(f"wrote {out} and {len(written)} figure(s) in {figdir}/")
    return 0


def _check_x(args, extra: list, summary, path) -> str | None:
    """The overlay of ``--x`` (given, or the one other small extra axis), after checking both."""
    import numpy as np

    from .spec import SpecError

    if args.x is None:
        if args.overlay is not None:
            raise SpecError("--overlay: only with --x DIM (it draws an extra axis as line styles there)")
        return None
    if not bool(np.isfinite(summary.snr.values).any()):
        raise SpecError(
            f"--x {args.x}: {path} has no finite SNR (E_g*/σ_ε² needs noise); draw it from the curves"
        )
    allowed = ["n_over_p", *extra]
    if args.x not in allowed:
        raise SpecError(
            f"--x {args.x}: not a grid axis of {path} it can draw against; allowed: {', '.join(allowed)}"
        )
    small = [d for d in extra if d != args.x and summary.sizes[d] <= 4]
    overlay = args.overlay if args.overlay is not None else (small[0] if len(small) == 1 else None)
    if overlay is not None and overlay not in small:
        raise SpecError(
            f"--overlay {overlay}: allowed: an extra axis other than --x with at most 4 values: {small}"
        )
    return overlay


def _gallery(args) -> int:
    from . import gallery
    from .store.safety import check_target

    folder = Path(args.out) if args.out else Path(args.results) / args.item
    check_target(folder / "numbers.json", args.force, what="gallery output", hint=" with its figures")
    results = gallery.load(args.item, args.results, history=f"dynax gallery {args.item}")
    nums = gallery.make(args.item, results, folder)
    print(f"{args.item}: {len(nums['figures'])} figure(s) and numbers.json in {folder}/")
    for key, value in nums.items():
        if key not in ("figures", "item", "specs") and not isinstance(value, dict | list):
            print(f"  {key}: {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    program, argv = argv is None, sys.argv[1:] if argv is None else list(argv)  # program: `dynax`
    args = _parser().parse_args(argv)
    args.argv = argv
    if args.command in JAX_COMMANDS:
        _jax_setup(args.command)
    from . import interrupt

    restore = interrupt.install()  # SIGTERM as Ctrl-C, and an end within seconds at any stage
    try:
        return _dispatch(args)
    finally:
        if restore is not None:
            restore()
        if program:  # the exiting interpreter's GC pass over JAX's objects took ~0.5 s
            __import__("gc").freeze()


# the commands that train or draw data, and so import JAX; `analyze` (unless it computes the
# theory) and `merge` read and write results with NumPy and xarray alone
JAX_COMMANDS = ("run", "theory", "validate", "gallery", "bench")


def _jax_setup(command: str) -> None:
    """JAX as dynax's own process runs it: CPU computations inline (dynax.sim.scope), and
    compiled programs kept on disk (except for `bench`, which times compiles itself)."""
    from .sim.scope import enable_compilation_cache, guard_cpu_dispatch

    guard_cpu_dispatch()
    if command != "bench":
        enable_compilation_cache()


def _dispatch(args) -> int:
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
        return 130
    except Exception as e:  # unexpected: keep the traceback for the bug report
        traceback.print_exc()
        print(f"dynax: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
