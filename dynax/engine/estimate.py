"""Predict a sweep's run time on this machine from the kernels' measured rates.

Each compile group trains its first batch (the same runs, batch size and kernel) for a
few epochs and for more, each three times: the first call compiles and draws the data,
the faster of the other two is timed (the longer probe grows, up to the spec's epochs,
until the two differ by at least a quarter second: a fast kernel's slope is otherwise
lost in a busy machine's noise). The two timings separate a batch's fixed cost ``a`` (inputs,
initial weights, host set-up) from its per-epoch cost ``b``; the probe's chunk is then
written as a part file (twice, the second timed: ``w``), and the group takes about
``compile + n_batches · (a + b · epochs) + n_chunks · w`` seconds. Paid once per sweep:
the first write's extra cost (loading netCDF), and the data, shared by the groups: each
seed's statistics (its draws and, for the closed form and the eigenbasis kernels, one
eigendecomposition per P) and each (seed, P, σ_ε)'s ridge baselines, timed for the first
batch's seeds and keys and scaled to the sweep's counts.
What the prediction leaves out: the spec's first compilation of a group when the
persistent cache already holds it (then it is faster), and the final write.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..sim import trainers
from ..sim.scope import float64
from ..spec import SweepSpec, parse_spec
from ..store.parts import write_part
from .chunk import run_chunk
from .inputs import ridge_baseline, stats_cache
from .plan import Group, Plan, plan_sweep

__all__ = ["DataEstimate", "GroupEstimate", "estimate_run_time"]

PROBE_EPOCHS = (50, 250)  # the two probes' epoch counts (fewer when the sweep has fewer)
MIN_SLOPE_S = 0.25  # the longer probe grows (x4) until it takes this much longer than the first


@dataclass
class GroupEstimate:
    label: str
    runs: int
    batches: int
    compile_s: float  # the first probe's compiles and its other one-off set-up (not the data)
    batch_s: float  # predicted seconds per batch at the spec's epochs
    network_epochs_per_s: float
    chunks: int  # part files written (one per chunk)
    part_s: float  # seconds per part file

    @property
    def seconds(self) -> float:
        return self.compile_s + self.batches * self.batch_s + self.chunks * self.part_s


@dataclass
class DataEstimate:
    """What a sweep pays once whatever its groups: the data (seeds' statistics and ridge
    baselines, each count times its cost measured on the first batch) and the first part
    file's extra cost (loading the netCDF machinery)."""

    seeds: int
    seed_s: float  # seconds per seed's statistics
    ridge_keys: int  # distinct (seed, P, σ_ε): each its ridge baselines (0: no linear teacher)
    ridge_s: float  # seconds per key
    first_write_s: float  # the first part file's seconds beyond the others'

    @property
    def seconds(self) -> float:
        return self.seeds * self.seed_s + self.ridge_keys * self.ridge_s + self.first_write_s


def _ridge_keys(plan: Plan, idx=slice(None)) -> set:
    """The (seed, P, σ_ε) of the runs ``idx`` that get ridge baselines (a linear teacher, white)."""
    if not plan.spec.problem.ridge_baselines:
        return set()
    t = plan.table
    return set(zip(t.seed[idx].tolist(), t.p_index[idx].tolist(), t.noise_std[idx].tolist(), strict=True))


def _probe_spec(spec: SweepSpec, epochs: int) -> SweepSpec:
    """The spec with ``epochs`` epochs (its own record rule)."""
    return parse_spec(spec.text, spec.path, [*spec.overrides, f"train.epochs={epochs}"])


def _time_data(plan: Plan, idx) -> tuple[float, float]:
    """Seconds per seed's statistics and per (seed, P, σ_ε)'s ridge baselines, measured on
    the runs ``idx`` with an empty cache (their compilations already done)."""
    cache = stats_cache(plan)
    seeds = sorted(set(plan.table.seed[idx].tolist()))
    t0 = time.perf_counter()
    for s in seeds:
        cache.get(int(s))
    seed_s = (time.perf_counter() - t0) / len(seeds)
    keys = _ridge_keys(plan, idx)
    if not keys:
        return seed_s, 0.0
    t0 = time.perf_counter()
    ridge_baseline(plan, idx, cache)
    return seed_s, (time.perf_counter() - t0) / len(keys)


