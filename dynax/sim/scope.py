"""JAX settings dynax needs, scoped to dynax's own calls.

``import dynax`` changes no global JAX setting. dynax draws its data and initial weights
in float64 (so float32 and float64 runs share them) and passes float64 and int64 host
arrays to its kernels, so every dynax entry point that runs JAX code runs inside
:func:`x64` (``jax.enable_x64``, thread-local, restored on exit). A kernel's float32
arithmetic names its dtype, so float32 sweeps stay float32.

:func:`guard_cpu_dispatch` turns off asynchronous dispatch on the CPU backend, a guard
against a recorded XLA hang in device-to-host transfers of vmapped programs
(jax-ml/jax#25861). It is read when the CPU client is created, so it cannot be scoped:
dynax's own processes (the CLI, Dask workers, the tests) call it first thing; a notebook
that hits the hang can call it before its first JAX computation.

:func:`enable_compilation_cache` keeps compiled programs on disk (JAX's persistent
compilation cache), so a second run of the same shapes does not compile again. The CLI
switches it on; from Python it is opt-in. The folder is per user and machine type:
``$DYNAX_COMPILATION_CACHE`` if set (``off`` disables it), else
``$XDG_CACHE_HOME/dynax/jax/<platform>-<device kind>`` (``~/.cache`` by default).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path

import jax

__all__ = [
    "compilation_cache_dir",
    "enable_compilation_cache",
    "float64",
    "guard_cpu_dispatch",
    "unbatched",
    "x64",
]


def unbatched(fn):
    """``fn`` (a QR, SVD or eigendecomposition) that a ``vmap`` runs one matrix at a time.

    jaxlib 0.10's CPU LAPACK kernels split a batched call into tasks on XLA's intra-op pool
    and block their own pool thread until the tasks finish: when as many batched calls run
    at once as the pool has threads (two independent layers' QRs on 2 cores), no thread is
    left to run the tasks and the program hangs. One matrix per call has no tasks to wait
    for. Each matrix is factorised by the same LAPACK routine either way, so the results are
    the same; the calls are tiny (one per run and layer), so the loop costs nothing."""

    def arrays_only(*args):  # its arguments are the arrays (fn's options stay bound inside it)
        return fn(*args)

    return jax.custom_batching.sequential_vmap(arrays_only)


@contextlib.contextmanager
def x64():
    """Run the block with ``jax_enable_x64`` on (restored afterwards)."""
    with jax.enable_x64(True):
        yield


def float64(fn):
    """Make ``fn`` run in float64 mode: called eagerly with x64 off, it runs inside
    :func:`x64`; traced by a ``jit`` that began with x64 off it refuses (switching x64 in
    the middle of a trace mixes 32- and 64-bit types), naming the fix."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if jax.config.jax_enable_x64:
            return fn(*args, **kwargs)
        if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves((args, kwargs))):
            raise RuntimeError(
                f"{fn.__module__}.{fn.__qualname__} computes in float64, but it is being traced with "
                "jax_enable_x64 off: trace it inside dynax.sim.scope.x64() (with x64(): jax.jit(...)(...))"
            )
        with x64():
            return fn(*args, **kwargs)

    return wrapper


def guard_cpu_dispatch() -> None:
    """Run CPU computations inline (no asynchronous dispatch): see the module docstring."""
    jax.config.update("jax_cpu_enable_async_dispatch", False)


def compilation_cache_dir() -> Path | None:
    """Where compiled programs are kept for this user and machine type (None: switched off)."""
    env = os.environ.get("DYNAX_COMPILATION_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env).expanduser()
    dev = jax.devices()[0]
    kind = re.sub(r"[^a-z0-9_.-]+", "-", f"{dev.platform}-{dev.device_kind}".lower()).strip("-")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dynax" / "jax" / kind


def enable_compilation_cache(path: str | Path | None = None) -> Path | None:
    """Switch on JAX's persistent compilation cache in ``path`` (default
    :func:`compilation_cache_dir`); every program is cached, however fast it compiled.
    Returns the folder, or None when switched off (``DYNAX_COMPILATION_CACHE=off``)."""
    folder = Path(path) if path is not None else compilation_cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder
