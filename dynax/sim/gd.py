"""Gradient descent on one network's sufficient statistics: the GD kernel.

:func:`train_gd` is a pure function of ONE network's inputs (:class:`RunInputs`) and a
static :class:`KernelConfig` (shapes only, plus the optimizer family); ``jax.vmap``
batches it and ``jax.jit`` compiles it once per compile group (:mod:`dynax.engine.chunk`).
Hyperparameters (learning rate, init scale, momentum, ...) are arrays, so a new value
never recompiles. Nothing raises inside: a diverging run is flagged and its curves are
NaN from the first bad epoch on (:mod:`dynax.sim.tracker`).

Conventions (docs/design.md §1): the loss is ``½ Σ_μ ‖y_μ − W_eff x_μ‖²`` times
``grad_scale`` (1 for ``loss = "sum"``, 1/P for ``"mean"``); ``E_g`` is the exact
population risk ``‖W_eff − w̄‖²_F/(N·N_out) + σ_ε²`` (``‖(W_eff − w̄) A‖²_F/(N·N_out) + σ_ε²``
with an input covariance ``C = A Aᵀ/N``, ``problem.input_spectrum``) and ``E_t`` the mean squared
training residual ``Σ_μ‖r_μ‖²/(P·N_out)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..spec import INITS, derived
from . import modes, recorders, tracker
from .init import InitConfig, init_from
from .optimizers import optimizer
from .recorders import View
from .scope import float64, unbatched
from .tracker import DIVERGENCE_FACTOR, Outputs, records

__all__ = [
    "KernelConfig",
    "Outputs",
    "RunInputs",
    "init_weights",
    "product",
    "run_inputs",
    "train_gd",
]


@dataclass(frozen=True)
class KernelConfig:
    """Static (compile-time) settings of one compile group."""

    depth: int
    width: int
    n_in: int
    n_out: int
    k: int  # columns of the data factor L
    epochs: int
    record: tuple[int, ...]
    optimizer: str = "gd"
    inits: tuple[str, ...] = ("gaussian",)  # init kinds present in the group
    dtype: str = "float32"
    root_seed: int = 0
    null_space: bool = False  # also record the error in the null space of the inputs
    # what train.record's flags add (:mod:`dynax.sim.recorders`), by name, and its floats per run
    records: tuple[str, ...] = ()
    record_floats: int = 0
    modes: int = 0  # teacher modes of the mode bases (0: none recorded; :mod:`dynax.sim.modes`)
    data_modes: int = 0  # modes of Σ_yx beside them
    validation: bool = False  # early stopping on held-out examples (RunInputs.val_factor)
    weight_decay: bool = False  # the spec has γ > 0 somewhere: the loss carries the penalty term
    covariance: bool = False  # an input covariance C = A Aᵀ/N (problem.input_spectrum): E_g reads A
    pretrain_epochs: int = 0  # init "pretrained": each layer's autoencoding epochs

    def shapes(self) -> list[tuple[int, int]]:
        """Layer shapes, input side first: W_1 (N_h, N), ..., W_D (N_out, N_h)."""
        return derived.layer_shapes(self.depth, self.width, self.n_in, self.n_out)

    protocol = "replay"  # every run of a sufficient-statistics trainer: full-batch replay
    batch = 0

    def init_config(self) -> InitConfig:
        return InitConfig(
            self.depth, self.width, self.n_in, self.n_out, self.inits, self.dtype, self.root_seed,
            self.pretrain_epochs,
        )  # fmt: skip


class RunInputs(NamedTuple):
    """One network's inputs; every field is an array (a leading run axis when batched)."""

    factor: jax.Array  # (N + N_out, K) data factor, L Lᵀ = [X; Z][X; Z]ᵀ
    teacher: jax.Array  # (N_out, N)
    noise_std: jax.Array  # σ_ε
    n_train: jax.Array  # P
    learning_rate: jax.Array
    grad_scale: jax.Array  # 1 (sum loss) or 1/P (mean loss)
    init_scale: jax.Array
    init_code: jax.Array  # index into spec.INITS
    seed: jax.Array  # replicate seed (uint32), for the init key
    momentum: jax.Array
    b1: jax.Array
    b2: jax.Array
    weight_decay: jax.Array  # γ
    # the closed form's eigendecomposition of Σ_xx = U Λ Uᵀ and Uᵀ L_x (empty for GD)
    eigvals: jax.Array  # (N,)
    eigvecs: jax.Array  # (N, N)
    rotated: jax.Array  # (N, K)
    # the teacher's singular vectors U (N_out, r), V (N, r), float64; None unless modes are recorded
    mode_u: jax.Array | None = None
    mode_v: jax.Array | None = None
    # the held-out examples' factor (N + N_out, K_v) and their number V; None without validation
    val_factor: jax.Array | None = None
    n_val: jax.Array | None = None
    # A (N, N), A Aᵀ/N = C the population input covariance; None for white inputs
    input_root: jax.Array | None = None


