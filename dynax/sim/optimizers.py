"""The optimizers' update rules, one table (:data:`UPDATES`): what each name of
:data:`dynax.spec.OPTIMIZER_KINDS` does to the gradient, as an optax transformation built from
a run's arrays (its rate and hyperparameters are arrays: a new value never recompiles).

Adding an optimizer: a row in :data:`dynax.spec.OPTIMIZER_KINDS` (is it a descent method,
which hyperparameters it reads) and a row here (docs/design.md "Extending this contract").
The XLA kernel and the raw-data trainer take every optimizer here; the eigenbasis kernels
(fused, Pallas) declare the ones they take. The state an optimizer keeps, for the memory
model, is read from the optimizer itself (:func:`state_slots`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from ..spec import OPTIMIZER_KINDS

__all__ = ["UPDATES", "optimizer", "state_slots"]


def _gd(run, dtype):
    return optax.sgd(run.learning_rate.astype(dtype))


def _momentum(run, dtype):
    return optax.sgd(run.learning_rate.astype(dtype), momentum=run.momentum.astype(dtype))


def _adam(run, dtype):
    return optax.adam(run.learning_rate.astype(dtype), b1=run.b1.astype(dtype), b2=run.b2.astype(dtype))


def _nesterov(run, dtype):
    """Nesterov momentum, in optax's (Sutskever's) form: m ← βm + g, w ← w − η(g + βm)."""
    return optax.sgd(run.learning_rate.astype(dtype), momentum=run.momentum.astype(dtype), nesterov=True)


# name -> (run, dtype) -> optax.GradientTransformation; ``run`` carries learning_rate and the
# hyperparameters of OPTIMIZER_KINDS[name].reads as arrays
UPDATES = {"gd": _gd, "momentum": _momentum, "adam": _adam, "nesterov": _nesterov}


def optimizer(name: str, run, dtype) -> optax.GradientTransformation:
    """The update rule ``name`` for one run (its rate and hyperparameters from ``run``)."""
    if name not in UPDATES or name not in OPTIMIZER_KINDS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(UPDATES)}")
    return UPDATES[name](run, dtype)


class _Unit:
    """A stand-in run: every field a float32 scalar (only shapes matter for the state)."""

    def __getattr__(self, name):
        return jnp.ones((), jnp.float32)


@functools.cache
def state_slots(name: str) -> int:
    """Parameter-sized buffers the optimizer keeps (0 for GD, 1 for momentum, 2 for Adam),
    read from its own ``init`` by :func:`jax.eval_shape`: the memory model's count. Traced
    abstractly, start to end: it compiles nothing (a compilation here would cost every process)."""
    probe = 7  # a parameter of this many entries; the state's per-entry buffers are its multiples

    def init(params):
        return optimizer(name, _Unit(), jnp.float32).init(params)

    state = jax.eval_shape(init, jax.ShapeDtypeStruct((probe,), jnp.float32))
    return sum(leaf.size for leaf in jax.tree.leaves(state)) // probe
