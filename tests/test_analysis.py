"""dynax.analysis and dynax.plot on hand-built Datasets whose answers are known."""

import numpy as np
import pytest
import xarray as xr
from conftest import spec_text
from matplotlib.collections import QuadMesh

from dynax import analysis, parse_spec, plot, run_sweep, write_netcdf
from dynax.cli import main

EPOCHS = np.array([0, 1, 2, 4, 8])


def hand_built(curves, diverged=None, best=None, rate=0.5):
    """A contract Dataset over (depth=1, n_over_p, snr, seed, epoch); curves: (n_over_p, snr, seed, epoch)."""
    curves = np.asarray(curves, dtype=np.float64)[None]
    n_r, n_s, n_seed = curves.shape[1:4]
    dims = ("depth", "n_over_p", "snr", "seed", "epoch")
    ds = xr.Dataset(
        {
            "test_error": (dims, curves),
            "train_error": (dims, curves / 2),
            "best_test_error": (dims[:-1], np.nanmin(curves, -1) if best is None else np.asarray(best)[None]),
            "best_epoch": (dims[:-1], EPOCHS[np.nanargmin(np.where(np.isnan(curves), np.inf, curves), -1)]),
            "diverged": (
                dims[:-1],
                np.zeros(curves.shape[:-1], np.int8)
                if diverged is None
                else np.asarray(diverged, np.int8)[None],
            ),
        },
        coords={
            "depth": [1],
            "n_over_p": np.geomspace(0.5, 2.0, n_r) if n_r > 1 else [1.0],
            "snr": np.geomspace(1.0, 10.0, n_s) if n_s > 1 else [1.0],
            "seed": np.arange(n_seed),
            "epoch": EPOCHS,
            "time": ("epoch", rate * EPOCHS),
        },
    )
    ds = ds.assign_coords(noise_var=("snr", 1.0 / ds.snr.values))
    return ds


def test_optimum_epoch_time_final_and_overtraining_by_construction():
    # one (N/P, SNR) cell, two seeds; seed mean = [3, 2, 1, 1, 2.5]:
    # minimum 1 at epoch 2 (tied at epoch 4: the first wins)
    curves = [[[[3, 2, 1, 1, 2], [3, 2, 1, 1, 3]]]]
    s = analysis.summarize(hand_built(curves))
    assert s.opt_error_of_mean.item() == 1.0
    assert s.opt_epoch_of_mean.item() == 2 and s.opt_time_of_mean.item() == 1.0
    assert s.final_error.item() == 2.5
    assert s.overtraining.item() == 1.5 and s.overtraining_ratio.item() == 2.5
    assert s.n_diverged.item() == 0
    for name in s.data_vars:
        assert {"long_name", "units"} <= set(s[name].attrs), name
    assert "cell_methods" in s.opt_error_of_mean.attrs


def test_curve_that_never_improves_and_single_seed():
    s = analysis.summarize(hand_built([[[[1, 2, 3, 4, 5]]]]))
    assert s.opt_error_of_mean.item() == 1.0 and s.opt_epoch_of_mean.item() == 0
    assert s.overtraining.item() == 4.0
    stats = analysis.seed_statistics(hand_built([[[[1, 2, 3, 4, 5]]]]))
    assert bool(stats.test_error_sem.isnull().all())  # one seed: no standard error, not zero


def test_diverged_runs_are_excluded_and_counted():
    curves = [[[[3, 2, 1, 1, 1], [3, np.nan, np.nan, np.nan, np.nan], [3, 2, 2, 2, 2]]]]
    ds = hand_built(curves, diverged=[[[0, 1, 0]]])
    ds["test_error"][0, 0, 0, 1, 1:] = 1e30  # even a huge finite value must not leak into the mean
    s = analysis.summarize(ds)
    assert s.n_diverged.item() == 1
    assert s.opt_error_of_mean.item() == 1.5 and s.final_error.item() == 1.5
    everything = hand_built([[[[3, np.nan, np.nan, np.nan, np.nan]]]], diverged=[[[1]]])
    s = analysis.summarize(everything)
    assert (
        s.n_diverged.item() == 1 and bool(s.opt_error_of_mean.isnull()) and s.opt_epoch_of_mean.item() == -1
    )


def test_the_two_optimal_errors_differ_in_the_expected_direction():
    rng = np.random.default_rng(0)
    base = 1 + (np.log(EPOCHS + 1) - 1.2) ** 2  # a smooth U-shaped curve
    noisy = base + 0.3 * rng.normal(size=(4, 5, 64, len(EPOCHS)))
    s = analysis.summarize(hand_built(noisy))
    # each run's own minimum is biased low by noise: mean of minima < minimum of the mean
    assert bool((s.mean_of_best_error < s.opt_error_of_mean).all())


