"""Chunks as Dask tasks: ``dynax run SPEC --scheduler local:N`` or ``tcp://HOST:PORT``.

Each task trains one chunk in a worker process and writes its part file (the workers
and the client must share the parts folder: one machine, or a shared file system); the
client reads the parts back and merges them. Workers rebuild the plan from the spec and
the recorded layout, so every batch is the one a single process would train.

Dask is an optional extra: ``pip install "dynax[distributed]"``.
"""

from __future__ import annotations

from pathlib import Path

from ..sim.scope import enable_compilation_cache, float64, guard_cpu_dispatch
from ..spec import SpecError, parse_spec
from ..store.parts import write_part
from .chunk import run_chunk
from .inputs import StatsCache, stats_cache
from .plan import plan_sweep

__all__ = ["run_on_dask", "worker_chunk"]


CONNECT_TIMEOUT = 20  # seconds to reach a scheduler address


def _workers(scheduler: str) -> int | None:
    """The worker count of ``local:N`` (None for an address); a malformed value is an error,
    said before Dask is imported (so it reads the same with or without Dask installed)."""
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            raise SpecError(f"--scheduler {scheduler!r}: expected local:N with N workers") from None
        if n < 1:
            raise SpecError(f"--scheduler {scheduler!r}: N must be ≥ 1")
        return n
    if not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise SpecError(
            f"--scheduler {scheduler!r}: expected local:N or a scheduler address like tcp://host:8786"
        )
    return None


def _client(scheduler: str):
    n = _workers(scheduler)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SpecError(
            f"--scheduler {scheduler}: Dask distributed is not installed; "
            'install it with: pip install "dynax[distributed]"'
        ) from None
    if n is not None:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError) as e:
        raise SpecError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there within {CONNECT_TIMEOUT} s ({e}); "
            "start one (dask scheduler) or check the address"
        ) from None


def run_on_dask(plan, chunks, parts: Path, scheduler: str):
    """Submit ``chunks`` (global chunk ids) as tasks; yield each id as its part is written."""
    client, cluster = _client(scheduler)  # first: a missing Dask is a clear error
    from dask.distributed import as_completed

    spec = plan.spec
    try:
        futures = [
            client.submit(
                worker_chunk,
                spec.text,
                spec.path,
                list(spec.overrides),
                plan.layout(),
                plan.devices,
                k,
                str(Path(parts).resolve()),
                key=f"dynax-{spec.sha256[:12]}-chunk-{k}",
                pure=False,
            )
            for k in chunks
        ]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@float64
def worker_chunk(
    spec_text: str, spec_path: str, overrides: list[str], layout: dict, devices: int, k: int, parts: str
):
    """Run one chunk in a worker process and write its part file. The fused kernel uses as
    many threads as the worker has (a LocalCluster's workers have one each)."""
    guard_cpu_dispatch()
    enable_compilation_cache()
    _fit_numba_threads()
    spec = parse_spec(spec_text, spec_path, overrides)
    plan = plan_sweep(spec, devices=devices, layout=layout)
    cache = _worker_cache(spec.sha256, plan)
    write_part(Path(parts), plan, k, run_chunk(plan, k, cache))
    return k


def _fit_numba_threads() -> None:
    import numba
    from dask.distributed import get_worker

    try:
        threads = get_worker().state.nthreads
    except (ValueError, AttributeError):  # not inside a worker
        return
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


_worker_caches: dict[str, StatsCache] = {}


def _worker_cache(key: str, plan) -> StatsCache:
    """One sweep's statistics per worker process, kept across its chunks."""
    if key not in _worker_caches:
        _worker_caches.clear()
        _worker_caches[key] = stats_cache(plan)
    return _worker_caches[key]
