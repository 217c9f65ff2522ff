"""The one cache of compiled programs: every trainer's executables (the vmapped trainers of
XLA, the Pallas calls, the batched initial weights) are compiled ahead of time here, kept
under (what they are, the input shapes), and the compile is timed where it happens.

Numba's kernel is not an XLA program: it has its own cache (on disk) and reports its
compile through :func:`dynax.sim.fused.compile_seconds`.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import jax
import numpy as np

from .. import interrupt

__all__ = ["MAX_EXECUTABLES", "clear", "compile_total", "compiled", "vmapped"]

MAX_EXECUTABLES = 64  # the least recently used goes beyond this many

_cache: OrderedDict = OrderedDict()
_total = [0.0]  # seconds spent in compiled() compiling, in this process


def compiled(key: tuple, build, *args) -> tuple:
    """The executable of the jitted function ``build()`` for arguments like ``args`` (kept
    under ``key`` and their shapes and dtypes), and the seconds spent compiling it now (0.0
    when it was kept)."""
    key = (*key, tuple((np.shape(a), np.asarray(a).dtype.str) for a in jax.tree.leaves(args)))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key], 0.0
    t0 = time.perf_counter()
    interrupt.stage("compile")
    exe = build().lower(*args).compile()
    seconds = time.perf_counter() - t0
    _total[0] += seconds
    _cache[key] = exe
    while len(_cache) > MAX_EXECUTABLES:
        _cache.popitem(last=False)
    return exe, seconds


def compile_total() -> float:
    """Seconds this process has spent compiling in :func:`compiled` (a caller that cannot
    get the seconds back from a call, like a cache of data, takes the difference)."""
    return _total[0]


def clear() -> None:
    """Forget every kept executable (tests that count compilations)."""
    _cache.clear()


def vmapped(one, n_devices: int = 1):
    """``one`` (a function of one run's inputs) vmapped over a leading run axis and jitted;
    with ``n_devices`` > 1 the run axis of every array is split over that many local devices.
    Runs never interact, so the compiled program has no cross-device communication."""

    def train_chunk(inputs):
        return jax.vmap(one)(inputs)

    if n_devices == 1:
        return jax.jit(train_chunk)
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.asarray(jax.local_devices()[:n_devices]), ("runs",))
    runs = NamedSharding(mesh, PartitionSpec("runs"))
    return jax.jit(train_chunk, in_shardings=runs, out_shardings=runs)
