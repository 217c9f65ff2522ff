"""The exact end-to-end gradient flow of a deep linear network from a balanced
initialisation, on one run's own data (docs/theory.md §3.2), integrated with JAX's odeint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.ode import odeint

from .scope import float64

__all__ = ["balanced_flow"]


@float64
def balanced_flow(factor, teacher, noise_std, w0, depth: int, times, n_train=None, rtol=1e-10, weights=False):
    """Exact end-to-end gradient flow of a scalar-output deep linear network from a
    balanced initialisation, on one run's own data (docs/theory.md §3.2, Arora et al. 2018):

    ``τ dw/dt = ‖w‖^{2−2/D} [g + (D − 1)(g·ŵ) ŵ]``, ``g = Σ_yx − w Σ_xx``.

    Args:
        factor: (N + 1, K) data factor of :mod:`dynax.sim.data` (L Lᵀ = [X; Z][X; Z]ᵀ).
        teacher: (1, N); noise_std: σ_ε; w0: (1, N) initial end-to-end weights.
        times: increasing times (units of τ), the first being 0.
        n_train: P, for the training error (optional).

    Returns:
        (test_error, train_error) at ``times`` (train_error None without n_train), and the
        end-to-end weights (len(times), N) as a third item when ``weights``.
    """
    factor = jnp.asarray(factor, jnp.float64)
    n = factor.shape[0] - 1
    lx, lz = factor[:n], factor[n:]
    w_bar = jnp.asarray(teacher, jnp.float64)[0]
    sigma_xx = lx @ lx.T
    sigma_yx = (w_bar @ lx + noise_std * lz[0]) @ lx.T

    def rhs(w, t):
        g = sigma_yx - w @ sigma_xx
        norm = jnp.linalg.norm(w)
        w_hat = w / norm
        return norm ** (2 - 2 / depth) * (g + (depth - 1) * (g @ w_hat) * w_hat)

    ws = jax.jit(lambda w: odeint(rhs, w, jnp.asarray(times, jnp.float64), rtol=rtol, atol=1e-12))(
        jnp.asarray(w0, jnp.float64).reshape(-1)
    )
    d = ws - w_bar[None]
    test = np.asarray(jnp.sum(d * d, axis=1) / n + noise_std**2)
    train = None
    if n_train is not None:
        r = noise_std * lz[0][None] - d @ lx
        train = np.asarray(jnp.sum(r * r, axis=1) / n_train)
    return (test, train, np.asarray(ws)) if weights else (test, train)
