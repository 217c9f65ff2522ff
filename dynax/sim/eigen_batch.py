"""A batch for the eigenbasis kernels (fused CPU, Pallas GPU), and what they share before
training: the initial weights drawn by the kernels' own init, the first layer rotated into
each run's eigenbasis of Σ_xx (``W_1 U``), and each (seed, P)'s O(N) data built once
(:func:`dynax.sim.eigen.eigen_runs`)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import NamedTuple

import jax
import numpy as np

from . import executables
from .eigen import EigenRuns, eigen_runs
from .gd import RunInputs, init_weights

__all__ = ["FusedBatch", "initial_weights", "prepare", "rotate_blas"]

UNIT_DRAWS = 8  # distinct initial weights drawn per compiled call (one shape)


class FusedBatch(NamedTuple):
    """A batch for an eigenbasis kernel: the per-run inputs (no eigendecompositions) and the
    data of each distinct (seed, P) of the batch once, with the index of each run's."""

    inputs: RunInputs
    pair: np.ndarray  # (B,) each run's row in the per-pair arrays
    pair_seed: np.ndarray  # (n_pairs,) the pair's seed
    eigvals: np.ndarray  # (n_pairs, N)
    eigvecs: np.ndarray  # (n_pairs, N, N)
    rotated: np.ndarray  # (n_pairs, N, K)
    factor: np.ndarray  # (n_pairs, N + N_out, K)
    teacher: np.ndarray  # (n_pairs, N_out, N)
    n_train: np.ndarray  # (n_pairs,)


def initial_weights(cfg, inputs) -> tuple[list, float]:
    """The initial weights of a batch of runs (:func:`dynax.sim.gd.init_weights`, vmapped and
    compiled like a trainer), and the seconds spent compiling."""

    def initial_weights(batch):
        return jax.vmap(partial(init_weights, cfg))(batch)

    exe, seconds = executables.compiled(("init", cfg), lambda: jax.jit(initial_weights), inputs)
    return exe(inputs), seconds


def rotate_blas(w1, eigvecs, dtype_like) -> tuple[np.ndarray, float]:
    """``W_1 U`` per run in float64, rounded to the dtype of ``dtype_like`` (NumPy's BLAS:
    the Pallas path, whose host does not train; :func:`dynax.sim.fused.rotate` for the CPU),
    and no compile seconds."""
    return np.matmul(np.asarray(w1, np.float64), eigvecs).astype(dtype_like.dtype), 0.0


def _unit_draws(cfg, inputs, first) -> tuple[list, float]:
    """The unit-scale initial weights (float64) of the runs ``first``, drawn ``UNIT_DRAWS``
    at a time (one compiled shape)."""
    unit_inputs = inputs._replace(init_scale=np.ones(len(inputs.seed)))
    cfg64, draws, seconds = replace(cfg, dtype="float64"), [], 0.0
    for lo in range(0, len(first), UNIT_DRAWS):
        pick = np.resize(first[lo : lo + UNIT_DRAWS], UNIT_DRAWS)
        part = unit_inputs._replace(
            **{
                f: np.asarray(getattr(unit_inputs, f))[pick]
                for f in unit_inputs._fields
                if getattr(unit_inputs, f) is not None
            }
        )
        ws, sec = initial_weights(cfg64, part)
        draws.append([np.asarray(w)[: len(first) - lo] for w in ws])
        seconds += sec
    return [np.concatenate(parts) for parts in zip(*draws, strict=True)], seconds


def _weights(cfg, batch: FusedBatch, rotate) -> tuple[list, float]:
    """Initial weights of a batch, the first rotated into each run's eigenbasis by ``rotate``
    (``W_1 U`` in float64, then rounded), and the seconds spent compiling the init and the
    rotation."""
    inputs = batch.inputs
    if {"aligned", "pretrained"} & set(cfg.inits):  # they read each run's Σ_yx or Σ_xx: run by run
        ws, seconds = initial_weights(cfg, inputs)
        ws = [np.asarray(w) for w in ws]
        ws[0], sec = rotate(ws[0], batch.eigvecs[batch.pair], ws[0])
        return ws, seconds + sec
    # every other init is a unit draw per (seed, init) times the run's scale: draw and
    # rotate each distinct one once
    keys = np.stack([inputs.seed.astype(np.int64), inputs.init_code.astype(np.int64)], axis=1)
    _, first, which = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    which = which.ravel()
    unit, seconds = _unit_draws(cfg, inputs, first)
    trips = np.stack([which, batch.pair], axis=1)
    _, first_t, which_t = np.unique(trips, axis=0, return_index=True, return_inverse=True)
    rot, sec = rotate(unit[0][which[first_t]], batch.eigvecs[batch.pair[first_t]], unit[0])
    scale = np.asarray(inputs.init_scale, np.float64)
    return [_scaled(rot, which_t.ravel(), scale, cfg.dtype)] + [
        _scaled(w, which, scale, cfg.dtype) for w in unit[1:]
    ], seconds + sec


def _scaled(unit: np.ndarray, which: np.ndarray, scale: np.ndarray, dtype) -> np.ndarray:
    """``scale[i] · unit[which[i]]`` for each run i, rounded to ``dtype`` run by run (no
    float64 copy of the whole batch: a fresh 40 MB array costs more in page faults than the
    products)."""
    out = np.empty((len(which), *unit.shape[1:]), dtype)
    for i, (j, s) in enumerate(zip(which, scale, strict=True)):
        np.multiply(s, unit[j], out=out[i], casting="same_kind")
    return out


def prepare(cfg, batch: FusedBatch, rotate) -> tuple[list, EigenRuns, float]:
    """What an eigenbasis kernel trains from: the rotated initial weights, each run's O(N)
    eigen data (built once per (seed, P)), and the seconds spent compiling on the way."""
    ws, seconds = _weights(cfg, batch, rotate)
    per_pair = eigen_runs(
        batch.factor, batch.teacher, batch.eigvals, batch.eigvecs, batch.rotated, batch.n_train
    )
    return ws, EigenRuns(*(np.asarray(x)[batch.pair] for x in per_pair)), seconds
