"""The raw-data trainer's per-example random streams (docs/design.md §4 "Randomness"): dropout's
masks (stream 5) and the input noise (stream 6), each example's draw keyed by the run, the
stream, the epoch and the example alone (:func:`per_example`). ``cfg`` is a
:class:`dynax.sim.raw.RawConfig`, ``run`` its :class:`dynax.sim.raw.RawInputs`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import data

__all__ = ["DRAW_STREAMS", "DROPOUT_STREAM", "NOISE_STREAM", "dropout_masks", "input_noise", "per_example"]

DROPOUT_STREAM = 5  # fold_in(run, 5): the dropout masks (docs/design.md §4 Randomness)
NOISE_STREAM = 6  # fold_in(run, 6): the input noise
DRAW_STREAMS = 100  # draw d > 0 of stream k: fold_in(fold_in(run, 100 + k), d)


def per_example(cfg, run, stream: int, draw):
    """``draws(ids, epoch)``: ``draw(key)`` for each of the examples ``ids`` (B,) at ``epoch``
    (online: 0, the ids being unique), example μ's key ``fold_in(fold_in(fold_in(run, stream),
    e), μ)``: it depends on nothing else (not on the minibatch, the run's place in a batch or
    the other runs). Draw d > 0 (``train.draw``) starts from ``fold_in(fold_in(run, 100 + stream), d)``."""
    run_key = data.run_key(cfg.root_seed, run.seed)
    key = jax.random.fold_in(run_key, stream)
    if run.draw is not None:
        other = jax.random.fold_in(jax.random.fold_in(run_key, DRAW_STREAMS + stream), run.draw)
        key = jnp.where(run.draw == 0, key, other)

    def draws(ids, epoch):
        at = jax.random.fold_in(key, jnp.asarray(epoch).astype(jnp.uint32))
        return jax.vmap(lambda mu: draw(jax.random.fold_in(at, mu)))(ids.astype(jnp.uint32))

    return draws


def dropout_masks(cfg, run, dtype):
    """``masks(ids, epoch)``: each hidden layer's mask (B, width), 1 with probability p = 1 − q,
    times 1/p under inverted scaling; layer l's from ``fold_in(example key, l)`` of stream 5
    (:func:`per_example`). None without dropout."""
    if not cfg.dropout:
        return None
    keep = 1.0 - run.dropout.astype(jnp.float64)
    scale = (1.0 / keep if cfg.dropout_scaling == "inverted" else jnp.ones_like(keep)).astype(dtype)

    def layers(k):  # hidden layer l's mask from fold_in(example key, l)
        return [
            jax.random.bernoulli(jax.random.fold_in(k, lay), keep, (cfg.width,))
            for lay in range(cfg.depth - 1)
        ]

    draws = per_example(cfg, run, DROPOUT_STREAM, layers)
    return lambda ids, epoch: [m.astype(dtype) * scale for m in draws(ids, epoch)]


def input_noise(cfg, run, dtype):
    """``noise(ids, epoch)``: σ_n times N standard normals (B, N) per example, from stream 6
    (:func:`per_example`, keyed like the masks). None without input noise."""
    if not cfg.input_noise:
        return None
    sigma = run.input_noise.astype(jnp.float64)
    draws = per_example(cfg, run, NOISE_STREAM, lambda k: jax.random.normal(k, (cfg.n_in,), jnp.float64))
    return lambda ids, epoch: (sigma * draws(ids, epoch)).astype(dtype)
