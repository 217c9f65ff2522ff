"""What the command line prints about a plan and a run (sizes, the predicted run time, the
run's summary, why it stopped early): formatting only, the numbers come from the layers below."""

from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = [
    "interrupted",
    "mib",
    "out_of_device_memory",
    "print_estimate",
    "run_failed",
    "run_summary",
]


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else time.strftime("%H:%M:%S", time.gmtime(s))


def print_estimate(spec, plan) -> None:
    """The run time predicted from each kernel's rate measured here (dynax.engine.estimate)."""
    import jax

    from .engine.estimate import estimate_run_time

    est, data = estimate_run_time(spec, plan)
    total = data.seconds + sum(e.seconds for e in est)
    print(f"time        ~{_seconds(total)} on this machine ({jax.default_backend()}, one process):")
    ridge = (
        f" + {data.ridge_keys} (seed, P, noise) ridge baselines x {data.ridge_s:.3g} s"
        if data.ridge_keys
        else ""
    )
    print(
        f"  {'data and first write, once':45s} ~{_seconds(data.seconds):>9s}  ({data.seeds} seed(s) x "
        f"{data.seed_s:.3g} s{ridge} + {data.first_write_s:.2g} s loading netCDF)"
    )
    for e in est:
        print(
            f"  {e.label:45s} ~{_seconds(e.seconds):>9s}  (compile and set-up {e.compile_s:.1f} s + "
            f"{e.batches} batch(es) x {e.batch_s:.3g} s + {e.chunks} part file(s) x {e.part_s:.2g} s; "
            f"{e.network_epochs_per_s:.3g} network-epochs/s)"
        )


def run_summary(ds, res, wall: float, out: Path) -> None:
    n = int(ds.diverged.size)
    print(f"wrote {out}: {n} runs in {wall:.1f} s ({n / wall:.0f} runs/s), {int(ds.diverged.sum())} diverged")
    for t in res.timings:
        again = t.get("retrained") and f"  retrained {t['retrained']} at a halved rate {t['retrain_s']:.2f} s"
        print(
            f"  {t['label']:45s} {t['runs']:6d} runs  compile {t['compile_s']:.2f} s ({t['compiles']}x)"
            f"{again or ''}  total {t['wall_s']:.2f} s"
        )
    from .analysis import LATE_FRACTION, reached_optimum, train_error_rose, valid

    if bool(ds.diverged.all()):
        print("  every run diverged: no optimum to report (lower the learning rate; see dynax validate)")
        return
    best = ds.best_test_error.where(valid(ds))
    ratio = (best / ds.noise_var.where(ds.noise_var > 0)).mean("seed")
    rows = [(d, ratio.sel(depth=d)) for d in ds.depth.values if bool(ratio.sel(depth=d).notnull().any())]
    if rows:  # noiseless sweeps have no sigma_eps^2 to measure against
        print("  seed mean of each run's best E_g / sigma_eps^2 (min .. max over the grid; diverged runs "
              "left out):")  # fmt: skip
    for d, r in rows:
        print(f"    depth {d}: {float(r.min()):.4g} .. {float(r.max()):.4g}")
    late = int((reached_optimum(ds) == 0).sum())
    if late:
        noisy = int(reached_optimum(ds).notnull().sum())
        print(
            f"  warning: {late} of {noisy} noisy runs had their best epoch in the last {LATE_FRACTION:.0%} "
            f"of training: their optimum may lie beyond the run (more epochs, or a larger rate); "
            f"dynax analyze maps them (reached_optimum)"
        )
    rose = train_error_rose(ds)
    if bool((rose == 1).any()):
        print(
            f"  warning: in {int((rose == 1).sum())} of {int(rose.notnull().sum())} full-batch GD runs the "
            "training error rose between records: the step crossed the stability limit (README, "
            "Performance); from then on the curve is not the gradient flow's (the optimum stands if it came "
            "first: best_epoch); dynax analyze counts them (n_train_error_rose)"
        )


def _saved(parts: Path) -> int:
    """The finished chunks kept in a run's ``OUT.parts/`` folder."""
    return len(list(parts.glob("chunk-*.nc"))) if parts.exists() else 0


def interrupted(parts: Path) -> None:
    """What an interrupted run kept, and how to finish it."""
    saved = _saved(parts)
    if saved:
        print(
            f"\ndynax: interrupted; {saved} finished chunk(s) are saved in {parts}/ "
            f"(the chunk in flight was discarded). To finish, run the same command with --resume.",
            file=sys.stderr,
        )
    else:
        print("\ndynax: interrupted before any chunk finished; nothing was kept", file=sys.stderr)


def _kept(parts: Path) -> str:
    """What a stopped run kept, said only when there is something."""
    saved = _saved(parts)
    return f"; {saved} finished chunk(s) are kept in {parts}/" if saved else "; nothing was kept"


def _disk_nearly_full(out: Path) -> bool:
    """netCDF reports a full disk as RuntimeError("NetCDF: HDF error"): ask the disk."""
    import shutil

    if not out.parent.is_dir():
        return False
    try:
        return shutil.disk_usage(out.parent).free < 64 << 20
    except OSError:
        return False


def run_failed(e: Exception, out: Path, parts: Path) -> int | None:
    """Say why a run stopped, in the words of its cause (out of device memory, a full disk,
    a path it may not write, a folder that does not exist, another OS error), and return its
    exit code; None for anything else (a bug: the caller keeps its traceback)."""
    import errno

    os_error = isinstance(e, OSError)
    where = (getattr(e, "filename", None) or out) if os_error else out
    if "RESOURCE_EXHAUSTED" in str(e):
        out_of_device_memory(e, parts)
    elif (os_error and e.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        isinstance(e, RuntimeError) and "HDF error" in str(e) and _disk_nearly_full(out)
    ):
        print(
            f"dynax: error: the disk is full ({where}: {e}){_kept(parts)}. Free some space and run the "
            "same command with --resume.",
            file=sys.stderr,
        )
    elif os_error and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        print(f"dynax: error: no permission to write {where} ({e.strerror}){_kept(parts)}", file=sys.stderr)
    elif os_error and e.errno == errno.ENOENT:
        print(f"dynax: error: {where}: no such file or folder ({e.strerror}){_kept(parts)}", file=sys.stderr)
    elif os_error:
        print(f"dynax: error: cannot write {where}: {e.strerror or e}{_kept(parts)}", file=sys.stderr)
    else:
        return None
    return 1


def out_of_device_memory(e: Exception, parts: Path) -> None:
    """A run stopped by the device's memory: what was kept, and why resuming does not help."""
    fresh = (
        f"; --resume keeps the batch recorded with the parts, so delete {parts}/ first"
        if _saved(parts)
        else ""
    )
    print(
        f"dynax: error: out of device memory ({str(e).splitlines()[0][:200]}){_kept(parts)}. A smaller batch "
        f"needs a lower --memory-budget (see dynax validate) and a fresh start{fresh}.",
        file=sys.stderr,
    )
