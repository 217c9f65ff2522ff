"""The sweep engine: plan a spec into compile groups and chunks, run them, assemble
the labelled Dataset.

A run is one cell of the grid (every axis value but ``epoch``). Runs whose kernels
have the same shapes and code form a compile group, keyed by method (closed form or
GD), depth, width (not at depth 1), optimizer and protocol: one ``jit`` serves the
group, every N/P, SNR, learning rate, init scale and seed in it. A group is cut into
chunks of ``chunk_size`` runs, the last padded, so every call has the same shapes.

Within a group runs are ordered by seed first: consecutive chunks share the data of
a few seeds, whose statistics are computed once and cached.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial

import jax
import numpy as np

from . import data, kernel
from .spec import INITS, Auto, SweepSpec
from .theory import stability_bound

__all__ = ["Group", "Plan", "execute", "plan_sweep", "run_sweep", "stability_bound"]

_COMPILED_NAMES = ("_train_chunk",)


@dataclass(frozen=True)
class Group:
    """A compile group: one kernel configuration and the flat indices of its runs.

    ``batch`` is the number of runs one compiled call trains (the vmap width); it comes
    from the memory budget and never from the chunk size. A chunk is a whole number of
    batches, so every run is trained by the same executable next to the same other
    runs whatever the chunk size: results are bit-identical across chunk sizes.
    """

    method: str  # "closed_form" or "gd"
    config: kernel.KernelConfig
    runs: np.ndarray  # flat run indices into the grid, in execution order
    batch: int
    chunk_size: int  # a multiple of batch

    @property
    def n_chunks(self) -> int:
        return -(-len(self.runs) // self.chunk_size)

    def chunk(self, i: int) -> np.ndarray:
        """Flat run indices of chunk i, padded to a whole number of batches by repeating
        the group's last run (padding is computed and discarded)."""
        idx = self.runs[i * self.chunk_size : (i + 1) * self.chunk_size]
        pad = -len(idx) % self.batch
        return np.concatenate([idx, np.full(pad, self.runs[-1])]) if pad else idx

    def label(self) -> str:
        c = self.config
        width = "" if c.depth == 1 else f" width={c.width}"
        return f"{self.method} depth={c.depth}{width} optimizer={c.optimizer}"


@dataclass
class Plan:
    spec: SweepSpec
    groups: list[Group]
    p_values: tuple[int, ...]
    coords: dict[str, np.ndarray]  # per-run coordinate values, flat (C order over spec.dims)
    bytes_per_run: dict[int, int] = field(default_factory=dict)  # per group index

    @property
    def n_runs(self) -> int:
        return self.spec.n_runs

    def output_bytes(self) -> int:
        n_rec = len(self.spec.record_epochs)
        itemsize = 8 if self.spec.train.dtype == "float64" else 4
        per_run = 2 * n_rec * itemsize + itemsize + 8 + 1 + 8
        return self.n_runs * per_run


# --------------------------------------------------------------------------- planning


def _flat_coords(spec: SweepSpec) -> dict[str, np.ndarray]:
    """For each dim, the value of every run, in flat C order over spec.dims."""
    grids = np.meshgrid(*[np.arange(n) for n in spec.shape], indexing="ij")
    out = {}
    for axis, g in zip(spec.axes, grids, strict=True):
        vals = np.empty(len(axis.values), dtype=object)
        vals[:] = list(axis.values)
        out[axis.name] = vals[g.ravel()]
    return out


def _value(spec: SweepSpec, coords: dict, name: str, i):
    return coords[name][i] if name in coords else spec.setting(name)


def run_bytes(cfg: kernel.KernelConfig, method: str) -> int:
    """Estimated device bytes one run needs in a chunk (inputs, state, temporaries, outputs)."""
    itemsize = 8 if cfg.dtype == "float64" else 4
    factor = (cfg.n_in + cfg.n_out) * cfg.k
    n_rec = len(cfg.record)
    if method == "closed_form":
        n = cfg.n_in
        floats = 8 * factor + 4 * n * n + 2 * kernel._BLOCK * n * cfg.n_out + 4 * n_rec * cfg.n_out * n
        floats += 8 * factor  # float64 factor on input
    else:
        weights = sum(a * b for a, b in cfg.shapes())
        slots = {"gd": 0, "momentum": 1, "adam": 2}[cfg.optimizer]
        floats = weights * (4 + slots) + 3 * factor + 4 * cfg.n_in * cfg.n_out + 2 * n_rec
        floats += 2 * factor  # float64 factor on input
    return int(floats * itemsize) + 256


