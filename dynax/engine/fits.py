"""Whether a plan can run on this machine, decided before anything is allocated: one run of
each compile group must fit the device's memory (host RAM on a CPU), and the result, which
the process holds in host memory, must fit the host's. The numbers are the plan's memory
model, the ones `dynax validate` prints."""

from __future__ import annotations

import os

import jax

from ..spec import SpecError

__all__ = ["check_fits", "device_memory", "host_memory"]


def host_memory() -> int:
    """Bytes of the host's RAM; 0 if unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def device_memory() -> int:
    """Bytes of memory of the first device (host RAM on CPU); 0 if unknown."""
    dev = jax.devices()[0]
    if dev.platform != "cpu":
        stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
        return int(stats.get("bytes_limit", 0)) if stats else 0
    return host_memory()


def _size(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n < 2**50 else f"{n / 2**50:.3g} PiB"


def check_fits(plan, device: int | None = None, host: int | None = None) -> None:
    """Refuse (SpecError) a plan one of whose runs alone needs more than the device's memory,
    or whose result needs more than the host's; memory unknown (0): no check."""
    device = device_memory() if device is None else device
    host = host_memory() if host is None else host
    spec = plan.spec
    fix = "lower problem.n_in or model.width, or record fewer epochs (train.record)"
    force = "; --no-memory-check (check_memory=False in Python) runs it anyway"
    for gi, g in enumerate(plan.groups):
        need = plan.alone_bytes(gi)
        if device and need > device:
            raise SpecError(
                f"{spec.path}: one run of `{g.label()}` needs ~{_size(need)}, more than this device's "
                f"{_size(device)} ({jax.devices()[0].device_kind}): {fix}{force}"
            )
    need = plan.output_bytes()
    if host and need > host:
        raise SpecError(
            f"{spec.path}: the result of {spec.n_runs} runs needs ~{_size(need)} of host memory, more than "
            f"this machine's {_size(host)}: fewer runs (a smaller grid or fewer seeds), fewer recorded "
            f"epochs (train.record), or shards (--shard) merged on a larger machine{force}"
        )
