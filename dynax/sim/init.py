"""Initial weights of one network (docs/design.md §4 "Initialisations", "Randomness").

The key depends on (spec seed, replicate seed, depth, width, init kind) only, and
``init_scale`` multiplies a unit-scale draw, so runs that differ in learning rate,
optimizer, SNR, N/P or init scale start from paired weights. Weights are drawn in
float64 and rounded to the run's dtype: float32 and float64 runs start from the same
weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from ..spec import INITS, derived
from .scope import float64, unbatched

__all__ = ["InitConfig", "autoencode", "init_from", "init_key"]


@dataclass(frozen=True)
class InitConfig:
    """What the initial weights of a compile group depend on, besides per-run arrays."""

    depth: int
    width: int
    n_in: int
    n_out: int
    inits: tuple[str, ...]  # init kinds present in the group
    dtype: str
    root_seed: int
    pretrain_epochs: int = 0  # init "pretrained": GD epochs of each layer's autoencoding

    def shapes(self) -> list[tuple[int, int]]:
        return derived.layer_shapes(self.depth, self.width, self.n_in, self.n_out)


def init_key(root_seed, seed, depth: int, width: int, init_code):
    run = jax.random.fold_in(jax.random.PRNGKey(root_seed), seed)
    key = jax.random.fold_in(jax.random.fold_in(run, 1), depth)
    return jax.random.fold_in(jax.random.fold_in(key, width), init_code)


def _unit(key, n, dtype):
    v = jax.random.normal(key, (n,), dtype)
    return v / jnp.linalg.norm(v)


def _orthonormal_columns(key, n, r, dtype):
    q, rr = unbatched(jnp.linalg.qr)(jax.random.normal(key, (n, r), dtype))
    return q * jnp.sign(jnp.diagonal(rr))[None, :]


def _orthogonal(init, shape, dtype, key):
    return init(key, shape, dtype)


def _init_unit(kind: str, cfg: InitConfig, key, syx, dtype):
    """Initial weights with scale 1 (``init_scale`` multiplies them afterwards)."""
    shapes = cfg.shapes()
    keys = [jax.random.fold_in(key, layer) for layer in range(len(shapes))]
    if kind == "gaussian":
        return [jax.random.normal(k, s, dtype) for k, s in zip(keys, shapes, strict=True)]
    if kind == "gaussian_fan_in":
        return [jax.random.normal(k, s, dtype) / math.sqrt(s[1]) for k, s in zip(keys, shapes, strict=True)]
    if kind == "orthogonal":
        init = jax.nn.initializers.orthogonal()
        return [unbatched(partial(_orthogonal, init, s, dtype))(k) for k, s in zip(keys, shapes, strict=True)]
    if kind == "zero":
        return [jnp.zeros(s, dtype) for s in shapes]
    if kind == "balanced":  # W_l = u_{l+1} u_lᵀ; u_1 in input space, u_{D+1} = 1 (n_out = 1)
        us = [_unit(keys[0], cfg.n_in, dtype)]
        us += [_unit(k, cfg.width, dtype) for k in keys[1:]]
        us.append(jnp.ones((cfg.n_out,), dtype))
        return [jnp.outer(us[i + 1], us[i]) for i in range(len(shapes))]
    if kind == "aligned":  # Saxe's decoupled init in the SVD basis of Σ_yx
        u, _, vt = unbatched(partial(jnp.linalg.svd, full_matrices=False))(
            syx.astype(dtype)
        )  # (N_out, r), (r, N)
        r = min(cfg.n_out, cfg.n_in) if cfg.depth == 1 else min(cfg.n_out, cfg.n_in, cfg.width)
        u, vt = u[:, :r], vt[:r]
        if cfg.depth == 1:
            return [u @ vt]
        hidden = [_orthonormal_columns(k, cfg.width, r, dtype) for k in keys[1:]]
        bases = [vt.T, *hidden, u]  # input side first
        return [bases[i + 1] @ bases[i].T for i in range(len(shapes))]
    raise ValueError(kind)


def autoencode(e, sigma, epochs: int):
    """Layer ``e`` (n_code, n) trained as the encoder of a linear autoencoder of inputs whose Gram
    matrix (sum over the examples) is ``sigma`` (n, n): loss ``½ tr((I − D E) Σ (I − D E)ᵀ)``,
    decoder D (n, n_code) starting tied (D = Eᵀ, so the pair stays balanced), ``epochs`` steps of
    full-batch GD at the rate 0.5/λ_max(Σ) (a mode of strength λ learns at 0.5 λ/λ_max per step;
    stable below 1/λ_max at the solution). Returns the trained encoder; the decoder is dropped."""
    top = unbatched(jnp.linalg.eigvalsh)(sigma)[-1]
    rate = 0.5 / jnp.where(top > 0, top, 1.0)
    eye = jnp.eye(sigma.shape[0], dtype=sigma.dtype)

    def step(_, pair):
        enc, dec = pair
        r = (eye - dec @ enc) @ sigma  # −∂L/∂(D E)
        return enc + rate * (dec.T @ r), dec + rate * (r @ enc.T)

    return jax.lax.fori_loop(0, epochs, step, (e, e.T))[0]


def _pretrained(cfg: InitConfig, key, scale, sxx, dtype):
    """Greedy layer-wise pretraining (docs/theory.md §3.1, "Unsupervised pretraining"): the
    orthogonal draw at ``scale`` (the same weights as init 'orthogonal' at that scale), then each
    hidden layer in turn, input side first, trained as a linear autoencoder of its own inputs
    (:func:`autoencode`; the inputs' Gram matrix Σ_xx, then W_l Σ_l W_lᵀ), no labels. The output
    layer keeps its draw: it maps to the labels, which pretraining does not see."""
    ws = [scale * w for w in _init_unit("orthogonal", cfg, key, None, dtype)]
    out, sigma = [], sxx.astype(dtype)
    for w in ws[:-1]:
        enc = autoencode(w, sigma, cfg.pretrain_epochs)
        out.append(enc)
        sigma = enc @ sigma @ enc.T
    return [*out, ws[-1]]


def _branch(kind, cfg, dtype, init_scale, orthogonal_key, sxx, key, syx):
    """One init kind's weights and the scale still to multiply them by: the unit-scale draw and
    ``init_scale``, or the pretrained weights (pretraining starts from the scaled draw) and 1."""
    if kind == "pretrained":
        return _pretrained(cfg, orthogonal_key, init_scale.astype(dtype), sxx, dtype), jnp.ones((), dtype)
    return _init_unit(kind, cfg, key, syx, dtype), init_scale.astype(dtype)


@float64
def init_from(cfg: InitConfig, seed, init_code, init_scale, syx, sxx=None) -> list[jax.Array]:
    """One run's initial weights, input side first, in ``cfg.dtype``.

    Args:
        seed: replicate seed; init_code: index into ``spec.INITS``; init_scale: the scale s;
        syx: Σ_yx (N_out, N), read only by the ``aligned`` init (None otherwise);
        sxx: Σ_xx (N, N), read only by the ``pretrained`` init (None otherwise).
    """
    dtype = jnp.dtype(cfg.dtype)
    f64 = jnp.float64  # drawn in float64 and rounded: float32 and float64 runs start from the same weights
    key = init_key(cfg.root_seed, seed, cfg.depth, cfg.width, init_code)
    # pretraining starts from init 'orthogonal''s draw: the two are paired
    orthogonal = init_key(cfg.root_seed, seed, cfg.depth, cfg.width, INITS.index("orthogonal"))
    scale = jnp.asarray(init_scale)
    if len(cfg.inits) == 1:
        ws, factor = _branch(cfg.inits[0], cfg, f64, scale, orthogonal, sxx, key, syx)
    else:
        branches = [partial(_branch, kind, cfg, f64, scale, orthogonal, sxx) for kind in cfg.inits]
        # init_code indexes INITS; map it to this group's branch list
        local = jnp.argmax(jnp.array([INITS.index(k) for k in cfg.inits]) == init_code)
        ws, factor = jax.lax.switch(local, branches, key, syx)
    return [(factor * w).astype(dtype) for w in ws]