def _time_part(plan: Plan, chunk) -> tuple[float, float]:
    """Seconds to write ``chunk`` as a part file: the first write (it loads the netCDF and
    xarray machinery, once per process) and the second."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for k in range(2):
            t0 = time.perf_counter()
            write_part(Path(folder), plan, k, chunk)
            times.append(time.perf_counter() - t0)
    return times[0], times[1]


def _time_batch(
    spec: SweepSpec, plan: Plan, gi: int, epochs: int
) -> tuple[float, float, float, Plan, object]:
    """Group ``gi``'s first batch trained for ``epochs`` three times: (seconds of the faster
    of the last two calls, compile seconds, the first call's other one-off seconds, data
    included, and the probe's plan and chunk)."""
    g = plan.groups[gi]
    kernel = trainers.kernel_of([h.trainer for h in plan.groups])
    probe = plan_sweep(_probe_spec(spec, epochs), devices=plan.devices, kernel=kernel)
    cfg = {p.label(): p.config for p in probe.groups}[g.label()]
    unit = g.batch * plan.devices
    one = Group(g.trainer, cfg, g.runs[:unit], g.batch, unit)
    probe = Plan(probe.spec, [one], probe.p_values, probe.table, plan.devices, plan.bytes_per_run)
    cache, compiles = stats_cache(probe), []
    t0 = time.perf_counter()
    run_chunk(probe, 0, cache, compiles)
    first = time.perf_counter() - t0
    second = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        chunk = run_chunk(probe, 0, cache)
        second = min(second, time.perf_counter() - t0)
    return second, sum(compiles), max(first - second - sum(compiles), 0.0), probe, chunk


@float64
def estimate_run_time(spec: SweepSpec, plan: Plan) -> tuple[list[GroupEstimate], DataEstimate]:
    """Per compile group of ``plan``: its predicted run time, from two timed probes; and
    what the sweep pays once (its data and netCDF's first load), timed on the first group."""
    epochs = spec.train.epochs
    out, data = [], None
    for gi, g in enumerate(plan.groups):
        e1, e2 = (min(e, epochs) for e in PROBE_EPOCHS)
        t1, compile_s, extra, probe, chunk = _time_batch(spec, plan, gi, e1)
        first_write_s, part_s = _time_part(probe, chunk)
        idx = probe.groups[0].runs
        if data is None:
            seed_s, ridge_s = _time_data(plan, idx)
            seeds = len(set(plan.table.seed.tolist()))
            data = DataEstimate(
                seeds, seed_s, len(_ridge_keys(plan)), ridge_s, max(first_write_s - part_s, 0.0)
            )
        # the probe computed its batch's data itself: the sweep's data line counts them
        probe_data = (
            len(set(plan.table.seed[idx].tolist())) * data.seed_s + len(_ridge_keys(plan, idx)) * data.ridge_s
        )
        once = max(extra - probe_data, 0.0)
        t2 = _time_batch(spec, plan, gi, e2)[0] if e2 > e1 else t1
        while e2 < epochs and t2 - t1 < MIN_SLOPE_S:
            e2 = min(epochs, 4 * e2)
            t2 = _time_batch(spec, plan, gi, e2)[0]
        per_epoch = max(t2 - t1, 0.0) / (e2 - e1) if e2 > e1 else t1 / max(e1, 1)
        batch_s = max(t1 - per_epoch * e1, 0.0) + per_epoch * epochs
        unit = g.batch * plan.devices
        rate = unit * epochs / batch_s if batch_s > 0 else float("inf")
        batches = -(-len(g.runs) // unit)
        out.append(
            GroupEstimate(
                g.label(), len(g.runs), batches, compile_s + once, batch_s, rate, g.n_chunks, part_s
            )
        )
    return out, data
