"""The result's coordinates, built from the spec alone (docs/design.md §4 "Result"):
the grid axes, P and α along ``n_over_p``, σ_ε² along ``snr``, the examples seen and the
continuous time t. Float64 where real, never read back from devices."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..spec import SweepSpec, derived
from ..spec.records import DIMS
from ..spec.variables import VARIABLES, extra_size
from ..theory import hierarchy_levels, hierarchy_singular_values, optimal_online_time

__all__ = ["coordinates", "time_coordinate"]

_AXIS_ATTRS = {
    "depth": ("network depth (number of weight matrices)", "1"),
    "n_over_p": ("parameters per sample N/P", "1"),
    "snr": ("signal-to-noise ratio sigma_w^2/sigma_eps^2", "1"),
    "seed": ("data and initialisation replicate", "1"),
    "epoch": ("full-batch gradient-descent steps", "1"),
    "width": ("hidden width N_h", "1"),
    "init": ("initialisation", "1"),
    "init_scale": ("initialisation scale", "1"),
    "optimizer": ("optimizer", "1"),
    "momentum": ("momentum", "1"),
    "b1": ("Adam b1", "1"),
    "b2": ("Adam b2", "1"),
    "learning_rate": ("learning rate", "1"),
    "protocol": ("training protocol", "1"),
    "weight_decay": ("weight decay gamma: grad_scale*(gamma/2)*sum_l ||W_l||_F^2 added to the loss", "1"),
    "dropout": ("dropout q: the probability a hidden unit is dropped, per example and step", "1"),
    "input_noise": ("input noise sigma_n: std of Gaussian noise added to each training input entry", "1"),
    "draw": ("replicate of the dropout masks and input noise on the same data and initial weights", "1"),
}


def coordinates(spec: SweepSpec) -> dict:
    """The Dataset's coordinates, built from the spec alone (float64 where real)."""
    n_in = spec.problem.n_in
    coords = {}
    for axis in spec.axes:
        vals = list(axis.values)
        if axis.name in ("depth", "seed", "width", "draw"):
            arr = np.asarray(vals, dtype=np.int64)
        elif isinstance(vals[0], str):
            arr = np.asarray(vals, dtype=object)
        else:
            arr = np.asarray(vals, dtype=np.float64)
        long_name, units = _AXIS_ATTRS[axis.name]
        coords[axis.name] = xr.Variable(axis.name, arr, {"long_name": long_name, "units": units})
    p = np.asarray(spec.n_train, dtype=np.int64)
    epochs = np.asarray(spec.record_epochs, dtype=np.int64)
    coords["epoch"] = xr.Variable(
        "epoch", epochs, dict(zip(("long_name", "units"), _AXIS_ATTRS["epoch"], strict=True))
    )
    coords["n_train"] = xr.Variable("n_over_p", p, {"long_name": "training samples P", "units": "1"})
    if spec.train.validation:
        coords["n_fit"] = xr.Variable(
            "n_over_p",
            np.asarray(spec.n_fit, dtype=np.int64),
            {
                "long_name": "examples GD fits, P - V (the last V of P held out: train.validation)",
                "units": "1",
            },
        )
    coords["alpha"] = xr.Variable(
        "n_over_p", p / np.float64(n_in), {"long_name": "load alpha = P/N", "units": "1"}
    )
    noise_var = derived.noise_var(spec.problem.teacher_var, spec.axis("snr").values)
    coords["noise_var"] = xr.Variable(
        "snr", noise_var, {"long_name": "label-noise variance sigma_eps^2", "units": "1"}
    )
    coords["examples"] = _examples(spec)
    pr = spec.problem
    for dim in dict.fromkeys(d for v in VARIABLES if v.stored(spec) for d in v.extra):
        size, info = extra_size(spec, dim), DIMS[dim]
        coords[dim] = xr.Variable(
            dim, np.arange(info.first, info.first + size), {"long_name": info.long_name, "units": "1"}
        )
    if "modes" in spec.train.record.flags:
        if pr.teacher_singular_values:
            coords["singular_value"] = xr.Variable(
                "mode",
                np.asarray(pr.teacher_singular_values, np.float64),
                {
                    "long_name": "the teacher's singular value s_alpha (problem.teacher_singular_values)",
                    "units": "1",
                },
            )
        if pr.hierarchy is not None:
            coords.update(_levels(pr))
    if "online" in spec.protocols:
        coords["epoch"].attrs["long_name"] = (
            "record position: epochs of replay runs (online runs are recorded at `examples`)"
        )
    return coords


def _levels(pr) -> dict:
    """A hierarchy's modes (descending): the tree level of each and its closed-form singular value."""
    h = pr.hierarchy
    levels = hierarchy_levels(h.branching, h.levels)[: pr.n_modes]
    s = hierarchy_singular_values(h.branching, h.levels, h.flip, pr.n_out)[levels]
    return {
        "level": xr.Variable(
            "mode",
            levels,
            {
                "long_name": "tree level of the mode by its rank in the closed form (0: the root); a "
                "draw's own modes may cross between adjacent levels: see teacher_mode_level",
                "units": "1",
            },
        ),
        "level_singular_value": xr.Variable(
            "mode",
            s,
            {
                "long_name": "closed-form singular value of the mode's level, sqrt(N_out lambda_l) "
                "(the sampled teacher_singular_value scatters about it)",
                "units": "1",
            },
        ),
    }


