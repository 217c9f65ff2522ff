"""What the theory predicts on the grid of a sweep spec, as a Dataset aligned with its
result (the same coordinates, no ``seed``): ``theory_dataset``.

One function per case decides a grid point: depth-1 GD (the Marchenko-Pastur theory),
deep networks from a balanced initialisation (the exact end-to-end flow), one-pass online
SGD, and random-feature students (the closed-form readout). Each returns the point's
values and a note saying what it is; the notes become the variables' ``comment``.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from ..sim.scope import float64
from ..spec import Auto, SweepSpec, derived, fixed_rate
from ..store import coordinates
from ..store.dataset import spec_attrs
from ..theory import (
    bayes_error,
    mp_edges,
    online_test_error,
    online_test_error_optimal,
    optimal_online_time,
    optimal_stopping,
    test_error,
    train_error,
)
from . import committee
from .balanced import balanced_seed_mean
from .features import decomposition_dataset
from .modes import mode_oracle_dataset, mode_theory

__all__ = ["theory_dataset"]

CURVES = ("test_error", "train_error", "test_error_flow")
POINTS = ("optimal_test_error", "optimal_time", "bayes_test_error")
ATTRS = {
    "test_error": ("generalization error E_g: theory, discrete-time GD at the spec's rate", "1"),
    "train_error": ("training error E_t: theory, discrete-time GD at the spec's rate", "1"),
    "test_error_flow": ("generalization error E_g: theory, gradient flow at t = eta*epoch", "1"),
    "optimal_test_error": ("optimal early-stopping error E_g(t*): theory", "1"),
    "optimal_time": ("optimal early-stopping time t*: theory (dimensionless)", "1"),
    "bayes_test_error": ("Bayes-optimal error (posterior mean = optimal ridge)", "1"),
}


class _Point:
    """One grid point: its coordinates and the settings the theory reads."""

    def __init__(self, spec: SweepSpec, v: dict):
        get = lambda name: v.get(name, spec.setting(name))  # noqa: E731
        pr = spec.problem
        self.v = v
        self.depth = v["depth"]
        self.j = spec.axis("n_over_p").values.index(v["n_over_p"])
        self.p = spec.n_fit[self.j]  # the examples GD fits (P − V with train.validation)
        self.alpha = self.p / pr.n_in
        self.noise_var = float(derived.noise_var(pr.teacher_var, v["snr"]))
        self.lr = fixed_rate(get("learning_rate"), self.depth)  # a number, or Auto
        self.grad_scale = float(derived.grad_scale(spec.train.loss, self.p))
        self.init, self.scale, self.optimizer = get("init"), get("init_scale"), get("optimizer")
        self.protocol = get("protocol")
        self.gamma = float(get("weight_decay"))
        self.dropout = float(get("dropout"))
        self.input_noise = float(get("input_noise"))


def _random_features(point: _Point, rf: xr.Dataset, dims, epochs) -> tuple[dict, str]:
    sel = rf.sel({k: point.v[k] for k in dims})
    time = point.lr * point.grad_scale * epochs
    k = int(np.argmin(sel.test_error.values))
    out = {
        "test_error": sel.test_error,
        "train_error": sel.train_error,
        "time": time,
        "optimal_test_error": sel.test_error[k],
        "optimal_time": time[k],
    }
    note = (
        "random features: exact GD on each seed's own data and features, the population risk "
        "from the arc-cosine kernel, averaged over seeds (dynax.predict.decomposition_dataset); "
        "the optimum is over recorded epochs"
    )
    return out, note


def _online(spec: SweepSpec, point: _Point) -> tuple[dict | None, str]:
    """E_g of a depth-1 online run at its record positions, and the time coordinate."""
    pr = spec.problem
    init_var = derived.depth1_init_var(point.init, point.scale, pr.n_in)
    if point.depth != 1 or init_var is None:
        return None, "online theory (docs/theory.md §4.1) at depth 1 only, init not aligned"
    ex = derived.online_examples(spec)[point.j].astype(np.float64)
    a_seen, p, b, nv, lr = ex / pr.n_in, point.p, spec.online_batch, point.noise_var, point.lr
    if spec.train.schedule == "optimal_online":
        test = online_test_error_optimal(a_seen, pr.teacher_var, nv, init_var)
        t = optimal_online_time(a_seen, p, pr.n_in, pr.teacher_var, nv, init_var)
    else:
        if isinstance(lr, Auto):
            lr = lr.factor * 2 / mp_edges(b / pr.n_in)[1] * (b if spec.train.loss == "mean" else 1)
        eta_mean = lr * b if spec.train.loss == "sum" else lr  # the rate on the batch-mean gradient
        test = online_test_error(a_seen, pr.teacher_var, nv, init_var, lr=eta_mean, batch=b, n_in=pr.n_in)
        t = eta_mean / b * ex / p
    note = (
        "online: test_error is the N -> infinity curve of docs/theory.md §4.1 at alpha = examples/N; "
        "optimal_test_error its minimum over the record grid; no train_error or flow theory"
    )
    return {"test_error": test, "optimal_test_error": np.min(test), "time": t}, note


def _depth1(spec: SweepSpec, point: _Point, epochs, n: int, cache: dict) -> tuple[dict | None, str]:
    """The Marchenko-Pastur theory of depth-1 GD at the spec's step, and gradient flow."""
    init_var = derived.depth1_init_var(point.init, point.scale, spec.problem.n_in)
    if init_var is None:
        return None, "no depth-1 theory for the aligned init (it depends on the data)"
    lr, g, white = point.lr, point.gamma, spec.problem.white
    top = point.alpha if white else mp_edges(point.alpha)[1]  # λ_max: α exactly for white inputs
    step = lr.factor * 2 / (top + g) if isinstance(lr, Auto) else lr * point.grad_scale
    key = (point.alpha, point.noise_var, init_var, step, g)
    if key not in cache:
        args = (point.alpha, spec.problem.teacher_var, point.noise_var, init_var)
        kw = {"n": n, "weight_decay": g, "white": white}
        cache[key] = (
            test_error(*args, epochs=epochs, step=step, **kw),
            train_error(*args, epochs=epochs, step=step, **kw),
            test_error(*args, t=step * epochs, **kw),
            optimal_stopping(*args, step=step, **kw),
        )
    test, train, flow, (t_star, e_star) = cache[key]
    out = {
        "test_error": test,
        "train_error": train,
        "test_error_flow": flow,
        "optimal_time": t_star,
        "optimal_test_error": e_star,
        "time": step * epochs,
    }
    return out, ""


