"""What every trainer records besides its curves: the exact running minimum of E_g and
the first divergence, and the outputs of one run.

A run diverges at its first non-finite E_g or E_g > ``DIVERGENCE_FACTOR`` × E_g(0); from
then on its curves are NaN and its minimum stays where it was. Nothing raises inside
compiled code: divergence is data (docs/design.md §3).

A full-batch trainer also follows its training objective J (the loss it descends, with the
weight-decay penalty where γ > 0) at every epoch, and reports the first epoch at which J
rose (:func:`dynax.spec.derived.rose`): a GD step within the stability limit never raises
it, so the engine retrains a run whose automatic rate let it rise (docs/theory.md §3.2).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import derived

__all__ = [
    "DIVERGENCE_FACTOR",
    "Descent",
    "Outputs",
    "Stopper",
    "Tracker",
    "best_error",
    "descend",
    "descent",
    "first_rise",
    "outputs",
    "records",
    "reference",
    "start",
    "stop_update",
    "stopper",
    "update",
    "update_block",
]

DIVERGENCE_FACTOR = 1e6  # E_g above this multiple of E_g(0) counts as diverged


class Outputs(NamedTuple):
    """One run's results (a leading run axis when batched)."""

    train_error: jax.Array  # (n_record,)
    test_error: jax.Array  # (n_record,)
    best_test_error: jax.Array  # exact running minimum over every epoch
    best_epoch: jax.Array  # first epoch of the minimum; 0 if never improved; -1 if never finite
    diverged: jax.Array  # bool
    # (n_record,) error in the null space of Σ_xx (the frozen subspace); None unless asked for
    null_space_error: jax.Array | None = None
    # what train.record's flags add, by variable name (:mod:`dynax.sim.recorders`): curves as
    # (n_record, extra…), the rest as they are; None when nothing is recorded
    records: dict | None = None
    # early stopping on held-out data (None without train.validation): the validation error at
    # each record, and E_g and the epoch of the first minimum of the validation error
    validation_error: jax.Array | None = None
    stopped_test_error: jax.Array | None = None
    stopped_epoch: jax.Array | None = None
    # the first epoch at which the training objective rose (derived.rose), -1 if never; None
    # where a rise means nothing (online and minibatch presentation)
    rise_epoch: jax.Array | None = None


class Stopper(NamedTuple):
    """The running minimum of the validation error over every epoch, and E_g there."""

    best: jax.Array  # inf until a finite value
    epoch: jax.Array  # -1 until then
    test: jax.Array  # E_g at that epoch


def stopper(dtype) -> Stopper:
    return Stopper(jnp.array(jnp.inf, dtype), jnp.int64(-1), jnp.array(jnp.nan, dtype))


def stop_update(st: Stopper, val, test, epoch, diverged) -> Stopper:
    """Take the validation error ``val`` (and E_g = ``test``) at ``epoch``; nothing once diverged."""
    better = ~diverged & jnp.isfinite(val) & (val < st.best)
    return Stopper(
        jnp.where(better, val, st.best), jnp.where(better, epoch, st.epoch), jnp.where(better, test, st.test)
    )


class Tracker(NamedTuple):
    """The running minimum of E_g and the divergence state, carried through the epochs."""

    best: jax.Array  # running minimum of E_g (inf until a finite value)
    best_epoch: jax.Array  # its first epoch (or step); -1 if never finite
    diverged: jax.Array  # bool
    bad_epoch: jax.Array  # first diverged epoch (or step); ``never`` if none


def start(test0, dtype, never) -> Tracker:
    """The tracker after evaluating E_g(0) = ``test0``; ``never`` marks "not diverged"."""
    finite0 = jnp.isfinite(test0)
    return Tracker(
        best=jnp.where(finite0, test0, jnp.inf).astype(dtype),
        best_epoch=jnp.where(finite0, 0, -1).astype(jnp.int64),
        diverged=~finite0,
        bad_epoch=jnp.where(finite0, never, 0).astype(jnp.int64),
    )


def update(tr: Tracker, test, epoch, limit) -> Tracker:
    """Take E_g = ``test`` at ``epoch``: a new minimum, or the first divergence (E_g not
    finite or above ``limit``)."""
    bad = ~jnp.isfinite(test) | (test > limit)
    diverged = tr.diverged | bad
    better = ~diverged & (test < tr.best)
    return Tracker(
        best=jnp.where(better, test, tr.best),
        best_epoch=jnp.where(better, epoch, tr.best_epoch),
        diverged=diverged,
        bad_epoch=jnp.where(bad & ~tr.diverged, epoch, tr.bad_epoch),
    )


