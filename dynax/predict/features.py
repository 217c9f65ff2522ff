"""The closed-form random-feature decomposition on every run of a spec, as a Dataset
(docs/theory.md §5 item 8; the maths is :mod:`dynax.theory.features`)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..sim import data, teachers
from ..sim.raw import RawConfig, feature_layer, initial_weights
from ..sim.scope import float64
from ..spec import INITS, Auto, SweepSpec, derived, fixed_rate
from ..store import coordinates
from ..store.dataset import spec_attrs
from ..theory.features import TERMS, decompose_run

__all__ = ["decomposition_dataset"]

_NAMES = {
    "test_error": "generalization error E_g (exact population risk, noise floor included)",
    "train_error": "training error E_t",
    "approximation_error": "approximation error: E_g - noise of the best readout of these features",
    "null_space_error": "null-space error: the initial readout's error in the features' null space",
    "overfitting_error": "over-fitting error: the trained (row-space) readout's error",
    "cross_error": "cross term between the row-space and null-space parts",
}


def _check(spec: SweepSpec) -> None:
    """ValueError unless the closed form applies to the spec."""
    pr, md, tr = spec.problem, spec.model, spec.train
    why = []
    if md.student != "random_features" or md.activation != "relu":
        why.append("model.student = 'random_features' with activation 'relu'")
    if pr.teacher != "relu" or pr.n_out != 1:
        why.append("problem.teacher = 'relu' with one output")
    if tr.batch_size or "online" in spec.protocols:
        why.append("full-batch replay (no batch_size, no online protocol)")
    if pr.input_spectrum:
        why.append("white inputs (no problem.input_spectrum)")
    get_all = lambda name: spec.axis(name).values if name in spec.dims else [spec.setting(name)]  # noqa: E731
    if any(o != "gd" for o in get_all("optimizer")) or any(
        isinstance(r, Auto) for r in get_all("learning_rate")
    ):
        why.append("train.optimizer = 'gd' at a fixed learning_rate")
    if why:
        raise ValueError(f"{spec.name}: the closed-form decomposition needs " + "; ".join(why))


def _run(spec: SweepSpec, v: dict, cache: dict, epochs):
    """The decomposition of the run at grid point ``v`` on its own data, features and
    initial readout (the engine's draws); ``cache`` holds each (seed, P)'s data."""
    pr = spec.problem
    get = lambda name: v[name] if name in v else spec.setting(name)  # noqa: E731
    seed, width = int(v["seed"]), int(get("width"))
    p = spec.n_train[spec.axis("n_over_p").values.index(v["n_over_p"])]
    noise_var = float(derived.noise_var(pr.teacher_var, v["snr"]))
    if (seed, p) not in cache:
        key = data.data_key(spec.seed, seed)
        xs, zs = (np.asarray(a) for a in data.examples(key, pr.n_in, 1, p))
        tv, ta = teachers.teacher_params(key, "relu", pr.n_in, 1, pr.teacher_var, pr.teacher_width)
        cache[(seed, p)] = (xs, zs[:, 0], np.asarray(tv), np.asarray(ta)[0])
    xs, zs, tv, ta = cache[(seed, p)]
    fl = np.asarray(feature_layer(spec.seed, seed, width, pr.n_in))
    init = get("init")
    rcfg = RawConfig(
        2, width, pr.n_in, 1, p, 1, (0, 1), inits=(init,), dtype="float64", root_seed=spec.seed,
        student="random_features",
    )  # fmt: skip
    run = SimpleNamespace(
        seed=seed, init_code=jnp.asarray(INITS.index(init)), init_scale=jnp.asarray(float(get("init_scale")))
    )
    a0 = np.asarray(initial_weights(rcfg, run)[0])[0]
    y = np.maximum(xs @ tv.T, 0.0) @ ta + math.sqrt(noise_var) * zs
    gs = float(derived.grad_scale(spec.train.loss, p))
    return decompose_run(
        xs, y, fl, a0, tv, ta, noise_var, float(fixed_rate(get("learning_rate"), 2)), gs, epochs
    )


@float64
def decomposition_dataset(spec: SweepSpec) -> xr.Dataset:
    """:func:`~dynax.theory.features.decompose_run` on every run of a random-feature sweep spec.

    Dims: the spec's, with ``epoch`` for the curves; ``*_converged`` at t → ∞. Refused
    (ValueError) unless the student is ``random_features`` with a ReLU layer, the teacher
    is ReLU, and training is full-batch gradient descent (replay) at a fixed rate.
    """
    _check(spec)
    dims = spec.dims
    axes = [spec.axis(d) for d in dims]
    shape = tuple(len(a.values) for a in axes)
    epochs = np.asarray(spec.record_epochs)
    out = {k: np.full((*shape, len(epochs) + 1), np.nan) for k in ("test_error", "train_error", *TERMS)}
    cache: dict = {}
    for idx in itertools.product(*[range(s) for s in shape]):
        r = _run(spec, {a.name: a.values[i] for a, i in zip(axes, idx, strict=True)}, cache, epochs)
        for name in out:
            out[name][idx] = getattr(r, name)
    data_vars = {}
    for name, arr in out.items():
        long = _NAMES[name]
        if name in ("approximation_error", "null_space_error"):  # constant in time
            data_vars[name] = xr.Variable(dims, arr[..., 0], {"long_name": long, "units": "1"})
            continue
        data_vars[name] = xr.Variable((*dims, "epoch"), arr[..., :-1], {"long_name": long, "units": "1"})
        data_vars[f"{name}_converged"] = xr.Variable(
            dims, arr[..., -1], {"long_name": f"{long}, t -> infinity", "units": "1"}
        )
    coords = coordinates(spec)
    return xr.Dataset(
        data_vars,
        {k: c for k, c in coords.items() if set(getattr(c, "dims", (k,))) <= {*dims, "epoch"}},
        {"title": f"{spec.name} (closed-form random-feature decomposition)", **spec_attrs(spec)},
    )
