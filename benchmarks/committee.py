"""Soft committee machines: students per second, dynax against a NumPy one-student loop, and the
ODE's integration time per run: python benchmarks/committee.py [--students S] [--steps T] [-o JSON].

The workload is the issue's: K = M = 2 erf students, N = 500, online SGD (one fresh example per
step, the first layer at η = 0.5, readouts fixed), float32, S students (default 4096: 4096 seeds)
for T steps each (P = 50 examples per epoch, so T/50 epochs; 10 records). Contenders, one process:

  dynax        `dynax.run_sweep` of that spec; its compile time (dynax.sim.executables) is left out
  numpy_loop   a loop over students, each a Python loop over steps: draw x ~ N(0, I/N) and the
               label noise with NumPy, the forward pass and the SGD step in float64, E_g from the
               overlaps at the same records (what the one-network-at-a-time codes do); timed on a
               few students and reported per student-step

Agreement (a fast wrong answer does not count): the NumPy loop on dynax's own examples of two
runs (the stored examples, which online step μ draws) ends at dynax's overlaps to float32
rounding. The ODE: `dynax.predict.committee.committee_theory` on the spec's first 64 runs (the
same K, N, η, from each run's own initial overlaps), seconds per run with its compile left out.
The record goes to results/benchmarks/<host kind>.committee.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.special import erf

N, K, M, P, ETA = 500, 2, 2, 50, 0.5


def _spec(students: int, steps: int):
    from dynax import parse_spec

    text = f"""name = "committee_bench"
[grid]
depth = [2]
n_over_p = {N / P}
snr = inf
seed = {{ count = {students} }}
[problem]
n_in = {N}
teacher = "committee"
teacher_width = {M}
[model]
student = "committee"
width = {K}
activation = "erf"
init_scale = 0.1
[train]
protocol = "online"
learning_rate = {ETA}
epochs = {steps // P}
record = {{ log = 10 }}
"""
    return parse_spec(text)


def _g(h):
    return erf(h / np.sqrt(2))


def numpy_student(w, w_star, steps: int, record, rng=None, xs=None):
    """One student, one step at a time (rng: fresh NumPy draws; xs: the given inputs). Returns the
    final first layer and E_g (from the overlaps) at the record steps."""
    v, v_star = np.ones(K), np.ones(M)
    t = w_star @ w_star.T / N
    errors = []
    for mu in range(steps + 1):
        if mu in record:
            q, r = w @ w.T / N, w @ w_star.T / N
            c = np.block([[q, r], [r.T, t]])
            d = 1 + np.diag(c)
            u = np.concatenate([v, -v_star])
            errors.append(u @ ((2 / np.pi) * np.arcsin(c / np.sqrt(np.outer(d, d)))) @ u)
        if mu == steps:
            break
        x = rng.standard_normal(N) / np.sqrt(N) if xs is None else xs[mu]
        h = w @ x
        delta = v_star @ _g(w_star @ x) - v @ _g(h)
        w = w + ETA * np.outer(v * np.sqrt(2 / np.pi) * np.exp(-h * h / 2) * delta, x)
    return w, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--numpy-students", type=int, default=4)
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()

    from dynax import run_sweep
    from dynax.bench.machine import host
    from dynax.predict import committee as pc
    from dynax.sim import data
    from dynax.sim.executables import compile_total

    spec = _spec(args.students, args.steps)
    c0, t0 = compile_total(), time.perf_counter()
    ds = run_sweep(spec)
    wall = time.perf_counter() - t0
    compile_s = compile_total() - c0
    steps = int(ds.examples.values.max())
    dynax_rate = args.students * steps / (wall - compile_s)

    record = {int(s) for s in ds.examples.values.ravel()}
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(args.numpy_students):
        w, ws = rng.standard_normal((K, N)) * 0.1, rng.standard_normal((M, N))
        numpy_student(w, ws, steps, record, rng=rng)
    numpy_rate = args.numpy_students * steps / (time.perf_counter() - t0)

    agreement = {}
    for seed in (0, 1):  # the NumPy loop on dynax's own examples and start
        rd = data.seed_raw_data(spec.seed, seed, spec.problem, steps)
        run = ds.sel(seed=seed).squeeze()
        q0 = run.overlap_Q.isel(epoch=0).values
        w0 = pc.first_layer(spec, seed, K, "gaussian", 0.1)
        np.testing.assert_allclose(w0 @ w0.T / N, q0, rtol=1e-5, atol=1e-7)
        w, errors = numpy_student(w0, rd.t1, steps, record, xs=rd.x)
        got = run.test_error.values
        agreement[f"seed {seed}"] = {
            "final_test_error": [float(got[-1]), float(errors[-1])],
            "max_relative_difference": float(np.max(np.abs(got - errors) / np.abs(errors))),
            "final_R_max_abs_difference": float(
                np.max(np.abs(run.overlap_R.isel(epoch=-1).values - w @ rd.t1.T / N))
            ),
        }

    few = _spec(64, args.steps)
    pc.committee_theory(_spec(2, args.steps))  # compile
    t0 = time.perf_counter()
    pc.committee_theory(few)
    ode_s = (time.perf_counter() - t0) / 64

    info = host()
    out = {
        **info,
        "date": time.strftime("%Y-%m-%d"),
        "workload": {
            "K": K,
            "M": M,
            "N": N,
            "eta": ETA,
            "students": args.students,
            "steps": steps,
            "dtype": "float32",
            "records": len(record),
        },
        "dynax_student_steps_per_s": dynax_rate,
        "dynax_wall_s": wall,
        "dynax_compile_s": compile_s,
        "numpy_loop_student_steps_per_s": numpy_rate,
        "numpy_students_timed": args.numpy_students,
        "speedup_dynax_over_numpy_loop": dynax_rate / numpy_rate,
        "dynax_students_per_s_at_these_steps": dynax_rate / steps,
        "ode_seconds_per_run": ode_s,
        "ode_alpha_per_run": steps / N,
        "agreement": agreement,
    }
    path = Path(args.output or f"results/benchmarks/{info['host_kind']}.committee.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"dynax      {dynax_rate:12.4g} student-steps/s  ({args.students} students x {steps} steps, "
          f"{wall - compile_s:.1f} s + {compile_s:.1f} s compile)")  # fmt: skip
    print(f"numpy loop {numpy_rate:12.4g} student-steps/s  ({args.numpy_students} students)")
    print(f"speedup    {dynax_rate / numpy_rate:12.3g}x")
    print(f"ODE        {ode_s * 1e3:12.3g} ms per run (alpha = {steps / N:g})")
    print(f"agreement  {json.dumps(agreement)}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
