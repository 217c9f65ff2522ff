"""The sweep engine: plan a spec into compile groups, batches and chunks, run them
(on one device, several local devices, or Dask workers), keep each finished chunk in
a part file, and assemble the labelled Dataset.

A run is one cell of the grid (every axis value but ``epoch``). Runs whose kernels
have the same shapes and code form a compile group, keyed by method (closed form or
GD), depth, width (not at depth 1) and optimizer: one ``jit`` serves the group, every
N/P, SNR, learning rate, init scale and seed in it.

Layout (why results never depend on it):

* ``batch``: the runs one compiled call trains per device (the vmap width), from the
  memory budget. A run's numbers depend on the executable and on the other runs of its
  batch only through XLA's choice of reduction order, so the batch is a property of the
  plan, recorded in the parts, and reused on ``--resume``.
* ``chunk``: a whole number of batches, the unit of part files, resume, shards and
  Dask tasks. Chunk sizes, resume, ``--shard`` and Dask all leave every batch as it is,
  so their results are bit-identical to one uninterrupted process. Several devices
  train consecutive batches side by side (``--devices``): each device sees the batch
  one device would have, with no communication between devices.

Within a group runs are ordered by seed first, so consecutive chunks share the data of
a few seeds, whose statistics are computed once and cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from . import data, kernel, raw
from .spec import INITS, OPTIMIZERS, PROTOCOLS, Auto, SpecError, SweepSpec
from .theory import stability_bound

__all__ = ["Group", "Plan", "SweepResult", "execute", "plan_sweep", "run_sweep"]

_COMPILED_NAMES = ("_train_chunk",)
PART_FORMAT = 2


class RunTable(NamedTuple):
    """Per-run settings as flat arrays (C order over ``spec.dims``)."""

    depth: np.ndarray
    p_index: np.ndarray  # index into spec.n_train
    seed: np.ndarray
    noise_std: np.ndarray
    lr: np.ndarray  # NaN where learning_rate is auto
    auto: np.ndarray  # the auto factor, NaN where the rate is fixed
    width: np.ndarray
    init: np.ndarray  # index into INITS
    init_scale: np.ndarray
    optimizer: np.ndarray  # index into OPTIMIZERS
    momentum: np.ndarray
    b1: np.ndarray
    b2: np.ndarray
    protocol: np.ndarray  # index into PROTOCOLS


def _run_table(spec: SweepSpec) -> RunTable:
    idx = np.indices(spec.shape).reshape(len(spec.shape), -1)
    dims = spec.dims

    def values(name, convert=float, dtype=np.float64):
        if name in dims:
            axis = spec.axes[dims.index(name)]
            return np.asarray([convert(v) for v in axis.values], dtype=dtype)[idx[dims.index(name)]]
        return np.full(idx.shape[1], convert(spec.setting(name)), dtype=dtype)

    snr = values("snr")
    with np.errstate(divide="ignore"):
        noise_std = np.sqrt(np.where(np.isinf(snr), 0.0, spec.problem.teacher_var / snr))
    lr_setting = spec.axis("learning_rate").values if "learning_rate" in dims else None
    if lr_setting is None and isinstance(spec.train.learning_rate, Auto):
        lr = np.full(idx.shape[1], np.nan)
        auto = np.full(idx.shape[1], spec.train.learning_rate.factor)
    else:
        lr, auto = values("learning_rate"), np.full(idx.shape[1], np.nan)
    return RunTable(
        depth=values("depth", int, np.int64),
        p_index=idx[dims.index("n_over_p")].astype(np.int64),
        seed=values("seed", int, np.int64),
        noise_std=noise_std,
        lr=lr,
        auto=auto,
        width=values("width", int, np.int64),
        init=values("init", INITS.index, np.int32),
        init_scale=values("init_scale"),
        optimizer=values("optimizer", OPTIMIZERS.index, np.int32),
        momentum=values("momentum"),
        b1=values("b1"),
        b2=values("b2"),
        protocol=values("protocol", PROTOCOLS.index, np.int32),
    )


@dataclass(frozen=True)
class Group:
    """A compile group: one kernel configuration and the flat indices of its runs.

    ``batch`` runs are trained per compiled call and device; a chunk is a whole number
    of (global) batches; see the module docstring.
    """

    method: str  # "closed_form", "gd" (sufficient statistics) or "raw" (raw.train_raw)
    config: kernel.KernelConfig | raw.RawConfig
    runs: np.ndarray  # flat run indices into the grid, in execution order
    batch: int
    chunk_size: int  # a multiple of batch * devices

    @property
    def n_chunks(self) -> int:
        return -(-len(self.runs) // self.chunk_size)

    def chunk(self, i: int, devices: int = 1) -> np.ndarray:
        """Flat run indices of chunk i, padded to a whole number of global batches by
        repeating the group's last run (padding is computed and discarded)."""
        idx = self.runs[i * self.chunk_size : (i + 1) * self.chunk_size]
        pad = -len(idx) % (self.batch * devices)
        return np.concatenate([idx, np.full(pad, self.runs[-1])]) if pad else idx

    def n_real(self, i: int) -> int:
        return min(self.chunk_size, len(self.runs) - i * self.chunk_size)

    def label(self) -> str:
        c = self.config
        width = "" if c.depth == 1 else f" width={c.width}"
        label = f"{self.method} depth={c.depth}{width} optimizer={c.optimizer}"
        if self.method == "raw":
            batch = f" batch={c.batch}" if c.batch else ""
            label += f" {c.protocol}{batch} P<={c.p_bucket}"
        return label


