"""SIGTERM and SIGINT end `dynax run` within seconds at every stage (dynax.interrupt), even
inside native code that Python cannot interrupt (a compile, a kernel), and lose nothing
already computed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dynax.interrupt import STAGES

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "sweeps" / "quickstart.toml")
GRACE = 2.0  # DYNAX_SIGNAL_GRACE in these tests (10 s by default)
SMALL = ["--set", "grid.depth=[2]", "--set", "grid.seed={count=2}", "--set", "train.epochs=100"]


# `dynax ...` with Ctrl-C as a terminal gives it, whatever started these tests: a shell runs a
# background job with SIGINT ignored and a child inherits that (then no SIGINT reaches dynax).
# Set in the child's Python, not by a preexec_fn (which forks this multithreaded process).
INTERRUPTIBLE = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['dynax', *sys.argv[1:]]; runpy.run_module('dynax.cli', run_name='__main__')"
)


def _start(out: Path, env_extra: dict, *more) -> subprocess.Popen:
    env = {**os.environ, "DYNAX_SIGNAL_GRACE": str(GRACE), **env_extra}
    cmd = [sys.executable, "-c", INTERRUPTIBLE, "run", QUICK, "-o", str(out), *more]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 120.0) -> list[str]:
    """The stderr lines up to the first containing ``text`` (the rest is read on, unseen)."""
    lines, found = [], threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if text in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        proc.kill()
        pytest.fail(f"never reached {text!r}: {''.join(lines)}")
    return lines


def _signal_and_time(proc: subprocess.Popen, sig) -> tuple[int, float]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not end within 60 s of the signal")
    return rc, time.monotonic() - t0


# training in the default run (~5 s); planning, allocation, compile and writing (which
# trains the whole sweep first and then resumes it, ~30 s) behind slow
@pytest.mark.parametrize(
    "stage", [s if s == "training" else pytest.param(s, marks=pytest.mark.slow) for s in STAGES]
)
def test_a_signal_ends_a_run_stuck_in_native_code_at_every_stage(tmp_path, stage):
    """The run blocks inside native code at ``stage`` (DYNAX_HANG_AT: a loop that holds no
    Python frame to interrupt, as a long compile or kernel); the signal ends it within the
    grace period, exit 130, with no temporary file and no empty parts folder left, and the
    output can be written again at once."""
    out = tmp_path / "r.nc"
    sig = signal.SIGINT if stage in ("allocation", "writing") else signal.SIGTERM
    proc = _start(out, {"DYNAX_HANG_AT": stage}, "-q", *SMALL)
    _wait_for(proc, "blocking in native code")
    rc, seconds = _signal_and_time(proc, sig)
    assert rc == 130
    assert seconds < GRACE + 5.0, f"{stage}: ended {seconds:.1f} s after the signal"
    assert not out.exists()
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file of a write was left"
    parts = tmp_path / "r.nc.parts"
    chunks = sorted(parts.glob("chunk-*.nc")) if parts.exists() else []
    if stage == "writing":  # every chunk finished before the final write: kept, and reused
        assert chunks
        again = subprocess.run(
            [sys.executable, "-m", "dynax.cli", "run", QUICK, "-o", str(out), "--resume", "-q", *SMALL],
            capture_output=True,
            text=True,
        )
        assert again.returncode == 0, again.stderr
        assert out.exists() and not parts.exists()
    else:
        assert not parts.exists(), "an empty parts folder was left"


@pytest.mark.slow  # ~12 s; its sibling: the training stage above
def test_a_signal_ends_a_long_kernel_within_seconds(tmp_path):
    """No hook: the fused kernel trains for minutes (nogil: the watchdog runs beside it);
    SIGTERM a few seconds into it ends the run within the grace period (without the
    watchdog it ran on for minutes: checked with DYNAX_SIGNAL_GRACE=1000, alive 20 s later)."""
    out = tmp_path / "long.nc"
    more = ["--set", "grid.depth=[2]", "--set", "grid.seed={count=2}", "--set", "train.epochs=3000000"]
    proc = _start(out, {}, *more)
    _wait_for(proc, "runs ->")  # planned; the kernel starts after the statistics and compile
    time.sleep(8.0)
    rc, seconds = _signal_and_time(proc, signal.SIGTERM)
    assert rc == 130
    assert seconds < GRACE + 5.0, f"ended {seconds:.1f} s after the signal"
    assert not out.exists()
