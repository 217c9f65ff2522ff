"""What the eigenbasis kernels share (the fused CPU kernel, :mod:`dynax.sim.fused`, and the
Pallas GPU kernel, :mod:`dynax.sim.pallas`): which runs they train and each run's O(N)
data in the eigenbasis of its Σ_xx (the derivation is in :mod:`dynax.sim.fused`). Plain
NumPy: importing it loads neither numba nor Pallas.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "MAX_SIDE",
    "MAX_STATE_WORDS",
    "OPTIMIZERS",
    "EigenRuns",
    "eigen_runs",
    "fits_one_program",
    "pallas_launch",
    "pow2",
    "state_words",
    "supports",
]

OPTIMIZERS = ("gd", "momentum")
MAX_SIDE = 256  # the largest padded N or N_h one Pallas program holds


def pow2(n: int) -> int:
    """The least power of two ≥ n (1 for n ≤ 1)."""
    return 1 << max(0, int(n) - 1).bit_length()


def state_words(n_in: int, width: int, depth: int, itemsize: int, momentum: bool) -> int:
    """32-bit words of one Pallas program's loop-carried weight matrices (and their
    velocities), padded to powers of two (the vectors beside them are negligible)."""
    h, n = pow2(width), pow2(n_in)
    return itemsize // 4 * (h * n + (depth - 2) * h * h) * (1 + bool(momentum))


def pallas_launch(n_runs: int, down: bool = False) -> int:
    """Programs a Pallas call launches for ``n_runs`` networks: a power of two below 1024, a
    multiple of 1024 above (few shapes to compile); ``down``: the largest such count ≤ n_runs
    (the engine sizes its batches so, and no program trains padding)."""
    if n_runs >= 1024:
        return n_runs // 1024 * 1024 if down else -(-n_runs // 1024) * 1024
    return 1 << (int(n_runs).bit_length() - 1) if down else pow2(n_runs)


MAX_STATE_WORDS = 1 << 16  # an SM's register file (64K words): beyond it the weights spill off-chip


def fits_one_program(
    n_in: int, width: int, depth: int = 2, itemsize: int = 4, momentum: bool = False
) -> bool:
    """Whether one Pallas program holds a network: N and N_h ≤ :data:`MAX_SIDE` padded to
    powers of two, and its weights and velocities within :data:`MAX_STATE_WORDS`."""
    return (
        max(pow2(n_in), pow2(width)) <= MAX_SIDE
        and state_words(n_in, width, depth, itemsize, momentum) <= MAX_STATE_WORDS
    )


def supports(depth: int, n_out: int, optimizer: str) -> bool:
    """Whether the fused kernel (and the Pallas kernel, up to its size) trains this compile group."""
    return depth >= 2 and n_out == 1 and optimizer in OPTIMIZERS


class EigenRuns(NamedTuple):
    """A batch of runs in the eigenbasis of their Σ_xx (host arrays, float64)."""

    lam: np.ndarray  # (B, N) eigenvalues of Σ_xx, ascending
    wbar: np.ndarray  # (B, N) w̄ U
    c: np.ndarray  # (B, N) L_z Mᵀ: the label noise's correlation with each mode
    zeta: np.ndarray  # (B, N) c/√λ on the row space, 0 on the null space
    z_perp: np.ndarray  # (B,) ‖L_z‖² − Σ ζ²: the noise outside the data's row space
    null_modes: np.ndarray  # (B,) N − min(P, N): the first modes span the null space


def eigen_runs(factor, teacher, eigvals, eigvecs, rotated, n_train) -> EigenRuns:
    """The O(N) data of each run from its factor, teacher, ``Σ_xx = U Λ Uᵀ`` and
    ``M = Uᵀ L_x`` (float64, a leading run axis)."""
    n = eigvals.shape[1]
    lz = factor[:, n:, :]  # (B, 1, K)
    lam = np.clip(eigvals, 0.0, None)
    c = np.einsum("bok,bnk->bn", lz, rotated)
    pos = lam > 1e-10 * lam.max(axis=1, keepdims=True)
    zeta = np.where(pos, c / np.sqrt(np.where(pos, lam, 1.0)), 0.0)
    z_perp = np.clip(np.sum(lz * lz, axis=(1, 2)) - np.sum(zeta * zeta, axis=1), 0.0, None)
    null = n - np.minimum(np.asarray(n_train, np.int64), n)
    wbar = np.einsum("bn,bnm->bm", teacher[:, 0, :], eigvecs)
    return EigenRuns(lam, wbar, c, zeta, z_perp, null)