def validation_error_fn(cfg, run, w_bar, dtype):
    """``W_eff -> Σ_v‖y_v − W_eff x_v‖²/(V·N_out)`` on the held-out examples (None without)."""
    if not cfg.validation:
        return None
    n = cfg.n_in
    lxv = run.val_factor[:n].astype(dtype)
    lzv = (run.noise_std * run.val_factor[n:]).astype(dtype)
    scale = (run.n_val * cfg.n_out).astype(dtype)

    def val_error(w_eff):
        r = lzv - (w_eff - w_bar) @ lxv
        return jnp.sum(r * r) / scale

    return val_error


@float64
def run_inputs(factor, teacher, *, n_train, init, init_scale, seed, noise_std=0.0, learning_rate=1.0,
               grad_scale=1.0, momentum=0.9, b1=0.9, b2=0.999, weight_decay=0.0) -> RunInputs:  # fmt: skip
    """One run's :class:`RunInputs` in float64, for single runs outside the engine."""
    f64 = partial(jnp.asarray, dtype=jnp.float64)
    return RunInputs(
        factor=f64(factor),
        teacher=f64(teacher),
        noise_std=f64(noise_std),
        n_train=jnp.asarray(n_train, jnp.int64),
        learning_rate=f64(learning_rate),
        grad_scale=f64(grad_scale),
        init_scale=f64(init_scale),
        init_code=jnp.asarray(INITS.index(init), jnp.int32),
        seed=jnp.asarray(seed, jnp.uint32),
        momentum=f64(momentum),
        b1=f64(b1),
        b2=f64(b2),
        weight_decay=f64(weight_decay),
        eigvals=jnp.zeros((0,)),
        eigvecs=jnp.zeros((0, 0)),
        rotated=jnp.zeros((0, 0)),
    )


def _null_space_error(w_eff, w_bar, u_row, n_out):
    """``‖P_null (W_eff − w̄)‖² / (N·N_out)``: the part of ``E_g − σ_ε²`` in the null space of
    the training inputs, with ``u_row`` an orthonormal basis of their row space (zero columns
    allowed). Computed from the projection itself, not as a difference of norms."""
    d = w_eff - w_bar
    null = d - (d @ u_row) @ u_row.T
    return jnp.sum(null * null) / (u_row.shape[0] * n_out)


class Statistics(NamedTuple):
    """One run's data as a trainer on sufficient statistics reads it, in the run's dtype."""

    lx: jax.Array  # (N, K) L_x: Σ_xx = L_x L_xᵀ
    lz_noise: jax.Array  # (N_out, K) σ_ε L_z
    w_bar: jax.Array  # (N_out, N) the teacher
    noise_var: jax.Array  # σ_ε²
    p: jax.Array  # P


def statistics(cfg: KernelConfig, run: RunInputs, dtype) -> Statistics:
    n = cfg.n_in
    return Statistics(
        lx=run.factor[:n].astype(dtype),
        lz_noise=(run.noise_std * run.factor[n:]).astype(dtype),
        w_bar=run.teacher.astype(dtype),
        noise_var=(run.noise_std**2).astype(dtype),
        p=run.n_train.astype(dtype),
    )


def sigma_yx(cfg, run: RunInputs):
    """Σ_yx = (w̄ L_x + σ_ε L_z) L_xᵀ (N_out, N) in float64, O(N·K)."""
    lx, lz = run.factor[: cfg.n_in], run.factor[cfg.n_in :]
    return (run.teacher @ lx + run.noise_std * lz) @ lx.T


