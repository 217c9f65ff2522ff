"""Execute a plan: its chunks in this process (one or several local devices) or as Dask
tasks, each finished chunk kept in a part file when asked, into a :class:`FlatResult`."""

from __future__ import annotations

import time
from pathlib import Path

from .. import interrupt
from ..sim.scope import float64
from ..spec import SpecError, SweepSpec
from ..store import FlatResult, build_dataset
from ..store.parts import part_path, prepare_parts, read_part, write_part
from .chunk import run_chunk
from .distributed import run_on_dask
from .fits import check_fits
from .inputs import stats_cache
from .plan import Plan, plan_sweep

__all__ = ["execute", "parse_shard", "run_sweep"]


def _reuse_parts(plan: Plan, res: FlatResult, todo: list[int], parts: Path) -> int:
    """Take the valid part files of chunks in ``todo`` (removed from it); runs reused."""
    done = 0
    for k in list(todo):
        found = read_part(parts, plan, k)
        if found is not None:
            res.put(found)
            res.reused += 1
            done += len(found.runs)
            todo.remove(k)
    return done


def _run_local(plan: Plan, res: FlatResult, todo, parts, progress, done: int, total: int) -> None:
    """Train the chunks ``todo`` here, group by group, timing each group and its compiles."""
    cache = stats_cache(plan)
    by_group: dict[int, list[int]] = {}
    for k in todo:
        by_group.setdefault(plan.chunks[k][0], []).append(k)
    for gi, ks in by_group.items():
        t_group = time.perf_counter()
        compiles: list[float] = []
        retrained: list[tuple[int, float]] = []
        for k in ks:
            ran = [0]

            def batch_done(n, ran=ran, before=done):
                ran[0] += n
                if progress is not None and n and before + ran[0] < total:
                    progress(before + ran[0], total)

            c = run_chunk(plan, k, cache, compiles, batch_done, retrained)
            if parts is not None:
                write_part(parts, plan, k, c)
            res.put(c)
            done += len(c.runs)
            if progress is not None:
                progress(done, total)
        g = plan.groups[gi]
        res.timings.append(
            dict(
                label=g.label(),
                runs=sum(g.n_real(plan.chunks[k][1]) for k in ks),
                batch=g.batch,
                chunk_size=g.chunk_size,
                compiles=len(compiles),
                compile_s=float(sum(compiles)),
                retrained=sum(n for n, _ in retrained),  # trainings again at a halved rate
                retrain_s=float(sum(s for _, s in retrained)),
                wall_s=time.perf_counter() - t_group,
            )
        )


@float64
def execute(
    plan: Plan,
    progress=None,
    parts: str | Path | None = None,
    resume: bool = False,
    shard: tuple[int, int] = (0, 1),
    scheduler: str | None = None,
    check_memory: bool = True,
) -> FlatResult:
    """Run the chunks of a plan, or of its shard ``shard`` = (i, n) (:meth:`Plan.shard`: the
    i-th of n slices of the runs).

    Args:
        check_memory: refuse, before anything is allocated, a plan whose run or result
            cannot fit this machine (:func:`dynax.engine.fits.check_fits`).
        progress: called as ``progress(runs_done, runs_total)`` after each chunk.
        parts: a folder for part files (one per finished chunk); with ``resume``,
            valid parts found there are reused instead of recomputed.
        scheduler: ``"local:N"`` or a Dask scheduler address: chunks run as Dask tasks,
            each worker writing its part files (``parts`` is then required).
    """
    if check_memory:
        check_fits(plan)
    plan = plan.shard(*shard)
    todo = list(range(len(plan.chunks)))
    interrupt.stage("allocation")
    res = FlatResult.empty(plan.spec)
    total = sum(plan.groups[plan.chunks[k][0]].n_real(plan.chunks[k][1]) for k in todo)
    done = 0
    if parts is not None:
        parts = Path(parts)
        prepare_parts(parts, plan, resume)
        done = _reuse_parts(plan, res, todo, parts) if resume else 0
        if progress is not None and done:
            progress(done, total)
    if scheduler is None:
        _run_local(plan, res, todo, parts, progress, done, total)
        return res
    if parts is None:
        raise ValueError("Dask execution writes part files: give parts=")
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


def run_sweep(
    spec: SweepSpec,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    progress=None,
    history: str = "",
    devices: int = 1,
):
    """Run a sweep in this process and return its labelled ``xarray.Dataset`` (docs/design.md §4)."""
    plan = plan_sweep(spec, chunk_size, memory_budget, devices)
    res = execute(plan, progress)
    return build_dataset(plan, res, history=history)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` with 0 ≤ I < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise SpecError(f"--shard {text!r}: expected I/N with integers, e.g. 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise SpecError(f"--shard {text!r}: need 0 ≤ I < N (I is 0-based)")
    return i, n
