"""The Python entry points, for notebooks and scripts (docs/design.md §4 "Python API").

    import dynax
    ds = dynax.run("sweeps/quickstart.toml", overrides=["train.epochs=500"])
    th = dynax.predict(ds)                 # the theory on the same grid (dynax.predict is callable)
    summary = dynax.analyze(ds, theory=th)

A spec is a path (a ``Path``, or a string ending in ``.toml``), TOML text, a dict (kept as
canonical TOML in the result's ``spec_toml``), a :class:`~dynax.spec.SweepSpec`, or a
result (a path ending in ``.nc`` or an ``xarray.Dataset``: its recorded spec and
overrides, which reproduce it bit for bit). With ``output``, :func:`run` writes the
netCDF with the command line's guarantees: an existing file is refused unless
``force``, finished chunks are kept in ``OUTPUT.parts/`` and ``resume`` continues them,
and a lock keeps a second process off the same output.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from . import interrupt
from .spec import SweepSpec
from .store.specs import spec_from

__all__ = ["Progress", "analyze", "run", "spec_from", "write_result"]


class Progress:
    """Runs done, runs/s and the ETA, updated after every batch: a tqdm bar in a terminal
    or a notebook, plain lines every 10 s in a log. The rate and ETA are measured from the
    second update on (the first batch holds the compilation)."""

    def __init__(self, enabled: bool = True, stream=None, desc: str = "dynax"):
        self.enabled, self.stream, self.desc = enabled, stream or sys.stderr, desc
        self.bar = None
        self.first = None
        self.last = -float("inf")
        interactive = "ipykernel" in sys.modules or getattr(self.stream, "isatty", lambda: False)()
        self.interactive = enabled and interactive

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, done)
            if self.interactive:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, initial=done, unit="run", desc=self.desc, file=self.stream)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if done >= total:
                self.bar.close()
            return
        if now - self.last >= 10 or done >= total:
            self.last = now
            elapsed, ran = now - self.first[0], done - self.first[1]
            rate = ran / elapsed if elapsed > 0 and ran > 0 else 0.0
            eta = time.strftime("%H:%M:%S", time.gmtime((total - done) / rate)) if rate > 0 else "--"
            print(f"  {done}/{total} runs  {rate:.0f} runs/s  ETA {eta}", file=self.stream, flush=True)


def _finished_or_refused(spec, out: Path, parts: Path, resume: bool, force: bool, defaulted: bool) -> bool:
    """True when ``resume`` finds the finished result in ``out``; a SpecError when ``out``
    may not be written."""
    from .store.safety import check_target, finished_result, result_attrs

    if out.is_file() and resume and not parts.exists() and finished_result(out, spec.sha256):
        return True
    if not (resume and parts.exists()):
        hint = ""
        held = result_attrs(out)[0].get("spec_path") if out.is_file() else None
        if defaulted and held and held != spec.path:
            hint = (
                f" (it holds the result of {held}: specs with the same file name in different folders "
                f"both default to {out})"
            )
        check_target(out, force, what="output", hint=hint)
    elif out.is_dir():
        check_target(out, force)
    return False


def write_result(
    spec: SweepSpec,
    output: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress=None,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    devices: int = 1,
    shard: tuple[int, int] = (0, 1),
    scheduler: str | None = None,
    history: str = "",
    defaulted: bool = False,
    check_memory: bool = True,
):
    """Run ``spec`` into the netCDF ``output`` with every guarantee of ``dynax run``.

    Returns ``(dataset, flat result)``, or ``None`` when ``resume`` finds ``output`` already
    holding the finished result of this spec. ``defaulted``: the path was not chosen by
    the user (then a refusal says which spec the existing file holds). ``check_memory``:
    refuse a plan whose run or result cannot fit this machine (dynax.engine.fits).

    Raises:
        SpecError: the output exists (without ``force``) or is a directory, another
            process holds its lock, there are fewer runs than shards, or the parts belong to
            another spec; nothing is written or removed then.
    """
    from .engine import execute, plan_sweep
    from .engine.fits import check_fits
    from .store import build_dataset, write_netcdf
    from .store.parts import recorded_layout
    from .store.safety import OutputLock, discard_empty_parts

    out = Path(output)
    parts = out.with_name(out.name + ".parts")

    def finished_or_refused() -> bool:  # run before planning, and again once the lock is held
        return _finished_or_refused(spec, out, parts, resume, force, defaulted)

    if finished_or_refused():
        return None
    layout = recorded_layout(parts) if resume else None
    if layout is not None and layout.get("spec_sha256") != spec.sha256:
        layout = None  # execute() refuses the mix with a clear message
    interrupt.stage("planning")
    plan = plan_sweep(spec, chunk_size, memory_budget, devices, layout)
    if check_memory:  # before the lock and the parts: nothing is created for an impossible plan
        check_fits(plan)
    plan = plan.shard(*shard)  # any count up to the number of runs (refused beyond it)
    with OutputLock(out):
        if finished_or_refused():  # another process may have finished it meanwhile
            return None
        existed = parts.exists()
        try:
            with interrupt.cleanup(lambda: discard_empty_parts(parts, existed)):  # on a hard exit too
                res = execute(
                    plan, progress, parts=parts, resume=resume, shard=shard, scheduler=scheduler,
                    check_memory=False,  # checked above, before the lock
                )  # fmt: skip
        except BaseException:
            discard_empty_parts(parts, existed)
            raise
        interrupt.stage("writing")
        ds = build_dataset(plan, res, history=history)
        write_netcdf(ds, out)
        shutil.rmtree(parts, ignore_errors=True)
    return ds, res


def run(
    spec,
    *,
    output: str | Path | None = None,
    overrides: Sequence[str] | str = (),
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    devices: int = 1,
    check_memory: bool = True,
) -> xr.Dataset:
    """Run a sweep and return its labelled Dataset (docs/design.md §4).

    Args:
        spec: a path, TOML text, a dict, a SweepSpec, or a result to run again.
        output: also write the netCDF there (refused if it exists, unless ``force``;
            ``resume`` continues from ``OUTPUT.parts/`` or returns the finished file).
        overrides: ``"KEY=VALUE"`` strings, as ``--set`` (one string is one override).
        progress: a progress bar per batch (terminal or notebook).
        check_memory: refuse, before anything is allocated, a sweep one of whose runs needs
            more than the device's memory or whose result needs more than the host's.
    """
    from .engine import execute, plan_sweep
    from .sim.scope import guard_cpu_dispatch
    from .store import build_dataset

    guard_cpu_dispatch()
    sweep = spec_from(spec, overrides)
    bar = Progress(progress)
    history = f"dynax.run({sweep.path!r}, overrides={list(sweep.overrides)!r})"
    if output is None:
        plan = plan_sweep(sweep, chunk_size, memory_budget, devices)
        return build_dataset(plan, execute(plan, bar, check_memory=check_memory), history=history)
    done = write_result(
        sweep,
        output,
        resume=resume,
        force=force,
        progress=bar,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        devices=devices,
        history=history,
        check_memory=check_memory,
    )
    if done is None:
        return xr.load_dataset(output)
    return done[0]


def analyze(result, *, theory=None) -> xr.Dataset:
    """The summary of a result (``dynax analyze``): each grid point's optimal early-stopping
    error and the rest of docs/design.md §4. ``result``: a Dataset or a path;
    ``theory``: a theory Dataset, ``True`` to compute it from the result's spec, or None."""
    from . import analysis

    ds = xr.load_dataset(result) if isinstance(result, str | Path) else result
    if theory is True:
        from .predict import predict

        theory = predict(ds)
    return analysis.summarize(ds, theory)
