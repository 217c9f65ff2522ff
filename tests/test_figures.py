"""What dynax analyze draws: every axis's limits finite and covering what is drawn on it, each
map says its reduction, and the late-optimum marks appear where the summary has them."""

import numpy as np
import pytest
import xarray as xr
from conftest import spec_text

import dynax
from dynax import plot


@pytest.fixture(scope="module")
def result():
    grid = "depth = [1, 2]\nn_over_p = [0.5, 1.0, 2.0]\nsnr = [0.5, 4.0]\nseed = { count = 3 }"
    text = spec_text(grid, "n_in = 16", "width = 16\ninit_scale = 0.1", "epochs = 400\nrecord = { log = 30 }")
    ds = dynax.run(text, progress=False)
    return ds, dynax.analyze(ds, theory=True), dynax.predict(ds)


def test_every_axis_covers_its_data(result):
    ds, summary, theory = result
    figs = plot.analysis_figures(summary, ds, theory)
    assert {"phase_diagram", "error_at_time", "learning_curves", "excess_over_bayes"} <= set(figs)
    for name, fig in figs.items():
        fig.canvas.draw()  # the limits are final after a draw
        for ax in fig.axes:
            lo, hi = sorted(ax.get_ylim())
            assert np.isfinite([lo, hi]).all() and hi > lo, name
            for line in ax.get_lines():
                y = np.asarray(line.get_ydata(), float)
                y = y[np.isfinite(y)]
                if ax.get_yscale() == "log":
                    y = y[y >= lo]  # the E_t floor: interpolating runs fall to rounding level
                if y.size and line.get_label() != "N = P":
                    assert y.min() >= lo * (1 - 1e-9) and y.max() <= hi * (1 + 1e-9), (name, line.get_label())


def test_maps_name_their_reduction_and_mark_late_optima(result):
    summary = result[1]
    late = summary.reached_optimum.copy()
    late[:] = np.where(np.isnan(late), np.nan, 1.0)
    late[0, 1, 0] = 0.5  # one grid point where a run's optimum came late
    fig = plot.phase_diagram(summary.assign(reached_optimum=late))
    assert "seed-mean" in fig.get_suptitle() or "seed-mean" in fig.axes[-1].get_ylabel()
    marks = [c for ax in fig.axes for c in ax.collections if c.get_label().startswith("optimum not reached")]
    assert len(marks) == 1 and len(marks[0].get_offsets()) == 1


@pytest.mark.parametrize("n_snr", [3, 4])
def test_maps_draw_contours_only_through_enough_rows(n_snr):
    """A contour through 2-3 rows of cells is mostly straight-line interpolation: drawn from 4
    values along each axis, else the legend says there are none."""
    x, y = np.geomspace(0.3, 3, 6), np.geomspace(0.5, 8, n_snr)
    da = xr.DataArray(np.add.outer(np.log(y), np.log(x)) + 3, {"snr": y, "n_over_p": x}, ("snr", "n_over_p"))
    fig = plot.heatmaps(da, label="E", log=True)
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    contours = [c for ax in fig.axes for c in ax.collections if type(c).__name__ == "QuadContourSet"]
    assert bool(contours) == (n_snr >= 4)
    assert any(t.startswith("no contours") for t in labels) == (n_snr < 4)


@pytest.mark.slow  # 13-15 s: the default suite stays under 10 minutes on 2 cores
def test_facet_draws_an_extra_axis_inside_each_figure(tmp_path, capsys):
    from dynax.cli import main

    grid = (
        "depth = [1]\nn_over_p = [0.5, 2.0]\nsnr = [0.5, 4.0]\noptimizer = ['gd', 'momentum']\n"
        "learning_rate = [0.01, 0.02]\nseed = { count = 2 }"
    )
    text = spec_text(grid, "n_in = 12", "", "epochs = 100\nrecord = { log = 10 }")
    out = tmp_path / "r.nc"
    dynax.run(text, output=out, progress=False)
    assert main(["analyze", str(out), "--facet", "optimizer", "--x", "learning_rate"]) == 0
    pngs = sorted(p.name for p in (tmp_path / "r").glob("*.png"))
    assert pngs and not any("optimizer=" in p for p in pngs)  # one file per figure, not per value
    # --x: E_g* against the learning rate, the one other small axis (optimizer) as line styles
    assert "error_vs_learning_rate.png" in pngs
    summary = dynax.analyze(out)
    fig = plot.error_vs(summary, "learning_rate", overlay="optimizer")
    styles = {line.get_linestyle() for ax in fig.axes for line in ax.get_lines()}
    assert styles == {"-", "--"} and len(fig.axes) == 2  # depth 1 x two finite SNRs
    sel = {"learning_rate": 0.01}
    figs = plot.analysis_figures(summary.sel(sel), xr.load_dataset(out).sel(sel), facet="optimizer")
    assert all(len(f.subfigs) == 2 for f in figs.values())
    assert main(["analyze", str(out), "--facet", "width", "--force"]) == 2
    assert "allowed: optimizer" in capsys.readouterr().err
    assert main(["analyze", str(out), "--x", "depth", "--force"]) == 2
    assert "allowed: n_over_p, optimizer, learning_rate" in capsys.readouterr().err
    assert main(["analyze", str(out), "--overlay", "optimizer", "--force"]) == 2