def _balanced(spec: SweepSpec, point: _Point, epochs) -> tuple[dict, str]:
    flow, train, t = balanced_seed_mean(
        spec, point.depth, point.p, point.j, point.noise_var, point.lr, point.grad_scale, point.scale, epochs
    )
    k = int(np.nanargmin(flow))
    out = {
        "test_error_flow": flow,
        "test_error": flow,
        "train_error": train,
        "optimal_test_error": flow[k],
        "optimal_time": t[k],
        "time": t,
    }
    note = (
        "depth >= 2 (balanced init): exact end-to-end gradient flow (docs/theory.md §3.2) on each "
        "seed's own data, averaged over seeds; test_error is that flow at t = eta*epoch and the "
        "optimum is over recorded epochs"
    )
    return out, note


def _random_feature_means(spec: SweepSpec):
    """Seed means of :func:`decomposition_dataset` with the dims in the spec's order; or,
    where it does not apply, a string saying where it does."""
    try:
        dec = decomposition_dataset(spec)
    except ValueError:
        return "the random-feature student of a ReLU teacher (full-batch GD at a fixed rate)"
    dims = [d for d in spec.dims if d != "seed"]
    return dec.mean("seed").transpose(*dims, ...)


def _point_theory(spec, point: _Point, dims, epochs, n, cache, rf) -> tuple[dict | None, str]:
    """The theory of one grid point (None where none applies) and its note."""
    if spec.model.student == "committee":  # E_g from the runs' own ODEs (committee_theory); t as the result's
        return {"time": point.lr * derived.online_examples(spec)[point.j] / point.p}, committee.NOTE
    if spec.problem.input_spectrum:
        return (
            None,
            "no theory for an input covariance of chosen spectrum (the theory here takes white inputs)",
        )
    if point.optimizer != "gd":
        return None, f"no theory for optimizer {point.optimizer!r} (gradient descent only)"
    if point.dropout:
        return None, "dropout: one mode per hidden unit in dynax.theory.dropout_mode (docs/theory.md §3.6)"
    if point.input_noise:
        return (
            None,
            "input noise: its expected loss is ridge on W_eff at gamma = P sigma_n^2 (docs/theory.md §3.7)",
        )
    if point.gamma and (spec.nonlinear or point.protocol == "online" or spec.train.batch_size):
        return None, "weight-decay theory: full-batch linear GD (depth 1; modes for aligned white inputs)"
    if spec.nonlinear:
        if isinstance(rf, str):
            return None, f"no theory for nonlinear teachers or students except {rf}"
        return _random_features(point, rf, dims, epochs)
    if point.protocol == "online":
        return _online(spec, point)
    if spec.train.batch_size:
        return None, "no theory for minibatch replay (the full-batch theory has no SGD noise)"
    if point.depth == 1:
        return _depth1(spec, point, epochs, n, cache)
    if point.gamma:
        return None, "no theory at depth >= 2 with weight decay (the balanced flow has none)"
    if point.init == "balanced" and spec.problem.n_out == 1:
        return _balanced(spec, point, epochs)
    return None, f"no theory at depth >= 2 for init {point.init!r} (only balanced, docs/theory.md §3.2)"


