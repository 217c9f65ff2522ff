"""A tiny version of the `stopping` gallery item (sweeps/stopping.toml) through ``gallery.make``."""

import json
from pathlib import Path

import pytest

from dynax import gallery, load_spec, run_sweep
from dynax.predict import theory_dataset

SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "stopping.toml"


@pytest.mark.slow  # the stopping item end to end (~9 s)
def test_stopping_tiny(tmp_path):
    over = ["grid.n_over_p=[2.0, 0.5]", "grid.snr=[1.0, 4.0]", "grid.seed={count=3}", "problem.n_in=12",
            "model.width=8", "train.epochs=150"]  # fmt: skip
    spec = load_spec(SPEC, over)
    ds = run_sweep(spec)
    nums = gallery.make("stopping", [(ds, theory_dataset(spec, n=100))], tmp_path)
    assert (tmp_path / "stopping.png").exists() and (tmp_path / "stopping_cost.png").exists()
    assert json.loads((tmp_path / "numbers.json").read_text())
    d1 = nums["depth=1"]["snr=1"]
    # the held-out stop can only lose against the oracle on the same fit set (paired, per run)
    assert all(v >= -1e-12 for v in d1["stopped_over_oracle"])
    assert len(d1["refit_over_stopped"]) == 2 and "refit_over_stopped" not in nums["depth=2"]["snr=1"]
