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
    illusory = _run("hierarchy_illusory", [*small, "grid.init_scale=[0.1, 0.3]", "train.epochs=500"])
    noise = _run("hierarchy_noise", [*small, "grid.snr=[0.5, 5.0]", "train.epochs=800"])
    nums = gallery.make("hierarchy", [stages, illusory, noise], tmp_path)
    assert json.loads((tmp_path / "numbers.json").read_text())["item"] == "hierarchy"
    assert all(Path(f).stat().st_size > 10_000 for f in nums["figures"]) and len(nums["figures"]) == 4
    st = nums["stages"]
    assert st["max_abs_sim_minus_theory_over_s"] < 1e-3  # float32 against the exact recursion
    deep = st["depth=2"]["init_scale=0.1"]["half_time_sim"]
    assert np.all(np.diff(deep) > 0)  # level by level, broad first
    assert 0.85 < st["depth=1"]["init_scale=0.1"]["last_over_first_level"] <= 1.0  # together
    assert np.all(np.diff(nums["similarity"]["depth=2"]["half_differentiation_time"]) > 0)
    hidden = nums["similarity"]["hidden_layer_1"]["depth=2,layer=1"]["half_differentiation_time"]
    assert np.all(np.diff(hidden) > 0)  # the hidden layer differentiates broad to fine too
    ill = nums["illusory"]
    assert all(ill["depth=1"][k]["pairs_sim"] == 0 for k in ill["depth=1"])
    # the records can only miss a brief excursion (the theory is read at every epoch), never add one
    sim, th = ill["depth=2"]["init_scale=0.1"]["pairs_sim"], ill["depth=2"]["init_scale=0.1"]["pairs_theory"]
    assert 0.9 * th <= sim <= th and th > 0
    d2 = nums["noise"]["depth=2"]
    assert d2["snr=5"]["levels_over_half"] > d2["snr=0.5"]["levels_over_half"]


def test_hidden_layer_similarity_of_an_aligned_balanced_network():
    """(W_effᵀW_eff)^{l/D} from the output similarity equals W_lᵀ⋯ W_1ᵀ W_1 ⋯ W_l of a depth-3
    network whose layers carry the same strength a = u^{1/3} of each mode (rotated hidden bases)."""
    from dynax.gallery.hierarchy import hidden_similarity

    rng = np.random.default_rng(0)
    n_out, n, h = 12, 5, 5
    u_mat = np.linalg.qr(rng.standard_normal((n_out, n)))[0]
    v = np.linalg.qr(rng.standard_normal((n, n)))[0]
    r1, r2 = (np.linalg.qr(rng.standard_normal((h, h)))[0] for _ in range(2))
    a = rng.uniform(0.2, 1.5, n)  # per-layer strength of each mode
    w1, w2, w3 = r1 * a @ v.T, r2 * a @ r1.T, u_mat * a @ r2.T
    w_eff = w3 @ w2 @ w1
    s = w_eff.T @ w_eff / n_out
    np.testing.assert_allclose(hidden_similarity(s, n_out, 1, 3), w1.T @ w1, atol=1e-12)
    np.testing.assert_allclose(hidden_similarity(s, n_out, 2, 3), (w2 @ w1).T @ (w2 @ w1), atol=1e-12)
    np.testing.assert_allclose(hidden_similarity(s, n_out, 3, 3), n_out * s, atol=1e-12)