@float64
def init_weights(cfg: KernelConfig, run: RunInputs) -> list[jax.Array]:
    """Initial weights of one run (:func:`dynax.sim.init.init_from`)."""
    syx = sigma_yx(cfg, run) if "aligned" in cfg.inits else None  # only the aligned init reads it
    lx = run.factor[: cfg.n_in] if "pretrained" in cfg.inits else None
    sxx = None if lx is None else lx @ lx.T  # only pretraining reads Σ_xx
    return init_from(cfg.init_config(), run.seed, run.init_code, run.init_scale, syx, sxx)


@float64
def mode_bases(cfg, run, dtype) -> modes.ModeBases | None:
    """The teacher's and the data's singular bases of a run recording modes, else None."""
    if not cfg.modes:
        return None
    return modes.bases(run.mode_u, run.mode_v, sigma_yx(cfg, run), run.n_train, cfg.data_modes, dtype)


# --------------------------------------------------------------------------- GD kernel


def product(ws):
    """End-to-end weights W_D ⋯ W_1 (N_out, N), multiplied from the output side."""
    out = ws[-1]
    for w in reversed(ws[:-1]):
        out = out @ w
    return out


class _State(NamedTuple):
    weights: list
    opt_state: optax.OptState
    track: tracker.Tracker  # running minimum of E_g, divergence (bad_epoch = epochs + 1 if none)
    descent: tracker.Descent  # the training objective's lowest value and first rise
    stop: tracker.Stopper | None = None  # the validation minimum (train.validation)


class _Fit:
    """One run's training objective and errors on its sufficient statistics."""

    def __init__(self, cfg: KernelConfig, run: RunInputs, dtype):
        self.cfg = cfg
        self.lx, self.lz_noise, self.w_bar, self.noise_var, self.p = statistics(cfg, run, dtype)
        self.grad_scale = run.grad_scale.astype(dtype)
        self.gamma = run.weight_decay.astype(dtype)
        self.root = run.input_root.astype(dtype) if cfg.covariance else None
        self.value_and_grad = jax.value_and_grad(self.loss, has_aux=True)

    def residual(self, w_eff):
        """The residual in factor space, L_z σ_ε − (W_eff − w̄) L_x."""
        return self.lz_noise - (w_eff - self.w_bar) @ self.lx

    def objective(self, ws, r, residual=None):
        """The training loss, with the weight-decay penalty where γ > 0; ``residual``: ‖r‖² if
        already known (a record's E_t·P·N_out)."""
        rr = jnp.sum(r * r) if residual is None else residual
        if not self.cfg.weight_decay:  # without it the program is the one before weight decay existed
            return 0.5 * self.grad_scale * rr
        penalty = self.gamma * sum(jnp.sum(w * w) for w in ws)  # L2 on every layer (for adam too: not AdamW)
        return 0.5 * self.grad_scale * (rr + penalty)

    def loss(self, ws):
        w_eff = product(ws)
        r = self.residual(w_eff)
        return self.objective(ws, r), (w_eff, r)

    def errors(self, w_eff, r):
        """(E_t, E_g) from the end-to-end weights and their residual; with an input covariance
        C = A Aᵀ/N, E_g = tr((W − w̄) C (W − w̄)ᵀ)/N_out + σ_ε² = ‖(W − w̄) A‖²/(N·N_out) + σ_ε²."""
        d = w_eff - self.w_bar
        if self.root is not None:
            d = d @ self.root
        test = jnp.sum(d * d) / (self.cfg.n_in * self.cfg.n_out) + self.noise_var
        train = jnp.sum(r * r) / (self.p * self.cfg.n_out)
        return train, test


def _row_space(cfg, run, lx):
    """The row space of X (the top min(P, N) left singular vectors of L_x; the others zero)."""
    u, _, _ = unbatched(partial(jnp.linalg.svd, full_matrices=False))(lx)
    rank = jnp.minimum(run.n_train, cfg.n_in)
    return jnp.where(jnp.arange(u.shape[1])[None, :] < rank, u, 0.0)


