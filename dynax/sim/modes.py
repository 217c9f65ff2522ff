"""Singular-mode strengths of the end-to-end weights (docs/design.md §4 "Modes").

For a teacher ``w̄ = Σ_α s_α U_α V_αᵀ`` the strength of mode α in a student with
end-to-end weights ``W_eff`` is ``u_α = U_αᵀ W_eff V_α`` (Saxe, McClelland & Ganguli
2014): it starts near 0 and reaches ``s_α`` when the mode is learnt. With noise, or with
inputs that are not white, the data's own modes differ from the teacher's: the singular
vectors of ``Σ_yx = Σ_μ y_μ x_μᵀ``, with singular values reported as ``σ_α(Σ_yx)·N/P``
(the teacher's ``s_α`` for noiseless white inputs, where ``Σ_yx = (P/N)·w̄``).
Every trainer that records modes calls these, so the three agree by construction.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .scope import unbatched

__all__ = ["ZERO_MODE", "ModeBases", "data_modes", "strengths"]

ZERO_MODE = 1e-10  # singular values of Σ_yx below this fraction of the largest count as zero


class ModeBases(NamedTuple):
    """The bases a run projects on, in the run's dtype (empty when modes are off)."""

    u: jax.Array  # (N_out, r) the teacher's left singular vectors
    v: jax.Array  # (N, r) its right singular vectors
    du: jax.Array  # (N_out, r_d) Σ_yx's left singular vectors
    dv: jax.Array  # (N, r_d)
    data_s: jax.Array  # (r_d,) σ_α(Σ_yx)·N/P, float64


def data_modes(syx, n_train, r_data: int):
    """The top ``r_data`` singular modes of Σ_yx (N_out, N), float64: ``(du, s·N/P, dv)``."""
    u, s, vt = unbatched(partial(jnp.linalg.svd, full_matrices=False))(syx)
    n = syx.shape[1]
    return u[:, :r_data], s[:r_data] * n / n_train, vt[:r_data].T


def bases(teacher_u, teacher_v, syx, n_train, r_data: int, dtype) -> ModeBases:
    """A run's :class:`ModeBases` from its teacher's modes and its Σ_yx (float64)."""
    du, ds, dv = data_modes(syx, n_train.astype(jnp.float64), r_data)
    # a zero singular value has no direction of its own (any vector of the null space would
    # do): those modes' strengths are NaN, not an arbitrary projection
    kept = (ds > ZERO_MODE * ds[0])[None, :]
    du, dv = jnp.where(kept, du, jnp.nan), jnp.where(kept, dv, jnp.nan)
    return ModeBases(teacher_u.astype(dtype), teacher_v.astype(dtype), du.astype(dtype), dv.astype(dtype), ds)


def strengths(w_eff, u, v):
    """``diag(Uᵀ W_eff V)``: each mode's strength, (r,)."""
    return jnp.sum(u * (w_eff @ v), axis=0)
