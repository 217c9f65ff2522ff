"""The inputs' second moments: white draws made exactly white (``problem.inputs = "whitened"``)
and a population covariance of chosen spectrum (``problem.input_spectrum``, docs/theory.md §2.10).

Gaussian inputs are drawn white, x ~ N(0, I/N) (:func:`dynax.sim.data.example`). With a chosen
spectrum λ (mean 1) each draw becomes ``A x`` with ``A = U diag(√λ)`` (:func:`root`), so the
population covariance is ``C = A Aᵀ/N`` and the exact population risk of end-to-end weights W is
``‖(W − w̄) A‖²_F/(N·N_out) + σ_ε²``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["inputs_of", "root", "whiten"]


def root(g, covariance, v=None):
    """``A = U diag(√λ)`` for the eigenvalues ``covariance`` (N,): U the orthonormal factor of the
    QR of the Gaussian ``g`` (N, N) (Haar, signs fixed by R's diagonal); with the teacher's input
    singular vectors ``v`` (N, r), U's first r columns are v (QR of [v, g]: ±v, fixed to +v by the
    same signs) and the rest a Haar complement. λ_i pairs with column i."""
    if v is not None:
        g = jnp.concatenate([v, g[:, : g.shape[0] - v.shape[1]]], axis=1)
    q, rr = jnp.linalg.qr(g)
    u = q * jnp.where(jnp.diagonal(rr) < 0, -1.0, 1.0)[None, :]
    return u * jnp.sqrt(jnp.asarray(covariance, u.dtype))[None, :]


def whiten(x: np.ndarray) -> np.ndarray:
    """Inputs (P, N), P ≥ N, made exactly white: ``X_w = X (XᵀX)^{-1/2} √(P/N)``, so
    ``X_wᵀ X_w = (P/N)·I`` (the nearest such set to X)."""
    p, n = x.shape
    a, _, bt = np.linalg.svd(x, full_matrices=False)
    return (a @ bt) * np.sqrt(p / n)


def inputs_of(x: np.ndarray, p: int, inputs: str) -> np.ndarray:
    """The first p inputs of a seed as a run sees them (all rows of x; rows ≥ p zero)."""
    if inputs == "onehot":  # item μ is e_μ (P = N: every item once)
        return np.eye(*x.shape)
    xp = np.where(np.arange(len(x))[:, None] < p, x, 0.0)
    if inputs == "whitened":
        xp[:p] = whiten(x[:p])
    return xp