@float64
def theory_dataset(spec: SweepSpec, n: int = 2000) -> xr.Dataset:
    """What the theory predicts on the grid of a sweep spec, aligned with its result.

    Dims are the result's without ``seed``. Depth 1 with gradient descent: the
    Marchenko-Pastur theory in discrete time at the spec's rate (``test_error``,
    ``train_error``, ``optimal_test_error``, ``optimal_time``) and in gradient flow
    (``test_error_flow``). Depth ≥ 2 with balanced initialisation and GD: the exact
    end-to-end flow of docs/theory.md §3.2 on each seed's own data, averaged over the seeds.
    Random-feature students of a ReLU teacher (full-batch GD): the exact trajectory and
    population risk on each seed's data and features, averaged over the seeds, with the
    error decomposition of :func:`~dynax.predict.decomposition_dataset` (extra variables
    ``approximation_error``, ``null_space_error``, ``overfitting_error``, ``cross_error``
    and their ``*_converged`` values at t → ∞). ``bayes_test_error`` everywhere (the linear
    teacher's). NaN, with a ``comment``, where no theory applies. With
    ``learning_rate = {auto = f}`` the depth-1 rate is f × 2/λ₊ with the MP edge
    λ₊ = (1 + √α)² (the simulation uses each run's own λ_max); ``n`` quadrature nodes.
    """
    dims = [d for d in spec.dims if d != "seed"]
    axes = [spec.axis(d) for d in dims]
    epochs = np.asarray(spec.record_epochs, dtype=np.float64)
    shape = tuple(len(a.values) for a in axes)
    arrays = {k: np.full((*shape, len(epochs)), np.nan) for k in (*CURVES, "time")}
    arrays.update({k: np.full(shape, np.nan) for k in POINTS})
    notes, cache = set(), {}
    rf = None  # the random-feature seed means (or why there are none), once a point needs them
    pr = spec.problem
    for idx in itertools.product(*[range(s) for s in shape]):
        point = _Point(spec, {a.name: a.values[i] for a, i in zip(axes, idx, strict=True)})
        white = pr.white
        bayes = bayes_error(point.alpha, pr.teacher_var, point.noise_var, white)
        arrays["bayes_test_error"][idx] = np.nan if pr.input_spectrum or pr.teacher == "committee" else bayes
        if rf is None and spec.nonlinear and point.optimizer == "gd":
            rf = _random_feature_means(spec)
        values, note = _point_theory(spec, point, dims, epochs, n, cache, rf)
        if note:
            notes.add(note)
        for name, value in (values or {}).items():
            arrays[name][idx] = value
    ode = committee.committee_theory(spec)
    if ode:  # the seed means of the runs' ODEs
        mean = ode["ode_test_error"].values.mean(axis=-2)
        arrays["test_error"][...], arrays["optimal_test_error"][...] = mean, mean.min(-1)
    return _assemble(spec, dims, arrays, notes, rf, n, ode)


