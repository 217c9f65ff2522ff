"""The plan of a sweep: its runs grouped into compile groups, batches and chunks, and
the memory model that sizes the batches.

A run is one cell of the grid (every axis value but ``epoch``). Runs whose kernels
have the same shapes and code form a compile group, keyed by trainer (the registry of
:mod:`dynax.sim.trainers` chooses it), depth, width (not at depth 1) and optimizer: one
compiled program serves the group, every N/P, SNR, learning rate, init scale and seed in it.

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

import dataclasses
import math
from dataclasses import dataclass, field

import jax
import numpy as np

from ..sim import trainers
from ..sim.gd import KernelConfig
from ..sim.raw import RawConfig
from ..sim.trainers import GroupFacts
from ..spec import INITS, OPTIMIZERS, PROTOCOLS, SpecError, SweepSpec, derived
from ..spec.runs import RunTable, run_table
from ..spec.variables import computed, recorded
from .fits import device_memory

__all__ = ["CPU_BUDGET", "Group", "Plan", "default_memory_budget", "plan_sweep"]


@dataclass(frozen=True)
class Group:
    """A compile group: one trainer and configuration, and the flat indices of its runs.

    ``batch`` runs are trained per compiled call and device; a chunk is a whole number
    of (global) batches; see the module docstring.
    """

    trainer: str  # a name of dynax.sim.trainers.TRAINERS
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
        label = f"{self.trainer} depth={c.depth}{width} optimizer={c.optimizer}"
        if isinstance(c, RawConfig):
            batch = f" batch={c.batch}" if c.batch else ""
            label += f" {c.protocol}{batch} P<={c.p_bucket}" + (" dropout" if c.dropout else "")
            label += " input_noise" if c.input_noise else ""
        return label


@dataclass
class Plan:
    spec: SweepSpec
    groups: list[Group]
    p_values: tuple[int, ...]
    table: RunTable
    devices: int = 1
    bytes_per_run: dict[int, int] = field(default_factory=dict)  # per group index
    shard_of: tuple[int, int] = (0, 1)  # (i, n): this plan trains shard i of n (Plan.shard)

    @property
    def n_runs(self) -> int:
        return self.spec.n_runs

    def shard(self, i: int, n: int) -> Plan:
        """Shard ``i`` of ``n``: the i-th of n contiguous slices of the runs in execution order
        (the groups' runs one after another), so any n up to the number of runs works. Each
        group keeps its batch and chunk size: the same compiled programs as the whole plan, so
        a trainer whose numbers do not depend on a run's neighbours gives the whole plan's
        numbers bit for bit (docs/design.md §4 "Shards")."""
        if (i, n) == self.shard_of:
            return self
        if self.shard_of != (0, 1):
            raise ValueError(f"plan is shard {self.shard_of}, not the whole plan")
        order = np.concatenate([g.runs for g in self.groups])
        if n > len(order):
            raise SpecError(
                f"--shard {i}/{n}: the sweep has {len(order)} run(s); use at most {len(order)} shards"
            )
        take = np.zeros(self.n_runs, dtype=bool)
        take[order[i * len(order) // n : (i + 1) * len(order) // n]] = True
        groups = [dataclasses.replace(g, runs=g.runs[take[g.runs]]) for g in self.groups]
        return dataclasses.replace(self, groups=groups, shard_of=(i, n))

    def alone_bytes(self, gi: int) -> int:
        """Estimated bytes of one run of group ``gi`` trained alone (a batch of one)."""
        g = self.groups[gi]
        return trainers.trainer(g.trainer).alone_bytes(g.config)

    def call_bytes(self, gi: int) -> int:
        """Estimated bytes of one compiled call of group ``gi`` on one device."""
        g = self.groups[gi]
        return self.alone_bytes(gi) if g.batch == 1 else self.bytes_per_run[gi] * g.batch

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
            **({"shard": list(self.shard_of)} if self.shard_of != (0, 1) else {}),
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


CPU_BUDGET = 24 << 20  # cache-sized batches: measured fastest on CPU (benchmarks/README.md)


def default_memory_budget() -> int:
    """Bytes for one compiled call and device.

    On an accelerator, half its memory (large batches fill it). On CPU, 24 MiB: the
    batch then fits in cache, faster than memory-sized batches (benchmarks/README.md
    "CPU defaults": depth 2, N = N_h = 100, batches of 64 against 512).
    """
    memory = device_memory() if jax.devices()[0].platform != "cpu" else 0  # 0: unknown
    return int(memory * 0.5) if memory else CPU_BUDGET


# --------------------------------------------------------------------------- planning

RECORD_CAP = 2 << 30  # bytes of the variables train.record's flags add, together (host memory; disk alike)


def _group_facts(spec: SweepSpec, table: RunTable, kernel: str) -> list[GroupFacts]:
    """Each run's :class:`~dynax.sim.trainers.GroupFacts` (what separates compile groups):
    ``kernel`` is :func:`~dynax.sim.trainers.requested_kernel`'s choice."""
    online = table.protocol == PROTOCOLS.index("online")
    stochastic = (table.dropout > 0) | (table.input_noise > 0)  # masks or noise per example and step
    is_raw = online | spec.nonlinear | (spec.train.batch_size > 0) | stochastic
    linear_student = spec.model.student == "deep_linear"
    p_bucket = np.asarray([derived.p_bucket(p) for p in spec.n_train], dtype=np.int64)[table.p_index]
    if spec.model.student == "committee":  # online from fresh examples: no training set is read
        p_bucket = np.ones_like(p_bucket)
    facts = {}
    out = []
    for raw, d, w, o, proto, pb, drop, noise in zip(
        is_raw.tolist(), table.depth.tolist(), table.width.tolist(), table.optimizer.tolist(),
        table.protocol.tolist(), p_bucket.tolist(), (table.dropout > 0).tolist(),
        (table.input_noise > 0).tolist(), strict=True,
    ):  # fmt: skip
        key = (raw, d, w, o, proto if raw else 0, pb if raw else 0, drop, noise)
        if key not in facts:
            width = spec.problem.n_in if d == 1 and linear_student else w
            protocol = PROTOCOLS[proto] if raw else "replay"
            facts[key] = GroupFacts(
                d, width, OPTIMIZERS[o], raw, protocol, pb if raw else 0, kernel, drop, noise
            )
        out.append(facts[key])
    return out


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
            :func:`dynax.sim.trainers.requested_kernel` (merging shards passes what the shards ran).
    """
    table = run_table(spec)
    budget = memory_budget or default_memory_budget()
    facts = _group_facts(spec, table, trainers.requested_kernel(spec, layout) if kernel is None else kernel)
    chosen = {f: trainers.choose(spec, f) for f in dict.fromkeys(facts)}
    keys = {}
    for i, f in enumerate(facts):  # groups in order of first appearance
        keys.setdefault((chosen[f].name, f), []).append(i)
    groups, per_run = [], {}
    for gi, ((name, f), runs) in enumerate(keys.items()):
        idx = np.asarray(runs, dtype=np.int64)
        idx = idx[np.argsort(table.seed[idx], kind="stable")]  # seed-major: data cache locality
        inits = tuple(INITS[i] for i in sorted(set(table.init[idx].tolist())))
        tr = trainers.trainer(name)
        cfg = tr.config(spec, f, inits)
        per_run[gi] = b = tr.run_bytes(cfg)
        if layout is not None:
            batch, size = layout["groups"][gi]["batch"], layout["groups"][gi]["chunk_size"]
        else:
            batch = tr.batch(memory_budget, budget, b, len(idx), devices)
            unit = batch * devices
            size = unit * -(-min(chunk_size, len(idx)) // unit) if chunk_size else unit
        groups.append(Group(name, cfg, idx, batch, size))
    plan = Plan(spec, groups, spec.n_fit, table, devices, per_run)  # GD trains on P − V examples
    _check_record_cap(plan)
    if layout is not None and [g["label"] for g in layout["groups"]] != [g.label() for g in groups]:
        raise SpecError(f"{spec.path}: the recorded layout does not match this spec's compile groups")
    return plan.shard(*layout["shard"]) if layout is not None and "shard" in layout else plan


def _check_record_cap(plan: Plan):
    """What ``train.record``'s flags add must fit :data:`RECORD_CAP` (one flag, or all together)."""
    spec = plan.spec
    sizes, words = {}, {}
    for v in recorded(spec):
        sizes[v.flag] = sizes.get(v.flag, 0) + plan.variable_bytes(v.name)
        words.setdefault(v.flag, []).append(v.per_run())
    total = sum(sizes.values())
    if total > RECORD_CAP:
        keys = ", ".join(
            f"`train.record.{f}` ({b / 2**30:.2f} GiB, {' + '.join(words[f])} per run)"
            for f, b in sizes.items()
        )
        cap = f"{RECORD_CAP / 2**30:.0f} GiB (dynax.engine.plan.RECORD_CAP)"
        raise SpecError(
            f"{spec.path}: {keys}: together they take {total / 2**30:.2f} GiB of host memory and as much "
            f"disk ({spec.n_runs} runs, N_out = {spec.problem.n_out}, N = {spec.problem.n_in}, "
            f"{len(spec.record_epochs)} recorded epochs, {spec.train.dtype}); the cap is {cap} for all of "
            "them: record fewer of them, for fewer runs (a smaller grid or fewer seeds) or fewer epochs"
        )
