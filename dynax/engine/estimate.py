"""Predict a sweep's run time on this machine from the kernels' measured rates.

Each compile group trains its first batch (the same runs, batch size and kernel) for a
few epochs and for a few more, each twice: the first call compiles and draws the data,
the second is timed. The two timings separate a batch's fixed cost ``a`` (inputs,
initial weights, host set-up) from its per-epoch cost ``b``; the group then takes about
``compile + data + n_batches · (a + b · epochs)`` seconds. What the
prediction leaves out: the spec's first compilation of a group when the persistent
cache already holds it (then it is faster), part files and the final write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..sim.scope import float64
from ..spec import SweepSpec, parse_spec
from .chunk import run_chunk
from .inputs import stats_cache
from .plan import FAST, Group, Plan, plan_sweep

__all__ = ["GroupEstimate", "estimate_run_time"]

PROBE_EPOCHS = (50, 250)  # the two probes' epoch counts (fewer when the sweep has fewer)


@dataclass
class GroupEstimate:
    label: str
    runs: int
    batches: int
    compile_s: float  # the first probe's compiles and its one-off set-up (data)
    batch_s: float  # predicted seconds per batch at the spec's epochs
    network_epochs_per_s: float

    @property
    def seconds(self) -> float:
        return self.compile_s + self.batches * self.batch_s


def _probe_spec(spec: SweepSpec, epochs: int) -> SweepSpec:
    """The spec with ``epochs`` epochs (its own record rule)."""
    return parse_spec(spec.text, spec.path, [*spec.overrides, f"train.epochs={epochs}"])


def _time_batch(spec: SweepSpec, plan: Plan, gi: int, epochs: int) -> tuple[float, float, float]:
    """Group ``gi``'s first batch trained for ``epochs`` twice: (seconds of the second
    call, compile seconds and the first call's other extra seconds: data and set-up)."""
    g = plan.groups[gi]
    kernel = next((h.method for h in plan.groups if h.method in FAST), "xla")
    probe = plan_sweep(_probe_spec(spec, epochs), devices=plan.devices, kernel=kernel)
    cfg = {p.label(): p.config for p in probe.groups}[g.label()]
    unit = g.batch * plan.devices
    one = Group(g.method, cfg, g.runs[:unit], g.batch, unit)
    probe = Plan(probe.spec, [one], probe.p_values, probe.table, plan.devices, plan.bytes_per_run)
    cache, compiles = stats_cache(probe), []
    t0 = time.perf_counter()
    run_chunk(probe, 0, cache, compiles)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_chunk(probe, 0, cache)
    second = time.perf_counter() - t0
    return second, sum(compiles), max(first - second - sum(compiles), 0.0)


@float64
def estimate_run_time(spec: SweepSpec, plan: Plan) -> list[GroupEstimate]:
    """Per compile group of ``plan``: its predicted run time, from two timed probes."""
    epochs = spec.train.epochs
    out = []
    for gi, g in enumerate(plan.groups):
        e1, e2 = (min(e, epochs) for e in PROBE_EPOCHS)
        t1, compile_s, once = _time_batch(spec, plan, gi, e1)
        t2 = _time_batch(spec, plan, gi, e2)[0] if e2 > e1 else t1
        per_epoch = max(t2 - t1, 0.0) / (e2 - e1) if e2 > e1 else t1 / max(e1, 1)
        batch_s = max(t1 - per_epoch * e1, 0.0) + per_epoch * epochs
        unit = g.batch * plan.devices
        rate = unit * epochs / batch_s if batch_s > 0 else float("inf")
        out.append(
            GroupEstimate(g.label(), len(g.runs), -(-len(g.runs) // unit), compile_s + once, batch_s, rate)
        )
    return out