def default_memory_budget() -> int:
    """Bytes for one chunk: half the accelerator's memory, or 1/8 of host RAM (≤ 4 GiB)."""
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] * 0.5)
    try:
        ram = os_sysconf_bytes()
    except (ValueError, OSError, AttributeError):
        ram = 8 << 30
    return int(min(ram / 8, 4 << 30))


def os_sysconf_bytes() -> int:
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def plan_sweep(spec: SweepSpec, chunk_size: int | None = None, memory_budget: int | None = None) -> Plan:
    """Group the runs of a spec into compile groups and chunks.

    Args:
        chunk_size: runs per chunk, rounded up to a whole number of batches; ``None``
            makes a chunk one batch.
        memory_budget: device bytes one compiled call may use, which sets the batch
            (runs per call); default :func:`default_memory_budget`.
    """
    coords = _flat_coords(spec)
    p_values = spec.n_train
    p_max = max(p_values)
    k = data.factor_width(spec.problem.n_in, spec.problem.n_out, p_max)
    budget = memory_budget or default_memory_budget()
    record = spec.record_epochs

    keys: dict[tuple, list[int]] = {}
    seeds = coords["seed"].astype(np.int64)
    for i in range(spec.n_runs):
        depth = int(coords["depth"][i])
        optimizer = _value(spec, coords, "optimizer", i)
        closed = depth == 1 and optimizer == "gd" and spec.train.method == "auto"
        width = 0 if depth == 1 else int(_value(spec, coords, "width", i))
        key = ("closed_form" if closed else "gd", depth, width, optimizer)
        keys.setdefault(key, []).append(i)

    groups, per_run = [], {}
    inits_all = coords["init"] if "init" in coords else None
    for gi, (key, idx) in enumerate(keys.items()):
        method, depth, width, optimizer = key
        idx = np.asarray(idx)
        idx = idx[np.argsort(seeds[idx], kind="stable")]  # seed-major: data cache locality
        if inits_all is not None:
            present = {str(v) for v in inits_all[idx]}
            inits = tuple(k_ for k_ in INITS if k_ in present)
        else:
            inits = (spec.model.init,)
        cfg = kernel.KernelConfig(
            depth=depth,
            width=width if depth > 1 else spec.problem.n_in,
            n_in=spec.problem.n_in,
            n_out=spec.problem.n_out,
            k=k,
            epochs=spec.train.epochs,
            record=record,
            optimizer=optimizer,
            inits=inits,
            dtype=spec.train.dtype,
            root_seed=spec.seed,
        )
        b = run_bytes(cfg, method)
        per_run[gi] = b
        batch = int(min(max(1, budget // b), len(idx)))
        size = batch * -(-min(chunk_size, len(idx)) // batch) if chunk_size else batch
        groups.append(Group(method, cfg, idx, batch, size))
    return Plan(spec, groups, p_values, coords, per_run)


# --------------------------------------------------------------------------- running


@partial(jax.jit, static_argnames=("cfg", "method"))
def _train_chunk(cfg: kernel.KernelConfig, method: str, runs: kernel.RunInputs) -> kernel.Outputs:
    fn = kernel.closed_form if method == "closed_form" else kernel.train_gd
    return jax.vmap(partial(fn, cfg))(runs)


class _StatsCache:
    """Per-seed sufficient statistics, computed once (one compilation per sweep)."""

    def __init__(self, spec: SweepSpec, p_values, max_bytes: int = 2 << 30):
        self.spec, self.p_values = spec, np.asarray(p_values)
        self.items: OrderedDict[int, data.SeedStats] = OrderedDict()
        n, no = spec.problem.n_in, spec.problem.n_out
        k = data.factor_width(n, no, int(self.p_values.max()))
        self.capacity = max(1, max_bytes // (len(self.p_values) * (n + no) * k * 8))

    def get(self, seed: int) -> data.SeedStats:
        if seed in self.items:
            self.items.move_to_end(seed)
            return self.items[seed]
        pr = self.spec.problem
        st = data.seed_stats(self.spec.seed, seed, self.p_values, pr.n_in, pr.n_out, pr.teacher_var)
        self.items[seed] = st
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)
        return st


def _chunk_inputs(plan: Plan, group: Group, idx: np.ndarray, cache: _StatsCache, lr_used: np.ndarray):
    """Host arrays of one chunk's runs; also fills ``lr_used`` for them (float64)."""
    spec, coords = plan.spec, plan.coords
    p_index = {r: j for j, r in enumerate(spec.axis("n_over_p").values)}
    teacher_var = spec.problem.teacher_var
    cfg = group.config
    factors, teachers, rows = [], [], []
    for i in idx:
        seed = int(coords["seed"][i])
        st = cache.get(seed)
        j = p_index[coords["n_over_p"][i]]
        p = plan.p_values[j]
        factors.append(st.factor[j])
        teachers.append(st.teacher)
        snr = float(coords["snr"][i])
        noise_var = 0.0 if math.isinf(snr) else teacher_var / snr
        grad_scale = 1.0 / p if spec.train.loss == "mean" else 1.0
        init = _value(spec, coords, "init", i)
        init_scale = float(_value(spec, coords, "init_scale", i))
        lr = _value(spec, coords, "learning_rate", i)
        if isinstance(lr, Auto):
            eps = stability_bound(
                cfg.depth, st.lam_max[j], np.linalg.norm(st.teacher), init, cfg.shapes(), init_scale
            )
            lr = lr.factor * float(eps) / grad_scale
        lr_used[i] = lr
        rows.append(
            (
                math.sqrt(noise_var),
                p,
                lr,
                grad_scale,
                init_scale,
                INITS.index(init),
                seed,
                float(_value(spec, coords, "momentum", i)),
                float(_value(spec, coords, "b1", i)),
                float(_value(spec, coords, "b2", i)),
            )
        )
    cols = list(zip(*rows, strict=True))
    f64 = partial(np.asarray, dtype=np.float64)
    return kernel.RunInputs(
        factor=np.stack(factors),
        teacher=np.stack(teachers),
        noise_std=f64(cols[0]),
        n_train=np.asarray(cols[1], dtype=np.int64),
        learning_rate=f64(cols[2]),
        grad_scale=f64(cols[3]),
        init_scale=f64(cols[4]),
        init_code=np.asarray(cols[5], dtype=np.int32),
        seed=np.asarray(cols[6], dtype=np.uint32),
        momentum=f64(cols[7]),
        b1=f64(cols[8]),
        b2=f64(cols[9]),
    )


@dataclass
class SweepResult:
    """Flat per-run results (C order over spec.dims) plus timing, before labelling."""

    train_error: np.ndarray  # (n_runs, n_record)
    test_error: np.ndarray
    best_test_error: np.ndarray
    best_epoch: np.ndarray
    diverged: np.ndarray
    learning_rate_used: np.ndarray
    timings: list = field(default_factory=list)  # per group: dict(label, runs, compile_s, run_s)


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


def execute(plan: Plan, progress=None) -> SweepResult:
    """Run every chunk of a plan; return the flat results."""
    spec = plan.spec
    n_rec = len(spec.record_epochs)
    dtype = np.float64 if spec.train.dtype == "float64" else np.float32
    n = plan.n_runs
    res = SweepResult(
        train_error=np.full((n, n_rec), np.nan, dtype),
        test_error=np.full((n, n_rec), np.nan, dtype),
        best_test_error=np.full(n, np.nan, dtype),
        best_epoch=np.full(n, -1, np.int64),
        diverged=np.zeros(n, np.int8),
        learning_rate_used=np.full(n, np.nan, np.float64),
    )
    cache = _StatsCache(spec, plan.p_values)
    done = 0
    for group in plan.groups:
        t_group = time.perf_counter()
        _timer.durations.clear()
        _timer.active = True
        try:
            for c in range(group.n_chunks):
                idx = group.chunk(c)
                outs = []
                for b in range(0, len(idx), group.batch):
                    inputs = _chunk_inputs(
                        plan, group, idx[b : b + group.batch], cache, res.learning_rate_used
                    )
                    outs.append(_train_chunk(group.config, group.method, inputs))
                out = jax.device_get(outs)
                out = kernel.Outputs(*(np.concatenate(parts) for parts in zip(*out, strict=True)))
                real = min(group.chunk_size, len(group.runs) - c * group.chunk_size)
                sel = idx[:real]
                res.train_error[sel] = out.train_error[:real]
                res.test_error[sel] = out.test_error[:real]
                res.best_test_error[sel] = out.best_test_error[:real]
                res.best_epoch[sel] = out.best_epoch[:real]
                res.diverged[sel] = out.diverged[:real]
                done += real
                if progress is not None:
                    progress(done, n)
        finally:
            _timer.active = False
        res.timings.append(
            dict(
                label=group.label(),
                runs=len(group.runs),
                chunks=group.n_chunks,
                batch=group.batch,
                chunk_size=group.chunk_size,
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
):
    """Run a sweep and return its labelled ``xarray.Dataset`` (DESIGN.md §4)."""
    from .store import build_dataset

    plan = plan_sweep(spec, chunk_size, memory_budget)
    res = execute(plan, progress)
    return build_dataset(plan, res, history=history)
