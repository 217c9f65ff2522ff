"""The teacher kinds (``problem.teacher``): each kind's parameters, drawn from a seed's data
key in float64, and its noiseless outputs. Adding a teacher is a row in
:data:`dynax.spec.TEACHER_KINDS` and one in :data:`TEACHERS` here; where its data and keys
come from is :mod:`dynax.sim.data`'s."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .scope import float64

__all__ = ["TEACHERS", "Teacher", "erf_unit", "teacher", "teacher_apply", "teacher_params"]


@float64
def teacher(key, n_in: int, n_out: int, teacher_var):
    """The teacher ``w̄`` (n_out, n_in), entries N(0, σ_w²)."""
    return jnp.sqrt(teacher_var) * jax.random.normal(key, (n_out, n_in), jnp.float64)


def _drawn_matrix(key, n_in, n_out, teacher_var, width, linear, readout):
    w = teacher(key, n_in, n_out, teacher_var) if linear is None else linear
    return w, jnp.zeros((n_out, 0), jnp.float64)


def _given_matrix(key, n_in, n_out, teacher_var, width, linear, readout):
    if linear is None:
        raise ValueError("this teacher's matrix is built from the spec (a hierarchy's features): pass it")
    return linear, jnp.zeros((n_out, 0), jnp.float64)


def _identity(key, n_in, n_out, teacher_var, width, linear, readout):
    return jnp.eye(n_out, n_in, dtype=jnp.float64), jnp.zeros((n_out, 0), jnp.float64)


def _relu_params(key, n_in, n_out, teacher_var, width, linear, readout):
    kv, ka = jax.random.split(key)
    v = jax.random.normal(kv, (width, n_in), jnp.float64)
    a = jnp.sqrt(2.0 * teacher_var / width) * jax.random.normal(ka, (n_out, width), jnp.float64)
    return v, a


def _committee_params(key, n_in, n_out, teacher_var, width, linear, readout):
    v = jnp.asarray(readout, jnp.float64).reshape(n_out, width) if readout else jnp.ones((n_out, width))
    return jax.random.normal(key, (width, n_in), jnp.float64), v.astype(jnp.float64)


def erf_unit(h):
    """The soft committee machine's activation g(h) = erf(h/√2) (docs/theory.md §6)."""
    return jax.scipy.special.erf(h / jnp.sqrt(2.0))


class Teacher(NamedTuple):
    """A teacher kind's parameters ``(key, n_in, n_out, σ_w², width, linear, readout) -> (t1, t2)`` and
    its noiseless outputs ``(t1, t2, x (M, N)) -> (M, N_out)``."""

    params: object
    outputs: object


# every kind of dynax.spec.TEACHER_KINDS; adding a teacher: a row there and one here
TEACHERS = {
    "linear": Teacher(_drawn_matrix, lambda t1, t2, x: x @ t1.T),
    "relu": Teacher(_relu_params, lambda t1, t2, x: jax.nn.relu(x @ t1.T) @ t2.T),
    "hierarchy": Teacher(_given_matrix, lambda t1, t2, x: x @ t1.T),
    "identity": Teacher(_identity, lambda t1, t2, x: x),
    "committee": Teacher(_committee_params, lambda t1, t2, x: erf_unit(x @ t1.T) @ t2.T),
}


def _teacher(kind: str) -> Teacher:
    if kind not in TEACHERS:
        raise ValueError(f"unknown teacher {kind!r}; allowed: {', '.join(TEACHERS)}")
    return TEACHERS[kind]


@float64
def teacher_params(
    key, kind: str, n_in: int, n_out: int, teacher_var, width: int = 0, linear=None, readout=()
):
    """The teacher of a seed from its data key, float64: ``(t1, t2)``.

    linear: ``t1 = w̄`` entries N(0, σ_w²) (the draw of :func:`teacher`), ``t2`` empty
    (n_out, 0); relu: ``t1 = V`` entries N(0, 1) (so ``V x`` has unit-variance entries) and
    the readout ``t2 = a`` with entries N(0, 2σ_w²/N_t), so ``E[f(x)²] = σ_w²`` and the
    SNR keeps its meaning; committee: ``t1 = W*`` entries N(0, 1) (pre-activations of variance
    T_nn ≈ 1), ``t2`` the readout ``readout`` (problem.teacher_readout; () = all ones). ``linear``,
    if given, is the linear teacher to use (a chosen spectrum, a hierarchy's features)."""
    return _teacher(kind).params(key, n_in, n_out, teacher_var, width, linear, tuple(readout))


def teacher_apply(kind: str, t1, t2, x):
    """Noiseless teacher outputs for inputs x (M, N) -> (M, N_out)."""
    return _teacher(kind).outputs(t1, t2, x)
