"""A tiny version of the `hierarchy` gallery item (sweeps/hierarchy_*.toml) through ``gallery.make``:
stages on the exact recursion, broad-to-fine similarity, illusory correlations only in deep
networks, and fewer levels learnt by the optimal stopping time as the noise grows."""

import json
from pathlib import Path

import numpy as np
import pytest

from dynax import gallery, load_spec, run_sweep

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


def _run(name, overrides):
    return run_sweep(load_spec(SWEEPS / f"{name}.toml", overrides)), None


@pytest.mark.slow  # the hierarchy item end to end (~7 s)
def test_hierarchy_tiny(tmp_path):
    small = ["grid.depth=[1, 2]", "grid.seed={count=1}"]
    stages = _run("hierarchy_stages", [*small, "grid.init_scale=[0.1, 0.3]", "train.epochs=500"])
    noise = _run("hierarchy_noise", [*small, "grid.snr=[0.5, 5.0]", "train.epochs=800"])
    nums = gallery.make("hierarchy", [stages, noise], tmp_path)
    assert json.loads((tmp_path / "numbers.json").read_text())["item"] == "hierarchy"
    assert all(Path(f).stat().st_size > 10_000 for f in nums["figures"]) and len(nums["figures"]) == 4
    st = nums["stages"]
    assert st["max_abs_sim_minus_theory_over_s"] < 1e-3  # float32 against the exact recursion
    deep = st["depth=2"]["init_scale=0.1"]["half_time_sim"]
    assert np.all(np.diff(deep) > 0)  # level by level, broad first
    assert 0.85 < st["depth=1"]["init_scale=0.1"]["last_over_first_level"] <= 1.0  # together
    assert np.all(np.diff(nums["similarity"]["depth=2"]["half_differentiation_time"]) > 0)
    ill = nums["illusory"]
    assert all(ill["depth=1"][k]["pairs_sim"] == 0 for k in ill["depth=1"])
    assert (
        ill["depth=2"]["init_scale=0.1"]["pairs_sim"] == ill["depth=2"]["init_scale=0.1"]["pairs_theory"] > 0
    )
    d2 = nums["noise"]["depth=2"]
    assert d2["snr=5"]["levels_over_half"] > d2["snr=0.5"]["levels_over_half"]
