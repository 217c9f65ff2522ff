"""A whole sweep end to end, dynax against a plain ``jit(vmap)`` program, side by side in one
process: from the spec's numbers to each run's E_g curve (dynax: written to netCDF too).

The sweep is benchmarks/whole_run.toml with 8 seeds: depth 2, N = N_h = 100, 8 N/P in
[0.3, 3] × 4 SNRs × 8 seeds = 256 networks, 1000 epochs of full-batch GD at a fixed rate,
40 recorded epochs. The peer is what a JAX user writes for it: one jitted, vmapped function
from a run's seed and settings to its E_g curve, drawing the run's examples, teacher and
initial weights, training on the raw data (padded to the largest P, masked) with
``jax.grad`` and ``lax.scan``. Each side runs twice; the second run (every program already
compiled in this process, as for a researcher's next sweep) is the comparison, the first is
reported beside it. The two sides draw different data, so their curves agree in law, not
run by run (the run-by-run agreement of the kernels is the standard workload's check).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import derived, parse_spec
from ..spec.runs import run_table

__all__ = ["END_TO_END", "end_to_end", "plain_jit_vmap"]

END_TO_END = """
name = "bench-end-to-end"
description = "benchmarks/whole_run.toml with 8 seeds: 256 networks"
seed = 0
[grid]
depth    = [2]
n_over_p = { geomspace = [0.3, 3.0, 8] }
snr      = [0.5, 2.0, 8.0, 32.0]
seed     = { count = 8 }
[problem]
n_in = 100
n_out = 1
teacher_var = 1.0
[model]
width = 100
init = "gaussian_fan_in"
init_scale = 0.1
[train]
optimizer = "gd"
learning_rate = 0.003
epochs = 1000
record = { log = 40 }
"""


def plain_jit_vmap(spec) -> tuple[np.ndarray, float]:
    """The sweep as one plain ``jax.jit(jax.vmap(...))`` program (float32, depth 2, N_out = 1):
    each run's E_g at the recorded epochs (runs in the spec's flat order), and the seconds
    from the spec to the curves on the host (its compile included)."""
    t0 = time.perf_counter()
    t = run_table(spec)
    pr, h = spec.problem, int(spec.model.width)
    n, p_values = pr.n_in, np.asarray(spec.n_train)
    p = p_values[t.p_index]
    p_max, rec = int(p_values.max()), np.asarray(spec.record_epochs)
    scale = derived.grad_scale(spec.train.loss, p)

    def one(seed, p, noise_std, lr, init_scale):
        kx, kz, kt, k1, k2 = jax.random.split(jax.random.PRNGKey(seed), 5)
        x = jax.random.normal(kx, (p_max, n)) / math.sqrt(n)  # entries N(0, 1/N), as dynax's
        w_bar = jax.random.normal(kt, (1, n)) * math.sqrt(pr.teacher_var)
        y = x @ w_bar.T + noise_std * jax.random.normal(kz, (p_max, 1))
        mask = (jnp.arange(p_max) < p)[:, None]
        ws = [
            jax.random.normal(k1, (h, n)) * init_scale / math.sqrt(n),
            jax.random.normal(k2, (1, h)) * init_scale / math.sqrt(h),
        ]

        def loss(ws):
            r = (x @ ws[0].T @ ws[1].T - y) * mask
            return 0.5 * jnp.sum(r * r)

        def step(ws, _):
            e_g = jnp.sum((ws[1] @ ws[0] - w_bar) ** 2) / n + noise_std**2
            g = jax.grad(loss)(ws)
            return [w - lr * gw for w, gw in zip(ws, g, strict=True)], e_g

        _, curve = jax.lax.scan(step, ws, None, length=spec.train.epochs + 1)
        return curve[rec]

    args = (
        t.seed.astype(np.uint32), p.astype(np.int32), t.noise_std.astype(np.float32),
        (t.lr * scale).astype(np.float32), t.init_scale.astype(np.float32),
    )  # fmt: skip
    curves = np.asarray(jax.jit(jax.vmap(one))(*args))
    return curves, time.perf_counter() - t0


def _dynax(spec, folder: Path) -> tuple[np.ndarray, float]:
    """``dynax run`` of the spec in this process, to a netCDF file: the curves, the seconds."""
    from ..api import write_result

    t0 = time.perf_counter()
    ds, _ = write_result(spec, folder / "end_to_end.nc", force=True)
    seconds = time.perf_counter() - t0
    return ds.test_error.transpose(*spec.dims, "epoch").values.reshape(-1, len(spec.record_epochs)), seconds


def end_to_end(log=print, epochs: int | None = None) -> dict:
    """Both sides twice on :data:`END_TO_END` (``epochs``: fewer, for ``dynax bench --quick``);
    the seconds and the ratio of the second runs."""
    spec = parse_spec(END_TO_END, "<bench end-to-end>", [f"train.epochs={epochs}"] if epochs else [])
    entry: dict = {"networks": int(np.prod(spec.shape)), "epochs": int(spec.train.epochs)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fn in (
            ("dynax", lambda: _dynax(spec, Path(tmp))),
            ("jit_vmap", lambda: plain_jit_vmap(spec)),
        ):
            curves, first = fn()
            curves, second = fn()
            entry[f"{label}_first_s"], entry[f"{label}_s"] = first, second
            entry[f"{label}_final_mean_error"] = float(np.nanmean(curves[:, -1]))
            log(f"end to end, {label}: {second:.2f} s (first run in this process {first:.2f} s)")
    entry["speedup"] = entry["jit_vmap_s"] / entry["dynax_s"]
    entry["speedup_first"] = entry["jit_vmap_first_s"] / entry["dynax_first_s"]
    return entry
