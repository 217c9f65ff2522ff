"""Compile and run one chunk: the one ``vmap`` + ``jit`` site of dynax.

A compile group's trainer (:mod:`dynax.sim`) is vmapped over its runs and compiled ahead
of time, once per (group config, input shapes, devices); the executables are kept, so a
sweep compiles each group once, and the compile time is measured where it happens.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from functools import partial

import jax
import numpy as np

from ..sim.closed_form import closed_form
from ..sim.eigen import EigenRuns, eigen_runs
from ..sim.gd import init_weights, train_gd
from ..sim.raw import train_raw
from ..sim.tracker import Outputs
from ..store import Chunk
from . import stable
from .inputs import (
    FusedBatch,
    StatsCache,
    chunk_inputs,
    fused_inputs,
    mode_levels,
    raw_inputs,
    ridge_baseline,
)
from .plan import FAST
from .refit import heldout_ridge, refit_test_error

__all__ = ["compiled_trainer", "run_chunk", "sharded_trainer"]

TRAINERS = {"closed_form": closed_form, "gd": train_gd, "raw": train_raw}  # vmapped XLA trainers
_MAX_EXECUTABLES = 64
_UNIT_DRAWS = 8  # distinct initial weights the fused path draws per call
# what a trainer returns only when the spec asks for it
OPTIONAL = (
    "null_space_error",
    "mode_strength",
    "data_mode_strength",
    "teacher_singular_value",
    "data_singular_value",
    "final_weights",
    "weights",
    "similarity",
    "validation_error",
    "stopped_test_error",
    "stopped_epoch",
)


def _batched(cfg, method: str):
    """The trainer of one network, vmapped over a leading run axis."""
    one = partial(TRAINERS[method], cfg)

    def train_chunk(inputs):
        return jax.vmap(one)(inputs)

    return train_chunk


def sharded_trainer(cfg, method: str, n_devices: int):
    """The jitted chunk trainer; with ``n_devices`` > 1 the run axis of every array is split
    over that many local devices. Runs never interact, so the compiled program has no
    cross-device communication."""
    if n_devices == 1:
        return jax.jit(_batched(cfg, method))
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.asarray(jax.local_devices()[:n_devices]), ("runs",))
    runs = NamedSharding(mesh, PartitionSpec("runs"))
    return jax.jit(_batched(cfg, method), in_shardings=runs, out_shardings=runs)


_executables: OrderedDict = OrderedDict()


def _compiled(key: tuple, jitted, inputs) -> tuple:
    """The executable of ``jitted`` for a batch like ``inputs`` (kept under ``key`` and the
    inputs' shapes), and the seconds spent compiling it now (0.0 when it was kept)."""
    key = (*key, tuple((np.shape(a), np.asarray(a).dtype.str) for a in jax.tree.leaves(inputs)))
    if key in _executables:
        _executables.move_to_end(key)
        return _executables[key], 0.0
    t0 = time.perf_counter()
    exe = jitted().lower(inputs).compile()
    seconds = time.perf_counter() - t0
    _executables[key] = exe
    while len(_executables) > _MAX_EXECUTABLES:
        _executables.popitem(last=False)
    return exe, seconds


def compiled_trainer(cfg, method: str, n_devices: int, inputs) -> tuple:
    """The executable for a batch like ``inputs``, and the seconds spent compiling it now
    (0.0 when it was compiled before in this process)."""
    return _compiled((cfg, method, n_devices), lambda: sharded_trainer(cfg, method, n_devices), inputs)


def _initial_weights(cfg, inputs) -> tuple[list, float]:
    """The initial weights of a batch (the kernels' own init, compiled like a trainer)."""

    def initial_weights(batch):
        return jax.vmap(partial(init_weights, cfg))(batch)

    exe, seconds = _compiled((cfg, "init"), lambda: jax.jit(initial_weights), inputs)
    return exe(inputs), seconds


def _rotate_blas(w1, eigvecs, dtype_like) -> tuple[np.ndarray, float]:
    """``W_1 U`` per run in float64, rounded to the dtype of ``dtype_like`` (NumPy's BLAS:
    the Pallas path, whose host does not train; :func:`dynax.sim.fused.rotate` for the CPU),
    and no compile seconds."""
    return np.matmul(np.asarray(w1, np.float64), eigvecs).astype(dtype_like.dtype), 0.0


def _fast_trainer(method: str):
    """The trainer and rotation of an eigenbasis kernel, imported when first used (numba
    or Pallas: neither loads for sweeps that do not run them)."""
    if method == "fused":
        from ..sim.fused import rotate, train_fused

        return train_fused, rotate
    from ..sim.pallas import train_pallas

    return train_pallas, _rotate_blas


def _fused_weights(cfg, batch: FusedBatch, rotate) -> tuple[list, float]:
    """Initial weights of a fused batch, the first rotated into each run's eigenbasis by
    ``rotate`` (``W_1 U`` in float64, then rounded), and the seconds spent compiling the init
    and the rotation."""
    inputs = batch.inputs
    if "aligned" in cfg.inits:  # the aligned init reads each run's Σ_yx: drawn run by run
        ws, seconds = _initial_weights(cfg, inputs)
        ws = [np.asarray(w) for w in ws]
        ws[0], sec = rotate(ws[0], batch.eigvecs[batch.pair], ws[0])
        return ws, seconds + sec
    # every other init is a unit draw per (seed, init) times the run's scale: draw and
    # rotate each distinct one once (drawn 8 at a time: one compiled shape)
    keys = np.stack([inputs.seed.astype(np.int64), inputs.init_code.astype(np.int64)], axis=1)
    _, first, which = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    which = which.ravel()
    unit_inputs = inputs._replace(init_scale=np.ones(len(inputs.seed)))
    cfg64, draws, seconds = replace(cfg, dtype="float64"), [], 0.0
    for lo in range(0, len(first), _UNIT_DRAWS):
        pick = np.resize(first[lo : lo + _UNIT_DRAWS], _UNIT_DRAWS)
        part = unit_inputs._replace(
            **{
                f: np.asarray(getattr(unit_inputs, f))[pick]
                for f in unit_inputs._fields
                if getattr(unit_inputs, f) is not None
            }
        )
        ws, sec = _initial_weights(cfg64, part)
        draws.append([np.asarray(w)[: len(first) - lo] for w in ws])
        seconds += sec
    unit = [np.concatenate(parts) for parts in zip(*draws, strict=True)]
    trips = np.stack([which, batch.pair], axis=1)
    _, first_t, which_t = np.unique(trips, axis=0, return_index=True, return_inverse=True)
    rot, sec = rotate(unit[0][which[first_t]], batch.eigvecs[batch.pair[first_t]], unit[0])
    seconds += sec
    scale = np.asarray(inputs.init_scale, np.float64)[:, None, None]
    ws = [scale * rot[which_t.ravel()]] + [scale * w[which] for w in unit[1:]]
    return [w.astype(cfg.dtype) for w in ws], seconds


def _train_fast(cfg, method: str, batch: FusedBatch, stop_on_rise=None) -> tuple[Outputs, float]:
    """One batch through the fused CPU kernel or the Pallas kernel (``method``): weights
    drawn by the kernels' own init and rotated into the eigenbasis of Σ_xx, the O(N) data
    of each (seed, P) built once, then trained (on the host, or one program per network);
    with the seconds spent compiling (init, rotation and the kernel: numba's or Triton's).
    ``stop_on_rise``: runs the kernel may stop at the first rise of their objective."""
    train, rotate = _fast_trainer(method)
    ws, seconds = _fused_weights(cfg, batch, rotate)
    per_pair = eigen_runs(
        batch.factor, batch.teacher, batch.eigvals, batch.eigvecs, batch.rotated, batch.n_train
    )
    runs = EigenRuns(*(np.asarray(x)[batch.pair] for x in per_pair))
    inputs = batch.inputs
    out, sec = train(
        cfg,
        ws,
        runs,
        inputs.noise_std,
        inputs.learning_rate,
        inputs.grad_scale,
        inputs.momentum,
        inputs.n_train,
        inputs.weight_decay,
        stop_on_rise=stop_on_rise,
    )
    return out, seconds + sec


def _with_rate(inputs, lr):
    """A batch's inputs (any trainer's) with the learning rates ``lr``."""
    if isinstance(inputs, FusedBatch):
        return inputs._replace(inputs=inputs.inputs._replace(learning_rate=lr))
    return inputs._replace(learning_rate=lr)


def _train_batch(plan, group, idx: np.ndarray, cache: StatsCache, compiles, halvings=None):
    """Train one batch of runs (flat indices ``idx``): its inputs, its outputs (NumPy) and
    its rates; ``halvings`` (per run) divide the automatic rates by 2^h (a retrain)."""
    build = raw_inputs if group.method == "raw" else fused_inputs if group.method in FAST else chunk_inputs
    inputs, lr = build(plan, group, idx, cache)
    if halvings is not None and halvings.any():
        lr = lr * 0.5**halvings
        inputs = _with_rate(inputs, lr)
    if group.method in FAST:
        stop = stable.stop_on_rise(plan, group, idx, halvings)
        out, seconds = _train_fast(group.config, group.method, inputs, stop)
    else:
        exe, seconds = compiled_trainer(group.config, group.method, plan.devices, inputs)
        out = exe(inputs)
    if seconds and compiles is not None:
        compiles.append(seconds)
    return inputs, jax.device_get(out), lr


def _retrain(plan, group, idx, cache, out: Outputs, lr, n_real: int, compiles) -> tuple:
    """Train again, from the same initial weights at half the rate, each automatic-rate run
    whose objective rose (or that diverged), until none does or it has been halved
    :data:`dynax.engine.stable.MAX_HALVINGS` times (docs/theory.md §3.2); the retrains are
    batched like the group (padded by repeating a run, as chunks are), so a run's numbers
    do not depend on which others were retrained beside it. Returns the outputs, rates and
    halvings of every run, and (runs retrained, seconds)."""
    halvings = np.zeros(len(idx), np.int64)
    unit = group.batch * plan.devices
    t0, retrained = time.perf_counter(), 0
    while True:
        redo = np.flatnonzero(stable.unstable(plan, group, idx, out, halvings)[:n_real])
        if not len(redo):
            break
        halvings[redo] += 1
        retrained += len(redo)
        for b in range(0, len(redo), unit):
            pos = redo[b : b + unit]
            pad = 0 if group.method == "fused" else -len(pos) % unit  # the fused kernel takes any count
            take = np.concatenate([pos, np.full(pad, pos[-1])])
            _, again, rates = _train_batch(plan, group, idx[take], cache, compiles, halvings[take])
            for name, values in again._asdict().items():
                if values is not None:
                    getattr(out, name)[pos] = np.asarray(values)[: len(pos)]
            lr[pos] = rates[: len(pos)]
    return out, lr, halvings, (retrained, time.perf_counter() - t0 if retrained else 0.0)


def run_chunk(
    plan,
    k: int,
    cache: StatsCache,
    compiles: list | None = None,
    on_batch=None,
    retrained: list | None = None,
) -> Chunk:
    """Train global chunk ``k`` of a plan; the seconds of each compilation it needed are
    appended to ``compiles``; ``on_batch(n)`` is called after each batch with the real
    (not padding) runs it finished; ``retrained`` gets (runs, seconds) of the retrains
    at halved rates (:func:`_retrain`)."""
    gi, ci = plan.chunks[k]
    group = plan.groups[gi]
    idx = group.chunk(ci, plan.devices)
    unit = group.batch * plan.devices
    n = group.n_real(ci)
    refit = group.config.validation and group.config.depth == 1  # the practitioner's refit on all P
    outs, rates, kept = [], [], []
    for b in range(0, len(idx), unit):
        inputs, out, lr = _train_batch(plan, group, idx[b : b + unit], cache, compiles)
        outs.append(out)
        rates.append(lr)
        kept.append(inputs if refit else None)
        if on_batch is not None:
            on_batch(max(0, min(n, b + unit) - b))
    out = Outputs(*(None if parts[0] is None else np.concatenate(parts) for parts in zip(*outs, strict=True)))
    out, lr, halvings, cost = _retrain(plan, group, idx, cache, out, np.concatenate(rates), n, compiles)
    if retrained is not None and cost[0]:
        retrained.append(cost)
    refits = {"refit_test_error": [], "refit_equal_time_test_error": []}
    for j, inputs in enumerate(kept if refit else []):  # at the final rates, from the same weights
        part = slice(j * unit, (j + 1) * unit)
        w0 = np.asarray(_initial_weights(group.config, inputs)[0][0])
        for name, equal_time in (("refit_test_error", False), ("refit_equal_time_test_error", True)):
            refits[name].append(
                refit_test_error(plan, idx[part], w0, lr[part], out.stopped_epoch[part], cache, equal_time)
            )
    p = np.asarray(plan.p_values, dtype=np.int64)[plan.table.p_index[idx[:n]]]
    best = out.best_epoch[:n].astype(np.int64)
    if group.method == "raw" and group.config.protocol == "online":  # steps -> examples, passes
        examples = np.where(best >= 0, best * group.config.batch, -1)
        best = np.where(best >= 0, examples // p, -1)
    else:
        examples = np.where(best >= 0, best * p, -1)
    values = {
        "train_error": out.train_error[:n],
        "test_error": out.test_error[:n],
        "best_test_error": out.best_test_error[:n],
        "best_epoch": best,
        "best_examples": examples,
        "diverged": out.diverged[:n].astype(np.int8),
        "learning_rate_used": lr[:n],
        "rate_halvings": halvings[:n].astype(np.int8),
    }
    for name in OPTIONAL:
        if getattr(out, name) is not None:
            values[name] = getattr(out, name)[:n]
    if group.config.validation:  # NaN but at depth 1
        for name, parts in refits.items():
            values[name] = np.concatenate(parts)[:n] if parts else np.full(n, np.nan)
    if plan.spec.problem.linear_teacher:  # the paired baselines: data only, not the student
        values.update(ridge_baseline(plan, idx[:n], cache))
        if group.config.validation:
            values.update(heldout_ridge(plan, idx[:n], cache))
    if plan.spec.problem.hierarchy is not None and plan.spec.train.record.modes:
        values["teacher_mode_level"] = mode_levels(plan, idx[:n], cache)
    for name in ("mode_strength", "data_mode_strength", "weights", "similarity"):  # trainers: (run, epoch, …)
        if name in values:
            values[name] = np.moveaxis(values[name], 1, -1)
    return Chunk(idx[:n], values)
