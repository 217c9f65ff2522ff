"""Sweeps that outgrow a process: parts and resume, shards and merge, several devices,
Dask workers, and a million networks in bounded memory."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from conftest import spec_text

from dynax import engine, parse_spec
from dynax.cli import main
from dynax.store.parts import part_path

VOLATILE = ("created", "history", "chunk_size", "devices")
ROOT = Path(__file__).resolve().parents[1]
GRID = "depth = [1, 2]\nn_over_p = [0.5, 1.0, 2.0]\nsnr = [0.5, 4.0]\nseed = { count = 4 }"


def strip(ds):
    return ds.drop_attrs(deep=False).assign_attrs({k: v for k, v in ds.attrs.items() if k not in VOLATILE})


def assert_same(a, b):
    xr.testing.assert_identical(strip(a), strip(b))


def small_spec(tmp_path, epochs=60):
    path = tmp_path / "s.toml"
    path.write_text(spec_text(GRID, "n_in = 14", "width = 9", f"epochs = {epochs}\nrecord = {{ log = 12 }}"))
    return path


def budget(path) -> int:
    """Bytes for batches of 4 runs: small batches, many chunks."""
    return 4 * max(engine.plan_sweep(parse_spec(Path(path).read_text())).bytes_per_run.values())


def dynax_cmd(*args):
    return [sys.executable, "-m", "dynax.cli", *map(str, args)]


@pytest.mark.slow  # ~9 s; test_truncated_or_foreign_parts_are_recomputed and the interrupt test stay
def test_kill_and_resume_gives_the_uninterrupted_dataset(tmp_path):
    spec = tmp_path / "k.toml"
    spec.write_text(
        spec_text(GRID.replace("count = 4", "count = 12"), "n_in = 40", "width = 40", "epochs = 3000")
    )
    args = ["run", spec, "--chunk-size", "8", "--memory-budget", "8MiB", "--quiet"]
    out = tmp_path / "killed.nc"
    parts = Path(str(out) + ".parts")
    proc = subprocess.Popen(dynax_cmd(*args, "-o", out), cwd=ROOT)
    deadline = time.time() + 240
    while time.time() < deadline and not list(parts.glob("chunk-*.nc")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = len(list(parts.glob("chunk-*.nc")))
    total = len(json.loads((parts / "layout.json").read_text())["groups"])
    assert saved >= 1 and not out.exists() and total >= 1
    # a changed spec is refused, not mixed in
    assert main(["run", str(spec), "-o", str(out), "--resume", "--set", "train.epochs=10", "--quiet"]) == 2
    # and resuming without --resume is refused too (nothing computed is overwritten)
    assert main([str(a) for a in args] + ["-o", str(out)]) == 2
    assert main([str(a) for a in args] + ["-o", str(out), "--resume"]) == 0
    assert not parts.exists()
    ref = tmp_path / "ref.nc"
    assert main([str(a) for a in args] + ["-o", str(ref)]) == 0
    with xr.open_dataset(out) as a, xr.open_dataset(ref) as b:
        assert_same(a.load(), b.load())


def test_truncated_or_foreign_parts_are_recomputed(tmp_path):
    spec = parse_spec(small_spec(tmp_path).read_text())
    plan = engine.plan_sweep(spec, chunk_size=8, memory_budget=budget(tmp_path / "s.toml"))
    parts = tmp_path / "p.parts"
    full = engine.execute(plan, parts=parts)
    n_chunks = len(plan.chunks)
    assert n_chunks >= 4 and full.reused == 0
    victim = part_path(parts, 1)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # truncated mid-write
    again = engine.execute(plan, parts=parts, resume=True)
    assert again.reused == n_chunks - 1
    for name in ("train_error", "test_error", "best_test_error", "best_epoch", "diverged"):
        np.testing.assert_array_equal(getattr(again, name), getattr(full, name))
    # a part whose completion mark is missing is not trusted either
    with netCDF4.Dataset(part_path(parts, 2), "a") as nc:
        nc.delncattr("complete")
    assert engine.execute(plan, parts=parts, resume=True).reused == n_chunks - 1


def test_shards_and_merge_equal_one_process(tmp_path):
    spec = small_spec(tmp_path)
    ref = tmp_path / "ref.nc"
    common = ["--chunk-size", "8", "--memory-budget", str(budget(spec)), "--quiet"]
    assert main(["run", str(spec), "-o", str(ref), *common]) == 0
    shards = []
    for i in range(3):
        out = tmp_path / f"shard{i}.nc"
        assert main(["run", str(spec), "-o", str(out), "--shard", f"{i}/3", *common]) == 0
        shards.append(out)
    with xr.open_dataset(shards[0]) as s0:
        assert "present" in s0 and 0 < int(s0.present.sum()) < s0.present.size
        assert bool(s0.test_error.where(s0.present == 0).isnull().all())
    merged = tmp_path / "merged.nc"
    assert main(["merge", str(merged), *map(str, shards)]) == 0
    with xr.open_dataset(merged) as a, xr.open_dataset(ref) as b:
        assert "present" not in a
        assert_same(a.load(), b.load())
    assert main(["merge", str(tmp_path / "x.nc"), str(shards[0]), str(shards[1])]) == 2  # a gap
    assert (
        main(
            ["merge", str(tmp_path / "x.nc"), str(shards[0]), str(shards[0]), str(shards[1]), str(shards[2])]
        )
        == 2
    )
    other = tmp_path / "other.nc"
    assert (
        main(["run", str(spec), "-o", str(other), "--set", "train.epochs=5", "--shard", "0/3", *common]) == 0
    )
    assert (
        main(["merge", str(tmp_path / "x.nc"), str(other), str(shards[1]), str(shards[2])]) == 2
    )  # other spec
    # a shard that ran another kernel (as on a GPU node with train.kernel = "auto"): refused
    with netCDF4.Dataset(shards[2], "a") as nc:
        assert nc.getncattr("kernel") == "auto: closed_form, fused"
        nc.setncattr("kernel", "auto: closed_form, xla")
    assert main(["merge", str(tmp_path / "x.nc"), *map(str, shards)]) == 2
    assert not (tmp_path / "x.nc").exists()


SHARDED = spec_text(
    "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0, 4.0]\nseed = { count = 8 }",  # 64 runs
    "n_in = 10",
    "width = 6",
    "epochs = 30\nrecord = { log = 8 }",
)


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "k", [pytest.param(2, marks=SLOW), pytest.param(3, marks=SLOW), 5, pytest.param(7, marks=SLOW)]
)
def test_any_shard_count_merges_to_one_run_bit_for_bit(tmp_path, k):
    """Shards split runs, not chunks: any K up to the number of runs, on the default memory
    budget (here fewer chunks than shards), merged, equals one process bit for bit (the
    closed form and the fused kernel: a run's numbers do not depend on its neighbours)."""
    path = write(tmp_path, SHARDED)
    assert len(engine.plan_sweep(parse_spec(SHARDED)).chunks) < k or k == 2
    ref = tmp_path / "ref.nc"
    assert main(["run", "--quiet", "-o", str(ref), str(path)]) == 0
    paths = []
    for i in range(k):
        paths.append(tmp_path / f"s{i}.nc")
        assert main(["run", "--quiet", "-o", str(paths[-1]), "--shard", f"{i}/{k}", str(path)]) == 0
    merged = tmp_path / "merged.nc"
    assert main(["merge", str(merged), *map(str, paths)]) == 0
    with xr.open_dataset(merged) as a, xr.open_dataset(ref) as b:
        assert_same(a.load(), b.load())


def write(tmp_path, text) -> Path:
    path = tmp_path / "sharded.toml"
    path.write_text(text)
    return path


def test_a_recorded_layout_decides_the_kernel(tmp_path):
    """--resume and Dask workers rebuild the plan from the recorded layout: its kernel wins
    over what ``auto`` would pick on the machine that rebuilds it."""
    spec = parse_spec(Path(small_spec(tmp_path)).read_text())
    fused = engine.plan_sweep(spec)
    xla = engine.plan_sweep(spec, kernel="xla")
    assert {g.trainer for g in fused.groups} == {"closed_form", "fused"}
    assert {g.trainer for g in xla.groups} == {"closed_form", "xla"}
    assert [g.label() for g in engine.plan_sweep(spec, layout=xla.layout()).groups] == [
        g.label() for g in xla.groups
    ]


FORCED_DEVICES = textwrap.dedent(
    """
    import json, re, sys
    import jax
    import numpy as np
    import xarray as xr
    import dynax
    from dynax import engine
    from dynax.sim import trainers
    spec = dynax.parse_spec(open(sys.argv[1]).read(), "<s>", ["train.kernel=xla"])  # the XLA program
    mb = int(sys.argv[2])
    one = dynax.run_sweep(spec, chunk_size=16, memory_budget=mb)
    four = dynax.run_sweep(spec, chunk_size=16, memory_budget=mb, devices=4)
    gd = dict(depth=2)  # the GD kernel's groups
    identical = bool((one.test_error.sel(gd) == four.test_error.sel(gd)).all())
    identical &= bool((one.train_error.sel(gd) == four.train_error.sel(gd)).all())
    close = all(
        bool(np.allclose(one[v], four[v], rtol=1e-6, atol=1e-6 * float(one.test_error.max()), equal_nan=True))
        for v in ("test_error", "train_error", "best_test_error")
    )
    close &= bool((one.best_epoch == four.best_epoch).all() and (one.diverged == four.diverged).all())
    plan = engine.plan_sweep(spec, chunk_size=16, memory_budget=mb, devices=4)
    cache = engine.inputs.stats_cache(plan)
    collectives = []
    from dynax.sim.scope import x64
    with x64():  # dynax's programs trace in float64 mode
        for g in plan.groups:  # every compiled program, closed form and GD
            inputs, _ = engine.inputs.chunk_inputs(plan, g, g.chunk(0, 4)[: 4 * g.batch], cache)
            program = trainers.trainer(g.trainer).program(g.config, 4)
            hlo = program.lower(inputs).compile().as_text()
            found = re.findall(r"all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter", hlo)
            collectives += found
    report = dict(devices=len(jax.devices()), identical=identical, close=close, collectives=collectives)
    print(json.dumps(report))
    """
)


@pytest.mark.slow  # 13-23 s: the default suite stays under 10 minutes on 2 cores
def test_forced_host_devices_match_one_device_without_collectives(tmp_path):
    spec = small_spec(tmp_path)
    script = tmp_path / "devices.py"
    script.write_text(FORCED_DEVICES)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    cmd = [sys.executable, script, spec, str(budget(spec))]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4
    assert report["collectives"] == []
    # docs/design.md §4: allclose across devices (rtol 1e-6 in float32); the GD kernel is even
    # bit-identical, the depth-1 closed form differs at rounding (XLA partitions it)
    assert report["close"] and report["identical"]


DASK = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import dynax
    from dynax import engine

    if __name__ == "__main__":  # Dask's worker processes import this module again
        spec = dynax.parse_spec(open(sys.argv[1]).read())
        plan = engine.plan_sweep(spec, chunk_size=16, memory_budget=int(sys.argv[2]))
        local = engine.execute(plan)
        via_dask = engine.execute(plan, parts=sys.argv[3], scheduler="local:2")
        names = ("train_error", "test_error", "best_test_error", "best_epoch", "diverged")
        same = all(np.array_equal(getattr(via_dask, n), getattr(local, n), equal_nan=True) for n in names)
        same &= np.array_equal(via_dask.learning_rate_used, local.learning_rate_used)
        report = dict(same=bool(same), present=bool(via_dask.present.all()), chunks=len(plan.chunks))
        print(json.dumps(report))
    """
)


@pytest.mark.slow  # 13-23 s: the default suite stays under 10 minutes on 2 cores
def test_dask_local_cluster_equals_one_process(tmp_path):
    """A real LocalCluster of two worker processes (in a subprocess of its own, so that no
    Dask machinery outlives the test in the test runner)."""
    pytest.importorskip("dask.distributed")
    spec = small_spec(tmp_path)
    script = tmp_path / "dask_run.py"
    script.write_text(DASK)
    cmd = [sys.executable, script, spec, str(budget(spec)), tmp_path / "d.parts"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["chunks"] > 2 and report["present"] and report["same"]


def test_missing_dask_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_dask(name, *a, **k):
        if name.startswith("dask"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    spec = small_spec(tmp_path)
    assert main(["run", str(spec), "-o", str(tmp_path / "o.nc"), "--scheduler", "local:2", "--quiet"]) == 2
    assert 'pip install "dynax[distributed]"' in capsys.readouterr().err


def test_progress_is_quiet_when_asked_and_plain_off_a_terminal(tmp_path, capsys):
    spec = small_spec(tmp_path, epochs=5)
    assert main(["run", str(spec), "-o", str(tmp_path / "a.nc")]) == 0
    err = capsys.readouterr().err
    assert "runs/s" in err and "\r" not in err  # pytest's stderr is not a terminal: plain lines
    assert main(["run", str(spec), "-o", str(tmp_path / "b.nc"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


MILLION_BOUND_GIB = 2.0


@pytest.mark.slow
def test_a_million_networks_in_bounded_memory(tmp_path):
    """10⁶ depth-2 networks (N = 100, P ≤ 10, 2 epochs) with a 256 MiB budget per call:
    the peak resident memory of the whole process stays under 2 GiB.

    The peak is the child's own VmHWM, not ru_maxrss: Linux carries the parent's peak into
    ru_maxrss across fork/vfork + exec, so ru_maxrss would report pytest's own peak (2.1 GiB
    once the earlier tests have run) instead of the sweep's."""
    code = (
        "import sys; from dynax.cli import main; from dynax.bench import peak_rss_bytes; "
        "rc = main(sys.argv[1:]); "
        "print('PEAK_KIB', peak_rss_bytes() // 1024); sys.exit(rc)"
    )
    out = tmp_path / "million.nc"
    args = [ROOT / "sweeps" / "million.toml", "-o", out, "--memory-budget", "256MiB", "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", *map(str, args)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak_gib = int(proc.stdout.split("PEAK_KIB")[1].split()[0]) / 2**20
    print(f"peak resident memory of the 10^6-network run: {peak_gib:.2f} GiB")
    assert peak_gib < MILLION_BOUND_GIB
    with xr.open_dataset(out) as ds:
        assert ds.diverged.size == 1_000_000 and int(ds.diverged.sum()) == 0
        assert bool(np.isfinite(ds.test_error).all())
