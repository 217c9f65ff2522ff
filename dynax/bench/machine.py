"""This machine: its peaks (a float32 matmul, a copy), its caches, its name, and the peak
resident memory of this process."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp


def rss_reset() -> None:
    try:  # Linux: reset the peak resident set size ("5" to clear_refs)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_bytes() -> int:
    """Peak resident memory of this process's own address space (VmHWM; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine_peaks(quick: bool) -> dict:
    """This machine's float32 matmul FLOP/s and memory copy bandwidth, measured now. The
    matmul runs at "highest" precision: true float32 arithmetic, the ceiling of kernels that
    do not use tensor cores (on GPUs the default precision may be TF32)."""
    n = 1024 if quick else 2048
    a = jnp.ones((n, n), jnp.float32)
    mm = jax.jit(lambda x: jnp.matmul(x, x, precision="highest"))
    mm(a).block_until_ready()
    t = min(_timed(lambda: mm(a).block_until_ready()) for _ in range(3))
    m = (32 if quick else 64) << 20
    x = jnp.ones(m // 4, jnp.float32)
    cp = jax.jit(lambda v: v * 1.0001)
    cp(x).block_until_ready()
    tc = min(_timed(lambda: cp(x).block_until_ready()) for _ in range(3))
    return {
        "matmul_flops_per_s": 2 * n**3 / t,
        "copy_bytes_per_s": 2 * m / tc,
        "matmul_n": n,
        "copy_bytes": m,
    }


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def host() -> dict:
    dev = jax.devices()[0]
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kind = dev.device_kind if dev.platform != "cpu" else f"cpu-{os.cpu_count()}core"
    return {
        "machine": f"{platform.node()}: {cpu}, {os.cpu_count()} cores",
        "device_kind": dev.device_kind,
        "platform": dev.platform,
        "host_kind": "".join(c if c.isalnum() or c in "-_" else "-" for c in kind).lower(),
    }


# --------------------------------------------------------------------------- costs


def cache_sizes() -> dict:
    """This CPU's data-cache sizes in bytes (Linux sysfs; empty elsewhere)."""
    out = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind in ("Data", "Unified"):
            scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1], 1)
            out[f"L{level}"] = int(size.rstrip("KM")) * scale
    return out
