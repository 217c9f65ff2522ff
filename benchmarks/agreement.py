"""Agreement of each GD kernel's float32 with the float64 reference on the standard
workload: depths 2 and 3, N = N_h = 100, 16 N/P x 16 SNR, one seed, 2000 epochs. The
kernels are the XLA kernel and the backend's eigenbasis kernel (fused on CPU, Pallas on a
GPU); the reference is that eigenbasis kernel in float64, and its float64 against the XLA
kernel's float64 is reported too (rounding only). For each float32 kernel: the largest
relative difference of any recorded E_g, and the runs whose best epoch differs (with the
gap in epochs and the relative difference of their best errors: flat minima).

A run whose two float64 curves (eigenbasis and XLA kernels) differ by more than 1e-8 is
ill-conditioned: its step crosses the stability limit late in training (the training error
rises in spikes after the optimum) and rounding differences grow exponentially, so no float32
can match float64 there. Such runs are counted, and the bar is also given without them.

    python benchmarks/agreement.py results/benchmarks/<host kind>.agreement.json
"""

import json
import sys

import numpy as np

from dynax import parse_spec, run_sweep
from dynax.bench.suite import STANDARD, fast_kernel
from dynax.sim.scope import guard_cpu_dispatch

guard_cpu_dispatch()
fast = fast_kernel()
out = {}
for depth in (2, 3):
    text = STANDARD.format(depths=[depth], seeds=1, n=100, epochs=2000)
    ds = {}
    for k, dt in ((fast, "float64"), ("xla", "float64"), (fast, "float32"), ("xla", "float32")):
        ds[(k, dt)] = run_sweep(parse_spec(text, "<std>", [f"train.kernel={k}", f"train.dtype={dt}"]))
    ref = ds[(fast, "float64")]
    both64 = np.abs(ref.test_error / ds[("xla", "float64")].test_error - 1).max("epoch")
    ill = both64 > 1e-8
    tr = ref.train_error
    rises = ((tr.diff("epoch") / tr.shift(epoch=1).isel(epoch=slice(1, None))) > 0.01).any("epoch")
    res = {
        "float64_vs_xla_float64_max_rel_test_error": float(both64.max()),
        "ill_conditioned_runs": int(ill.sum()),
        "train_error_rises_over_1pct_between_records": int(rises.sum()),
    }
    for key in ((fast, "float32"), ("xla", "float32")):
        d = ds[key]
        rel = np.abs(d.test_error / ref.test_error - 1)
        be = d.best_epoch != ref.best_epoch
        gap = np.abs(d.best_epoch - ref.best_epoch).where(be)
        flat = np.abs(d.best_test_error / ref.best_test_error - 1).where(be)
        res[key[0]] = dict(
            max_rel_test_error=float(rel.max()),
            max_rel_test_error_well_conditioned=float(rel.where(~ill).max()),
            best_epoch_differs=int(be.sum()),
            runs=int(be.size),
            max_epoch_gap=float(gap.max()) if be.any() else 0.0,
            median_epoch_gap=float(gap.median()) if be.any() else 0.0,
            max_best_error_rel_where_differs=float(flat.max()) if be.any() else 0.0,
            diverged=int(d.diverged.sum()),
        )
    out[f"depth {depth}"] = res
    print(depth, json.dumps(res, indent=1), flush=True)
json.dump(out, open(sys.argv[1], "w"), indent=1)