def test_peak_n_over_p_locates_the_largest_overtraining():
    curves = np.ones((5, 2, 2, len(EPOCHS)))
    curves[..., -1] = np.array([1.1, 1.5, 3.0, 1.4, 1.2])[:, None, None]  # final error peaks at index 2
    s = analysis.summarize(hand_built(curves))
    np.testing.assert_allclose(s.peak_n_over_p, s.n_over_p.values[2])


@pytest.mark.slow  # ~7 s
def test_lazy_dask_reduction_equals_eager(tmp_path):
    pytest.importorskip("dask")
    ds = run_sweep(
        parse_spec(spec_text("depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0, 4.0]\nseed = { count = 3 }"))
    )
    path = write_netcdf(ds, tmp_path / "r.nc")
    with xr.open_dataset(path, chunks={}) as lazy:
        s = analysis.summarize(lazy)
        assert s.opt_error_of_mean.chunks is not None  # still lazy: nothing was loaded whole
        xr.testing.assert_allclose(s.compute(), analysis.summarize(ds))


def test_heatmap_draws_the_reduced_data():
    rng = np.random.default_rng(1)
    da = xr.DataArray(
        rng.uniform(1, 5, size=(2, 4, 5)),
        dims=("depth", "snr", "n_over_p"),  # deliberately not the plotting order
        coords={"depth": [1, 2], "snr": [0.5, 2.0, 8.0, 32.0], "n_over_p": [0.3, 0.6, 1.0, 3.0, 6.0]},
    )
    fig = plot.heatmaps(da, levels=[2, 3, 4])
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    for ax, d in zip(axes, [1, 2], strict=True):
        mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
        expected = da.sel(depth=d).transpose("snr", "n_over_p").values
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(expected.shape), expected)
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        contour = [c for c in ax.collections if hasattr(c, "levels")]
        assert list(contour[0].levels) == [2, 3, 4]
        line = next(ln for ln in ax.lines if ln.get_label() == "N = P")
        assert list(line.get_xdata()) == [1.0, 1.0]


def test_learning_curves_and_error_vs_n_over_p_draw_the_means():
    ds = hand_built(np.arange(1, 2 * 2 * 3 * 5 + 1).reshape(2, 2, 3, 5) / 10)
    fig = plot.learning_curves(ds, n_over_p=ds.n_over_p.values[0], snr=ds.snr.values[1])
    top = fig.axes[0]
    line = top.lines[0]
    np.testing.assert_allclose(line.get_xdata(), ds.time.values[1:])
    np.testing.assert_allclose(
        line.get_ydata(), ds.test_error.isel(depth=0, n_over_p=0, snr=1).mean("seed")[1:]
    )
    fig = plot.error_vs_n_over_p(ds)
    opt = analysis.summarize(ds).opt_error_of_mean
    first = fig.axes[0].lines[0]
    np.testing.assert_allclose(first.get_ydata(), (opt / ds.noise_var).isel(depth=0, snr=0))


@pytest.mark.slow  # ~14 s; tests/test_analyze_every_result.py runs dynax analyze in the default run
def test_dynax_analyze_writes_summary_and_figures(tmp_path, capsys):
    spec = tmp_path / "small.toml"
    spec.write_text(
        spec_text("depth = [1, 2]\nn_over_p = [0.5, 1.0, 2.0]\nsnr = [1.0, 4.0]\nseed = { count = 2 }")
    )
    out = tmp_path / "results" / "small.nc"
    assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 0
    assert main(["analyze", str(out), "--theory", "--pdf"]) == 0
    with xr.open_dataset(tmp_path / "results" / "small.summary.nc") as s:
        for name in (
            "opt_error_of_mean",
            "opt_time_of_mean",
            "mean_of_best_error",
            "overtraining",
            "excess_over_bayes",
        ):
            assert name in s
        assert bool(s.excess_over_bayes.sel(depth=1).notnull().all())
    names = {p.name for p in (tmp_path / "results" / "small").iterdir()}
    for fig in (
        "phase_diagram",
        "optimal_time",
        "overtraining",
        "excess_over_bayes",
        "learning_curves",
        "error_vs_n_over_p",
    ):
        assert f"{fig}.png" in names and f"{fig}.pdf" in names
    assert main(["analyze", str(tmp_path / "nope.nc")]) == 2


