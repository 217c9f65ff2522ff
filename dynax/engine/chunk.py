"""Train one chunk: each batch's inputs built for its trainer (:mod:`dynax.sim.trainers`),
the trainer called once per batch, the runs whose automatic rate let them rise trained again
at half the rate (:mod:`dynax.engine.stable`), and the chunk's values for the store."""

from __future__ import annotations

import time

import jax
import numpy as np

from .. import interrupt
from ..sim import trainers
from ..sim.eigen_batch import FusedBatch, initial_weights
from ..sim.tracker import Outputs
from ..spec.variables import recorded
from ..store import Chunk
from . import stable
from .inputs import (
    StatsCache,
    bound_terms,
    chunk_inputs,
    fused_inputs,
    mode_levels,
    raw_inputs,
    ridge_baseline,
)
from .refit import heldout_ridge, refit_test_error

__all__ = ["BUILDERS", "run_chunk"]

# what the engine builds for a batch, by the inputs a trainer declares (Trainer.inputs)
BUILDERS = {"sufficient_statistics": chunk_inputs, "eigenbasis": fused_inputs, "examples": raw_inputs}
# what a trainer returns only when the spec asks for it, besides train.record's (Outputs.records)
OPTIONAL = ("null_space_error", "validation_error", "stopped_test_error", "stopped_epoch")


def _with_rate(inputs, lr):
    """A batch's inputs (any trainer's) with the learning rates ``lr``."""
    if isinstance(inputs, FusedBatch):
        return inputs._replace(inputs=inputs.inputs._replace(learning_rate=lr))
    return inputs._replace(learning_rate=lr)


def _train_batch(plan, group, idx: np.ndarray, cache: StatsCache, compiles, halvings=None):
    """Train one batch of runs (flat indices ``idx``): its inputs, its outputs (NumPy) and
    its rates; ``halvings`` (per run) divide the automatic rates by 2^h (a retrain)."""
    trainer = trainers.trainer(group.trainer)
    inputs, lr = BUILDERS[trainer.inputs](plan, group, idx, cache)
    drawn = cache.take_compile_seconds()  # the data's draws compiled on the way
    if drawn and compiles is not None:
        compiles.append(drawn)
    if halvings is not None and halvings.any():
        lr = lr * 0.5**halvings
        inputs = _with_rate(inputs, lr)
    stop = stable.stop_on_rise(plan, group, idx, halvings)
    interrupt.stage("training")
    out, seconds = trainer.train(group.config, inputs, plan.devices, stop)
    if seconds and compiles is not None:
        compiles.append(seconds)
    return inputs, out, lr


def _retrain(plan, group, idx, cache, out: Outputs, lr, n_real: int, compiles) -> tuple:
    """Train again, from the same initial weights at half the rate, each automatic-rate run
    whose objective rose (or that diverged), until none does or it has been halved
    :data:`dynax.engine.stable.MAX_HALVINGS` times (docs/theory.md §3.2); the retrains are
    batched like the group (padded by repeating a run, as chunks are), so a run's numbers
    do not depend on which others were retrained beside it. Returns the outputs, rates and
    halvings of every run, and (runs retrained, seconds)."""
    halvings = np.zeros(len(idx), np.int64)
    unit = group.batch * plan.devices
    any_count = trainers.trainer(group.trainer).any_batch  # takes any count without a new program
    t0, retrained = time.perf_counter(), 0
    while True:
        redo = np.flatnonzero(stable.unstable(plan, group, idx, out, halvings)[:n_real])
        if not len(redo):
            break
        halvings[redo] += 1
        retrained += len(redo)
        for b in range(0, len(redo), unit):
            pos = redo[b : b + unit]
            pad = 0 if any_count else -len(pos) % unit
            take = np.concatenate([pos, np.full(pad, pos[-1])])
            _, again, rates = _train_batch(plan, group, idx[take], cache, compiles, halvings[take])
            for mine, new in zip(jax.tree.leaves(out), jax.tree.leaves(again), strict=True):
                mine[pos] = np.asarray(new)[: len(pos)]
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
    out = jax.tree.map(lambda *parts: np.concatenate(parts), *outs)
    out, lr, halvings, cost = _retrain(plan, group, idx, cache, out, np.concatenate(rates), n, compiles)
    if retrained is not None and cost[0]:
        retrained.append(cost)
    refits = {"refit_test_error": [], "refit_equal_time_test_error": []}
    for j, inputs in enumerate(kept if refit else []):  # at the final rates, from the same weights
        part = slice(j * unit, (j + 1) * unit)
        w0 = np.asarray(initial_weights(group.config, inputs)[0][0])
        for name, equal_time in (("refit_test_error", False), ("refit_equal_time_test_error", True)):
            refits[name].append(
                refit_test_error(plan, idx[part], w0, lr[part], out.stopped_epoch[part], cache, equal_time)
            )
    p = np.asarray(plan.p_values, dtype=np.int64)[plan.table.p_index[idx[:n]]]
    best = out.best_epoch[:n].astype(np.int64)
    if group.config.protocol == "online":  # steps -> examples, passes
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
    values.update(_recorded(plan.spec, out.records, n))
    if group.config.validation:  # NaN but at depth 1
        for name, parts in refits.items():
            values[name] = np.concatenate(parts)[:n] if parts else np.full(n, np.nan)
    if plan.spec.problem.ridge_baselines:  # the paired baselines: data only, not the student
        values.update(ridge_baseline(plan, idx[:n], cache))
        if group.config.validation:
            values.update(heldout_ridge(plan, idx[:n], cache))
    if "bounds" in plan.spec.train.record.flags:
        values.update(bound_terms(plan, idx[:n], cache))
    if plan.spec.problem.hierarchy is not None and "modes" in plan.spec.train.record.flags:
        values["teacher_mode_level"] = mode_levels(plan, idx[:n], cache)
    return Chunk(idx[:n], values)


def _recorded(spec, records: dict | None, n: int) -> dict:
    """The recorded variables (:mod:`dynax.sim.recorders`) of the first ``n`` runs in the
    result's layout: a curve's epoch axis last, and a dim the group fills only in part
    padded to the variable's length with its fill value."""
    table = {v.name: v for v in recorded(spec)}
    values = {}
    for name, value in (records or {}).items():
        v = table[name]
        value = np.asarray(value)[:n]
        if v.curve and v.extra:  # trainers: (run, epoch, extra…)
            value = np.moveaxis(value, 1, -1)
        shape = v.shape(spec, n)
        if value.shape != shape:
            padded = np.full(shape, v.fill, value.dtype)
            padded[tuple(slice(0, k) for k in value.shape)] = value
            value = padded
        values[name] = value
    return values
