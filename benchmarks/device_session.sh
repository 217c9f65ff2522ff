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

# 1. smoke: a tiny sweep on the Pallas kernel against the XLA kernel, float64 and float32 (compiles shown)
timeout 80 python3 - <<'PY' 2>&1 | tee "$OUT/smoke.txt"
import time, jax, numpy as np, dynax
print("jax", jax.__version__, jax.devices())
grid = "[grid]\ndepth = [2, 3]\nn_over_p = [2.0, 0.5]\nsnr = [0.5, 4.0]\nseed = { count = 2 }\noptimizer = ['gd', 'momentum']\n"
text = grid + "[problem]\nn_in = 100\n[model]\nwidth = 100\ninit_scale = 0.1\n[train]\nepochs = 500\nrecord = { log = 50 }\nnull_space_error = true\n"
ref = dynax.run_sweep(dynax.parse_spec(text, "<smoke>", ["train.kernel=xla", "train.dtype=float64"]))
for dtype in ("float64", "float32"):
    for k in ("xla", "pallas"):
        t = time.perf_counter()
        ds = dynax.run_sweep(dynax.parse_spec(text, "<smoke>", [f"train.kernel={k}", f"train.dtype={dtype}"]))
        rel = float(np.nanmax(np.abs(ds.test_error / ref.test_error - 1)))
        moved = int((ds.best_epoch != ref.best_epoch).sum())
        print(f"{dtype} {ds.attrs['kernel']}: {time.perf_counter() - t:.1f} s (compile included), "
              f"max rel E_g vs float64 XLA {rel:.2e}, best epoch moved in {moved}/{ds.best_epoch.size}")
PY

# 2. the issue's agreement bar on the standard workload (XLA and Pallas float32 vs float64)
timeout 120 python3 benchmarks/agreement.py "$OUT/$kind.agreement.json" 2>&1 | tee "$OUT/agreement.log"

# 3. the benchmark: standard workload (XLA kernel and Pallas kernel on the same runs) and scaling
timeout 360 python3 benchmarks/run_bench.py -o "$OUT/$kind.json" 2>&1 | tee "$OUT/bench.log"
