"""The Pallas GPU kernel: full-batch GD (or momentum) with one network per GPU program and
its weights on-chip (registers, spilling to the SM's L1) for the whole run.

The same scheme as the fused CPU kernel (:mod:`dynax.sim.fused`, whose module docstring
derives it): in the eigenbasis of the run's Σ_xx the data enter only through O(N) vectors,
so one epoch of a depth-2 network is ``v = η g (λ ∘ d − σ_ε c)``, ``q = W_1 v``,
``a ← a − q``, ``W_1 ← W_1 − a_old vᵀ``, ``u = a W_1`` (``d = u − w̄``), about 6·N·N_h
FLOPs and no traffic to the GPU's memory: the XLA kernel instead reads and writes every
network's weights from HBM each epoch. Deeper networks add their N_h × N_h middle layers.

Each program holds one network padded to powers of two (Triton's block shapes): N and N_h
up to :data:`dynax.sim.eigen.MAX_SIDE` (256); padded rows and columns are zero and stay zero (their
gradient is zero), so padding changes no number. E_g, E_t and the null-space error are
O(N) sums in the run's dtype, as in the XLA kernel; the epochs run in segments between
records, so E_t and the null-space error are summed only at the recorded epochs (E_g, for
the exact minimum, every epoch). Divergence is data, as everywhere (:mod:`dynax.sim.tracker`).

On a CPU backend the kernel runs in Pallas's interpret mode (for the tests: the same
program, interpreted by XLA, slow). Supported: depth ≥ 2, ``n_out = 1``, ``gd`` and
``momentum``, weight decay, float32 and float64, the null-space error; the engine uses the
XLA kernel for the rest. ``train.kernel = "auto"`` does not choose it until it has been
measured on a GPU (``benchmarks/gpu_check.py``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl

from ..spec import derived
from . import executables
from .eigen import EigenRuns, pallas_launch, state_words
from .eigen import pow2 as _pow2
from .tracker import DIVERGENCE_FACTOR, Outputs

__all__ = ["PallasShape", "pallas_inputs", "pallas_trainer", "train_pallas"]


class PallasShape(NamedTuple):
    """The static shape of one compiled Pallas call."""

    n: int  # the real N (E_g and the null-space error divide by it)
    n_pad: int
    h_pad: int
    n_mid: int  # middle layers: depth − 2
    n_rec: int  # recorded epochs: 0 first, the last epoch last
    n_rec_pad: int
    momentum: bool
    decay: bool  # the spec has weight decay somewhere: the penalty is compiled in
    dtype: str


def _num_warps(shape: PallasShape) -> int:
    """Warps per program: about 64 registers of weights and velocities per thread (one
    network's W_1 of 128 × 128 float32 over 8 warps), at least 4 and at most 32."""
    words = state_words(
        shape.n_pad, shape.h_pad, shape.n_mid + 2, np.dtype(shape.dtype).itemsize, shape.momentum
    )
    return int(min(32, max(4, words // (64 * 32))))


def _times(row, mat):
    """Row vector times matrix (elementwise and a reduction: what a Pallas program does well)."""
    return jnp.sum(row[:, None] * mat, axis=0)


def _apply(mat, col):
    """Matrix times column vector."""
    return jnp.sum(mat * col[None, :], axis=1)


def _end_to_end(a, mids, w1):
    """u = a W_{D−1} ⋯ W_1: the end-to-end weights of a one-output network."""
    row = a
    for k in range(len(mids) - 1, -1, -1):
        row = _times(row, mids[k])
    return _times(row, w1)


def _update(w, m, grad, g, mo, mom_on: bool, decay_on: bool):
    """One step of a weight matrix (or vector) given its loss gradient (decay ``g·w`` added;
    heavy-ball momentum ``mo`` with its buffer ``m``)."""
    if decay_on:
        grad = grad + g * w
    if mom_on:
        m = mo * m + grad
        return w - m, m
    return w - grad, m


def _train_step(v, weights, g, mo, mom_on: bool, decay_on: bool):
    """One GD (or momentum) step of every layer from ``v`` = η g ∂L/∂W_eff in the eigenbasis:
    the new end-to-end weights and the new (weights, momentum buffers)."""
    w1, mids, a, m1, mm, ma = weights
    n_mid = len(mids)
    qs = [_apply(w1, v)]  # the gradient's input-side factors
    for k in range(n_mid):
        qs.append(_apply(mids[k], qs[k]))
    left = [a]  # its output-side factors, before any update: A_l = A_{l+1} W_{l+1}
    for k in range(n_mid - 1, -1, -1):
        left.insert(0, _times(left[0], mids[k]))
    a, ma = _update(a, ma, qs[n_mid], g, mo, mom_on, decay_on)
    new_mids, new_mm = [], []
    for k in range(n_mid):
        w, m = _update(mids[k], mm[k], left[k + 1][:, None] * qs[k][None, :], g, mo, mom_on, decay_on)
        new_mids.append(w)
        new_mm.append(m)
    w1, m1 = _update(w1, m1, left[0][:, None] * v[None, :], g, mo, mom_on, decay_on)
    return _end_to_end(a, new_mids, w1), (w1, tuple(new_mids), a, m1, tuple(new_mm), ma)


def track_epoch(first, e, test, best, best_e, bad, limit):
    """One epoch of a run's tracking in the kernel (:func:`dynax.sim.tracker.start` at the
    first epoch, :func:`~dynax.sim.tracker.update` after): the running minimum of E_g =
    ``test`` and its first epoch, whether the run has diverged, and the divergence limit."""
    finite = jnp.isfinite(test)
    limit = jnp.where(first, test * DIVERGENCE_FACTOR, limit)
    bad = jnp.where(first, ~finite, bad | ~finite | (test > limit))
    better = ~bad & (first | (test < best))
    return jnp.where(better, test, best), jnp.where(better, e, best_e), bad, limit


def _kernel(shape: PallasShape, *refs):
    """One network: ``refs`` are the inputs (record epochs; W_1, middle layers, a; the O(N)
    vectors; per-run scalars) then the outputs (curves, best error, best epoch and
    divergence)."""
    rec_ref, w1_ref, *refs = refs  # rec_ref: the recorded epochs (int32, padded)
    if shape.n_mid:
        mids_ref, *refs = refs
    a_ref, vec_ref, sc_ref, curves_ref, best_ref, ints_ref = refs
    dt = jnp.dtype(shape.dtype)
    n_mid, mom_on, decay_on = shape.n_mid, shape.momentum, shape.decay
    lam, wbar, c, zeta, root, null = (vec_ref[i, :] for i in range(6))
    sig, step, mo, g, p, z_perp, gamma, rise_rel, rise_abs = (sc_ref[i] for i in range(9))
    noise = sig * sig
    inv_n = jnp.asarray(1.0 / shape.n, dt)

    def objective(d, weights):
        """P·E_t (+ γ Σ_l ‖W_l‖² with weight decay): the training objective, a sum of squares."""
        r = sig * zeta - d * root
        j = noise * z_perp + jnp.sum(r * r)
        if decay_on:
            w1, mids, a = weights[0], weights[1], weights[2]
            j = j + gamma * (jnp.sum(w1 * w1) + sum(jnp.sum(m * m) for m in mids) + jnp.sum(a * a))
        return j

    def evaluate(e, u, weights, track):
        """Best, divergence and the objective's first rise at epoch e (the weights before its
        step), and d = u − w̄."""
        best, best_e, bad, limit, start, lowest, rise = track
        d = u - wbar
        test = jnp.sum(d * d) * inv_n + noise
        first = e == 0
        best, best_e, bad, limit = track_epoch(first, e, test, best, best_e, bad, limit)
        obj = objective(d, weights)
        start = jnp.where(first, obj, start)
        up = ~first & ~bad & (rise < 0) & (obj > lowest * (1 + rise_rel) + rise_abs * start)
        rise = jnp.where(up, e, rise)
        lowest = jnp.where(first, obj, jnp.where(bad, lowest, jnp.minimum(lowest, obj)))
        return (best, best_e, bad, limit, start, lowest, rise), d, test

    def record(j, d, test, bad):
        """Store record j: E_t, E_g and the null-space error (NaN once diverged)."""
        r = sig * zeta - d * root
        values = ((noise * z_perp + jnp.sum(r * r)) / p, test, jnp.sum(null * d * d) * inv_n)
        for row, value in enumerate(values):
            curves_ref[row, j] = jnp.where(bad, jnp.asarray(jnp.nan, dt), value)

    w1 = w1_ref[...]
    mids = tuple(mids_ref[k] for k in range(n_mid)) if n_mid else ()
    a = a_ref[...]
    zeros = lambda x: jnp.zeros_like(x) if mom_on else jnp.zeros((), dt)  # noqa: E731
    weights = (w1, mids, a, zeros(w1), tuple(zeros(m) for m in mids), zeros(a))
    u = _end_to_end(a, mids, w1)
    inf = jnp.asarray(jnp.inf, dt)
    track0 = (inf, jnp.int32(-1), jnp.asarray(False), inf, inf, inf, jnp.int32(-1))
    track, d, test = evaluate(jnp.int32(0), u, weights, track0)
    record(0, d, test, track[2])  # the first record is epoch 0

    def advance(e, state):  # one step, then epoch e's best, divergence and rise
        u, weights, track, d, test = state
        v = step * (lam * d - sig * c)  # η g ∂L/∂W_eff in the eigenbasis
        u, weights = _train_step(v, weights, g, mo, mom_on, decay_on)
        track, d, test = evaluate(e, u, weights, track)
        return u, weights, track, d, test

    def segment(j, state):  # the epochs after record j − 1 up to record j, then record j
        state = jax.lax.fori_loop(rec_ref[j - 1] + 1, rec_ref[j] + 1, advance, state)
        record(j, state[3], state[4], state[2][2])
        return state

    state = jax.lax.fori_loop(jnp.int32(1), jnp.int32(shape.n_rec), segment, (u, weights, track, d, test))
    best, best_e, bad, _, _, _, rise = state[2]
    curves_ref[3, :] = jnp.zeros((shape.n_rec_pad,), dt)
    idx = jax.lax.broadcasted_iota(jnp.int32, (2,), 0)
    best_ref[...] = jnp.where(idx == 0, best, jnp.zeros((2,), dt))
    idx = jax.lax.broadcasted_iota(jnp.int32, (4,), 0)
    ints_ref[...] = jnp.where(idx == 0, best_e, jnp.where(idx == 1, bad.astype(jnp.int32), rise))


def pallas_trainer(shape: PallasShape, n_runs: int, interpret: bool):
    """The jitted Pallas call for ``n_runs`` networks of one shape: one program each."""
    dt = jnp.dtype(shape.dtype)
    hp, npad, rp = shape.h_pad, shape.n_pad, shape.n_rec_pad
    run = lambda *block: pl.BlockSpec((None, *block), lambda b: (b,) + (0,) * len(block))  # noqa: E731
    in_specs = [pl.BlockSpec((rp,), lambda b: (0,)), run(hp, npad)]
    if shape.n_mid:
        in_specs.append(run(shape.n_mid, hp, hp))
    in_specs += [run(hp), run(8, npad), run(16)]
    out_shape = [
        jax.ShapeDtypeStruct((n_runs, 4, rp), dt),
        jax.ShapeDtypeStruct((n_runs, 2), dt),
        jax.ShapeDtypeStruct((n_runs, 4), jnp.int32),
    ]
    params = None
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        params = pltriton.CompilerParams(num_warps=_num_warps(shape), num_stages=1)
    call = pl.pallas_call(
        functools.partial(_kernel, shape),
        out_shape=out_shape,
        grid=(n_runs,),
        in_specs=in_specs,
        out_specs=[run(4, rp), run(2), run(4)],
        interpret=interpret,
        compiler_params=params,
        name=f"dynax_gd_depth{shape.n_mid + 2}",
    )
    return jax.jit(call)


def _pad(x: np.ndarray, shape: tuple[int, ...], dtype) -> np.ndarray:
    out = np.zeros(shape, dtype)
    out[tuple(slice(0, s) for s in x.shape)] = x
    return out


def pallas_inputs(
    config, weights, runs: EigenRuns, noise_std, learning_rate, grad_scale, momentum, n_train, weight_decay
):
    """The padded host arrays of a batch and its :class:`PallasShape` (arguments as for
    :func:`train_pallas`)."""
    dtype = np.dtype(config.dtype)
    n_runs, h, n = weights[0].shape
    hp, npad = _pow2(h), _pow2(n)
    record = np.asarray(config.record, np.int64)
    rp = _pow2(len(record))
    if record[0] != 0 or record[-1] != config.epochs or np.any(np.diff(record) <= 0):
        raise ValueError(f"records must rise from epoch 0 to the last epoch; got {record.tolist()}")
    shape = PallasShape(
        n, npad, hp, len(weights) - 2, len(record), rp, config.optimizer == "momentum",
        bool(config.weight_decay), dtype.name,
    )  # fmt: skip
    rec = np.full(rp, -1, np.int32)
    rec[: len(record)] = record
    w1 = _pad(np.asarray(weights[0]), (n_runs, hp, npad), dtype)
    mids = [np.stack(weights[1:-1], axis=1)] if len(weights) > 2 else []
    mids = [_pad(np.asarray(m), (n_runs, len(weights) - 2, hp, hp), dtype) for m in mids]
    a = _pad(np.asarray(weights[-1])[:, 0, :], (n_runs, hp), dtype)
    lam = np.clip(runs.lam, 0.0, None)
    null = np.arange(n)[None, :] < np.asarray(runs.null_modes)[:, None]
    vec = np.stack([lam, runs.wbar, runs.c, runs.zeta, np.sqrt(lam), null.astype(np.float64)], axis=1)
    vec = _pad(vec, (n_runs, 8, npad), dtype)
    rate = np.asarray(learning_rate, np.float64) * np.asarray(grad_scale, np.float64)
    mom = np.asarray(momentum, np.float64) if shape.momentum else np.zeros(n_runs)
    sc = np.zeros((n_runs, 16), dtype)
    per_run = (
        noise_std, rate, mom, rate * np.asarray(weight_decay), n_train, runs.z_perp, weight_decay,
        derived.RISE_RELATIVE, derived.RISE_ABSOLUTE,
    )  # fmt: skip
    for i, x in enumerate(per_run):
        sc[:, i] = np.broadcast_to(np.asarray(x, np.float64), n_runs)
    return shape, (rec, w1, *mids, a, vec, sc)


def train_pallas(
    config, weights, runs: EigenRuns, noise_std, learning_rate, grad_scale, momentum, n_train, weight_decay,
    stop_on_rise=None,
):  # fmt: skip
    """Train a batch of networks with the Pallas kernel (interpret mode on a CPU backend).

    Arguments as for :func:`dynax.sim.fused.train_fused` (the first layer already rotated
    into each run's eigenbasis; ``stop_on_rise`` is accepted and ignored: every program
    runs all its epochs, a rise is reported in ``rise_epoch``). Returns
    :class:`~dynax.sim.tracker.Outputs` of NumPy arrays and the seconds spent compiling the
    kernel now (0.0 when this process had it).
    """
    shape, arrays = pallas_inputs(
        config, weights, runs, noise_std, learning_rate, grad_scale, momentum, n_train, weight_decay
    )
    n_runs, n_rec = arrays[1].shape[0], len(config.record)
    # programs launched (eigen.pallas_launch; the engine's batches are already such counts,
    # other callers' extra programs train zeros and are dropped)
    launched = pallas_launch(n_runs)
    arrays = arrays[:1] + tuple(_pad(x, (launched, *x.shape[1:]), x.dtype) for x in arrays[1:])
    interpret = jax.default_backend() == "cpu"
    # compiled ahead of time in the one cache (Triton's compile on a GPU is compile, not training)
    exe, seconds = executables.compiled(
        ("pallas", shape, launched, interpret), lambda: pallas_trainer(shape, launched, interpret), *arrays
    )
    curves, best, ints = jax.device_get(exe(*arrays))
    curves, best, ints = curves[:n_runs], best[:n_runs], ints[:n_runs]
    best_epoch = ints[:, 0].astype(np.int64)
    best_error = np.where(best_epoch < 0, np.nan, best[:, 0])
    null = curves[:, 2, :n_rec] if config.null_space else None
    out = Outputs(curves[:, 0, :n_rec], curves[:, 1, :n_rec], best_error, best_epoch, ints[:, 1] != 0, null)
    return out._replace(rise_epoch=ints[:, 2].astype(np.int64)), seconds
