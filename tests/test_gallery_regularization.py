"""Tiny versions of the `regularization` gallery item's specs (sweeps/regularization_*.toml),
run end to end through ``gallery.make``: weight decay against early stopping, the frozen
subspace emptied, thresholded deep modes and the double-descent peak under ridge."""

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from dynax import gallery, load_spec, run_sweep
from dynax.gallery.regularization import exact_ridge, regularization

module = importlib.import_module(
    "dynax.gallery.regularization"
)  # the module (the package exports the function)

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"
SPECS = ("regularization_path", "regularization_null", "regularization_modes", "regularization_peak")


def _run(name, overrides):
    return run_sweep(load_spec(SWEEPS / f"{name}.toml", overrides)), None


@pytest.fixture
def registered(monkeypatch):
    """The item as dynax/gallery/__init__.py registers it, with a coarser theory quadrature."""
    assert gallery.SPECS["regularization"] == SPECS and gallery._MAKERS["regularization"] is regularization
    monkeypatch.setattr(module, "NODES", 200)  # the theory's quadrature (Gauss-Legendre in seconds)


@pytest.mark.slow  # four tiny sweeps: five compile groups (~25 s)
def test_regularization_tiny(tmp_path, registered):
    path = _run(
        "regularization_path",
        ["grid.n_over_p=[1.0]", "grid.snr=[2.0]", "grid.weight_decay=[0.0, 0.1, 0.5, 5.0]",
         "grid.seed={count=8}", "problem.n_in=40", "train.epochs=1500", "train.learning_rate={auto=0.3}"],
    )  # fmt: skip
    null = _run(
        "regularization_null",
        ["grid.n_over_p=[2.0]", "grid.weight_decay=[0.0, 1.0]", "grid.seed={count=4}",
         "problem.n_in=20", "train.epochs=2000"],
    )  # fmt: skip
    modes = _run(
        "regularization_modes",
        ["grid.depth=[2, 3]", "grid.weight_decay=[0.6]", "grid.init_scale=[0.2, 0.5]", "grid.seed=[0]",
         "problem.n_in=8", "problem.n_out=8", "model.width=8", "train.learning_rate=0.05",
         "train.epochs=1200"],
    )  # fmt: skip
    peak = _run(
        "regularization_peak",
        ["grid.n_over_p=[2.0, 1.0, 0.5]", "grid.weight_decay=[0.01, 0.25]", "grid.seed={count=6}",
         "problem.n_in=30"],
    )  # fmt: skip
    nums = gallery.make("regularization", [path, null, modes, peak], tmp_path)
    assert json.loads((tmp_path / "numbers.json").read_text())["specs"] == list(SPECS)
    assert len(nums["figures"]) == 5
    for fig in nums["figures"]:
        assert Path(fig).stat().st_size > 10_000

    # (a) the long weight-decay runs end at ridge on their own data; early stopping is within
    # a few percent of ridge at gamma*, paired per seed, as the discrete-time theory says
    p = nums["path"]
    assert p["ridge_runs_vs_exact_ridge_max_rel_dev"] < 1e-4
    row = p["table"]["alpha=1,snr=2"]
    assert 0 < row["theory_excess_percent"] < 3
    assert abs(row["excess_over_ridge_percent"] - row["theory_excess_percent"]) < 4 * max(
        row["excess_over_ridge_sem_percent"], 0.2
    )
    assert row["ridge_oracle_mean"] <= row["ridge_gamma_star_mean"] < row["stop_min_of_mean"]
    # the exact per-seed ridge equals the engine's ridge_test_error at gamma* = 1/SNR
    ds = path[0]
    at_star = exact_ridge(ds, [0.5]).isel(gamma=0)
    np.testing.assert_allclose(at_star.transpose(*ds.ridge_test_error.dims), ds.ridge_test_error, rtol=1e-8)

    # (b) weight decay empties the frozen subspace down to each seed's teacher part; without
    # it nothing moves there
    n = nums["null_space"]["alpha=0.5"]
    assert abs(n["gamma=1"]["end_minus_own_teacher_part"]) < 1e-5
    assert n["gamma=1"]["final_vs_ridge_on_same_data_max_rel_dev"] < 1e-4
    assert n["gamma=0"]["end"] == pytest.approx(n["gamma=0"]["start"], rel=1e-5)
    assert n["gamma=1"]["start"] == pytest.approx(n["gamma=0"]["start"], rel=1e-5)
    # modes: depth 2 thresholds at (s - gamma/alpha)_+; at depth 3 the init decides
    m = nums["modes"]
    np.testing.assert_allclose(m["depth=2"]["init_scale=0.2"]["end"], [3.4, 1.4, 0.4, 0, 0], atol=1e-3)
    learnt = {sc: np.asarray(m["depth=3"][f"init_scale={sc}"]["end"]) > 0.1 for sc in (0.2, 0.5)}
    assert learnt[0.2].tolist() == [True, False, False, False, False]
    assert learnt[0.5].tolist() == [True, True, False, False, False]
    assert m["depth=3"]["init_scale=0.5"]["max_abs_dev_vs_recursion"] < 1e-9

    # (d) small gamma peaks at N = P; gamma* has no peak and is lowest everywhere
    k = nums["peak"]
    assert k["gamma=0.01"]["peak_n_over_p_sim"] == 1.0 == k["gamma=0.01"]["peak_n_over_p_theory"]
    assert k["gamma=0.25"]["peak_n_over_p_sim"] == 2.0
    assert k["gamma_star_lowest_at_every_n_over_p"] and k["gamma_star_max_step_toward_more_data"] < 0
    assert k["long_runs_vs_exact_ridge_max_rel_dev"] < 1e-4
