"""Nothing lost, nothing half-done (dynax.store.safety, the CLI and dynax.api): every refusal
is exit 2 with a message naming the file, the existing file untouched and no stale parts; and
the Python API's forms of a spec."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import spec_text

import dynax
from dynax.cli import main
from dynax.store.safety import OutputLock

GRID = "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [2.0]\nseed = { count = 2 }"


def small(tmp_path, name="s.toml", epochs=30) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_text(GRID, "n_in = 10", "width = 6", f"epochs = {epochs}\nrecord = {{ log = 8 }}"))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished result and its spec."""
    tmp = tmp_path_factory.mktemp("done")
    spec = small(tmp)
    out = tmp / "o.nc"
    assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 0
    return spec, out


def test_an_existing_output_is_refused_without_force_and_kept(tmp_path, finished, capsys):
    spec, done = finished
    out = tmp_path / "o.nc"
    out.write_bytes(done.read_bytes())
    before = out.read_bytes()
    assert main(["run", str(spec), "-o", str(out), "--quiet", "--set", "train.epochs=20"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--force" in err
    assert out.read_bytes() == before and not (tmp_path / "o.nc.parts").exists()
    assert main(["run", str(spec), "-o", str(out), "--quiet", "--set", "train.epochs=20", "--force"]) == 0
    assert xr.load_dataset(out).attrs["epochs"] == 20


def test_resume_on_a_finished_output_has_nothing_to_do(finished, capsys):
    spec, out = finished
    mtime = out.stat().st_mtime_ns
    assert main(["run", str(spec), "-o", str(out), "--resume"]) == 0
    assert "already holds the finished result" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == mtime


def test_same_spec_name_in_two_folders_is_named_in_the_refusal(tmp_path, tmp_cwd, capsys):
    a, b = small(tmp_path / "a"), small(tmp_path / "b", epochs=20)
    assert main(["run", str(a), "--quiet"]) == 0
    assert main(["run", str(b), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"holds the result of {a}" in err and "same file name" in err


def test_bad_targets_and_arguments_are_refused_before_training(tmp_path, finished, capsys):
    spec, done = finished
    assert main(["run", str(spec), "-o", str(tmp_path), "--quiet"]) == 2  # a directory
    assert "is a directory" in capsys.readouterr().err
    assert main(["run", str(done), "-o", str(tmp_path / "x.nc")]) == 2  # a result given as the spec
    assert "dynax run --from" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", str(spec), "--memory-budget", "0"])
    assert e.value.code == 2 and "at least 1 byte" in capsys.readouterr().err
    assert main(["run", str(spec), "-o", str(tmp_path / "y.nc"), "--shard", "5/10", "--quiet"]) == 2
    assert "the sweep has 8 run(s); use at most 8 shards" in capsys.readouterr().err
    assert main(["run", str(spec), "-o", str(tmp_path / "z.nc"), "--scheduler", "bogus", "--quiet"]) == 2
    assert "expected local:N" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.parts")) and not list(tmp_path.glob("*.nc"))


def test_from_a_result_reproduces_it_bit_for_bit(tmp_path, finished):
    _, done = finished
    out = tmp_path / "again.nc"
    assert main(["run", "--from", str(done), "-o", str(out), "--quiet"]) == 0
    a, b = xr.load_dataset(done), xr.load_dataset(out)
    assert a.attrs["spec_sha256"] == b.attrs["spec_sha256"]
    for name in ("test_error", "train_error", "best_test_error", "best_epoch"):
        np.testing.assert_array_equal(a[name], b[name])


HOLD = """
import sys, time
from dynax.store.safety import OutputLock
with OutputLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_and_a_dead_writers_lock_taken_over(tmp_path, capsys):
    spec, out = small(tmp_path), tmp_path / "o.nc"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "another dynax is writing" in err
        assert not out.exists() and not (tmp_path / "o.nc.parts").exists()
        holder.kill()  # SIGKILL: the lock file stays behind, the kernel's lock does not
        holder.wait()
        assert (tmp_path / "o.nc.lock").exists()
        assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 0
    finally:
        holder.kill()
        holder.wait()
    assert out.exists() and not (tmp_path / "o.nc.lock").exists()


def test_interrupt_exits_130_and_keeps_what_finished(tmp_path, monkeypatch, capsys):
    ex = sys.modules["dynax.engine.execute"]  # (dynax.engine.execute is also the function's name)

    spec, out = small(tmp_path), tmp_path / "o.nc"
    real = ex.run_chunk
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ex, "run_chunk", interrupted)
    assert main(["run", str(spec), "-o", str(out), "--chunk-size", "1", "--memory-budget", "1"]) == 130
    assert "--resume" in capsys.readouterr().err
    assert len(list((tmp_path / "o.nc.parts").glob("chunk-*.nc"))) == 1 and not out.exists()
    assert not (tmp_path / "o.nc.lock").exists()


def test_merge_and_analyze_refuse_to_replace_without_force(tmp_path, finished, capsys):
    _, done = finished
    summary = tmp_path / "s.nc"
    summary.write_text("keep me")
    assert main(["analyze", str(done), "-o", str(summary), "--figures", str(tmp_path / "f")]) == 2
    assert "--force" in capsys.readouterr().err and summary.read_text() == "keep me"
    assert main(["merge", str(summary), str(done)]) == 2
    assert summary.read_text() == "keep me"


def test_analyze_of_an_all_diverged_result_is_a_message(tmp_path, capsys):
    spec, out = small(tmp_path), tmp_path / "o.nc"
    assert main(["run", str(spec), "-o", str(out), "--set", "train.learning_rate=50.0"]) == 0
    err_out = capsys.readouterr().out
    assert "every run diverged" in err_out
    assert main(["analyze", str(out), "--figures", str(tmp_path / "f")]) == 2
    assert "every run diverged" in capsys.readouterr().err


def test_python_api_takes_every_form_of_a_spec(tmp_path, finished):
    spec, done = finished
    text = spec.read_text()
    ref = xr.load_dataset(done)
    as_dict = tomllib.loads(text)
    for form in (str(spec), spec, text, as_dict, dynax.load_spec(spec), ref):
        ds = dynax.run(form, progress=False)
        np.testing.assert_array_equal(ds.test_error, ref.test_error)
    # a dict is kept as canonical TOML that parses back to the same spec
    ds = dynax.run(as_dict, progress=False, overrides="train.epochs=20")  # one string: one override
    assert tomllib.loads(ds.attrs["spec_toml"]) == as_dict and ds.attrs["epochs"] == 20
    out = tmp_path / "api.nc"
    dynax.run(spec, output=out, progress=False)
    with pytest.raises(dynax.SpecError, match="--force"):
        dynax.run(spec, output=out, progress=False)
    assert dynax.run(spec, output=out, resume=True, progress=False).identical(xr.load_dataset(out))
    th = dynax.predict(ref)
    summary = dynax.analyze(ref, theory=th)
    assert {"opt_error_of_mean", "reached_optimum", "excess_over_bayes"} <= set(summary.data_vars)


def test_dask_is_a_core_dependency_and_the_lazy_open_works(finished):
    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert any(d.startswith("dask") for d in deps) and any(d.startswith("tqdm") for d in deps)
    _, done = finished
    with xr.open_dataset(done, chunks={}) as ds:
        assert ds.test_error.chunks is not None
        assert float(ds.test_error.mean().compute()) == pytest.approx(
            float(xr.load_dataset(done).test_error.mean())
        )


def test_lock_file_names_its_holder(tmp_path):
    with OutputLock(tmp_path / "o.nc") as lock:
        assert f'"pid": {os.getpid()}' in lock.path.read_text()
    assert not lock.path.exists()


def test_the_notebook_example_runs(tmp_path, monkeypatch):
    """examples/notebook.py, as a user runs it (fewer epochs)."""
    import runpy

    path = Path(__file__).parents[1] / "examples" / "notebook.py"
    text = path.read_text().replace('"epochs": 2000', '"epochs": 100')
    script = tmp_path / "notebook.py"
    script.write_text(text)
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "out")])
    runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "out" / "example.png").stat().st_size > 10_000
    ds = xr.load_dataset(tmp_path / "out" / "example.nc")
    assert ds.attrs["epochs"] == 100 and int(ds.diverged.sum()) == 0


def test_accepted_but_wrong_inputs_are_spec_errors(tmp_path, capsys):
    grid = "depth = [1, 2]\nn_over_p = [1.0]\nsnr = [{snr}]\nseed = {{ count = 1 }}"
    for snr, model, key in (("1e-300", "", "grid.snr"), ("1.0", "init_scale = 0.0", "model.init_scale")):
        path = tmp_path / "bad.toml"
        path.write_text(spec_text(grid.format(snr=snr), "n_in = 8", model, "epochs = 10"))
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert "bad.toml" in err and f"`{key}`" in err


def test_validate_warns_when_a_call_exceeds_the_device_memory(tmp_path, capsys):
    """A batch too large for the device (a budget above it) is warned; one run too large is refused."""
    path = small(tmp_path)
    big = ["--set", "problem.n_in=2000", "--set", "model.width=50", "--set", "grid.seed={count=500}"]
    assert main(["validate", str(path), *big, "--memory-budget", "4TiB"]) == 0
    assert "more than this device's memory" in capsys.readouterr().out
    assert main(["validate", str(path), "--set", "problem.n_in=100000", "--set", "model.width=50"]) == 2
    assert "one run of" in capsys.readouterr().err


def test_a_full_disk_keeps_the_finished_parts(tmp_path, monkeypatch, capsys):
    import errno

    ex = sys.modules["dynax.engine.execute"]
    spec, out = small(tmp_path), tmp_path / "o.nc"
    real, calls = ex.write_part, []

    def full(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o.nc.parts"))
        return real(*a, **k)

    monkeypatch.setattr(ex, "write_part", full)
    assert (
        main(["run", str(spec), "-o", str(out), "--chunk-size", "1", "--memory-budget", "1", "--quiet"]) == 1
    )
    assert "disk is full" in capsys.readouterr().err
    assert len(list((tmp_path / "o.nc.parts").glob("chunk-*.nc"))) == 1 and not out.exists()
    monkeypatch.setattr(ex, "write_part", real)
    assert (
        main(
            [
                "run",
                str(spec),
                "-o",
                str(out),
                "--resume",
                "--chunk-size",
                "1",
                "--memory-budget",
                "1",
                "--quiet",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "error, said",
    [
        (
            PermissionError(13, "Permission denied", "/sys/x.nc.parts"),
            "no permission to write /sys/x.nc.parts",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "/nope/x.nc"),
            "/nope/x.nc: no such file or folder",
        ),
        (OSError(5, "Input/output error", "/mnt/x.nc"), "cannot write /mnt/x.nc: Input/output error"),
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 9 GiB"), "out of device memory"),
    ],
)
def test_os_and_device_errors_are_named_as_they_are(tmp_path, monkeypatch, capsys, error, said):
    """A permission error is not called a full disk (it was, for `-o /sys/x.nc`); an XLA
    out-of-memory (a RuntimeError) reaches its own advice; a parts folder that does not
    exist is not named as where chunks were kept."""
    api = sys.modules["dynax.api"]

    def fail(*a, **k):
        raise error

    monkeypatch.setattr(api, "write_result", fail)
    assert main(["run", str(small(tmp_path)), "-o", str(tmp_path / "o.nc"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert said in err and "nothing was kept" in err
    assert "disk is full" not in err and "o.nc.parts/" not in err


def test_a_path_that_cannot_be_written_is_not_a_full_disk(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code = main(["run", str(small(tmp_path)), "-o", str(ro / "x.nc"), "--quiet"])
    finally:
        ro.chmod(0o700)
    err = capsys.readouterr().err
    if os.geteuid() == 0:  # root writes anywhere: nothing to refuse
        assert code == 0
        return
    assert code in (1, 2) and "disk is full" not in err and "ro/x.nc" in err


def test_analyze_refuses_a_shard(tmp_path, capsys):
    spec, out = small(tmp_path), tmp_path / "s0.nc"
    assert main(["run", str(spec), "-o", str(out), "--shard", "0/2", "--memory-budget", "1", "--quiet"]) == 0
    assert main(["analyze", str(out), "--figures", str(tmp_path / "f")]) == 2
    assert "merge the shards first" in capsys.readouterr().err


def test_analyze_checks_every_argument_before_writing(tmp_path, finished, capsys):
    _, done = finished
    summary = tmp_path / "s.nc"
    figs = str(tmp_path / "f")
    for bad in (["--facet", "bogus"], ["--x", "bogus"], ["--overlay", "width"]):
        assert main(["analyze", str(done), "-o", str(summary), "--figures", figs, *bad]) == 2
        assert not summary.exists()
    assert main(["analyze", str(done), "-o", str(done), "--force"]) == 2
    assert "the result being analysed" in capsys.readouterr().err and xr.load_dataset(done).test_error.size


def test_python_callers_are_told_the_python_argument(tmp_path):
    spec = dynax.load_spec(small(tmp_path))
    out = tmp_path / "o.nc"
    out.write_text("not a result")
    with pytest.raises(dynax.SpecError, match=r"force=True"):
        dynax.run(spec, output=out)
    assert out.read_text() == "not a result"  # untouched


def test_an_impossible_plan_is_refused_before_anything_is_made(tmp_path, monkeypatch, capsys):
    """One run needing more than the device's memory (the plan's own estimate, as `dynax
    validate` prints it) is refused before the lock, the parts or any training: exit 2, the
    size and the keys to change; --no-memory-check runs it anyway."""
    from dynax.engine import fits

    spec, out = small(tmp_path), tmp_path / "o.nc"
    monkeypatch.setattr(fits, "device_memory", lambda: 4096)  # bytes: less than one run needs
    assert main(["validate", str(spec)]) == 2
    assert "more than this device's" in capsys.readouterr().err
    assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "one run of" in err and "model.width" in err and "--no-memory-check" in err
    assert not list(tmp_path.glob("o.nc*"))  # no lock, no parts, no output
    with pytest.raises(dynax.SpecError, match="check_memory=False"):
        dynax.run(dynax.load_spec(spec), progress=False)
    assert main(["run", str(spec), "-o", str(out), "--quiet", "--no-memory-check"]) == 0
    monkeypatch.setattr(fits, "device_memory", lambda: 1 << 40)
    monkeypatch.setattr(fits, "host_memory", lambda: 64)  # bytes: the result itself cannot be held
    with pytest.raises(dynax.SpecError, match="of host memory"):
        dynax.run(dynax.load_spec(spec), progress=False)


@pytest.mark.parametrize("optimizer, dtype, seeds", [("gd", "float32", 1), ("adam", "float64", 4)])
def test_the_memory_estimate_covers_the_compiled_kernel(optimizer, dtype, seeds):
    """The plan's bytes per compiled call (a run alone: what refuses an impossible plan; a
    batch: what sizes it) are at least what XLA's compiled GD kernel says it needs (arguments,
    outputs and temporaries), at a width where the weights dominate, and within 1.6x of it
    (adam in a batch: 6 copies of the weights counted, 4 held per run).
    (A run alone had been counted like a run in a batch, 4 copies of the weights, where the
    program holds 8 in float32: a run at width 1e7 grew past twice its estimate.)"""
    import jax

    from dynax import engine
    from dynax.sim import trainers

    spec = dynax.parse_spec(
        spec_text(
            f"depth = [2]\nn_over_p = 1.0\nsnr = 1.0\nseed = {{ count = {seeds} }}",
            "n_in = 20",
            "width = 3000",
            f"epochs = 5\nkernel = 'xla'\noptimizer = '{optimizer}'\nlearning_rate = 0.001\n"
            f"dtype = '{dtype}'",
        )
    )
    plan = engine.plan_sweep(spec)
    group = plan.groups[0]
    trainer = trainers.trainer(group.trainer)
    inputs, _ = engine.inputs.chunk_inputs(plan, group, group.chunk(0, 1), engine.inputs.stats_cache(plan))
    program = lambda: trainer.program(group.config)  # noqa: E731
    exe, _ = trainers.executables.compiled((trainer.name, group.config, 1), program, inputs)
    m = exe.memory_analysis()
    need = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
    assert group.batch == jax.tree.leaves(inputs)[0].shape[0] == min(seeds, 4)
    assert need <= plan.call_bytes(0) <= 1.6 * need
