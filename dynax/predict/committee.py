"""The soft committee machine's ODEs on a sweep's grid, one integration per run (docs/theory.md §6).

Each run starts from its own initial overlaps: the first layer W₀ of the run's init draw (the
same weights, rounded to the run's dtype, as the simulation's) and its seed's teacher W*, so
``Q₀ = W₀W₀ᵀ/N``, ``R₀ = W₀W*ᵀ/N``, ``T = W*W*ᵀ/N``, the readout at 1. The drift is
:func:`dynax.theory.committee.committee_drift` (label noise σ_ε², weight decay at
κ = ηγN/P on the first layer and ηγ/P on the readout, the readout trained at η/N with
``model.train_readout``), integrated by classical RK4 at ``STEPS_PER_UNIT`` steps per unit of
α = examples/N (at least 2κ, so that strong decay stays inside RK4's stability), every run of a
width at once (``jax.vmap`` of a ``lax.scan`` over the records), each record reached exactly (the
same stepping as the NumPy reference :func:`dynax.theory.committee.committee_ode`). The step's
error: halving it changes E_g by less than 1e-9 on the plateau and its escape
(tests/test_committee_ode.py).
"""

from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..sim import data
from ..sim.init import InitConfig, init_from
from ..sim.scope import float64
from ..spec import INITS, SweepSpec, derived, fixed_rate
from ..spec.variables import COMMITTEE
from ..theory.committee import committee_drift, committee_error, rk4

__all__ = ["STEPS_PER_UNIT", "committee_theory", "first_layer", "initial_overlaps", "integrate"]

STEPS_PER_UNIT = 50  # RK4 steps per unit of α
NOTE = (
    "committee: the ODEs of online SGD (docs/theory.md 6) integrated from each run's own initial "
    "overlaps (ode_*, over seed); test_error and optimal_test_error are their seed means"
)


@float64
def first_layer(spec: SweepSpec, seed: int, width: int, init: str, init_scale: float) -> np.ndarray:
    """The first layer W₀ (K, N) a committee run starts from, rounded to the run's dtype, float64."""
    cfg = InitConfig(2, width, spec.problem.n_in, 1, (init,), spec.train.dtype, spec.seed)
    return np.asarray(init_from(cfg, seed, INITS.index(init), init_scale, None)[0], np.float64)


@float64
def initial_overlaps(spec: SweepSpec, seed: int, width: int, init: str, init_scale: float):
    """``(Q₀ (K, K), R₀ (K, M), T (M, M), v* (M,))`` of one run, float64, from the weights the
    simulation starts from (:func:`first_layer`) and its seed's teacher."""
    pr = spec.problem
    w0 = first_layer(spec, seed, width, init, init_scale)
    rd = data.seed_raw_data(spec.seed, seed, pr, 1)
    n = pr.n_in
    return w0 @ w0.T / n, w0 @ rd.t1.T / n, rd.t1 @ rd.t1.T / n, rd.t2[0]


@partial(jax.jit, static_argnames=("train_readout", "steps_per_unit"))
def _one(q0, r0, v0, t, v_star, eta, noise_var, decay, readout_decay, alphas, train_readout, steps_per_unit):
    def f(s):
        return committee_drift(
            *s[:2], t, s[2], v_star, eta, noise_var, decay, readout_decay, train_readout, jnp
        )

    per_unit = jnp.maximum(steps_per_unit, 2 * decay)  # strong decay: 2κh ≤ 1, well inside RK4's stability

    def interval(state, ends):
        n = jnp.maximum(1, jnp.ceil((ends[1] - ends[0]) * per_unit)).astype(jnp.int32)
        h = (ends[1] - ends[0]) / n  # 0 where a record repeats: the state stays
        state = jax.lax.fori_loop(0, n, lambda _, s: rk4(f, s, h), state)
        return state, state

    start = (q0, r0, v0)
    _, path = jax.lax.scan(interval, start, (alphas[:-1], alphas[1:]))
    q, r, v = (jnp.concatenate([a[None], b]) for a, b in zip(start, path, strict=True))
    err = jax.vmap(lambda a, b, c: committee_error(a, b, t, c, v_star, noise_var, xp=jnp))(q, r, v)
    return q, r, v, err


