"""Chunks as Dask tasks: ``dynax run SPEC --scheduler local:N`` or ``tcp://HOST:PORT``.

Each task trains one chunk in a worker process and writes its part file (the workers
and the client must share the parts folder: one machine, or a shared file system); the
client reads the parts back and merges them. Workers rebuild the plan from the spec and
the recorded layout, so every batch is the one a single process would train.

Dask is an optional extra: ``pip install "dynax[distributed]"``.
"""

from __future__ import annotations

from pathlib import Path

from .spec import SpecError

__all__ = ["run_on_dask"]


def _client(scheduler: str):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SpecError(
            f"--scheduler {scheduler}: Dask distributed is not installed; "
            'install it with: pip install "dynax[distributed]"'
        ) from None
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler.split(":", 1)[1])
        except ValueError:
            raise SpecError(f"--scheduler {scheduler!r}: expected local:N with N workers") from None
        if n < 1:
            raise SpecError(f"--scheduler {scheduler!r}: N must be ≥ 1")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    if not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise SpecError(
            f"--scheduler {scheduler!r}: expected local:N or a scheduler address like tcp://host:8786"
        )
    return Client(scheduler), None


def run_on_dask(plan, chunks, parts: Path, scheduler: str):
    """Submit ``chunks`` (global chunk ids) as tasks; yield each id as its part is written."""
    from .engine import worker_chunk

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
