"""Nothing overwritten, nothing left half-done: the checks every writer of a result runs
before it computes, the lock that keeps two processes off one output, and the clean-up
of a part folder nothing was written to.

* :func:`check_target`: an existing output is refused unless ``force`` (the file is not
  touched); a directory where a file belongs is refused before any training.
* :class:`OutputLock`: ``OUT.lock``, an exclusive ``flock`` holding the writer's host, pid
  and start time; a second writer of the same output is refused naming the first; a lock
  whose process ended (even by SIGKILL) is released by the kernel and taken over.
* :func:`finished_result`: whether an output already holds the finished result of a spec
  (``--resume`` on it has nothing to do).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import socket
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
            f"{path}: the {what} exists and would be replaced{hint}; add --force (in Python: force=True) "
            f"to replace it, or choose another path (-o; in Python: the output argument)"
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


class OutputLock:
    """``OUT.lock`` for the lifetime of a ``with`` block: an exclusive ``flock`` on the file,
    which holds the writer's host, pid and start time. The kernel releases the lock when
    its process ends however it ends, so a lock left by a killed run is simply taken over
    (no pid guessing); the file is removed on exit. (``flock`` needs a local file system or
    one that supports it: NFS v4 and Lustre do.)"""

    def __init__(self, output: Path):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".lock")
        self.mine = {"host": socket.gethostname(), "pid": os.getpid()}
        self.fd = None

    def __enter__(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise SpecError(
                    f"{self.output}: another dynax is writing this output (pid {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')}, since {holder.get('started', '?')}; lock {self.path}); "
                    f"wait for it to finish"
                ) from None
            try:  # the file locked must still be the one at the path (a finishing writer unlinks it)
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({**self.mine, "started": started}).encode())
            self.fd = fd
            return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()  # still holding the lock: nobody else can be using this file
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}