@pytest.mark.slow  # a random-feature sweep and analyze (~7 s): default suite under 10 min
def test_analyze_a_noiseless_random_feature_sweep(tmp_path):
    """SNR = inf only (no σ_ε² to scale the maps by) and a width axis: the summary and one
    learning-curve figure per width, with the exact random-feature theory beside them."""
    from dynax.cli import main

    spec = tmp_path / "rf.toml"
    spec.write_text(
        spec_text(
            "depth = 2\nn_over_p = 0.5\nsnr = inf\nwidth = [4, 16]\nseed = { count = 2 }",
            "n_in = 6\nteacher = 'relu'\nteacher_width = 5\nn_test = 300",
            "student = 'random_features'\nactivation = 'relu'\ninit = 'zero'",
            "epochs = 200\nlearning_rate = 0.1",
        )
    )
    out = tmp_path / "rf.nc"
    assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 0
    assert main(["analyze", str(out), "--theory"]) == 0
    names = {p.name for p in (tmp_path / "rf").iterdir()}
    assert names == {"learning_curves_width=4.png", "learning_curves_width=16.png"}
    with xr.open_dataset(tmp_path / "rf.summary.nc") as s:
        assert bool(np.isfinite(s.opt_error_of_mean).all())


def test_seed_means_are_taken_at_equal_time_when_rates_differ():
    # two seeds trained at rates 1 and 2 follow the same curve E(t) = 3 - log(t) (t > 0):
    # at equal epochs they are at different t; the seed mean must be E at the mean time
    epochs = np.array([0, 1, 2, 4, 8, 16])
    rates = np.array([1.0, 2.0])
    t = rates[:, None] * epochs[None, :]
    curve = np.where(t > 0, 3 - np.log(np.where(t > 0, t, 1)), 5.0)
    dims = ("depth", "n_over_p", "snr", "seed", "epoch")
    ds = xr.Dataset(
        {
            "test_error": (dims, curve[None, None, None]),
            "train_error": (dims, curve[None, None, None] / 2),
            "diverged": (dims[:-1], np.zeros((1, 1, 1, 2), np.int8)),
        },
        coords={
            "depth": [2], "n_over_p": [1.0], "snr": [1.0], "seed": [0, 1], "epoch": epochs,
            "time": (("seed", "epoch"), t),
        },
    )  # fmt: skip
    mean = analysis.seed_statistics(ds).test_error_mean.squeeze().values
    common = t.mean(0)
    expect = np.where(common > 0, 3 - np.log(np.where(common > 0, common, 1)), 5.0)
    covered = common <= t.min(0)[-1] * (1 + 1e-9)  # the slower seed stops at t = 16
    logs = covered & (common >= 2)  # both seeds have recorded times > 0 on either side
    np.testing.assert_allclose(mean[logs], expect[logs], rtol=1e-12)
    assert np.isnan(mean[~covered]).all() and mean[0] == 5.0
    # epoch by epoch the mean would be off by log(1.5) - log(2)/2 = 0.059 where t > 0
    assert abs(curve.mean(0)[3] - expect[3]) > 0.05
    # one shared rate: unchanged, bit for bit
    same = ds.assign_coords(time=("epoch", 1.0 * epochs))
    np.testing.assert_array_equal(analysis.on_common_time(same, "test_error").values, same.test_error.values)


def test_a_rising_training_error_is_flagged_for_full_batch_gd_only():
    """A stable GD step never raises the training loss: a rise between records is flagged
    (and counted per cell by summarize); momentum runs, whose loss may rise, are NaN."""
    grid = "depth = [2]\nn_over_p = [0.5]\nsnr = [2.0]\noptimizer = ['gd', 'momentum']\nseed = { count = 3 }"
    ds = run_sweep(
        parse_spec(spec_text(grid, "n_in = 8", "width = 8", "epochs = 60\nrecord = { every = 6 }"), "<t>")
    )
    clean = analysis.train_error_rose(ds)
    assert (clean.sel(optimizer="gd") == 0).all() and clean.sel(optimizer="momentum").isnull().all()
    spiked = ds.copy(deep=True)
    cell = dict(depth=2, n_over_p=0.5, snr=2.0, seed=1)
    for opt in ("gd", "momentum"):  # a 1% rise from one record to the next
        before = spiked.train_error.loc[dict(cell, optimizer=opt, epoch=24)]
        spiked.train_error.loc[dict(cell, optimizer=opt, epoch=30)] = 1.01 * before
    rose = analysis.train_error_rose(spiked)
    assert rose.sel(dict(cell, optimizer="gd")).item() == 1 and float(rose.sel(optimizer="gd").sum()) == 1
    assert rose.sel(optimizer="momentum").isnull().all()
    counts = analysis.summarize(spiked).n_train_error_rose
    assert counts.sel(optimizer="gd").sum().item() == 1 and counts.sel(optimizer="momentum").isnull().all()
    # a gridded axis selected away: which optimizer ran is unknown, so nothing is flagged
    assert analysis.train_error_rose(spiked.sel(optimizer="momentum", drop=True)).isnull().all()
