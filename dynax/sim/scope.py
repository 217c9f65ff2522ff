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
"""

from __future__ import annotations

import contextlib
import functools

import jax

__all__ = ["float64", "guard_cpu_dispatch", "x64"]


@contextlib.contextmanager
def x64():
    """Run the block with ``jax_enable_x64`` on (restored afterwards)."""
    with jax.enable_x64(True):
        yield


def float64(fn):
    """Decorate a host-level function so that it runs inside :func:`x64`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with x64():
            return fn(*args, **kwargs)

    return wrapper


def guard_cpu_dispatch() -> None:
    """Run CPU computations inline (no asynchronous dispatch): see the module docstring."""
    jax.config.update("jax_cpu_enable_async_dispatch", False)