@float64
def integrate(q0, r0, t, v0, v_star, eta, noise_var, decay, readout_decay, alphas, train_readout=False,
              steps_per_unit: int = STEPS_PER_UNIT):  # fmt: skip
    """The ODE of many runs at once (a leading run axis on every argument; ``alphas`` (runs,
    n_t) increasing from 0): ``(Q, R, v, E_g)`` at each α, NumPy float64."""
    args = [
        jnp.asarray(a, jnp.float64) for a in (q0, r0, v0, t, v_star, eta, noise_var, decay, readout_decay)
    ]
    run = jax.vmap(partial(_one, train_readout=train_readout, steps_per_unit=steps_per_unit))
    return tuple(np.asarray(a) for a in run(*args, jnp.asarray(alphas, jnp.float64)))


def committee_theory(spec: SweepSpec) -> dict[str, xr.Variable]:
    """The ODE of every run of a committee sweep: ``ode_test_error (…, seed, epoch)``,
    ``ode_overlap_Q``, ``ode_overlap_R`` (and ``ode_readout_weight`` when trained), with the
    result's dims; padded with NaN past a run's width. Empty for other students."""
    if spec.model.student != "committee":
        return {}
    pr, axes = spec.problem, spec.axes
    shape = tuple(len(a.values) for a in axes)
    n_t, k_max, m = len(spec.record_epochs), max(_values(spec, "width")), pr.teacher_width
    out = {
        "test_error": np.full((*shape, n_t), np.nan),
        "overlap_Q": np.full((*shape, k_max, k_max, n_t), np.nan),
        "overlap_R": np.full((*shape, k_max, m, n_t), np.nan),
        "readout_weight": np.full((*shape, k_max, n_t), np.nan),
    }
    examples = derived.online_examples(spec).astype(np.float64)
    groups: dict[int, list] = {}
    for idx in itertools.product(*[range(s) for s in shape]):
        v = {a.name: a.values[i] for a, i in zip(axes, idx, strict=True)}
        groups.setdefault(v.get("width", spec.model.width), []).append((idx, v))
    for width, runs in groups.items():
        rows = [_run_args(spec, v, width, examples) for _, v in runs]
        q, r, vr, err = integrate(*(np.stack(c) for c in zip(*rows, strict=True)), spec.model.train_readout)
        for (idx, _), a, b, c, e in zip(runs, q, r, vr, err, strict=True):
            out["test_error"][idx] = e
            out["overlap_Q"][idx][:width, :width] = np.moveaxis(a, 0, -1)
            out["overlap_R"][idx][:width] = np.moveaxis(b, 0, -1)
            out["readout_weight"][idx][:width] = c.T
    dims = spec.dims
    extra = {v.name: v.extra for v in COMMITTEE}  # the result's dims of the same variables
    names = ("test_error", "overlap_Q", "overlap_R") + (
        ("readout_weight",) if spec.model.train_readout else ()
    )
    return {
        f"ode_{name}": xr.Variable(
            (*dims, *extra.get(name, ()), "epoch"),
            out[name],
            {"long_name": f"{name}: the committee ODEs from each run's own initial overlaps", "units": "1"},
        )
        for name in names
    }


def _values(spec: SweepSpec, name: str) -> list:
    return list(spec.axis(name).values) if name in spec.dims else [spec.setting(name)]


def _run_args(spec: SweepSpec, v: dict, width: int, examples):
    """One run's arguments of :func:`integrate` (with the first ``q0, r0, t, v0, v*``)."""
    get = lambda name: v.get(name, spec.setting(name))  # noqa: E731
    pr = spec.problem
    j = spec.axis("n_over_p").values.index(v["n_over_p"])
    p = spec.n_train[j]
    q0, r0, t, v_star = initial_overlaps(spec, v["seed"], width, get("init"), get("init_scale"))
    eta = float(fixed_rate(get("learning_rate"), 2))
    gamma = float(get("weight_decay"))
    noise_var = float(derived.noise_var(pr.teacher_var, v["snr"]))
    decay, readout_decay = eta * gamma * pr.n_in / p, eta * gamma / p
    return q0, r0, t, np.ones(width), v_star, eta, noise_var, decay, readout_decay, examples[j] / pr.n_in
