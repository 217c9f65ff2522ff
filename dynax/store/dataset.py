"""Flat per-run results, and the labelled Dataset made from them (docs/design.md §4).

The engine fills a :class:`FlatResult` (one array per variable of
:data:`~dynax.spec.variables.VARIABLES`, runs in C order over the spec's dims) chunk by chunk;
:func:`build_dataset` labels it. :meth:`FlatResult.fill` reads a Dataset back (merging shards).
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .._version import __version__, git_commit
from ..spec import Auto, OverDepth, SweepSpec, parse_spec
from ..spec.variables import PRESENT, VARIABLES, computed
from .cf import CONVENTIONS, REFERENCES
from .coords import coordinates, time_coordinate

__all__ = ["MACHINE_ATTRS", "Chunk", "FlatResult", "build_dataset", "machine_attrs", "spec_attrs", "spec_of"]


class _ByName:
    """``res["test_error"]`` and ``res.test_error`` for the arrays in ``res.values``."""

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __getattr__(self, name: str) -> np.ndarray:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)


@dataclass
class Chunk(_ByName):
    """The results of some runs (the real, unpadded runs of one chunk)."""

    runs: np.ndarray  # flat run indices
    values: dict  # variable name -> (runs,) or (runs, n_record)


@dataclass
class FlatResult(_ByName):
    """Per-run results of a sweep (C order over ``spec.dims``) plus timing, before labelling."""

    spec: SweepSpec
    values: dict  # variable name -> (n_runs,) or (n_runs, n_record), for every computed variable
    present: np.ndarray  # bool: runs this process holds (all, unless sharded)
    timings: list = field(default_factory=list)  # per group: dict(label, runs, compile_s, wall_s, ...)
    reused: int = 0  # chunks taken from part files

    @classmethod
    def empty(cls, spec: SweepSpec) -> FlatResult:
        values = {
            v.name: np.full(v.shape(spec, spec.n_runs), v.fill, v.numpy_dtype(spec)) for v in computed(spec)
        }
        return cls(spec, values, np.zeros(spec.n_runs, bool))

    def put(self, c: Chunk) -> None:
        for name, arr in self.values.items():
            arr[c.runs] = c.values[name]
        self.present[c.runs] = True

    def fill(self, ds: xr.Dataset, mask: np.ndarray) -> None:
        """Take the runs of ``mask`` (flat, bool) from a result Dataset of the same spec;
        variables the Dataset does not hold are left as they are."""
        dims = self.spec.dims
        by_name = {v.name: v for v in VARIABLES}
        for name, arr in self.values.items():
            if name in ds:
                da, v = ds[name], by_name[name]
                da = da.expand_dims({d: ds.sizes[d] for d in dims if d not in da.dims})
                da = da.transpose(*dims, *v.extra, *(["epoch"] if v.curve else []))
                arr[mask] = da.values.reshape(arr.shape)[mask]
        self.present |= mask


# where the runs were trained: attributes a merge of shards copies from its first shard
MACHINE_ATTRS = ("jax_version", "backend", "device_kind", "kernel", "chunk_size", "devices")


def machine_attrs(plan) -> dict:
    """Where a plan's runs train: this process's JAX and device, the trainers of its groups."""
    import jax  # here, not at the top: reading and merging results imports no JAX

    return {
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        # which trainer ran: train.kernel and what it resolved to (also in the parts' layout hash)
        "kernel": f"{plan.spec.train.kernel}: " + ", ".join(dict.fromkeys(g.trainer for g in plan.groups)),
        "chunk_size": int(max(g.chunk_size for g in plan.groups)),
        "devices": int(plan.devices),
    }


def build_dataset(plan, res: FlatResult, history: str = "", machine: dict | None = None) -> xr.Dataset:
    """Label the flat results of a plan (:func:`dynax.engine.execute`) as the result Dataset;
    ``machine``: :data:`MACHINE_ATTRS` given (a merge: the shards'), else this process's
    (:func:`machine_attrs`). ``plan`` needs only ``spec`` when ``machine`` is given."""
    spec: SweepSpec = plan.spec
    dims, shape = spec.dims, spec.shape
    coords = coordinates(spec)
    coords["time"] = time_coordinate(spec, res["learning_rate_used"])
    data_vars = {}
    variables = [v for v in VARIABLES if v.stored(spec)]
    if not res.present.all():  # a shard: NaN where another shard runs
        variables.append(PRESENT)
    for v in variables:
        values = res.present if v is PRESENT else res[v.name]
        full = (*dims, *v.extra, *(("epoch",) if v.curve else ()))
        s = (*shape, *v.extra_shape(spec), *((len(spec.record_epochs),) if v.curve else ()))
        var = xr.Variable(full, values.astype(v.numpy_dtype(spec)).reshape(s), v.label(spec))
        if v.over is not None:  # a data variable: equal across the other dims; any present run's
            other = [d for d in dims if d not in v.over]
            if other:
                with warnings.catch_warnings():  # all-NaN along them: another shard's runs, or NaN data
                    warnings.simplefilter("ignore", RuntimeWarning)
                    var = var.reduce(np.nanmax, dim=other)
            var.attrs = v.label(spec)
        data_vars[v.name] = var
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    attrs = {
        "Conventions": CONVENTIONS,
        "title": spec.name,
        "description": spec.description,
        "references": REFERENCES,
        "dynax_version": __version__,
        "dynax_commit": git_commit(),
        "spec_toml": spec.text,
        "spec_overrides": "\n".join(spec.overrides),
        "spec_sha256": spec.sha256,
        "spec_path": spec.path,
        "teacher_var": float(spec.problem.teacher_var),
        "n_in": int(spec.problem.n_in),
        "n_out": int(spec.problem.n_out),
        "loss": spec.train.loss,
        **{k: v for k, v in (machine or machine_attrs(plan)).items() if k in MACHINE_ATTRS},
        "created": created,
        "history": f"{created}: {history}" if history else created,
    }
    for name in ("width", "init", "init_scale", "optimizer", "learning_rate"):
        if name not in dims:
            value = spec.setting(name)
            if isinstance(value, Auto):
                value = f"auto {value.factor:g}"
            elif isinstance(value, OverDepth):
                value = f"over_depth {value.eta0:g}"
            attrs[name] = value
    if "weight_decay" not in dims and spec.train.weight_decay:
        attrs["weight_decay"] = float(spec.train.weight_decay)
    if "dropout" not in dims and spec.train.dropout:
        attrs["dropout"] = float(spec.train.dropout)
    if "dropout" in dims or spec.train.dropout:
        attrs["dropout_scaling"] = spec.train.dropout_scaling
    if "input_noise" not in dims and spec.train.input_noise:
        attrs["input_noise"] = float(spec.train.input_noise)
    if spec.problem.input_spectrum:  # normalised to mean 1: C = U diag(λ) Uᵀ/N (docs/theory.md §2.10)
        attrs["input_spectrum"] = np.asarray(spec.problem.input_spectrum, np.float64)
        attrs["input_basis"] = spec.problem.input_basis
    if "pretrained" in (spec.axis("init").values if "init" in dims else [spec.model.init]):
        attrs["pretrain_epochs"] = int(spec.model.pretrain_epochs)
    attrs["epochs"] = int(spec.train.epochs)
    attrs["dtype"] = spec.train.dtype
    h = spec.problem.hierarchy
    if h is not None:  # the teacher in words (only for a hierarchy: older results keep their attributes)
        flips = " ".join(f"{f:g}" for f in h.flip)
        attrs["teacher"] = f"hierarchy: branching {h.branching}, levels {h.levels}, flip {flips}"
    return xr.Dataset(data_vars, coords, attrs)


def spec_attrs(spec: SweepSpec) -> dict:
    """The attributes that say which spec (and dynax) a Dataset was made from."""
    return {
        "Conventions": CONVENTIONS,
        "dynax_version": __version__,
        "spec_toml": spec.text,
        "spec_overrides": "\n".join(spec.overrides),
        "spec_sha256": spec.sha256,
        "teacher_var": float(spec.problem.teacher_var),
        "loss": spec.train.loss,
    }


def spec_of(ds: xr.Dataset, path: str | None = None, overrides=()) -> SweepSpec:
    """The spec a result (or theory) Dataset was made from: its TOML text and ``--set``
    overrides, as recorded in its attributes (then ``overrides``, applied after them)."""
    recorded = [o for o in ds.attrs.get("spec_overrides", "").split("\n") if o]
    path = path or ds.attrs.get("spec_path", "<result>")
    return parse_spec(ds.attrs["spec_toml"], path, [*recorded, *overrides])
