"""The contenders and their cost models: a NumPy loop and ``jax.vmap`` on raw data, run on
the same data, initial weights and rates as dynax; dynax's own groups run through the engine."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .. import engine
from ..engine.inputs import chunk_inputs, stats_cache
from ..sim import data
from ..sim.gd import init_weights
from ..spec import derived


def gd_costs(depth: int, n: int, width: int, k: int, itemsize: int) -> tuple[float, float]:
    """Analytic FLOPs and bytes of one GD step of one network (N_out = 1).

    With S the number of weights: the end-to-end product, its backward pass and the
    outer-product gradients and update cost about 7S flops; the residual and the
    gradient against a data matrix with k columns 4·N·k. Bytes: weights read, written
    and their gradients read (3S) plus the data matrix (N·k).
    """
    s = sum(a * b for a, b in derived.layer_shapes(depth, width, n, 1))
    return 7.0 * s + 4.0 * n * k, float(itemsize * (3 * s + n * k))


# --------------------------------------------------------------------------- contenders


def subset(plan: engine.Plan, group: engine.Group, count: int, rates=None):
    """``count`` runs of a group spread over its grid, with their inputs and raw data;
    ``rates`` (per flat run index, e.g. dynax's ``learning_rate_used``, which halves an
    automatic rate that let a run rise) replace the planned rates when given."""
    pick = group.runs[np.linspace(0, len(group.runs) - 1, count).astype(int)]
    inputs, lr = chunk_inputs(plan, group, pick, stats_cache(plan))
    lr = lr if rates is None else np.asarray(rates)[pick]
    cfg = group.config
    ws0 = jax.vmap(lambda r: init_weights(cfg, r))(jax.tree.map(jnp.asarray, inputs))
    spec, t = plan.spec, plan.table
    raws = []
    for j, i in enumerate(pick):
        p = spec.n_train[t.p_index[i]]
        snr = spec.axis("snr").values[np.unravel_index(i, spec.shape)[spec.dims.index("snr")]]
        x, y, w_bar, noise_var = data.raw_data(
            spec.seed, int(t.seed[i]), p, spec.problem.n_in, 1, spec.problem.teacher_var, snr
        )
        raws.append((x, y, w_bar, noise_var, float(lr[j]), [np.asarray(w[j]) for w in ws0]))
    return pick, raws


def numpy_loop(raws, epochs: int):
    """Full-batch GD on the raw data in plain NumPy (float64), one network at a time:
    the network's forward pass on the P examples and backpropagation, as a researcher
    writes it first. Returns E_g at every epoch 0..epochs, (networks, epochs + 1), and
    the seconds."""
    out = np.zeros((len(raws), epochs + 1))
    t0 = time.perf_counter()
    for j, (x, y, w_bar, noise_var, lr, ws0) in enumerate(raws):
        ws = [w.astype(np.float64) for w in ws0]
        n = x.shape[1]
        for e in range(epochs + 1):
            eff = ws[-1]
            for w in reversed(ws[:-1]):
                eff = eff @ w
            out[j, e] = np.sum((eff - w_bar) ** 2) / n + noise_var
            if e == epochs:
                break
            acts = [x]
            for w in ws:
                acts.append(acts[-1] @ w.T)
            delta = acts[-1] - y  # dL/dŷ for L = ½ Σ (ŷ − y)²
            grads = [None] * len(ws)
            for i in range(len(ws) - 1, -1, -1):
                grads[i] = delta.T @ acts[i]
                delta = delta @ ws[i]
            ws = [w - lr * g for w, g in zip(ws, grads, strict=True)]
    return out, time.perf_counter() - t0


def jax_vmap_raw(raws, epochs: int):
    """The straightforward JAX version: ``jax.vmap`` over networks of a trainer that runs
    the network on the raw data padded to the largest P (a mask zeroes the padding),
    ``jax.grad`` of the loss, ``lax.scan`` over epochs, E_g at every epoch (float32).

    Returns E_g at every epoch, compile seconds, run seconds and the padded P.
    """
    p_max = max(r[0].shape[0] for r in raws)
    n = raws[0][0].shape[1]
    xs = np.zeros((len(raws), p_max, n), np.float32)
    ys = np.zeros((len(raws), p_max, 1), np.float32)
    mask = np.zeros((len(raws), p_max, 1), np.float32)
    for j, (x, y, *_rest) in enumerate(raws):
        xs[j, : len(x)], ys[j, : len(x)], mask[j, : len(x)] = x, y, 1.0
    w_bar = np.stack([r[2] for r in raws]).astype(np.float32)
    noise = np.asarray([r[3] for r in raws], np.float32)
    lrs = np.asarray([r[4] for r in raws], np.float32)
    ws0 = [np.stack([r[5][i] for r in raws]).astype(np.float32) for i in range(len(raws[0][5]))]

    def train(x, y, m, wb, nv, lr, ws):
        def loss(ws):
            h = x
            for w in ws:
                h = h @ w.T
            r = (h - y) * m
            return 0.5 * jnp.sum(r * r)

        def step(ws, _):
            eff = ws[-1]
            for w in reversed(ws[:-1]):
                eff = eff @ w
            eg = jnp.sum((eff - wb) ** 2) / n + nv
            g = jax.grad(loss)(ws)
            return [w - lr * gw for w, gw in zip(ws, g, strict=True)], eg

        _, curve = jax.lax.scan(step, ws, None, length=epochs + 1)
        return curve

    fn = jax.jit(jax.vmap(train))
    args = (xs, ys, mask, w_bar, noise, lrs, ws0)
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    curves = np.asarray(jax.block_until_ready(compiled(*args)))
    return curves, t_compile, time.perf_counter() - t0, p_max


def fused_costs(depth: int, n: int, width: int, itemsize: int) -> tuple[float, float]:
    """Useful FLOPs and bytes of one fused-kernel epoch of one network (N_out = 1): per row
    of W_1 a dot product, an update and an accumulation into W_eff (6·N·N_h); each middle
    layer four passes (8·N_h²); every weight read and written once."""
    s = sum(a * b for a, b in derived.layer_shapes(depth, width, n, 1))
    return 6.0 * n * width + 8.0 * (depth - 2) * width * width, float(itemsize * 2 * s)


def raw_costs(depth: int, n: int, width: int, p: float, itemsize: int) -> tuple[float, float]:
    """FLOPs and bytes of one raw-data GD step: forward (2PS) and backward (4PS) through
    the network on P examples; the data (P·N) and weights (3S) move."""
    s = sum(a * b for a, b in derived.layer_shapes(depth, width, n, 1))
    return 6.0 * p * s, float(itemsize * (p * n + 3 * s))


def dynax_group(plan: engine.Plan, gi: int, repeats: int = 2):
    """Run one compile group of a plan through the engine ``repeats`` times; returns (result,
    compile_s of the first run, the shortest run_s): a shared VM's speed drifts by a third
    from one few-second run to the next, and the best of two damps that alike for every
    contender."""
    one = engine.Plan(
        plan.spec, [plan.groups[gi]], plan.p_values, plan.table, plan.devices, plan.bytes_per_run
    )
    runs, compiles = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = engine.execute(one)
        wall = time.perf_counter() - t0
        compiles.append(res.timings[0]["compile_s"])
        runs.append(wall - compiles[-1])
    return res, compiles[0], min(runs)


# --------------------------------------------------------------------------- suite


def warm(plan) -> None:
    """Run the first chunk of a plan once: the numba kernel compiles (or loads) outside the timing."""
    g = plan.groups[0]
    one = engine.Group(g.trainer, g.config, g.runs[: g.batch], g.batch, g.batch)
    engine.execute(engine.Plan(plan.spec, [one], plan.p_values, plan.table, plan.devices, plan.bytes_per_run))