def _examples(spec: SweepSpec) -> xr.Variable:
    long_name = "training examples seen (replay: P x epoch; online: SGD steps x batch)"
    per = {
        "replay": derived.replay_examples(spec),
        "online": derived.online_examples(spec) if "online" in spec.protocols else None,
    }
    if "protocol" in spec.dims:
        stacked = np.stack([per[v] for v in spec.axis("protocol").values], axis=1)
        return xr.Variable(("n_over_p", "protocol", "epoch"), stacked, {"long_name": long_name, "units": "1"})
    return xr.Variable(
        ("n_over_p", "epoch"), per[spec.train.protocol], {"long_name": long_name, "units": "1"}
    )


def _time(spec: SweepSpec, lr_used: np.ndarray) -> xr.Variable:
    """Continuous time t = eta*epoch (sum loss) or eta*epoch/P (mean loss), docs/theory.md §1.2,
    over the dims along which it varies."""
    shape = spec.shape
    lr = lr_used.reshape(shape)
    epochs = np.asarray(spec.record_epochs, dtype=np.float64)
    if spec.train.loss == "mean":  # 1/P of the examples GD fits (P − V with validation)
        p = np.asarray(spec.n_fit, dtype=np.float64)
        lr = lr / p.reshape([1, len(p)] + [1] * (len(shape) - 2))
    dims = list(spec.dims)
    # keep only dims along which the rate varies (always n_over_p under the mean loss)
    keep = []
    for ax, name in enumerate(dims):
        if name == "n_over_p" and spec.train.loss == "mean":
            keep.append(ax)
            continue
        first = np.take(lr, [0], axis=ax)
        if not np.array_equal(lr, np.broadcast_to(first, lr.shape), equal_nan=True):
            keep.append(ax)
    index = tuple(slice(None) if ax in keep else 0 for ax in range(len(dims)))
    rate = lr[index]
    t = rate[..., None] * epochs
    return xr.Variable(
        (*tuple(dims[ax] for ax in keep), "epoch"),
        t,
        {
            "long_name": "continuous time t = learning rate x epoch (docs/theory.md §1.2; dimensionless)",
            "units": "1",
        },
    )


def _time_general(spec: SweepSpec, lr_used: np.ndarray) -> xr.Variable:
    """Continuous time over the dims along which it varies, for sweeps with online runs:
    t = η · g · examples / P with g = 1 (sum loss), 1/P (replay, mean) or 1/B (online,
    mean), so one pass over P examples is one epoch's worth of time; under the
    optimal_online schedule t = Σ_k η_k B / P = (N/P) ln(e_0/e(α)) (docs/theory.md §4.1)."""
    dims = list(spec.dims)
    lr = xr.DataArray(lr_used.reshape(spec.shape), dims=dims)
    ex_var = _examples(spec)
    ex = xr.DataArray(ex_var.values.astype(np.float64), dims=ex_var.dims)
    p = xr.DataArray(np.asarray(spec.n_train, dtype=np.float64), dims="n_over_p")
    if "protocol" in dims:
        online = xr.DataArray([q == "online" for q in spec.axis("protocol").values], dims="protocol")
    else:
        online = xr.DataArray(spec.train.protocol == "online")
    g = xr.where(online, 1.0 / spec.online_batch, 1.0 / p) if spec.train.loss == "mean" else 1.0
    t = lr * g * ex / p
    if spec.train.schedule == "optimal_online":
        t = xr.where(online, _scheduled_time(spec, ex, p, t), t)
    t = t.transpose(*dims, "epoch")
    for d in dims:
        first = t.isel({d: 0})
        if bool(((t == first) | (t.isnull() & first.isnull())).all()):
            t = t.isel({d: 0}, drop=True)
    return xr.Variable(
        t.dims,
        np.ascontiguousarray(t.values),
        {
            "long_name": "continuous time t (docs/theory.md §1.2; online: eta x examples / P; dimensionless)",
            "units": "1",
        },
    )


def _scheduled_time(spec: SweepSpec, ex, p, like):
    """(N/P) ln(e_0/e(α)) at α = examples/N, per SNR and initial variance (optimal_online)."""
    n, tv = spec.problem.n_in, spec.problem.teacher_var
    dims = list(spec.dims)
    noise = derived.noise_var(tv, spec.axis("snr").values)
    inits = spec.axis("init").values if "init" in dims else (spec.setting("init"),)
    scales = spec.axis("init_scale").values if "init_scale" in dims else (spec.setting("init_scale"),)
    out = xr.zeros_like(like)
    alpha = (ex / n).broadcast_like(like.isel(snr=0, drop=True))
    for i_s, nv in enumerate(noise):
        for i_i, init in enumerate(inits):
            for i_c, sc in enumerate(scales):
                sel = {"snr": i_s}
                if "init" in dims:
                    sel["init"] = i_i
                if "init_scale" in dims:
                    sel["init_scale"] = i_c
                a = alpha.isel({k: v for k, v in sel.items() if k in alpha.dims})
                t = optimal_online_time(a.values.ravel(), 1.0, n, tv, nv, derived.sigma0_sq(init, sc, n))
                val = xr.DataArray(t.reshape(a.shape), dims=a.dims) / p  # P = 1 above, divided here
                out[sel] = val.broadcast_like(out[sel]).transpose(*out[sel].dims)
    return out


def time_coordinate(spec: SweepSpec, lr_used: np.ndarray) -> xr.Variable:
    """The ``time`` coordinate for the rates the runs used (flat, C order over the spec's dims)."""
    if "online" in spec.protocols:
        return _time_general(spec, lr_used)
    return _time(spec, lr_used)
