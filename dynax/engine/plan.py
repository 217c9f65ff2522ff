"""The plan of a sweep: its runs grouped into compile groups, batches and chunks, and
the memory model that sizes the batches.

A run is one cell of the grid (every axis value but ``epoch``). Runs whose kernels
have the same shapes and code form a compile group, keyed by method (closed form, the
XLA GD kernel, the fused CPU kernel, the Pallas GPU kernel, or the raw-data trainer),
depth, width (not at depth 1) and optimizer: one compiled program serves the group, every
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

import math
from dataclasses import dataclass, field

import jax
import numpy as np

from ..sim import eigen
from ..sim.closed_form import BLOCK
from ..sim.data import factor_width
from ..sim.eigen import pallas_launch
from ..sim.gd import KernelConfig
from ..sim.raw import RawConfig
from ..spec import INITS, OPTIMIZERS, PROTOCOLS, SpecError, SweepSpec, derived
from ..store.schema import computed
from .runs import RunTable, run_table

__all__ = ["CPU_BUDGET", "Group", "Plan", "default_memory_budget", "fast_kernel", "plan_sweep", "run_bytes"]


@dataclass(frozen=True)
class Group:
    """A compile group: one kernel configuration and the flat indices of its runs.

    ``batch`` runs are trained per compiled call and device; a chunk is a whole number
    of (global) batches; see the module docstring.
    """

    # "closed_form", "gd" (XLA), "fused" (CPU), "pallas" (GPU; all on sufficient statistics) or "raw"
    method: str
    config: KernelConfig | RawConfig
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
        """Bytes of the result's variables in host memory (about the netCDF's size)."""
        spec = self.spec
        return sum(
            math.prod(v.shape(spec, self.n_runs)) * v.numpy_dtype(spec).itemsize for v in computed(spec)
        )

    def variable_bytes(self, name: str) -> int:
        """Bytes of one result variable (0 when the spec does not record it)."""
        spec = self.spec
        return sum(
            math.prod(v.shape(spec, self.n_runs)) * v.numpy_dtype(spec).itemsize
            for v in computed(spec)
            if v.name == name
        )

    def final_weights_bytes(self) -> int:
        """Bytes of ``final_weights`` (0 unless ``train.record.final_weights``)."""
        return self.variable_bytes("final_weights")


# --------------------------------------------------------------------------- memory model


def run_bytes(cfg: KernelConfig | RawConfig, method: str) -> int:
    """Estimated device bytes one run needs in a batch (inputs, state, temporaries, outputs)."""
    itemsize = 8 if cfg.dtype == "float64" else 4
    weights = sum(a * b for a, b in cfg.shapes())
    slots = {"gd": 0, "momentum": 1, "adam": 2}[cfg.optimizer]
    if method == "raw":
        hidden = cfg.width * (1 if cfg.student == "random_features" else cfg.depth - 1) + cfg.n_out
        rows = cfg.p_bucket + (cfg.batch or 0)
        floats = weights * (4 + slots) + rows * (2 * (cfg.n_in + cfg.n_out) + 3 * hidden)
        if cfg.student == "random_features":
            floats += cfg.width * cfg.n_in
        if cfg.readout_gram:  # the test features once, then their Gram
            floats += cfg.n_test * (2 * (cfg.n_in + cfg.n_out) + hidden) + cfg.width * (cfg.width + cfg.n_out)
        else:
            floats += cfg.n_test * (2 * (cfg.n_in + cfg.n_out) + 3 * hidden)
        floats += 2 * cfg.p_bucket * (cfg.n_in + cfg.n_out)  # float64 inputs as they arrive
        return int((floats + _recorded_floats(cfg)) * itemsize) + 512
    factor = (cfg.n_in + cfg.n_out) * cfg.k
    n_rec = len(cfg.record)
    n = cfg.n_in
    if method == "closed_form":  # float64 inputs (factor, U, Uᵀ L_x), one block of epochs
        floats = 2 * (n * n + n * cfg.k) + 4 * BLOCK * n * cfg.n_out + 2 * n_rec * cfg.n_out * n
    elif method in FAST:  # host memory: float64 U and Uᵀ L_x, the weights and momentum
        floats = 2 * (n * n + n * cfg.k) + weights * (3 + slots) + 8 * n + 3 * n_rec
    else:
        floats = weights * (4 + slots) + 3 * factor + 4 * cfg.n_in * cfg.n_out + 2 * n_rec
    floats += 2 * factor  # the float64 factor as it arrives
    floats += _recorded_floats(cfg)
    return int(floats * itemsize) + 256


def _recorded_floats(cfg) -> int:
    """Per-run floats of the modes (bases, Σ_yx's SVD, curves), the final weights and the
    weights and similarity at every record."""
    n, no, r, rd = cfg.n_in, cfg.n_out, cfg.modes, cfg.data_modes
    modes = 2 * (n + no) * (r + rd) + 3 * no * n + len(cfg.record) * (r + rd) if r else 0
    per_record = (no * n if cfg.weights else 0) + (n * n if cfg.similarity else 0)
    return modes + (no * n if cfg.final_weights else 0) + len(cfg.record) * per_record


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


# --------------------------------------------------------------------------- planning

FINAL_WEIGHTS_CAP = 2 << 30  # bytes of final_weights a result may hold (host memory; disk alike)
RECORD_CAP = FINAL_WEIGHTS_CAP  # final_weights, weights and similarity together
# train.record's large variables: what one run holds of each, in words
LARGE_RECORDS = {
    "final_weights": "N_out x N",
    "weights": "N_out x N x recorded epochs",
    "similarity": "N x N x recorded epochs",
}
AUTO_FUSED_MAX_W1 = 256 * 256  # entries of W_1 up to which `auto` takes the fused kernel


FAST = ("fused", "pallas")  # the kernels in the eigenbasis of Σ_xx (GD and momentum)
PALLAS_HOST_BUDGET = 1 << 30  # host bytes of one Pallas batch (its inputs are prepared on the host)
# host bytes of one fused batch: each thread keeps one network in cache whatever the batch,
# so batches need not be cache-sized; larger ones mean fewer calls, parts and init draws
# (2048 networks in batches of 729 and of 68: as fast, within this VM's drift of a third)
FUSED_BUDGET = 256 << 20


def fast_kernel(spec: SweepSpec, layout: dict | None = None) -> str:
    """Which kernel trains the spec's GD runs where it supports them: ``"fused"`` (CPU),
    ``"pallas"`` (GPU) or ``"xla"``. ``train.kernel`` names it; ``"auto"`` takes the fused
    kernel on a CPU backend for runs of at least N epochs (its set-up, the rotation W_1 U,
    costs about N/6 epochs of training per run; shorter runs are faster on the XLA kernel)
    whose first layer has at most ``AUTO_FUSED_MAX_W1`` entries (N = N_h = 200 runs 2x
    faster fused, 400 slower: one network's W_1 no longer stays in the core's cache), and
    the XLA kernel otherwise: the Pallas kernel is not chosen by ``auto`` until it has been
    measured on a GPU. A recorded layout decides instead (``--resume`` and Dask workers on
    another kind of machine keep the kernel the plan was made with)."""
    if layout is not None:
        labels = [g["label"].split()[0] for g in layout["groups"]]
        return next((k for k in FAST if k in labels), "xla")
    kernel = spec.train.kernel
    if kernel == "auto":
        widths = spec.axis("width").values if "width" in spec.dims else [spec.model.width]
        fast = (
            jax.default_backend() == "cpu"
            and spec.train.epochs >= spec.problem.n_in
            and max(widths) * spec.problem.n_in <= AUTO_FUSED_MAX_W1
        )
        return "fused" if fast else "xla"
    return kernel


def _group_keys(spec: SweepSpec, table: RunTable, kernel: str) -> np.ndarray:
    """What separates compile groups, per run: (method code, raw path, depth, width,
    optimizer, raw protocol, raw P bucket); 0 where a field does not apply. Method codes:
    0 the XLA GD kernel, 1 the closed form, 2 the fused kernel, 3 the Pallas kernel, 0 for
    raw runs; ``kernel`` is :func:`fast_kernel`'s choice."""
    online = table.protocol == PROTOCOLS.index("online")
    is_raw = online | spec.nonlinear | (spec.train.batch_size > 0)
    closed = (
        ~is_raw
        & (table.depth == 1)
        & (table.optimizer == OPTIMIZERS.index("gd"))
        & (spec.train.method == "auto")
    )
    # the fast kernels record errors only: modes, final weights and validation take the XLA kernel
    fast = ~is_raw & ~closed & (kernel in FAST)
    rec = spec.train.record
    fast &= not (rec.modes or rec.final_weights or rec.weights or rec.similarity or spec.train.validation)
    pr = spec.problem
    itemsize = 8 if spec.train.dtype == "float64" else 4
    fast &= np.asarray(
        [
            eigen.supports(int(d), pr.n_out, OPTIMIZERS[o])
            and (
                kernel == "fused"
                or eigen.fits_one_program(pr.n_in, int(w), int(d), itemsize, OPTIMIZERS[o] == "momentum")
            )
            for d, o, w in zip(table.depth, table.optimizer, table.width, strict=True)
        ],
        bool,
    )
    method = np.where(closed, 1, np.where(fast, 2 + (kernel == "pallas"), 0))
    width = np.where((table.depth == 1) & (spec.model.student == "deep_linear"), 0, table.width)
    p_bucket = np.asarray([derived.p_bucket(p) for p in spec.n_train], dtype=np.int64)[table.p_index]
    return np.stack(
        [
            method.astype(np.int64),
            is_raw.astype(np.int64),
            table.depth,
            width,
            table.optimizer.astype(np.int64),
            np.where(is_raw, table.protocol, 0).astype(np.int64),
            np.where(is_raw, p_bucket, 0),
        ],
        axis=1,
    )


def _group_config(spec: SweepSpec, key, inits: tuple[str, ...]) -> tuple[str, KernelConfig | RawConfig]:
    """The method and static trainer config of the compile group with key ``key``."""
    code, is_r, depth, w, opt, proto, pb = (int(v) for v in key)
    pr = spec.problem
    if is_r:
        protocol = PROTOCOLS[proto]
        return "raw", RawConfig(
            depth=depth,
            width=w if w else pr.n_in,
            n_in=pr.n_in,
            n_out=pr.n_out,
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
            teacher=pr.teacher,
            teacher_width=pr.teacher_width,
            n_test=pr.n_test,
            schedule=spec.train.schedule if protocol == "online" else "none",
            **_recorded(spec),
        )
    return ("gd", "closed_form", "fused", "pallas")[code], KernelConfig(
        depth=depth,
        width=w if depth > 1 else pr.n_in,
        n_in=pr.n_in,
        n_out=pr.n_out,
        k=factor_width(pr.n_in, pr.n_out, max(spec.n_fit)),
        epochs=spec.train.epochs,
        record=spec.record_epochs,
        optimizer=OPTIMIZERS[opt],
        inits=inits,
        dtype=spec.train.dtype,
        root_seed=spec.seed,
        null_space=spec.train.null_space_error,
        **_recorded(spec),
    )


def _recorded(spec: SweepSpec) -> dict:
    """The trainer settings of what ``train.record`` asks for besides the curves."""
    rec, pr = spec.train.record, spec.problem
    return {
        "modes": pr.n_modes if rec.modes else 0,
        "data_modes": pr.n_data_modes if rec.modes else 0,
        "final_weights": rec.final_weights,
        "weights": rec.weights,
        "similarity": rec.similarity,
        "validation": bool(spec.train.validation),
        "weight_decay": any(v > 0 for v in _values(spec, "weight_decay")),
    }


def _values(spec: SweepSpec, name: str) -> list:
    return list(spec.axis(name).values) if name in spec.dims else [spec.setting(name)]


def plan_sweep(
    spec: SweepSpec,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    devices: int = 1,
    layout: dict | None = None,
    kernel: str | None = None,
) -> Plan:
    """Group the runs of a spec into compile groups, batches and chunks.

    Args:
        chunk_size: runs per chunk, rounded up to a whole number of global batches;
            ``None`` makes a chunk one global batch.
        memory_budget: device bytes one compiled call may use per device, which sets
            the batch; default :func:`default_memory_budget`.
        devices: local devices the run axis is sharded over.
        layout: a recorded :meth:`Plan.layout` to reuse (``--resume``, shards, workers).
        kernel: the kernel supported groups take ("xla", "fused" or "pallas"); default
            :func:`fast_kernel` (merging shards passes what the shards ran).
    """
    table = run_table(spec)
    budget = memory_budget or default_memory_budget()
    keys = _group_keys(spec, table, fast_kernel(spec, layout) if kernel is None else kernel)
    uniq, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # groups in order of first appearance
    groups, per_run = [], {}
    for gi, u in enumerate(order):
        idx = np.flatnonzero(inverse.ravel() == u)
        idx = idx[np.argsort(table.seed[idx], kind="stable")]  # seed-major: data cache locality
        inits = tuple(INITS[i] for i in sorted(set(table.init[idx].tolist())))
        method, cfg = _group_config(spec, uniq[u], inits)
        per_run[gi] = b = run_bytes(cfg, method)
        if layout is not None:
            batch, size = layout["groups"][gi]["batch"], layout["groups"][gi]["chunk_size"]
        else:
            # the fused kernel's batch lives in host memory: a host budget even beside a GPU;
            # the Pallas kernel's is prepared on the host, so its budget is capped there too
            host = {"fused": memory_budget or FUSED_BUDGET, "pallas": min(budget, PALLAS_HOST_BUDGET)}
            host = host.get(method, budget)
            batch = int(min(max(1, host // b), -(-len(idx) // devices)))
            if method == "pallas":  # the programs it launches (a power of two, or 1024s): no idle ones
                batch = pallas_launch(batch, down=True)
            unit = batch * devices
            size = unit * -(-min(chunk_size, len(idx)) // unit) if chunk_size else unit
        groups.append(Group(method, cfg, idx, batch, size))
    plan = Plan(spec, groups, spec.n_fit, table, devices, per_run)  # GD trains on P − V examples
    sizes = {name: plan.variable_bytes(name) for name in LARGE_RECORDS if plan.variable_bytes(name)}
    total = sum(sizes.values())
    if total > RECORD_CAP:  # one of them, or all of them together
        keys = ", ".join(
            f"`train.record.{n}` ({b / 2**30:.2f} GiB, {LARGE_RECORDS[n]} per run)" for n, b in sizes.items()
        )
        cap = f"{RECORD_CAP / 2**30:.0f} GiB (dynax.engine.plan.RECORD_CAP)"
        raise SpecError(
            f"{spec.path}: {keys}: together they take {total / 2**30:.2f} GiB of host memory and as much "
            f"disk ({spec.n_runs} runs, N_out = {spec.problem.n_out}, N = {spec.problem.n_in}, "
            f"{len(spec.record_epochs)} recorded epochs, {spec.train.dtype}); the cap is {cap} for all of "
            "them: record fewer of them, for fewer runs (a smaller grid or fewer seeds) or fewer epochs"
        )
    if layout is not None and [g["label"] for g in layout["groups"]] != [g.label() for g in groups]:
        raise SpecError(f"{spec.path}: the recorded layout does not match this spec's compile groups")
    return plan
