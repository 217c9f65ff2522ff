"""Where the time of a whole `dynax run` goes: python benchmarks/whole_run.py [SPEC] [-o JSON].

Runs ``dynax run SPEC`` (default: benchmarks/whole_run.toml) once to warm the compilation
caches (JAX's persistent cache and numba's), then again in a fresh process, timing each
phase of the second by wrapping the functions that do it:

  imports      from the process start to the modules ``dynax run`` imports on its way imported
  dask import  ``dask.array``, which xarray imports when the run builds its first Dataset
               (dask is installed with dynax, for lazy reads); timed here, before the run
  plan         planning the sweep (``plan_sweep``)
  statistics   each seed's sufficient statistics (``StatsCache``: the examples, drawn by one
               JAX program, and one eigendecomposition per (seed, P)); the draws' compile
               (tracing and lowering it, and loading it from the cache) is in compile
  weights      the initial weights, drawn and rotated into each run's eigenbasis
  eigen data   each (seed, P)'s O(N) vectors for the eigenbasis kernels
  compile      compiling (or loading from the caches) every program the run needs
  kernel       the trainer's kernel, its compile left out
  writes       the part files and the final netCDF (with the dataset's assembly)

and prints them with the whole wall time; ``analyze`` is the start of ``dynax analyze`` on
the result (imports included) and whether it imported JAX. Phases nest (statistics inside
the kernel's call are not in kernel): ``other`` is the wall time none of them covers.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
SPEC = HERE / "whole_run.toml"


def _child(spec: str, out: str) -> dict:
    """One timed ``dynax run`` in this process (its imports timed from the process start)."""
    import dynax.api
    import dynax.cli
    import dynax.engine.execute
    import dynax.engine.inputs
    import dynax.sim.eigen_batch
    import dynax.sim.fused
    import dynax.store  # what `dynax run` imports on its way (the fused kernel's path)

    phases = {"imports": time.perf_counter() - T0}
    t = time.perf_counter()
    import dask.array  # noqa: F401  (xarray imports it with the run's first Dataset, if dask is installed)

    phases["dask import"] = time.perf_counter() - t

    from dynax.sim.executables import compile_total

    def timed(module, name, phase, minus_compile=False):
        """Wrap ``module.name`` so that its calls add to ``phase`` (its compile seconds, the
        last element of what it returns, left out with ``minus_compile``, and any XLA
        compile inside it always); ``module`` a dotted name (a package may shadow its module
        by a function of the same name) or a class."""
        if isinstance(module, str):
            module = importlib.import_module(module)
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            t, c = time.perf_counter(), compile_total()
            value = original(*args, **kwargs)
            inner = value[-1] if minus_compile else compile_total() - c
            seconds = time.perf_counter() - t - inner
            phases[phase] = phases.get(phase, 0.0) + seconds
            return value

        setattr(module, name, wrapper)

    timed("dynax.engine", "plan_sweep", "plan")
    timed(dynax.engine.inputs.StatsCache, "get", "statistics")
    timed("dynax.sim.eigen_batch", "_weights", "weights", minus_compile=True)
    timed("dynax.sim.eigen_batch", "eigen_runs", "eigen data")
    timed("dynax.sim.fused", "train_fused", "kernel", minus_compile=True)
    timed("dynax.engine.execute", "write_part", "writes")
    timed("dynax.store", "build_dataset", "writes")
    timed("dynax.store", "write_netcdf", "writes")
    from dynax.sim.scope import enable_compilation_cache, guard_cpu_dispatch

    guard_cpu_dispatch()  # as `dynax run` does (dynax.cli.main)
    enable_compilation_cache()
    t = time.perf_counter()
    ds, res = dynax.api.write_result(dynax.load_spec(spec), out, force=True)
    phases["run"] = time.perf_counter() - t
    phases["compile"] = sum(g["compile_s"] for g in res.timings)
    phases["runs"] = int(ds.sizes.get("run", 0)) or int(sum(g["runs"] for g in res.timings))
    return phases


def _analyze_start(result: str) -> dict:
    """Seconds for ``dynax analyze RESULT`` in a fresh process, and whether it imported JAX."""
    argv = ["analyze", result, "-o", result + ".an.nc", "--force"]
    code = (
        "import sys, time, io, contextlib; t = time.perf_counter(); from dynax.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): rc = main({argv!r})\n"
        "print(time.perf_counter() - t, 'jax' in sys.modules, rc)"
    )
    seconds, jax_loaded, rc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()[-3:]
    return {"analyze_s": float(seconds), "analyze_imports_jax": jax_loaded == "True", "analyze_rc": int(rc)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default=str(SPEC))
    ap.add_argument("-o", "--output", help="write the phases as JSON here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.spec, args.child)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "whole_run.nc")
        cmd = [sys.executable, __file__, args.spec, "--child", out]
        subprocess.run(cmd, check=True, capture_output=True)  # warms the compilation caches
        phases = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        phases.update(_analyze_start(out))
    named = ("plan", "statistics", "weights", "eigen data", "compile", "kernel", "writes")
    phases["other"] = phases["run"] - sum(phases.get(k, 0.0) for k in named)
    for k in ("imports", "dask import", *named, "other", "run"):
        print(f"{k:>12}  {phases.get(k, 0.0):7.3f} s")
    print(f"{'analyze':>12}  {phases['analyze_s']:7.3f} s  (imports JAX: {phases['analyze_imports_jax']})")
    if args.output:
        Path(args.output).write_text(json.dumps(phases, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
