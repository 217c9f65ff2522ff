"""Labelled results: the Dataset contract of DESIGN.md §4, and atomic netCDF writes."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from . import raw
from .spec import Auto, SweepSpec

__all__ = ["build_dataset", "coordinates", "write_netcdf"]

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
}


def coordinates(spec: SweepSpec) -> dict:
    """The Dataset's coordinates, built from the spec alone (float64 where real)."""
    n_in = spec.problem.n_in
    coords = {}
    for axis in spec.axes:
        vals = list(axis.values)
        if axis.name in ("depth", "seed", "width"):
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
    coords["alpha"] = xr.Variable(
        "n_over_p", p / np.float64(n_in), {"long_name": "load alpha = P/N", "units": "1"}
    )
    snr = np.asarray(spec.axis("snr").values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        noise_var = np.where(np.isinf(snr), 0.0, spec.problem.teacher_var / snr)
    coords["noise_var"] = xr.Variable(
        "snr", noise_var, {"long_name": "label-noise variance sigma_eps^2", "units": "1"}
    )
    coords["examples"] = _examples(spec)
    if "online" in spec.protocols:
        coords["epoch"].attrs["long_name"] = (
            "record position: epochs of replay runs (online runs are recorded at `examples`)"
        )
    return coords


def online_examples(spec: SweepSpec) -> np.ndarray:
    """Examples seen at each record position of an online run, (n_over_p, epoch)."""
    n_rec, b = len(spec.record_epochs), spec.online_batch
    rows = []
    for p in spec.n_train:
        total = -(-spec.train.epochs * p // b)
        rows.append(raw.online_record_steps(spec.train.record.kind, n_rec, total, -(-p // b)) * b)
    return np.stack(rows).astype(np.int64)


def _examples(spec: SweepSpec) -> xr.Variable:
    p = np.asarray(spec.n_train, dtype=np.int64)
    replay = p[:, None] * np.asarray(spec.record_epochs, dtype=np.int64)[None, :]
    long_name = "training examples seen (replay: P x epoch; online: SGD steps x batch)"
    per = {"replay": replay, "online": online_examples(spec) if "online" in spec.protocols else None}
    if "protocol" in spec.dims:
        stacked = np.stack([per[v] for v in spec.axis("protocol").values], axis=1)
        return xr.Variable(("n_over_p", "protocol", "epoch"), stacked, {"long_name": long_name, "units": "1"})
    return xr.Variable(
        ("n_over_p", "epoch"), per[spec.train.protocol], {"long_name": long_name, "units": "1"}
    )


def _time(spec: SweepSpec, lr_used: np.ndarray) -> xr.Variable:
    """Continuous time t = eta*epoch (sum loss) or eta*epoch/P (mean loss), science.md §1.2,
    over the dims along which it varies."""
    shape = spec.shape
    lr = lr_used.reshape(shape)
    epochs = np.asarray(spec.record_epochs, dtype=np.float64)
    if spec.train.loss == "mean":
        p = np.asarray(spec.n_train, dtype=np.float64)
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
        {"long_name": "continuous time t (science.md §1.2)", "units": "tau"},
    )


def _time_general(spec: SweepSpec, lr_used: np.ndarray) -> xr.Variable:
    """Continuous time over the dims along which it varies, for sweeps with online runs:
    t = η · g · examples / P with g = 1 (sum loss), 1/P (replay, mean) or 1/B (online,
    mean), so one pass over P examples is one epoch's worth of time; under the
    optimal_online schedule t = Σ_k η_k B / P = (N/P) ln(e_0/e(α)) (science.md §4.1)."""
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
        {"long_name": "continuous time t (science.md §1.2; online: eta x examples / P)", "units": "tau"},
    )


def _scheduled_time(spec: SweepSpec, ex, p, like):
    """(N/P) ln(e_0/e(α)) at α = examples/N, per SNR and initial variance (optimal_online)."""
    from .theory import optimal_online_time

    n, tv = spec.problem.n_in, spec.problem.teacher_var
    dims = list(spec.dims)
    snr = np.asarray(spec.axis("snr").values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        noise = np.where(np.isinf(snr), 0.0, tv / snr)
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
                t = optimal_online_time(a.values.ravel(), 1.0, n, tv, nv, raw.sigma0_sq(init, sc, n))
                val = xr.DataArray(t.reshape(a.shape), dims=a.dims) / p  # P = 1 above, divided here
                out[sel] = val.broadcast_like(out[sel]).transpose(*out[sel].dims)
    return out


def build_dataset(plan, res, history: str = "") -> xr.Dataset:
    """Label the flat results of :func:`dynax.engine.execute`."""
    spec: SweepSpec = plan.spec
    dims = spec.dims
    shape = spec.shape
    n_rec = len(spec.record_epochs)
    coords = coordinates(spec)
    if "online" in spec.protocols:
        coords["time"] = _time_general(spec, res.learning_rate_used)
    else:
        coords["time"] = _time(spec, res.learning_rate_used)
    float_dtype = "float64" if spec.train.dtype == "float64" else "float32"

    def var(values, curve, long_name, units, **extra):
        d = (*dims, "epoch") if curve else dims
        s = (*shape, n_rec) if curve else shape
        return xr.Variable(d, values.reshape(s), {"long_name": long_name, "units": units, **extra})

    data_vars = {
        "train_error": var(
            res.train_error, True, "training error: mean squared residual on the P training examples", "1"
        ),
        "test_error": var(res.test_error, True, _test_long_name(spec), "1"),
        "best_test_error": var(
            res.best_test_error,
            False,
            "minimum of test_error over every epoch (exact early-stopping error)",
            "1",
        ),
        "best_epoch": var(
            res.best_epoch, False, "first epoch of the minimum of test_error (-1 if never finite)", "1"
        ),
        "best_examples": var(
            res.best_examples,
            False,
            "training examples seen at the minimum of test_error (-1 if never finite)",
            "1",
        ),
        "diverged": var(
            res.diverged.astype(np.int8),
            False,
            "run diverged (non-finite loss or E_g > 1e6 E_g(0))",
            "1",
            flag_values=np.array([0, 1], dtype=np.int8),
            flag_meanings="finite diverged",
        ),
    }
    if res.null_space_error is not None:
        data_vars["null_space_error"] = var(
            res.null_space_error.astype(float_dtype),
            True,
            "error in the null space of the training inputs (the frozen subspace): "
            "||P_null (W_eff - w_bar)||^2 / (N N_out), part of test_error - sigma_eps^2",
            "1",
        )
    lr_axis = "learning_rate" in dims
    if isinstance(spec.train.learning_rate, Auto) and not lr_axis:
        data_vars["learning_rate_used"] = var(
            res.learning_rate_used,
            False,
            f"learning rate used: {spec.train.learning_rate.factor:g} x the run's stability bound",
            "1",
        )
    for name in ("train_error", "test_error", "best_test_error"):
        data_vars[name].values = data_vars[name].values.astype(float_dtype)
    if not res.present.all():  # a shard: NaN where another shard runs
        data_vars["present"] = var(
            res.present.astype(np.int8),
            False,
            "run computed in this shard",
            "1",
            flag_values=np.array([0, 1], dtype=np.int8),
            flag_meanings="absent present",
        )
    dev = jax.devices()[0]
    attrs = {
        "title": spec.name,
        "description": spec.description,
        "dynax_version": _version(),
        "spec_toml": spec.text,
        "spec_overrides": "\n".join(spec.overrides),
        "spec_sha256": spec.sha256,
        "spec_path": spec.path,
        "teacher_var": float(spec.problem.teacher_var),
        "n_in": int(spec.problem.n_in),
        "n_out": int(spec.problem.n_out),
        "loss": spec.train.loss,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "history": history,
        "chunk_size": int(max(g.chunk_size for g in plan.groups)),
        "devices": int(plan.devices),
    }
    for name in ("width", "init", "init_scale", "optimizer", "learning_rate"):
        if name not in dims:
            value = spec.setting(name)
            if isinstance(value, Auto):
                value = f"auto {value.factor:g}"
            attrs[name] = value
    attrs["epochs"] = int(spec.train.epochs)
    attrs["dtype"] = spec.train.dtype
    return xr.Dataset(data_vars, coords, attrs)


def _test_long_name(spec: SweepSpec) -> str:
    if spec.nonlinear:
        return (
            f"generalization error estimated on a fixed test set of n_test = {spec.problem.n_test} "
            "examples per run (noiseless teacher outputs) plus sigma_eps^2"
        )
    return "generalization error: exact population risk E_g including sigma_eps^2"


def _version() -> str:
    from . import __version__

    return __version__


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file beside it, then rename.

    A crash leaves either the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # lossless compression: curves of noisy floats shrink to about half or less
        encoding = {v: {"zlib": True, "complevel": 4, "shuffle": True} for v in ds.data_vars}
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
