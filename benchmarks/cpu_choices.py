"""The measurements behind two CPU defaults, in one run (ratios on the same machine):

1. ``engine/plan.py: CPU_BUDGET`` (24 MiB per compiled call): the XLA kernel at depth 2,
   N = N_h = 100, trained in cache-sized batches of 64 runs against memory-sized batches of 512.
2. ``sim/trainers.py: AUTO_FUSED_MAX_W1`` (N·N_h ≤ 256²): the fused kernel against the XLA
   kernel at depth 2, N = N_h = 200 and 400.

Usage: ``python benchmarks/cpu_choices.py [--out results/benchmarks/cpu_choices.json]``.
Each timing is the best of three runs after a warm-up run (compilation excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import dynax
from dynax import parse_spec, plan_sweep


def _spec(n: int, epochs: int, seeds: int, kernel: str):
    text = f"""name = 'cpu_choices'
[grid]
depth = [2]
n_over_p = [0.5, 1.0, 2.0, 4.0]
snr = [1.0, 4.0]
seed = {{ count = {seeds} }}
[problem]
n_in = {n}
[model]
width = {n}
init_scale = 0.1
[train]
epochs = {epochs}
learning_rate = {{ auto = 0.5 }}
kernel = '{kernel}'
record = {{ log = 20 }}
"""
    return parse_spec(text)


def _best_of_three(spec, **kw) -> float:
    dynax.run_sweep(spec, **kw)  # compile, warm the caches
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        dynax.run_sweep(spec, **kw)
        times.append(time.perf_counter() - t0)
    return min(times)


def batch_sizes() -> dict:
    """Network-epochs/s of the XLA kernel in batches of 64 and of 512 runs (N = N_h = 100)."""
    spec = _spec(100, 300, 64, "xla")
    per_run = max(plan_sweep(spec).bytes_per_run.values())
    out = {}
    for batch in (64, 512):
        budget = batch * per_run
        (group,) = plan_sweep(spec, memory_budget=budget).groups
        seconds = _best_of_three(spec, memory_budget=budget)
        out[f"batch_{group.batch}"] = spec.n_runs * spec.train.epochs / seconds
    out["ratio_64_over_512"] = out["batch_64"] / out["batch_512"]
    return out


def fused_threshold() -> dict:
    """Network-epochs/s of the fused and the XLA kernel at N = N_h = 200 and 400."""
    out = {}
    for n, seeds in ((200, 4), (400, 1)):
        rates = {}
        for kernel in ("fused", "xla"):
            spec = _spec(n, n, seeds, kernel)
            rates[kernel] = spec.n_runs * spec.train.epochs / _best_of_three(spec)
        out[f"N={n}"] = {**rates, "fused_over_xla": rates["fused"] / rates["xla"]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the record here (JSON)")
    args = parser.parse_args()
    record = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "dynax": dynax.__version__,
        "batch_sizes_xla_depth2_n100": batch_sizes(),
        "fused_vs_xla_depth2": fused_threshold(),
    }
    text = json.dumps(record, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
