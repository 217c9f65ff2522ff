"""The committee student in the raw-data trainer (``model.student = "committee"``, docs/theory.md
§6): K erf units ``w_a`` (the first layer, drawn as a depth-2 network's) and a readout ``v``
that starts at 1 and is fixed, or trained at η/N (``model.train_readout``); online SGD at
plain η on the first layer. E_g is exact from the overlaps (:func:`test_error`), no test set.
The theory of the same quantities is :mod:`dynax.theory.committee`."""

from __future__ import annotations

import jax.numpy as jnp

from ..theory.committee import committee_error

__all__ = ["initial_weights", "overlap", "steps", "test_error"]


def overlap(a, b):
    """``a bᵀ/N`` of two layers' rows (..., ·, N): Q = overlap(W, W), R = overlap(W, W*)."""
    return a @ jnp.swapaxes(b, -1, -2) / a.shape[-1]


def initial_weights(ws: list) -> list:
    """A depth-2 draw's first layer, and the readout at 1 (1, K)."""
    return [ws[0], jnp.ones_like(ws[1])]


def steps(cfg, grad):
    """``grad`` (of the per-example loss, a function returning the layers' gradients last, alone or
    after the loss) with the readout's gradient times 1/N (trained) or 0 (fixed): plain SGD then
    steps the first layer at η and the readout at η/N."""
    factor = 1.0 / cfg.n_in if cfg.train_readout else 0.0

    def scaled(*args, **kwargs):
        out = grad(*args, **kwargs)
        g = out[-1] if isinstance(out, tuple) else out
        g = [g[0], factor * g[1]]
        return (*out[:-1], g) if isinstance(out, tuple) else g

    return scaled


def test_error(t1, t2):
    """``error(ws)``: E_g − σ_ε² = ⟨(f* − f)²⟩ exactly, from the overlaps Q, R, the teacher's T
    (computed once) and the readouts."""
    t = overlap(t1, t1)

    def error(ws):
        return committee_error(overlap(ws[0], ws[0]), overlap(ws[0], t1), t, ws[1][0], t2[0], xp=jnp)

    return error
