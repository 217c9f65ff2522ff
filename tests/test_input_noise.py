"""Input noise (train.input_noise): the noise-averaged weights are ridge GD at γ = P σ_n² (depth
1, exactly in expectation), E_g against the expected loss at depth 2, and the key's checks."""

import jax
import numpy as np
import pytest
from conftest import initial_weights, spec_text

import dynax
from dynax import engine
from dynax.sim import data, raw


def _spec(depth: int, seeds: int, init: str, flags: str = "") -> dynax.SweepSpec:
    return dynax.parse_spec(
        spec_text(
            f"depth = [{depth}]\nn_over_p = [0.5]\nsnr = [4.0]\nseed = {{ count = {seeds} }}",
            "n_in = 8",
            f"width = 8\ninit = '{init}'\ninit_scale = 0.5",
            f"epochs = 200\nlearning_rate = 0.01\nrecord = {{ log = 6{flags} }}\ndtype = 'float64'\n"
            "input_noise = 0.3",
        )
    )


def test_noise_averaged_weights_follow_ridge_gd():
    """Depth 1 from W = 0 on one fixed training set, 64 draws of the noise (the runs of a batch
    given seed 0's examples, each its own noise stream): the mean final weights equal GD on the
    ridge loss at γ = P σ_n² (the noise enters the gradient linearly and through E[ξξᵀ] = σ_n² I)
    within 4 standard errors per entry, while each run's E_g sits above the mean's (the
    weights' variance). It fails with γ = σ_n² (no factor P)."""
    spec = _spec(1, 64, "zero", ", final_weights = true")
    plan = engine.plan_sweep(spec)
    (group,) = plan.groups
    assert group.config.input_noise
    inputs, _ = engine.inputs.raw_inputs(plan, group, group.runs, engine.inputs.stats_cache(plan))
    same = {
        k: np.broadcast_to(getattr(inputs, k)[:1], getattr(inputs, k).shape) for k in ("x", "z", "t1", "t2")
    }
    inputs = inputs._replace(**same)  # one training set; the seeds now only draw the noise
    out = jax.device_get(jax.jit(jax.vmap(lambda r: raw.train_raw(group.config, r)))(inputs))
    w = np.asarray(out.records["final_weights"])  # (runs, N_out, N)
    p, sigma_n, noise_std = spec.n_train[0], 0.3, float(inputs.noise_std[0])
    x = np.asarray(inputs.x[0, :p])
    y = x @ np.asarray(inputs.t1[0]).T + noise_std * np.asarray(inputs.z[0, :p])
    ridge = np.zeros_like(w[0])
    for _ in range(spec.train.epochs):
        ridge = ridge - 0.01 * (-(y.T - ridge @ x.T) @ x + p * sigma_n**2 * ridge)
    se = w.std(0, ddof=1) / np.sqrt(len(w))
    assert (np.abs(w.mean(0) - ridge) <= 4 * se).all()
    # the spread is real: each run's distance from the teacher exceeds the mean weights'
    w_bar = np.asarray(inputs.t1[0])
    assert np.mean(np.sum((w - w_bar) ** 2, axis=(1, 2))) > np.sum((w.mean(0) - w_bar) ** 2)


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
    }
    for text, words in bad.items():
        with pytest.raises(dynax.SpecError, match=words):
            dynax.parse_spec(text)
