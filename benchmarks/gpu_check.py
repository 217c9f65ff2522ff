"""Check dynax's numbers on this machine's accelerator against float64.

    python benchmarks/gpu_check.py [SPEC] [-o REPORT.json]

Runs SPEC (default ``sweeps/quickstart.toml``) on the default device in float64 (the
reference), in float32 at JAX's default matmul precision (TF32 on recent NVIDIA GPUs)
and in float32 at "highest" precision, and again in float32 with a different chunk size.
Prints and writes the worst relative differences of the E_g curves and of the exact
minimum, whether chunking changed anything (it must not), and the closed form against
the GD kernel at depth 1. Then the Pallas kernel (``train.kernel = "pallas"``, depths
≥ 2) in float64 against the XLA kernel's float64 (rounding only) and in float32 against
the same reference, beside the XLA kernel's own float32 error (the issue's bar: within
max(1e-5, 2x that)), with the runs whose best epoch moved and how flat their minimum is.
Timings are for orientation only (compilation included); speed is `dynax bench`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dynax


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok]))) if ok.any() else float("nan")


def _run(spec_path, overrides, chunk_size=None, precision=None):
    spec = dynax.load_spec(spec_path, overrides)
    t = time.perf_counter()
    if precision is None:
        ds = dynax.run_sweep(spec, chunk_size=chunk_size)
    else:
        with jax.default_matmul_precision(precision):
            ds = dynax.run_sweep(spec, chunk_size=chunk_size)
    return ds, time.perf_counter() - t


def _pallas(spec_path, ref, xla32) -> dict:
    """The Pallas kernel against the float64 XLA reference on the depths it trains."""
    deep = [int(d) for d in ref.depth.values if d >= 2]
    sel = {"depth": deep}
    ref, xla32 = ref.sel(sel), xla32.sel(sel)
    out = {"depths": deep}
    ill = None  # runs whose two float64 kernels differ > 1e-8 (a step past the stability limit)
    for dtype in ("float64", "float32"):
        ds, seconds = _run(spec_path, [f"train.dtype={dtype}", "train.kernel=pallas", f"grid.depth={deep}"])
        if ill is None:
            ill = np.abs(ds.test_error / ref.test_error - 1).max("epoch") > 1e-8
            out["ill_conditioned_runs"] = int(ill.sum())
        moved = (ds.best_epoch != ref.best_epoch).values
        gap = np.abs(ds.best_test_error.values / ref.best_test_error.values - 1)[moved]
        out[dtype] = {
            "kernel": ds.attrs["kernel"],
            "seconds": seconds,
            "max_rel_test_error": _rel(ds.test_error, ref.test_error),
            "max_rel_test_error_well_conditioned": _rel(ds.test_error.where(~ill), ref.test_error),
            "max_rel_best_test_error": _rel(ds.best_test_error, ref.best_test_error),
            "best_epoch_differs": int(moved.sum()),
            "best_epoch_max_shift": int(np.abs(ds.best_epoch - ref.best_epoch).max()),
            "moved_minima_max_rel_gap": float(gap.max()) if gap.size else 0.0,
            "diverged": int(ds.diverged.sum()),
        }
    xla_err = _rel(xla32.test_error.where(~ill), ref.test_error)
    out["xla_float32_max_rel_test_error_well_conditioned"] = xla_err
    bar = max(1e-5, 2 * xla_err)
    out["float32_within_bar"] = bool(out["float32"]["max_rel_test_error_well_conditioned"] <= bar)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default="sweeps/quickstart.toml")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    dev = jax.devices()[0]
    report = {"device_kind": dev.device_kind, "platform": dev.platform, "jax": jax.__version__}
    ref, report["seconds_float64"] = _run(args.spec, ["train.dtype=float64"])
    runs = {
        "float32_default_precision": _run(args.spec, []),
        "float32_highest_precision": _run(args.spec, [], precision="highest"),
        "float32_chunk_7": _run(args.spec, [], chunk_size=7),
    }
    for name, (ds, seconds) in runs.items():
        report[name] = {
            "seconds": seconds,
            "max_rel_test_error": _rel(ds.test_error, ref.test_error),
            "max_rel_best_test_error": _rel(ds.best_test_error, ref.best_test_error),
            "best_epoch_differs": int((ds.best_epoch != ref.best_epoch).sum()),
            "diverged": int(ds.diverged.sum()),
        }
    a, b = runs["float32_default_precision"][0], runs["float32_chunk_7"][0]
    report["chunking_bit_identical"] = bool(
        np.array_equal(a.test_error.values, b.test_error.values, equal_nan=True)
        and np.array_equal(a.best_test_error.values, b.best_test_error.values, equal_nan=True)
    )
    gd, _ = _run(args.spec, ["train.dtype=float64", "train.method=gd", "grid.depth=[1]"])
    cf = ref.sel(depth=[1])
    report["closed_form_vs_gd_float64"] = {
        "max_rel_test_error": _rel(cf.test_error, gd.test_error),
        "max_rel_best_test_error": _rel(cf.best_test_error, gd.best_test_error),
    }
    try:  # a kernel that does not compile on this GPU is a finding, not the end of the report
        report["pallas"] = _pallas(args.spec, ref, runs["float32_default_precision"][0])
    except Exception as e:
        report["pallas"] = {"error": f"{type(e).__name__}: {e}"[:4000]}
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
