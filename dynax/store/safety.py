"""Nothing overwritten, nothing left half-done: the checks every writer of a result runs
before it computes, the lock that keeps two processes off one output, and the clean-up
of a part folder nothing was written to.

* :func:`check_target`: an existing output is refused unless ``force`` (the file is not
  touched); a directory where a file belongs is refused before any training.
* :class:`OutputLock`: ``OUT.lock`` holds the writer's host, pid and start time; a second
  writer of the same output is refused naming the first; a lock whose process is gone
  (same host, no such pid) is stale and taken over.
* :func:`finished_result`: whether an output already holds the finished result of a spec
  (``--resume`` on it has nothing to do).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import socket
import time
from pathlib import Path

import netCDF4

from ..spec import SpecError

__all__ = ["OutputLock", "check_target", "discard_empty_parts", "finished_result"]


def check_target(path: Path, force: bool, *, what: str = "output", hint: str = "") -> None:
    """Refuse a directory, and an existing file unless ``force`` (exit 2 in the CLI)."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a directory; give the {what} as a file path, e.g. {path / 'result.nc'}")
    if path.exists() and not force:
        raise SpecError(
            f"{path}: the {what} exists and would be replaced{hint}; add --force to replace it, "
            f"or choose another path with -o"
        )


def result_attrs(path: Path) -> tuple[dict, set]:
    """The global attributes and variable names of a netCDF file (empty if unreadable)."""
    try:
        with netCDF4.Dataset(path) as nc:
            return {k: nc.getncattr(k) for k in nc.ncattrs()}, set(nc.variables)
    except OSError:
        return {}, set()


def finished_result(path: Path, spec_sha256: str) -> bool:
    """Whether ``path`` holds the complete result (not a shard) of the spec with this hash."""
    attrs, names = result_attrs(path)
    return attrs.get("spec_sha256") == spec_sha256 and "present" not in names


def discard_empty_parts(parts: Path, existed: bool) -> None:
    """Remove a part folder this process created if no chunk was written to it."""
    if not existed and parts.is_dir() and not any(parts.glob("chunk-*.nc")):
        shutil.rmtree(parts, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class OutputLock:
    """``OUT.lock`` for the lifetime of a ``with`` block (created atomically, removed on exit)."""

    def __init__(self, output: Path):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".lock")
        self.mine = {"host": socket.gethostname(), "pid": os.getpid()}

    def __enter__(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # removed as stale: take it
                raise SpecError(
                    f"{self.output}: another dynax is writing this output (pid {holder.get('pid')} on "
                    f"{holder.get('host')}, since {holder.get('started', '?')}; lock {self.path}); wait for "
                    f"it to finish, or remove {self.path} if that process is gone"
                ) from None
            with os.fdopen(fd, "w") as f:
                started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                json.dump({**self.mine, "started": started}, f)
            return self
        raise SpecError(f"{self.path}: could not take the lock of {self.output}")

    def _holder(self) -> dict | None:
        """The holder of an existing lock; None after removing a stale one."""
        try:
            holder = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            holder = {}
        if not holder:  # being written this instant, or left empty by a crash long ago
            with contextlib.suppress(OSError):
                if time.time() - self.path.stat().st_mtime < 5:
                    return {"pid": "?", "host": "?"}
        stale = holder.get("host") == self.mine["host"] and not _alive(int(holder.get("pid", -1)))
        if stale or not holder:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return None
        return holder

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text()).get("pid") == self.mine["pid"]:
                self.path.unlink()
