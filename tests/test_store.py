"""The Dataset contract, the netCDF round trip, and `dynax run` end to end."""

import numpy as np
import xarray as xr
from conftest import spec_text

from dynax import parse_spec, run_sweep, write_netcdf
from dynax.cli import main

GRID = (
    "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [2.0, inf]\ninit_scale = [0.01, 0.1]\nseed = { count = 2 }"
)


def test_dataset_contract_and_exact_round_trip(tmp_path):
    spec = parse_spec(spec_text(GRID, "n_in = 10", "", "epochs = 40\nrecord = { log = 10 }\nloss = 'mean'"))
    ds = run_sweep(spec)
    assert ds.test_error.dims == ("depth", "n_over_p", "snr", "init_scale", "seed", "epoch")
    assert ds.test_error.dtype == np.float32 and ds.best_epoch.dtype == np.int64
    assert ds.diverged.dtype == np.int8
    np.testing.assert_array_equal(ds.n_train, [20, 5])
    np.testing.assert_array_equal(ds.alpha, [2.0, 0.5])
    np.testing.assert_array_equal(ds.noise_var, [0.5, 0.0])
    np.testing.assert_array_equal(ds.examples.sel(n_over_p=0.5), 20 * ds.epoch)
    # mean loss: t = η·epoch/P, with the rate actually used
    lr = ds.learning_rate_used
    t, expected = xr.broadcast(ds.time, lr / ds.n_train * ds.epoch)
    np.testing.assert_allclose(t.transpose(*expected.dims), expected)
    for name, var in ds.variables.items():
        assert "long_name" in var.attrs and "units" in var.attrs, name
    for key in (
        "dynax_version",
        "spec_toml",
        "spec_sha256",
        "jax_version",
        "backend",
        "device_kind",
        "created",
    ):
        assert key in ds.attrs
    assert ds.attrs["spec_sha256"] == spec.sha256
    assert not any(isinstance(v, bool | np.bool_) for v in ds.attrs.values())
    path = write_netcdf(ds, tmp_path / "out" / "r.nc")
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), ds)
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.nc"]  # no temporary left


def test_dynax_run_writes_default_output(tmp_cwd, capsys):
    (tmp_cwd / "sweeps").mkdir()
    (tmp_cwd / "sweeps" / "tiny.toml").write_text(spec_text(GRID, "n_in = 10", "", "epochs = 30"))
    assert main(["run", "sweeps/tiny.toml", "--set", "train.epochs=20", "--chunk-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "wrote results/tiny.nc: 32 runs" in out and "0 diverged" in out
    with xr.open_dataset(tmp_cwd / "results" / "tiny.nc") as ds:
        assert int(ds.epoch[-1]) == 20
        assert ds.attrs["spec_overrides"] == "train.epochs=20"
        assert "--set train.epochs=20" in ds.attrs["history"]
        assert ds.attrs["spec_toml"] == (tmp_cwd / "sweeps" / "tiny.toml").read_text()
        # every run improved on its initial error and kept the exact minimum
        assert bool((ds.best_test_error <= ds.test_error.min("epoch") + 1e-6).all())
