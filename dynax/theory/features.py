"""Random-feature students in closed form, and their error decomposition (docs/theory.md §5 item 8).

A random-feature student ``ŷ = a·relu(F x)`` trains only its readout ``a``, so full-batch
gradient descent on it is linear regression on the features ``φ = relu(F x)``, and its
trajectory has a closed form in the eigenbasis of the feature Gram
``H = g Σ_μ φ^μ φ^μᵀ`` (``g = 1`` for the sum loss, ``1/P`` for the mean):
``c_k = c_∞ + (1 − ηλ)^k (c_0 − c_∞)`` on the row space, ``c_k = c_0`` on the null space.

Inputs are ``x ~ N(0, I/N)``, so the population moments of ReLU units are the arc-cosine
kernel: for rows ``u, v`` of two weight matrices, with ``cos θ = u·v / (|u||v|)``,
``E[relu(u·x) relu(v·x)] = |u||v| / (2πN) · (sin θ + (π − θ) cos θ)``. With
``Σ = E[φφᵀ]``, ``b = E[φ f]`` and ``E[f²]`` exact, the population risk of any readout is
``E_g(a) = E[f²] − 2 a·b + aᵀΣa + σ_ε²``, and with the best readout ``a* = Σ⁺ b``
(infinite data) it splits exactly into

* ``approximation_error``  ``E[f²] − b·a*``: what no readout of these features can fit;
* ``null_space_error``     ``δ₀ᵀ Σ δ₀`` with ``δ₀ = Π₀ (a_0 − a*)``, ``Π₀`` the projector on the
  null space of the training features: the part of ``a_0 − a*`` that gradient descent never
  moves (the frozen subspace; zero when N_h ≤ P);
* ``overfitting_error``    ``δ_kᵀ Σ δ_k`` with ``δ_k = (1 − Π₀)(a_k − a*)``: the error of the
  trained (row-space) part, which fits the approximation error as if it were label noise;
* ``cross_error``          ``2 δ_kᵀ Σ δ₀``, what couples the two (Σ is not diagonal in the
  data's basis), so that ``E_g = σ_ε² + approximation + null_space + overfitting + cross``
  holds exactly.

:func:`dynax.predict.decomposition_dataset` evaluates this on every run of a sweep spec, on
the runs' own data, features and initial weights (the engine's draws). NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["TERMS", "RunDecomposition", "decompose_run", "relu_moments"]

TERMS = ("approximation_error", "null_space_error", "overfitting_error", "cross_error")


def relu_moments(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``E[relu(u x) relu(v x)ᵀ]`` for ``x ~ N(0, I/N)``: (rows of u) × (rows of v)."""
    n = u.shape[1]
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    scale = np.outer(nu, nv)
    cos = np.clip((u @ v.T) / np.where(scale > 0, scale, 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    return scale / (2 * np.pi * n) * (np.sin(theta) + (np.pi - theta) * cos)


class RunDecomposition(NamedTuple):
    """One run's exact errors at the requested epochs (the last entry: t → ∞)."""

    test_error: np.ndarray  # population E_g, σ_ε² included
    train_error: np.ndarray
    approximation_error: float
    null_space_error: float
    overfitting_error: np.ndarray
    cross_error: np.ndarray
    readout: np.ndarray  # (K + 1, N_h) the trained readout a_k


def decompose_run(x, y, f, a0, teacher_v, teacher_a, noise_var, lr, grad_scale, epochs, rcond=1e-12):
    """The closed-form GD trajectory of a random-feature readout and its decomposition.

    Args:
        x: (P, N) training inputs; y: (P,) labels; f: (N_h, N) fixed feature layer;
        a0: (N_h,) initial readout; teacher_v: (N_t, N), teacher_a: (N_t,) the ReLU
        teacher ``a·relu(V x)``; noise_var: σ_ε²; lr, grad_scale: the step is
        ``lr·grad_scale·∇(½Σ r²)``; epochs: (K,) integer epochs. ``rcond``: eigenvalues
        below ``rcond × the largest`` count as zero (null space, and in Σ⁺).

    Returns the errors at ``epochs`` followed by t → ∞ (K + 1 entries); NaN for the
    trajectory (not for the approximation and null-space errors) where ``lr·λ_max ≥ 2``
    (the run diverges; the engine flags it and the analysis drops it).
    """
    p = x.shape[0]
    phi = np.maximum(x @ f.T, 0.0)
    _, sv, vt = np.linalg.svd(phi, full_matrices=False)
    row = sv * sv > rcond * sv[0] ** 2
    v = vt[row].T  # (N_h, r): an orthonormal basis of the row space of the training features
    lam = grad_scale * sv[row] ** 2  # the nonzero eigenvalues of H
    a0_null = a0 - v @ (v.T @ a0)  # never moved by gradient descent
    c0 = v.T @ a0
    c_inf = grad_scale * (v.T @ (phi.T @ y)) / lam
    k = np.append(np.asarray(epochs, np.float64), np.inf)
    if lr * lam[0] < 2.0:
        decay = (1.0 - lr * lam)[None, :] ** k[:, None]
        decay[-1] = 0.0  # t → ∞
    else:  # an unstable rate: the readout diverges
        decay = np.full((len(k), len(lam)), np.nan)
    a = a0_null + (c_inf + decay * (c0 - c_inf)) @ v.T  # (K + 1, N_h)

    sigma = relu_moments(f, f)
    b = relu_moments(f, teacher_v) @ teacher_a
    f2 = float(teacher_a @ relu_moments(teacher_v, teacher_v) @ teacher_a)
    s_lam, s_u = np.linalg.eigh(sigma)
    keep = s_lam > rcond * s_lam[-1]
    a_star = s_u[:, keep] @ ((s_u[:, keep].T @ b) / s_lam[keep])
    approx = f2 - float(b @ a_star)

    d0 = a0_null - (a_star - v @ (v.T @ a_star))  # Π₀ (a_0 − a*)
    if v.shape[1] == len(a0):  # no null space (N_h ≤ P): exactly zero, not rounding
        d0 = np.zeros_like(a0)
    d = a - a_star - d0  # the row-space part of a_k − a*, (K + 1, N_h)
    sd = d @ sigma
    over = np.sum(sd * d, axis=1)
    cross = 2.0 * sd @ d0
    test = f2 - 2.0 * a @ b + np.sum((a @ sigma) * a, axis=1) + noise_var
    resid = y[None, :] - a @ phi.T
    train = np.sum(resid * resid, axis=1) / p
    return RunDecomposition(test, train, approx, float(d0 @ sigma @ d0), over, cross, a)