@dataclass
class Plan:
    spec: SweepSpec
    groups: list[Group]
    p_values: tuple[int, ...]
    table: RunTable
    devices: int = 1
    bytes_per_run: dict[int, int] = field(default_factory=dict)  # per group index

    @property
    def n_runs(self) -> int:
        return self.spec.n_runs

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """Every (group, chunk) in execution order; the global chunk id is the position."""
        return [(g, c) for g, group in enumerate(self.groups) for c in range(group.n_chunks)]

    def layout(self) -> dict:
        """What fixes the numbers besides the spec: recorded in the parts, reused on resume."""
        return {
            "spec_sha256": self.spec.sha256,
            "groups": [
                {"label": g.label(), "batch": g.batch, "chunk_size": g.chunk_size} for g in self.groups
            ],
        }

    def output_bytes(self) -> int:
        n_rec = len(self.spec.record_epochs)
        itemsize = 8 if self.spec.train.dtype == "float64" else 4
        return self.n_runs * (2 * n_rec * itemsize + itemsize + 8 + 1 + 8)


# --------------------------------------------------------------------------- planning


def run_bytes(cfg: kernel.KernelConfig, method: str) -> int:
    """Estimated device bytes one run needs in a batch (inputs, state, temporaries, outputs)."""
    itemsize = 8 if cfg.dtype == "float64" else 4
    factor = (cfg.n_in + cfg.n_out) * cfg.k
    n_rec = len(cfg.record)
    if method == "closed_form":  # float64 inputs (factor, U, Uᵀ L_x), one block of epochs
        n = cfg.n_in
        floats = 2 * (n * n + n * cfg.k) + 4 * kernel._BLOCK * n * cfg.n_out + 2 * n_rec * cfg.n_out * n
    else:
        weights = sum(a * b for a, b in cfg.shapes())
        slots = {"gd": 0, "momentum": 1, "adam": 2}[cfg.optimizer]
        floats = weights * (4 + slots) + 3 * factor + 4 * cfg.n_in * cfg.n_out + 2 * n_rec
    floats += 2 * factor  # the float64 factor as it arrives
    return int(floats * itemsize) + 256


CPU_BUDGET = 24 << 20  # cache-sized batches: measured fastest on CPU (benchmarks/README.md)


def default_memory_budget() -> int:
    """Bytes for one compiled call and device.

    On an accelerator, half its memory (large batches fill it). On CPU, 24 MiB: the
    batch then fits in cache, which measured 2.5× faster than memory-sized batches
    (depth 2, N = N_h = 100: batch 64 vs 512).
    """
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" and hasattr(dev, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] * 0.5)
    return CPU_BUDGET


