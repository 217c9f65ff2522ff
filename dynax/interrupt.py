"""SIGTERM and SIGINT end a dynax command within seconds, whatever it is doing.

Python runs a signal's handler only between bytecodes of the main thread: while that thread
is inside native code (an XLA compile, a numba kernel, a LAPACK call, a large allocation),
a signal waits until the call returns, which can take minutes. :func:`install` therefore
(1) makes SIGTERM raise ``KeyboardInterrupt`` like Ctrl-C (a scheduler's time limit,
``kill``, ``docker stop``), so the usual path runs: finished chunks kept, the lock released,
exit 130; and (2) starts a watchdog thread that learns of either signal the moment it
arrives (``signal.set_wakeup_fd``: written by the C-level handler, not by Python code) and,
if the process is still alive ``grace`` seconds later, runs the registered cleanups
(temporary files of writes in progress) and exits with status 130 itself. What is lost is
the chunk in progress; finished chunks are in their part files (``--resume`` reuses them)
and the output lock is released by the kernel when the process ends. The long native calls
dynax makes release the GIL (the numba kernels are ``nogil``), so the watchdog can run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading

__all__ = ["GRACE", "cleanup", "install", "stage"]

GRACE = 10.0  # seconds a command has, after a signal, to end by itself (DYNAX_SIGNAL_GRACE)
STAGES = ("planning", "allocation", "compile", "training", "writing")
_cleanups: dict[int, object] = {}  # id -> a function to call before a hard exit


@contextlib.contextmanager
def cleanup(fn):
    """Call ``fn()`` if the watchdog ends the process during the block (e.g. remove a
    temporary file being written)."""
    key = id(fn)
    _cleanups[key] = fn
    try:
        yield
    finally:
        _cleanups.pop(key, None)


def stage(name: str) -> None:
    """Mark the start of a stage of a run (one of :data:`STAGES`). For the tests of this
    module only: with ``DYNAX_HANG_AT=name`` the process blocks there inside native code
    that holds no Python frame to interrupt (as a long compile or kernel does), so a test can
    signal it at that stage and time its end."""
    if os.environ.get("DYNAX_HANG_AT") != name:
        return
    import numba

    @numba.njit(nogil=True)
    def spin(n):  # a loop of native code: minutes, GIL released
        x = 0.0
        for i in range(n):
            x = x * 0.999999 + i % 7
        return x

    spin(10)  # compiled before the message: the test signals a process already inside the loop
    print(f"dynax: at {name}, blocking in native code (DYNAX_HANG_AT)", file=sys.stderr, flush=True)
    spin(1 << 40)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _watch(sock: socket.socket, grace: float, stream, done: threading.Event) -> None:
    """Wait for SIGTERM or SIGINT, then give the main thread ``grace`` seconds to end (or
    the command to finish: ``done``)."""
    wanted = {int(signal.SIGTERM), int(signal.SIGINT)}
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            return
        if not data:  # uninstalled
            return
        if wanted & set(data):
            break
    if done.wait(grace):
        return
    print(
        f"dynax: still busy {grace:g} s after the signal (inside a compile or a kernel, which "
        "Python cannot interrupt): exiting now; finished chunks, if any, are kept in their part "
        "files (--resume reuses them)",
        file=stream,
        flush=True,
    )
    for fn in list(_cleanups.values()):
        with contextlib.suppress(Exception):
            fn()
    os._exit(130)


def install(grace: float | None = None, stream=None):
    """SIGTERM as Ctrl-C and the watchdog, for the main thread of a dynax command; ``grace``
    default: ``DYNAX_SIGNAL_GRACE`` or :data:`GRACE`. Returns a function that restores the
    previous handlers (None off the main thread: nothing done)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if grace is None:
        grace = float(os.environ.get("DYNAX_SIGNAL_GRACE", GRACE))
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(reader, grace, stream or sys.stderr, done), name="dynax-watchdog", daemon=True
    )
    watcher.start()

    def restore() -> None:
        done.set()
        signal.signal(signal.SIGTERM, previous)
        signal.set_wakeup_fd(previous_fd)
        writer.close()  # the watchdog's recv sees the end and returns
        watcher.join(timeout=1.0)
        reader.close()

    return restore