def _assemble(spec: SweepSpec, dims, arrays: dict, notes: set, rf, n: int, ode: dict) -> xr.Dataset:
    coords = {k: c for k, c in coordinates(spec).items() if "seed" not in getattr(c, "dims", ("seed",))}
    comment = "; ".join(sorted(notes)) if notes else ""
    data_vars = {}
    for name in (*CURVES, *POINTS):
        arr = arrays[name]
        long_name, units = ATTRS[name]
        if name in ("test_error", "optimal_test_error") and spec.model.student == "committee":
            long_name = f"{long_name.split(':')[0]}: seed mean of the committee ODEs (ode_test_error)"
        a = {"long_name": long_name, "units": units}
        if comment and name != "bayes_test_error" and np.isnan(arr).any():
            a["comment"] = f"NaN where no theory applies: {comment}"
        pr = spec.problem
        if name == "bayes_test_error" and pr.input_spectrum:
            a["comment"] = "NaN: the isotropic teacher's Bayes error (MP theory) takes white inputs"
        elif name == "bayes_test_error" and pr.teacher == "committee":
            a["comment"] = (
                "NaN: the Bayes error here is the linear teacher's; the committee's is not computed"
            )
        elif name == "bayes_test_error" and (pr.teacher_singular_values or pr.hierarchy is not None):
            a["comment"] = (
                "the Bayes error of an isotropic Gaussian teacher of variance teacher_var (ridge at "
                "gamma* = sigma_eps^2/sigma_w^2); this teacher is not one (a chosen spectrum or a "
                "hierarchy), so its own Bayes error can be lower"
            )
        data_vars[name] = xr.Variable((*dims, "epoch") if name in CURVES else tuple(dims), arr, a)
    coords["time"] = xr.Variable(
        (*dims, "epoch"),
        arrays["time"],
        {"long_name": "continuous time t of the theory (dimensionless)", "units": "1"},
    )
    if isinstance(rf, xr.Dataset):  # the error decomposition, seed means
        for name in rf.data_vars:
            if name not in ("test_error", "train_error"):
                a = dict(rf[name].attrs, long_name=f"{rf[name].attrs['long_name']} (seed mean)")
                data_vars[name] = xr.Variable(rf[name].dims, rf[name].values, a)
    data_vars.update(mode_theory(spec))  # over seed: each seed's own data modes
    data_vars.update(mode_oracle_dataset(spec))
    data_vars.update(ode)  # over seed: each run's own initial overlaps
    if "mode_strength" in data_vars or "oracle_test_error" in data_vars or ode:
        coords["seed"] = coordinates(spec)["seed"]
    return xr.Dataset(
        data_vars,
        coords,
        {"title": f"{spec.name} (theory)", **spec_attrs(spec), "quadrature_nodes": int(n)},
    )