def update_block(best, best_epoch, bad_epoch, test, epochs, valid, limit, never):
    """:func:`update` for a block of epochs at once (the closed form's): take E_g = ``test`` at
    ``epochs`` (those ``valid``); returns the running minimum and its first epoch, the first
    diverged epoch (``never`` if none) and which of the block's epochs came before it."""
    bad = valid & (~jnp.isfinite(test) | (test > limit))
    bad_epoch = jnp.minimum(bad_epoch, jnp.min(jnp.where(bad, epochs, never)))
    ok = valid & (epochs < bad_epoch) & jnp.isfinite(test)
    masked = jnp.where(ok, test, jnp.inf)
    i = jnp.argmin(masked)  # first occurrence of the block minimum
    better = masked[i] < best
    return jnp.where(better, masked[i], best), jnp.where(better, epochs[i], best_epoch), bad_epoch, ok


class Descent(NamedTuple):
    """The lowest training objective so far and the first epoch at which it rose."""

    start: jax.Array  # J(0)
    lowest: jax.Array  # min of J over the epochs so far
    rise_epoch: jax.Array  # first epoch of a rise; -1 if none


def descent(objective0) -> Descent:
    """The descent state after epoch 0's objective ``objective0``."""
    return Descent(objective0, objective0, jnp.int64(-1))


def descend(ds: Descent, objective, epoch) -> Descent:
    """Take the objective at ``epoch`` ≥ 1: a rise over every earlier value is recorded once."""
    up = derived.rose(objective, ds.lowest, ds.start) & (ds.rise_epoch < 0)
    return Descent(
        ds.start,
        jnp.minimum(ds.lowest, objective),
        jnp.where(up, jnp.asarray(epoch, jnp.int64), ds.rise_epoch),
    )


def reference(test) -> tuple[float, int, bool, int]:
    """The NumPy reference of every trainer's tracking (:func:`start` and :func:`update`, the
    closed form's blocks, the fused and Pallas kernels): from E_g at epochs 0, 1, ... (the
    sequence ``test``), the running minimum's value (NaN if E_g was never finite) and first
    epoch (-1 then), whether the run diverged and its first diverged epoch (``len(test)`` if
    never). A run diverges at its first E_g that is not finite or exceeds
    ``DIVERGENCE_FACTOR`` × E_g(0); the minimum is taken over the epochs before that, ties
    keeping the first."""
    t = np.asarray(test, np.float64)
    bad = ~np.isfinite(t)
    bad[1:] |= t[1:] > DIVERGENCE_FACTOR * t[0]
    first_bad = int(np.argmax(bad)) if bad.any() else len(t)
    if first_bad == 0:
        return float("nan"), -1, True, 0
    i = int(np.argmin(t[:first_bad]))
    return float(t[i]), i, first_bad < len(t), first_bad


def first_rise(objective) -> int:
    """The NumPy reference of :func:`descend`: the first epoch at which the sequence
    ``objective`` (epochs 0, 1, ...) rose above its lowest earlier value, -1 if never."""
    j = np.asarray(objective, np.float64)
    if j.size < 2:
        return -1
    lowest = np.minimum.accumulate(j)[:-1]
    up = derived.rose(j[1:], lowest, j[0])
    return int(np.argmax(up)) + 1 if up.any() else -1


def outputs(tr: Tracker, dtype, train, test, null=None) -> Outputs:
    """The run's :class:`Outputs` from its tracker and its recorded curves, each given as
    (the scan's records, the last record)."""
    return Outputs(
        train_error=jnp.append(*train),
        test_error=jnp.append(*test),
        best_test_error=best_error(tr, dtype),
        best_epoch=tr.best_epoch,
        diverged=tr.diverged,
        null_space_error=None if null is None else jnp.append(*null),
    )


def best_error(tr: Tracker, dtype):
    """The minimum of E_g, NaN if E_g was never finite."""
    return jnp.where(tr.best_epoch < 0, jnp.nan, tr.best).astype(dtype)


def records(rec, last):
    """A curve from the scan's records (n_record − 1, ...) and the last record (...)."""
    return jnp.concatenate([rec, last[None]], axis=0)
