"""Input noise (train.input_noise): the noise-averaged weights are ridge GD at γ = P σ_n² (depth
1, exactly in expectation), E_g against the expected loss at depth 2, and the key's checks."""

import numpy as np
import pytest
from conftest import initial_weights, spec_text

import dynax
from dynax import analysis
from dynax.sim import data


def _spec(depth: int, seeds: int, init: str, flags: str = "", draws: int = 0) -> dynax.SweepSpec:
    draw = f"\ndraw = {{ count = {draws} }}" if draws else ""
    return dynax.parse_spec(
        spec_text(
            f"depth = [{depth}]\nn_over_p = [0.5]\nsnr = [4.0]{draw}\nseed = {{ count = {seeds} }}",
            "n_in = 8",
            f"width = 8\ninit = '{init}'\ninit_scale = 0.5",
            f"epochs = 200\nlearning_rate = 0.01\nrecord = {{ log = 6{flags} }}\ndtype = 'float64'\n"
            "input_noise = 0.3",
        )
    )


def test_noise_averaged_weights_follow_ridge_gd():
    """Depth 1 from W = 0 on one training set (seed 0), 64 draws of the noise (grid.draw: the
    same data and initial weights, another draw of the noise stream each): the mean final weights
    equal GD on the ridge loss at γ = P σ_n² (the noise enters the gradient linearly and through
    E[ξξᵀ] = σ_n² I) within 4 standard errors per entry, while each run's E_g sits above the
    mean's (the weights' variance). It fails with γ = σ_n² (no factor P). Draw 0 is the run without
    the axis, bit for bit."""
    spec = _spec(1, 1, "zero", ", final_weights = true", draws=64)
    ds = dynax.run_sweep(spec)
    assert ds.test_error.dims[3] == "draw" and ds.draw.dtype == np.int64
    w = ds.final_weights.isel(depth=0, n_over_p=0, snr=0, seed=0).values  # (draw, N_out, N)
    p, sigma_n = spec.n_train[0], 0.3
    x, y, w_bar, _ = data.raw_data(0, 0, p, 8, 1, 1.0, 4.0)
    ridge = np.zeros_like(w[0])
    for _ in range(spec.train.epochs):
        ridge = ridge - 0.01 * (-(y.T - ridge @ x.T) @ x + p * sigma_n**2 * ridge)
    se = w.std(0, ddof=1) / np.sqrt(len(w))
    assert (np.abs(w.mean(0) - ridge) <= 4 * se).all()
    # the spread is real: each run's distance from the teacher exceeds the mean weights'
    assert np.mean(np.sum((w - w_bar) ** 2, axis=(1, 2))) > np.sum((w.mean(0) - w_bar) ** 2)
    # fresh noise raises the clean training error by design: no run is flagged, every one NaN
    assert analysis.train_error_rose(ds).isnull().all()
    alone = dynax.run_sweep(_spec(1, 1, "zero", ", final_weights = true"))
    np.testing.assert_array_equal(alone.final_weights.isel(depth=0, n_over_p=0, snr=0, seed=0).values, w[0])
    assert spec.sha256 != _spec(1, 1, "zero", ", final_weights = true").sha256


def _expected_gd(x, y, ws, lr, epochs, gamma):
    """GD on the expected loss ½Σ‖y − W_eff x‖² + ½γ‖W_eff‖² (γ = P σ_n²), depth 1 or 2."""
    ws = [np.array(w, np.float64) for w in ws]
    effs = []
    for _ in range(epochs + 1):
        eff = ws[-1] if len(ws) == 1 else ws[1] @ ws[0]
        effs.append(eff)
        g = -((y.T - eff @ x.T) @ x) + gamma * eff
        ws = [ws[0] - lr * g] if len(ws) == 1 else [ws[0] - lr * ws[1].T @ g, ws[1] - lr * g @ ws[0].T]
    return np.array(effs)


@pytest.mark.slow  # 10 s; test_noise_averaged_weights_follow_ridge_gd covers the trainer
def test_input_noise_follows_its_expected_loss_at_depth_2():
    """32 seeds, each its own data and noise, against GD on the expected loss from the same
    initial weights: the seed means agree within 2 standard errors at every recorded epoch (the
    weights' variance puts the simulation above by a fraction of one)."""
    spec = _spec(2, 32, "gaussian_fan_in")
    ds = dynax.run_sweep(spec)
    sim = ds.test_error.squeeze().values
    p, noise_var = spec.n_train[0], float(ds.noise_var.squeeze())
    theory = []
    for s in range(32):
        rd = data.seed_raw_data(spec.seed, s, spec.problem, p)
        x = rd.x[:p]
        y = x @ rd.t1.T + np.sqrt(noise_var) * rd.z[:p]
        effs = _expected_gd(x, y, initial_weights(spec, 2, s), 0.01, 200, p * 0.3**2)
        theory.append([np.sum((effs[e] - rd.t1) ** 2) / 8 + noise_var for e in ds.epoch.values])
    theory = np.array(theory)
    se = sim.std(0, ddof=1) / np.sqrt(32)
    assert (np.abs(sim.mean(0) - theory.mean(0)) <= 2 * se + 1e-12).all()


def test_input_noise_keys_are_checked_and_zero_is_absent_from_the_hash():
    base = spec_text(
        "depth = [1, 2]\nn_over_p = [0.5]\nsnr = [4.0]\nseed = { count = 2 }", "n_in = 8", "width = 8"
    )
    assert dynax.parse_spec(base + "input_noise = 0\n").sha256 == dynax.parse_spec(base).sha256
    bad = {
        base + "input_noise = -0.1\n": "train.input_noise",
        base + "input_noise = 0.1\nlearning_rate = { auto = 0.5 }\n": "learning_rate",
        base.replace("depth = [1, 2]", "depth = [2]").replace(
            "width = 8", "width = 8\nstudent = 'random_features'"
        )
        + "input_noise = 0.1\nlearning_rate = 0.01\n": "deep_linear",
        base.replace("seed =", "draw = { count = 3 }\nseed ="): "grid.draw.*neither",
        base + "draw = -1\n": "train.draw",
    }
    assert dynax.parse_spec(base + "draw = 0\n").sha256 == dynax.parse_spec(base).sha256
    for text, words in bad.items():
        with pytest.raises(dynax.SpecError, match=words):
            dynax.parse_spec(text)
