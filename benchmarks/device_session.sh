#!/usr/bin/env bash
# The prepared GPU session (issue 14): the Pallas kernel's first compile, its agreement with
# float64, and `dynax bench` (XLA vs Pallas on the same runs), in one call of under 10 minutes
# (run it with timeout_s = 600; the steps' own timeouts add up to 560 s).
#
# On the lent machine, from the repository root, with $OUT set and .whl/ carried (netCDF4 and
# cftime wheels for its Python; benchmarks/README.md "On a GPU" says how to fetch them):
#   bash benchmarks/device_session.sh
# Everything it measures lands in $OUT: <gpu>.json and .png (bench; the JSON is written after
# the standard workload and again after the scaling curves), <gpu>.agreement.json, smoke.txt
# and the logs. Commit the JSON and PNG under results/benchmarks/. (`benchmarks/gpu_check.py`,
# the TF32 and chunking checks, also checks the Pallas kernel; run it when time allows.)
set -o pipefail
export PYTHONUNBUFFERED=1 DYNAX_COMPILATION_CACHE=off
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt"
kind=$(python3 -c "from dynax.bench.machine import host; print(host()['host_kind'])") || exit 1
echo "host kind: $kind"

# 1. smoke: small sweeps on the Pallas kernel against the XLA kernel's float64 (each line's time
#    includes its compiles): depths 2-3 with gd in float64 and float32, depth 2 with momentum in float32
timeout 120 python3 - <<'PY' 2>&1 | tee "$OUT/smoke.txt"
import time, jax, numpy as np, dynax
print("jax", jax.__version__, jax.devices(), flush=True)
grid = "[grid]\ndepth = {d}\nn_over_p = [2.0, 0.5]\nsnr = [0.5, 4.0]\nseed = {{ count = 2 }}\n"
rest = "[problem]\nn_in = 100\n[model]\nwidth = 100\ninit_scale = 0.1\n[train]\nepochs = 500\nrecord = { log = 50 }\nnull_space_error = true\n"
for depths, opt, dtypes in (([2, 3], "gd", ("float64", "float32")), ([2], "momentum", ("float32",))):
    text = grid.format(d=depths) + rest
    over = [f"train.optimizer={opt}"]
    ref = dynax.run_sweep(dynax.parse_spec(text, "<smoke>", [*over, "train.kernel=xla", "train.dtype=float64"]))
    for dtype in dtypes:
        for k in ("xla", "pallas"):
            t = time.perf_counter()
            ds = dynax.run_sweep(dynax.parse_spec(text, "<smoke>", [*over, f"train.kernel={k}", f"train.dtype={dtype}"]))
            rel = float(np.nanmax(np.abs(ds.test_error / ref.test_error - 1)))
            moved = int((ds.best_epoch != ref.best_epoch).sum())
            print(f"depths {depths} {opt} {dtype} {ds.attrs['kernel']}: {time.perf_counter() - t:.1f} s (compiles "
                  f"included), max rel E_g vs float64 XLA {rel:.2e}, best epoch moved in {moved}/{ds.best_epoch.size}",
                  flush=True)
PY

# 2. the issue's agreement bar on the standard workload (XLA and Pallas float32 vs float64)
timeout 100 python3 benchmarks/agreement.py "$OUT/$kind.agreement.json" 2>&1 | tee "$OUT/agreement.log"

# 3. the benchmark: standard workload (XLA kernel and Pallas kernel on the same runs) and scaling
timeout 340 python3 benchmarks/run_bench.py -o "$OUT/$kind.json" 2>&1 | tee "$OUT/bench.log"

# 4. (a second call, when the first left time: it is not inside the 560 s above) the soft committee
#    machine benchmark, issue 29's 4096 students against a NumPy one-student loop (goal >= 100x):
#    timeout 150 python3 benchmarks/committee.py -o "$OUT/$kind.committee.json" 2>&1 | tee "$OUT/committee.log"
