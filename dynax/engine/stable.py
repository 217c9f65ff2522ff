"""Which runs are trained again at half their automatic rate (docs/theory.md §3.2).

``learning_rate = {auto = f}`` sizes each run's step from the norm its weights are expected
to reach (:mod:`dynax.engine.rates`). A deep network fitting noise near N = P can outgrow
that estimate late in training; its step then crosses the stability limit and its training
objective rises. The trainers report the first rise of the objective at every epoch
(:mod:`dynax.sim.tracker`); the engine then trains that run again from epoch 0, with the same
initial weights, at half the rate, until it does not rise: GD at one constant rate per run,
the largest of f × bound × 2^-h that stays stable. What is guaranteed, per optimizer:

* ``gd`` (with or without weight decay): the objective (training loss, plus the penalty) never
  rises between two epochs, to :data:`dynax.spec.derived.RISE_RELATIVE` (retrained on a rise
  or a divergence);
* ``momentum`` and ``adam``, which are not descent methods: no divergence (retrained on one).

Only full-batch runs (replay, no minibatches) qualify: a stochastic gradient's objective
rises by design. Full-batch runs with dropout or input noise report no rise (fresh masks or
noise make the objective stochastic), so they are trained again on a divergence only. After
:data:`MAX_HALVINGS` a run is kept as it is (and flagged by ``n_train_error_rose`` if it
still rose).
"""

from __future__ import annotations

import numpy as np

from ..spec import OPTIMIZER_KINDS

__all__ = ["MAX_HALVINGS", "full_batch", "stop_on_rise", "unstable"]

MAX_HALVINGS = 10  # a rate 1/1024 of the first: beyond it the run is kept as it is


def full_batch(group) -> bool:
    """Whether the group's runs see every example at every step (a rise then means instability)."""
    return group.config.protocol == "replay" and not group.config.batch


def _auto(plan, idx) -> np.ndarray:
    return np.isnan(plan.table.lr[idx])


def unstable(plan, group, idx: np.ndarray, out, halvings: np.ndarray) -> np.ndarray:
    """(len(idx),) bool: the automatic-rate runs to train again at half the rate."""
    if not full_batch(group):
        return np.zeros(len(idx), bool)
    bad = np.asarray(out.diverged, bool)
    if OPTIMIZER_KINDS[group.config.optimizer].descent:
        bad = bad | (np.asarray(out.rise_epoch) >= 0)
    return bad & _auto(plan, idx) & (halvings < MAX_HALVINGS)


def stop_on_rise(plan, group, idx: np.ndarray, halvings) -> np.ndarray:
    """(len(idx),) bool: the runs a kernel may stop at the first rise of their objective
    (they will be trained again): automatic-rate GD runs not yet halved to the limit."""
    h = np.zeros(len(idx), np.int64) if halvings is None else np.asarray(halvings)
    if not full_batch(group) or not OPTIMIZER_KINDS[group.config.optimizer].descent:
        return np.zeros(len(idx), bool)
    return _auto(plan, idx) & (h < MAX_HALVINGS)