def plan_sweep(
    spec: SweepSpec,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    devices: int = 1,
    layout: dict | None = None,
) -> Plan:
    """Group the runs of a spec into compile groups, batches and chunks.

    Args:
        chunk_size: runs per chunk, rounded up to a whole number of global batches;
            ``None`` makes a chunk one global batch.
        memory_budget: device bytes one compiled call may use per device, which sets
            the batch; default :func:`default_memory_budget`.
        devices: local devices the run axis is sharded over.
        layout: a recorded :meth:`Plan.layout` to reuse (``--resume``, shards, workers).
    """
    table = _run_table(spec)
    p_values = spec.n_train
    k = data.factor_width(spec.problem.n_in, spec.problem.n_out, max(p_values))
    budget = memory_budget or default_memory_budget()
    online = table.protocol == PROTOCOLS.index("online")
    is_raw = online | spec.nonlinear | (spec.train.batch_size > 0)
    closed = (
        ~is_raw
        & (table.depth == 1)
        & (table.optimizer == OPTIMIZERS.index("gd"))
        & (spec.train.method == "auto")
    )
    width = np.where((table.depth == 1) & (spec.model.student == "deep_linear"), 0, table.width)
    p_bucket = np.asarray([raw.bucket(p) for p in p_values], dtype=np.int64)[table.p_index]
    keys = np.stack(
        [
            closed.astype(np.int64),
            is_raw.astype(np.int64),
            table.depth,
            width,
            table.optimizer.astype(np.int64),
            np.where(is_raw, table.protocol, 0).astype(np.int64),
            np.where(is_raw, p_bucket, 0),
        ],
        axis=1,
    )
    uniq, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # groups in order of first appearance
    groups, per_run = [], {}
    for gi, u in enumerate(order):
        is_closed, is_r, depth, w, opt, proto, pb = (int(v) for v in uniq[u])
        idx = np.flatnonzero(inverse.ravel() == u)
        idx = idx[np.argsort(table.seed[idx], kind="stable")]  # seed-major: data cache locality
        inits = tuple(INITS[i] for i in sorted(set(table.init[idx].tolist())))
        if is_r:
            method = "raw"
            protocol = PROTOCOLS[proto]
            cfg = raw.RawConfig(
                depth=depth,
                width=w if w else spec.problem.n_in,
                n_in=spec.problem.n_in,
                n_out=spec.problem.n_out,
                p_bucket=pb,
                epochs=spec.train.epochs,
                record=spec.record_epochs,
                protocol=protocol,
                batch=spec.online_batch if protocol == "online" else spec.train.batch_size,
                optimizer=OPTIMIZERS[opt],
                inits=inits,
                dtype=spec.train.dtype,
                root_seed=spec.seed,
                student=spec.model.student,
                activation=spec.model.activation,
                teacher=spec.problem.teacher,
                teacher_width=spec.problem.teacher_width,
                n_test=spec.problem.n_test,
                schedule=spec.train.schedule if protocol == "online" else "none",
            )
            b = raw.run_bytes(cfg)
        else:
            method = "closed_form" if is_closed else "gd"
            cfg = kernel.KernelConfig(
                depth=depth,
                width=w if depth > 1 else spec.problem.n_in,
                n_in=spec.problem.n_in,
                n_out=spec.problem.n_out,
                k=k,
                epochs=spec.train.epochs,
                record=spec.record_epochs,
                optimizer=OPTIMIZERS[opt],
                inits=inits,
                dtype=spec.train.dtype,
                root_seed=spec.seed,
                null_space=spec.train.null_space_error,
            )
            b = run_bytes(cfg, method)
        per_run[gi] = b
        if layout is not None:
            batch, size = layout["groups"][gi]["batch"], layout["groups"][gi]["chunk_size"]
        else:
            batch = int(min(max(1, budget // b), -(-len(idx) // devices)))
            unit = batch * devices
            size = unit * -(-min(chunk_size, len(idx)) // unit) if chunk_size else unit
        groups.append(Group(method, cfg, idx, batch, size))
    plan = Plan(spec, groups, p_values, table, devices, per_run)
    if layout is not None and [g["label"] for g in layout["groups"]] != [g.label() for g in groups]:
        raise SpecError(f"{spec.path}: the recorded layout does not match this spec's compile groups")
    return plan


# --------------------------------------------------------------------------- running


def _train_fn(cfg, method: str):
    fn = {"closed_form": kernel.closed_form, "gd": kernel.train_gd, "raw": raw.train_raw}[method]
    return jax.vmap(partial(fn, cfg))


@partial(jax.jit, static_argnames=("cfg", "method"))
def _train_chunk(cfg, method: str, runs) -> kernel.Outputs:
    return _train_fn(cfg, method)(runs)


@lru_cache(maxsize=64)
def sharded_trainer(cfg: kernel.KernelConfig, method: str, n_devices: int):
    """The chunk trainer with the run axis split over ``n_devices`` local devices.

    Every array's leading (run) axis is sharded; runs never interact, so the compiled
    program has no cross-device communication.
    """
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.asarray(jax.local_devices()[:n_devices]), ("runs",))
    runs = NamedSharding(mesh, PartitionSpec("runs"))

    def _train_chunk(inputs):  # same name as the one-device function: counted alike
        return _train_fn(cfg, method)(inputs)

    return jax.jit(_train_chunk, in_shardings=runs, out_shardings=runs)


class RawData(NamedTuple):
    """One seed's raw data: stored examples (bucket of the largest P), teacher, test set."""

    x: np.ndarray
    z: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    test_x: np.ndarray
    test_f: np.ndarray


@partial(jax.jit, static_argnames=("n_in", "n_out", "p_max", "teacher", "teacher_width", "n_test"))
def _seed_raw(root_seed, seed, teacher_var, *, n_in, n_out, p_max, teacher, teacher_width, n_test):
    key = data.data_key(root_seed, seed)
    x, z = data.examples(key, n_in, n_out, p_max)
    t1, t2 = raw.teacher_params(key, teacher, n_in, n_out, teacher_var, teacher_width)
    tkey = jax.random.fold_in(data.run_key(root_seed, seed), raw.TEST_STREAM)
    test_x, _ = data.examples(tkey, n_in, n_out, n_test)
    return x, z, t1, t2, test_x, raw.teacher_apply(teacher, t1, t2, test_x)


class _StatsCache:
    """Per-seed sufficient statistics, computed once (one compilation per sweep)."""

    def __init__(self, spec: SweepSpec, p_values, max_bytes: int = 2 << 30, eigen: bool = False):
        self.spec, self.p_values, self.eigen = spec, np.asarray(p_values), eigen
        self.items: OrderedDict[int, data.SeedStats] = OrderedDict()
        n, no = spec.problem.n_in, spec.problem.n_out
        k = data.factor_width(n, no, int(self.p_values.max()))
        per_p = (n + no) * k + (n * n + n * k if eigen else 0)
        self.capacity = max(1, max_bytes // (len(self.p_values) * per_p * 8))
        self.raw_items: OrderedDict = OrderedDict()
        per_seed = (raw.bucket(int(self.p_values.max())) + spec.problem.n_test) * (n + no) + n * n
        self.raw_capacity = max(1, max_bytes // (per_seed * 8))

    def raw(self, seed: int) -> RawData:
        """The raw examples, teacher and test set of a seed (the raw-data path)."""
        key = ("raw", seed)
        if key not in self.raw_items:
            pr = self.spec.problem
            self.raw_items[key] = RawData(
                *(
                    np.asarray(v)
                    for v in _seed_raw(
                        np.uint32(self.spec.seed),
                        np.uint32(seed),
                        np.float64(pr.teacher_var),
                        n_in=pr.n_in,
                        n_out=pr.n_out,
                        p_max=raw.bucket(int(self.p_values.max())),
                        teacher=pr.teacher,
                        teacher_width=pr.teacher_width,
                        n_test=pr.n_test,
                    )
                )
            )
            while len(self.raw_items) > self.raw_capacity:
                self.raw_items.popitem(last=False)
        self.raw_items.move_to_end(key)
        return self.raw_items[key]

    def get(self, seed: int) -> data.SeedStats:
        if seed in self.items:
            self.items.move_to_end(seed)
            return self.items[seed]
        pr = self.spec.problem
        st = data.seed_stats(
            self.spec.seed, seed, self.p_values, pr.n_in, pr.n_out, pr.teacher_var, self.eigen
        )
        self.items[seed] = st
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)
        return st


def weight_norm(teachers, ls_terms, noise_std) -> np.ndarray:
    """The end-to-end norm a run's stability bound is taken at: the larger of the teacher's
    and the run's own min-norm least-squares solution's (which GD from a small init
    approaches, and which far exceeds the teacher's when it fits noise near N = P)."""
    teachers = np.asarray(teachers).reshape(len(noise_std), -1)
    aa, ag, gg = np.asarray(ls_terms).T
    ls = np.sqrt(np.maximum(aa + 2 * noise_std * ag + noise_std**2 * gg, 0.0))
    return np.maximum(np.sqrt(np.sum(teachers**2, axis=1)), ls)


def _rates(plan: Plan, group: Group, idx: np.ndarray, lam_max, teacher_norm, grad_scale) -> np.ndarray:
    """Each run's learning rate (float64): fixed, or auto × its own stability bound, taken
    at the norm :func:`weight_norm` gives (``teacher_norm``) and the largest eigenvalue
    ``lam_max`` of the (sum-convention) input correlation one step sees."""
    t = plan.table
    lr = t.lr[idx].copy()
    auto = np.isnan(lr)
    if auto.any():
        cfg = group.config
        for init in np.unique(t.init[idx][auto]):
            for scale in np.unique(t.init_scale[idx][auto & (t.init[idx] == init)]):
                m = auto & (t.init[idx] == init) & (t.init_scale[idx] == scale)
                eps = stability_bound(
                    cfg.depth, lam_max[m], teacher_norm[m], INITS[init], cfg.shapes(), scale
                )
                lr[m] = t.auto[idx][m] * eps / grad_scale[m]
    return lr


def _run_fields(t: RunTable, idx: np.ndarray, p, lr, grad_scale) -> dict:
    """The per-run settings both kinds of kernel inputs share."""
    return dict(
        noise_std=t.noise_std[idx],
        n_train=p,
        learning_rate=lr,
        grad_scale=np.asarray(grad_scale, dtype=np.float64),
        init_scale=t.init_scale[idx],
        init_code=t.init[idx],
        seed=t.seed[idx].astype(np.uint32),
        momentum=t.momentum[idx],
        b1=t.b1[idx],
        b2=t.b2[idx],
    )


def _chunk_inputs(plan: Plan, group: Group, idx: np.ndarray, cache: _StatsCache):
    """Host arrays of one chunk's runs, and their learning rates (float64)."""
    t = plan.table
    seeds = t.seed[idx]
    useeds, where = np.unique(seeds, return_inverse=True)
    stats = [cache.get(int(s)) for s in useeds]
    p_index = t.p_index[idx]

    def gather(name):  # only the slices these runs use (a per-seed table holds every P)
        return np.stack([getattr(stats[w], name)[j] for w, j in zip(where, p_index, strict=True)])

    lam_max = np.asarray([stats[w].lam_max[j] for w, j in zip(where, p_index, strict=True)])
    teachers = np.stack([st.teacher for st in stats])[where]
    ls = np.stack([stats[w].ls_terms[j] for w, j in zip(where, p_index, strict=True)])
    p = np.asarray(plan.p_values, dtype=np.int64)[p_index]
    grad_scale = 1.0 / p if plan.spec.train.loss == "mean" else np.ones(len(idx))
    lr = _rates(plan, group, idx, lam_max, weight_norm(teachers, ls, t.noise_std[idx]), grad_scale)
    if group.method == "closed_form" and stats[0].eigvecs.size:
        eig = [gather(name) for name in ("eigvals", "eigvecs", "rotated")]
    else:
        eig = [np.zeros((len(idx), 0)), np.zeros((len(idx), 0, 0)), np.zeros((len(idx), 0, 0))]
    inputs = kernel.RunInputs(
        factor=gather("factor"),
        teacher=teachers,
        **_run_fields(t, idx, p, lr, grad_scale),
        eigvals=eig[0],
        eigvecs=eig[1],
        rotated=eig[2],
    )
    return inputs, lr


def _raw_inputs(plan: Plan, group: Group, idx: np.ndarray, cache: _StatsCache):
    """Host arrays of one raw-data chunk (:class:`raw.RawInputs`), and their rates."""
    spec, t, cfg = plan.spec, plan.table, group.config
    seeds = t.seed[idx]
    useeds, where = np.unique(seeds, return_inverse=True)
    rd = [cache.raw(int(s)) for s in useeds]
    p = np.asarray(plan.p_values, dtype=np.int64)[t.p_index[idx]]
    pb = cfg.p_bucket
    rows = np.arange(pb)
    pad = lambda a: np.pad(a[:pb], ((0, max(0, pb - len(a))), (0, 0)))  # noqa: E731
    x = np.stack([pad(rd[w].x) for w in where])
    z = np.stack([pad(rd[w].z) for w in where])
    keep = (rows[None, :] < p[:, None])[..., None]
    x, z = np.where(keep, x, 0.0), np.where(keep, z, 0.0)
    n_rec = len(spec.record_epochs)
    online = cfg.protocol == "online"
    if online:
        total = -(-spec.train.epochs * p // cfg.batch)
        steps = np.stack(
            [
                raw.online_record_steps(spec.train.record.kind, n_rec, int(s), -(-int(q) // cfg.batch))
                for s, q in zip(total, p, strict=True)
            ]
        )
        grad_scale = np.full(len(idx), 1.0 / cfg.batch if spec.train.loss == "mean" else 1.0)
    else:
        steps = np.zeros((len(idx), n_rec), np.int64)
        grad_scale = 1.0 / p if spec.train.loss == "mean" else np.ones(len(idx))
    init_var = np.asarray(
        [
            raw.sigma0_sq(INITS[i], s, spec.problem.n_in)
            for i, s in zip(t.init[idx], t.init_scale[idx], strict=True)
        ]
    )
    lr = t.lr[idx].copy()
    if online and spec.train.schedule == "optimal_online":  # the rate at the first step, η*(e_0)
        e0 = spec.problem.teacher_var + init_var
        lr = e0 / (e0 + t.noise_std[idx] ** 2)
    elif np.isnan(lr).any():
        teachers = np.stack([r.t1 for r in rd])[where]
        if online:  # the bound at the minibatch's λ_max ≈ (1 + √(B/N))² (MP at load B/N)
            lam = np.full(len(idx), (1 + np.sqrt(cfg.batch / spec.problem.n_in)) ** 2)
            norm = np.sqrt(np.sum(teachers.reshape(len(idx), -1) ** 2, axis=1))
            lr = _rates(plan, group, idx, lam, norm, grad_scale)
        else:  # minibatch replay: the full-batch bound (a minibatch's Σ_B ≼ Σ)
            stats = [cache.get(int(s)) for s in useeds]
            j = t.p_index[idx]
            lam = np.asarray([stats[w].lam_max[i] for w, i in zip(where, j, strict=True)])
            ls = np.stack([stats[w].ls_terms[i] for w, i in zip(where, j, strict=True)])
            lr = _rates(plan, group, idx, lam, weight_norm(teachers, ls, t.noise_std[idx]), grad_scale)
    inputs = raw.RawInputs(
        x=x,
        z=z,
        t1=np.stack([r.t1 for r in rd])[where],
        t2=np.stack([r.t2 for r in rd])[where],
        test_x=np.stack([r.test_x for r in rd])[where],
        test_f=np.stack([r.test_f for r in rd])[where],
        **_run_fields(t, idx, p, lr, grad_scale),
        record_steps=steps,
        init_var=init_var,
        teacher_var=np.full(len(idx), spec.problem.teacher_var),
    )
    return inputs, lr


class ChunkResult(NamedTuple):
    """The real (unpadded) runs of one chunk."""

    runs: np.ndarray  # flat run indices
    train_error: np.ndarray  # (runs, n_record)
    test_error: np.ndarray
    best_test_error: np.ndarray
    best_epoch: np.ndarray
    diverged: np.ndarray
    learning_rate_used: np.ndarray
    best_examples: np.ndarray  # examples seen at the minimum (-1 if never finite)
    null_space_error: np.ndarray | None = None  # (runs, n_record) with train.null_space_error


def run_chunk(plan: Plan, k: int, cache: _StatsCache) -> ChunkResult:
    """Train global chunk ``k`` of a plan."""
    gi, ci = plan.chunks[k]
    group = plan.groups[gi]
    idx = group.chunk(ci, plan.devices)
    unit = group.batch * plan.devices
    outs, rates = [], []
    build = _raw_inputs if group.method == "raw" else _chunk_inputs
    for b in range(0, len(idx), unit):
        inputs, lr = build(plan, group, idx[b : b + unit], cache)
        rates.append(lr)
        if plan.devices == 1:
            outs.append(_train_chunk(group.config, group.method, inputs))
        else:
            outs.append(sharded_trainer(group.config, group.method, plan.devices)(inputs))
    out = kernel.Outputs(
        *(
            None if parts[0] is None else np.concatenate(parts)
            for parts in zip(*jax.device_get(outs), strict=True)
        )
    )
    n = group.n_real(ci)
    p = np.asarray(plan.p_values, dtype=np.int64)[plan.table.p_index[idx[:n]]]
    best = out.best_epoch[:n].astype(np.int64)
    if group.method == "raw" and group.config.protocol == "online":  # steps -> examples, passes
        examples = np.where(best >= 0, best * group.config.batch, -1)
        best = np.where(best >= 0, examples // p, -1)
    else:
        examples = np.where(best >= 0, best * p, -1)
    return ChunkResult(
        idx[:n],
        out.train_error[:n],
        out.test_error[:n],
        out.best_test_error[:n],
        best,
        out.diverged[:n].astype(np.int8),
        np.concatenate(rates)[:n],
        examples,
        None if out.null_space_error is None else out.null_space_error[:n],
    )


# --------------------------------------------------------------------------- part files


def part_path(parts: Path, k: int) -> Path:
    return Path(parts) / f"chunk-{k:06d}.nc"


def write_part(parts: Path, plan: Plan, k: int, res: ChunkResult) -> Path:
    """One finished chunk, atomically, with its completion mark and the plan's hash."""
    import xarray as xr

    from .store import write_netcdf

    ds = xr.Dataset(
        {
            "run": ("run", res.runs),
            "train_error": (("run", "epoch"), res.train_error),
            "test_error": (("run", "epoch"), res.test_error),
            "best_test_error": ("run", res.best_test_error),
            "best_epoch": ("run", res.best_epoch),
            "diverged": ("run", res.diverged),
            "learning_rate_used": ("run", res.learning_rate_used),
            "best_examples": ("run", res.best_examples),
            **(
                {}
                if res.null_space_error is None
                else {"null_space_error": (("run", "epoch"), res.null_space_error)}
            ),
        },
        attrs={
            "dynax_part_format": PART_FORMAT,
            "chunk": int(k),
            "spec_sha256": plan.spec.sha256,
            "layout_sha256": layout_sha(plan.layout()),
            "complete": 1,  # written last of all: the rename makes the file appear whole
        },
    )
    return write_netcdf(ds, part_path(parts, k))


def read_part(parts: Path, plan: Plan, k: int) -> ChunkResult | None:
    """A finished chunk, or None if its part is missing, truncated, unmarked or from
    another spec or layout (it will be recomputed)."""
    import xarray as xr

    path = part_path(parts, k)
    if not path.exists():
        return None
    try:
        with xr.open_dataset(path) as ds:
            ok = (
                ds.attrs.get("complete") == 1
                and ds.attrs.get("chunk") == k
                and ds.attrs.get("spec_sha256") == plan.spec.sha256
                and ds.attrs.get("layout_sha256") == layout_sha(plan.layout())
            )
            if not ok:
                return None
            ds = ds.load()
    except Exception:  # a truncated or corrupt file: recompute the chunk
        return None
    gi, ci = plan.chunks[k]
    expected = plan.groups[gi].chunk(ci, plan.devices)[: plan.groups[gi].n_real(ci)]
    if not np.array_equal(ds.run.values, expected):
        return None
    return ChunkResult(
        ds.run.values,
        ds.train_error.values,
        ds.test_error.values,
        ds.best_test_error.values,
        ds.best_epoch.values.astype(np.int64),
        ds.diverged.values.astype(np.int8),
        ds.learning_rate_used.values,
        ds.best_examples.values.astype(np.int64),
        ds.null_space_error.values if "null_space_error" in ds else None,
    )


def layout_sha(layout: dict) -> str:
    return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()


def prepare_parts(parts: Path, plan: Plan, resume: bool) -> None:
    """Create the parts folder and its layout record, or check them on ``--resume``.

    Raises:
        SpecError: parts of another spec (never mixed), or parts left behind by an
            earlier run when ``resume`` is not asked for (never overwritten silently).
    """
    parts = Path(parts)
    record = parts / "layout.json"
    if record.exists():
        old = json.loads(record.read_text())
        if old.get("spec_sha256") != plan.spec.sha256:
            raise SpecError(
                f"{plan.spec.path}: {parts} holds parts of a different spec "
                f"(sha256 {old.get('spec_sha256', '?')[:12]}, this spec {plan.spec.sha256[:12]}); "
                "the spec changed since that run. Delete the folder, or write to another -o"
            )
        if not resume:
            done = len(list(parts.glob("chunk-*.nc")))
            raise SpecError(
                f"{plan.spec.path}: {parts} already holds {done} finished chunk(s) of this spec; "
                "add --resume to reuse them, or delete the folder to start over"
            )
        return
    parts.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(plan.layout(), indent=1))
    os.replace(tmp, record)


def recorded_layout(parts: Path) -> dict | None:
    record = Path(parts) / "layout.json"
    return json.loads(record.read_text()) if record.exists() else None


# --------------------------------------------------------------------------- execution


@dataclass
class SweepResult:
    """Flat per-run results (C order over spec.dims) plus timing, before labelling."""

    train_error: np.ndarray  # (n_runs, n_record)
    test_error: np.ndarray
    best_test_error: np.ndarray
    best_epoch: np.ndarray
    diverged: np.ndarray
    learning_rate_used: np.ndarray
    best_examples: np.ndarray
    present: np.ndarray  # bool: runs this process holds (all, unless sharded)
    null_space_error: np.ndarray | None = None  # (n_runs, n_record) with train.null_space_error
    timings: list = field(default_factory=list)  # per group: dict(label, runs, compile_s, wall_s)
    reused: int = 0  # chunks taken from part files

    @classmethod
    def empty(cls, spec: SweepSpec) -> SweepResult:
        n, n_rec = spec.n_runs, len(spec.record_epochs)
        dtype = np.float64 if spec.train.dtype == "float64" else np.float32
        return cls(
            train_error=np.full((n, n_rec), np.nan, dtype),
            test_error=np.full((n, n_rec), np.nan, dtype),
            best_test_error=np.full(n, np.nan, dtype),
            best_epoch=np.full(n, -1, np.int64),
            diverged=np.zeros(n, np.int8),
            learning_rate_used=np.full(n, np.nan, np.float64),
            best_examples=np.full(n, -1, np.int64),
            present=np.zeros(n, bool),
            null_space_error=np.full((n, n_rec), np.nan, dtype) if spec.train.null_space_error else None,
        )

    def put(self, c: ChunkResult) -> None:
        self.train_error[c.runs] = c.train_error
        self.test_error[c.runs] = c.test_error
        self.best_test_error[c.runs] = c.best_test_error
        self.best_epoch[c.runs] = c.best_epoch
        self.diverged[c.runs] = c.diverged
        self.learning_rate_used[c.runs] = c.learning_rate_used
        self.best_examples[c.runs] = c.best_examples
        if self.null_space_error is not None:
            self.null_space_error[c.runs] = c.null_space_error
        self.present[c.runs] = True


class _CompileTimer:
    """Collects backend compile durations of dynax's chunk kernel (jax.monitoring)."""

    def __init__(self):
        self.durations: list[float] = []
        self.active = False

    def __call__(self, event: str, duration: float, **kw):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            if any(name in kw.get("fun_name", "") for name in _COMPILED_NAMES):
                self.durations.append(duration)


_timer = _CompileTimer()
jax.monitoring.register_event_duration_secs_listener(_timer)


def execute(
    plan: Plan,
    progress=None,
    parts: str | Path | None = None,
    resume: bool = False,
    shard: tuple[int, int] = (0, 1),
    scheduler: str | None = None,
) -> SweepResult:
    """Run the chunks of a plan (those of ``shard`` = (i, n): chunks i, i+n, ...).

    Args:
        progress: called as ``progress(runs_done, runs_total)`` after each chunk.
        parts: a folder for part files (one per finished chunk); with ``resume``,
            valid parts found there are reused instead of recomputed.
        scheduler: ``"local:N"`` or a Dask scheduler address: chunks run as Dask tasks,
            each worker writing its part files (``parts`` is then required).
    """
    i, n = shard
    todo = [k for k in range(len(plan.chunks)) if k % n == i]
    res = SweepResult.empty(plan.spec)
    total = sum(plan.groups[plan.chunks[k][0]].n_real(plan.chunks[k][1]) for k in todo)
    done = 0
    if parts is not None:
        parts = Path(parts)
        prepare_parts(parts, plan, resume)
        for k in list(todo):
            found = read_part(parts, plan, k) if resume else None
            if found is not None:
                res.put(found)
                res.reused += 1
                done += len(found.runs)
                todo.remove(k)
        if progress is not None and done:
            progress(done, total)
    if scheduler is not None:
        if parts is None:
            raise ValueError("Dask execution writes part files: give parts=")
        from .distributed import run_on_dask

        for k in run_on_dask(plan, todo, parts, scheduler):
            c = read_part(parts, plan, k)
            if c is None:
                raise RuntimeError(
                    f"a Dask worker reported chunk {k} done but its part {part_path(parts, k)} is invalid"
                )
            res.put(c)
            done += len(c.runs)
            if progress is not None:
                progress(done, total)
        return res
    cache = _stats_cache(plan)
    by_group: dict[int, list[int]] = {}
    for k in todo:
        by_group.setdefault(plan.chunks[k][0], []).append(k)
    for gi, ks in by_group.items():
        t_group = time.perf_counter()
        _timer.durations.clear()
        _timer.active = True
        try:
            for k in ks:
                c = run_chunk(plan, k, cache)
                if parts is not None:
                    write_part(parts, plan, k, c)
                res.put(c)
                done += len(c.runs)
                if progress is not None:
                    progress(done, total)
        finally:
            _timer.active = False
        g = plan.groups[gi]
        res.timings.append(
            dict(
                label=g.label(),
                runs=sum(g.n_real(plan.chunks[k][1]) for k in ks),
                batch=g.batch,
                chunk_size=g.chunk_size,
                compiles=len(_timer.durations),
                compile_s=float(sum(_timer.durations)),
                wall_s=time.perf_counter() - t_group,
            )
        )
    return res


def run_sweep(
    spec: SweepSpec,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    progress=None,
    history: str = "",
    devices: int = 1,
):
    """Run a sweep in this process and return its labelled ``xarray.Dataset`` (DESIGN.md §4)."""
    from .store import build_dataset

    plan = plan_sweep(spec, chunk_size, memory_budget, devices)
    res = execute(plan, progress)
    return build_dataset(plan, res, history=history)


def worker_chunk(
    spec_text: str, spec_path: str, overrides: list[str], layout: dict, devices: int, k: int, parts: str
):
    """Run one chunk in a fresh process (a Dask worker) and write its part file."""
    from .spec import parse_spec

    spec = parse_spec(spec_text, spec_path, overrides)
    plan = plan_sweep(spec, devices=devices, layout=layout)
    cache = _worker_cache(spec.sha256, plan)
    write_part(Path(parts), plan, k, run_chunk(plan, k, cache))
    return k


def _stats_cache(plan: Plan) -> _StatsCache:
    eigen = any(g.method == "closed_form" for g in plan.groups)
    return _StatsCache(plan.spec, plan.p_values, eigen=eigen)


_worker_caches: dict[str, _StatsCache] = {}


def _worker_cache(key: str, plan: Plan) -> _StatsCache:
    if key not in _worker_caches:
        _worker_caches.clear()
        _worker_caches[key] = _stats_cache(plan)
    return _worker_caches[key]


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` with 0 ≤ I < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise SpecError(f"--shard {text!r}: expected I/N with integers, e.g. 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise SpecError(f"--shard {text!r}: need 0 ≤ I < N (I is 0-based)")
    return i, n
