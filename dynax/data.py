"""Teacher-student data and its sufficient statistics, from coordinate-derived keys.

Randomness follows DESIGN.md §4 ("Randomness"): for a run with replicate ``seed``,

* ``run = fold_in(root, seed)`` with ``root = PRNGKey(spec.seed)``;
* ``data = fold_in(run, 0)``: the teacher ``w̄ = σ_w · normal(data)``, and example μ
  (input ``x ~ N(0, I/N)`` and standard-normal label noise ``z``) from ``fold_in(data, μ)``;
* ``init = fold_in(run, 1)`` folded with depth, width and init kind (see ``kernel``).

Nothing depends on P, the SNR, the learning rate or a run's place in a batch, so the
training sets of one seed are nested across N/P (P examples are a prefix of P' > P) and
the noise pattern ``z`` is the same at every SNR (labels are ``y = w̄ x + σ_ε z``).

The kernel sees the data only through a square-root factor ``L`` of the augmented Gram
matrix: with ``A = [X; Z] ∈ R^{(N+N_out)×P}`` (examples as columns),
``L Lᵀ = A Aᵀ``. Writing ``L = [L_x; L_z]`` (first N rows, last N_out rows),
``Σ_xx = L_x L_xᵀ`` and, for a student with end-to-end weights W, the residual in factor
space ``r̃ = σ_ε L_z − (W − w̄) L_x`` has ``‖r̃‖² = Σ_μ ‖y_μ − W x_μ‖²`` exactly and the loss
gradient is ``−r̃ L_xᵀ``. A step therefore costs nothing in P, the training error is a sum
of squares (never negative), and every N/P value has the same shapes.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SeedStats", "data_key", "factor_width", "run_key", "seed_stats"]


def run_key(root_seed, seed):
    """``fold_in(PRNGKey(root_seed), seed)``; works on traced integers."""
    return jax.random.fold_in(jax.random.PRNGKey(root_seed), seed)


def data_key(root_seed, seed):
    return jax.random.fold_in(run_key(root_seed, seed), 0)


def factor_width(n_in: int, n_out: int, p_max: int) -> int:
    """Columns K of the factor L: the raw data when P_max ≤ N + N_out, else N + N_out."""
    return min(p_max, n_in + n_out)


def examples(key, n_in: int, n_out: int, p_max: int):
    """The first ``p_max`` examples of a seed.

    Returns:
        x: (p_max, n_in) inputs, entries N(0, 1/N); z: (p_max, n_out) standard normals.
    """

    def one(mu):
        kx, kz = jax.random.split(jax.random.fold_in(key, mu))
        x = jax.random.normal(kx, (n_in,), jnp.float64) / np.sqrt(n_in)
        z = jax.random.normal(kz, (n_out,), jnp.float64)
        return x, z

    return jax.vmap(one)(jnp.arange(p_max, dtype=jnp.uint32))


def teacher(key, n_in: int, n_out: int, teacher_var):
    """The teacher ``w̄`` (n_out, n_in), entries N(0, σ_w²)."""
    return jnp.sqrt(teacher_var) * jax.random.normal(key, (n_out, n_in), jnp.float64)


class SeedStats(NamedTuple):
    """Everything the kernel needs from the data of one seed, for every P of the sweep."""

    factor: np.ndarray  # (n_P, N + N_out, K) square root of the augmented Gram matrix
    teacher: np.ndarray  # (N_out, N)
    lam_max: np.ndarray  # (n_P,) largest eigenvalue of Σ_xx (sum convention)


@partial(jax.jit, static_argnames=("n_in", "n_out", "p_max"))
def _seed_stats(root_seed, seed, p_values, teacher_var, *, n_in, n_out, p_max):
    key = data_key(root_seed, seed)
    w_bar = teacher(key, n_in, n_out, teacher_var)
    x, z = examples(key, n_in, n_out, p_max)
    a = jnp.concatenate([x, z], axis=1).T  # (N + N_out, P_max)
    k = factor_width(n_in, n_out, p_max)

    def for_p(p):
        am = a * (jnp.arange(p_max) < p)[None, :]
        if k == p_max:  # the raw (masked) data is already the smallest factor
            factor = am
        else:
            lam, q = jnp.linalg.eigh(am @ am.T)
            factor = q * jnp.sqrt(jnp.clip(lam, 0.0))[None, :]
        xm = am[:n_in]  # λ_max of X Xᵀ from the smaller of the two Gram matrices
        lam_max = jnp.linalg.eigvalsh(xm.T @ xm if p_max < n_in else xm @ xm.T)[-1]
        return factor, lam_max

    factor, lam_max = jax.vmap(for_p)(p_values)
    return factor, w_bar, lam_max


def seed_stats(root_seed: int, seed: int, p_values, n_in: int, n_out: int, teacher_var: float) -> SeedStats:
    """Sufficient statistics of one seed for each P in ``p_values``, in float64.

    One compilation serves every seed of a sweep (the shapes depend only on N, N_out,
    the number of P values and max P).
    """
    p_values = np.asarray(p_values, dtype=np.int64)
    factor, w_bar, lam_max = _seed_stats(
        np.uint32(root_seed),
        np.uint32(seed),
        p_values,
        np.float64(teacher_var),
        n_in=n_in,
        n_out=n_out,
        p_max=int(p_values.max()),
    )
    return SeedStats(np.asarray(factor), np.asarray(w_bar), np.asarray(lam_max))


def raw_data(root_seed: int, seed: int, p: int, n_in: int, n_out: int, teacher_var: float, snr: float):
    """The raw training set of one run (for oracles and baselines, not the engine).

    Returns:
        x: (P, N) inputs; y: (P, N_out) labels ``w̄ x + σ_ε z``; w_bar: (N_out, N); noise_var.
    """
    key = data_key(root_seed, seed)
    w_bar = np.asarray(teacher(key, n_in, n_out, teacher_var))
    x, z = (np.asarray(v) for v in examples(key, n_in, n_out, p))
    noise_var = 0.0 if np.isinf(snr) else teacher_var / snr
    y = x @ w_bar.T + np.sqrt(noise_var) * z
    return x, y, w_bar, noise_var