@float64
def train_gd(cfg: KernelConfig, run: RunInputs) -> Outputs:
    """Train one network by full-batch gradient descent on its sufficient statistics.

    Epochs run inside ``lax.scan`` over the record intervals (an inner loop steps
    between two recorded epochs); ``E_g`` is evaluated at every epoch for the exact
    running minimum.
    """
    dtype = jnp.dtype(cfg.dtype)
    n_out = cfg.n_out
    fit = _Fit(cfg, run, dtype)
    u_row = _row_space(cfg, run, fit.lx) if cfg.null_space else None
    opt = optimizer(cfg.optimizer, run, dtype)
    ws0 = init_weights(cfg, run)
    r0 = fit.residual(product(ws0))
    _, test0 = fit.errors(product(ws0), r0)
    limit = DIVERGENCE_FACTOR * test0
    val_error = validation_error_fn(cfg, run, fit.w_bar, dtype)

    def check(state: _State, test, epoch, w_eff):
        state = state._replace(track=tracker.update(state.track, test, epoch, limit))
        if val_error is None:
            return state
        stop = tracker.stop_update(state.stop, val_error(w_eff), test, epoch, state.track.diverged)
        return state._replace(stop=stop)

    def step(epoch, state: _State) -> _State:
        (value, (w_eff, r)), grads = fit.value_and_grad(state.weights)
        _, test = fit.errors(w_eff, r)
        state = check(state, test, epoch, w_eff)._replace(
            descent=tracker.descend(state.descent, value, epoch)
        )
        updates, opt_state = opt.update(grads, state.opt_state, state.weights)
        return state._replace(weights=optax.apply_updates(state.weights, updates), opt_state=opt_state)

    mb = mode_bases(cfg, run, dtype)

    def record(state: _State, epoch):
        w_eff = product(state.weights)
        r = fit.residual(w_eff)
        train, test = fit.errors(w_eff, r)
        state = check(state, test, epoch, w_eff)
        value = fit.objective(state.weights, r, train * (fit.p * n_out))  # no second reduction over r
        state = state._replace(descent=tracker.descend(state.descent, value, epoch))
        nan = jnp.array(jnp.nan, dtype)
        null = _null_space_error(w_eff, fit.w_bar, u_row, n_out) if cfg.null_space else nan
        rec = (train, test, null, val_error(w_eff) if val_error is not None else nan)
        rec += (recorders.at_record(cfg.records, View(state.weights, w_eff, n_out, mb)),)
        return state, jax.tree.map(lambda v: jnp.where(state.track.diverged, nan, v), rec)

    def interval(state, bounds):
        start, stop = bounds[0], bounds[1]
        state, rec = record(state, start)
        state = jax.lax.fori_loop(start, stop, step, state)
        return state, rec

    state = _State(
        weights=ws0,
        opt_state=opt.init(ws0),
        track=tracker.start(test0, dtype, cfg.epochs + 1),
        descent=tracker.descent(fit.objective(ws0, r0)),
        stop=tracker.stopper(dtype) if val_error is not None else None,
    )
    rec_epochs = np.asarray(cfg.record, dtype=np.int64)
    bounds = np.stack([rec_epochs[:-1], rec_epochs[1:]], axis=1)
    state, recs = jax.lax.scan(interval, state, bounds)
    state, lasts = record(state, rec_epochs[-1])
    end = View(state.weights, product(state.weights), n_out, mb, run)
    return _outputs(cfg, state, recs, lasts, end, dtype)


def _outputs(cfg: KernelConfig, state: _State, recs, lasts, end: View, dtype) -> Outputs:
    """The run's outputs from its final state, the scan's records and the last record."""
    null = (recs[2], lasts[2]) if cfg.null_space else None
    out = tracker.outputs(state.track, dtype, (recs[0], lasts[0]), (recs[1], lasts[1]), null)
    out = out._replace(rise_epoch=state.descent.rise_epoch)
    if cfg.validation:
        out = out._replace(
            validation_error=records(recs[3], lasts[3]),
            stopped_test_error=state.stop.test,
            stopped_epoch=state.stop.epoch,
        )
    curves = jax.tree.map(records, recs[4], lasts[4])
    return out._replace(records={**curves, **recorders.at_end(cfg.records, end, state.track.diverged, dtype)})
