"""Weight decay in every trainer, against NumPy GD, the depth-1 theory and the convex
problem a two-layer penalty reduces to."""

import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

from dynax import parse_spec, run_sweep, theory
from dynax.sim import data


@pytest.mark.slow  # eight sweeps, a dozen compiles (~35 s)
def test_every_trainer_applies_weight_decay_alike():
    grid = "depth = [1, 2, 3]\nn_over_p = [0.5, 2.0]\nsnr = 2.0\nseed = 3\nweight_decay = [0.0, 0.4]"
    text = spec_text(
        grid,
        "n_in = 10",
        "width = 8\ninit_scale = 0.3",
        "epochs = 60\nrecord = { every = 6 }\ndtype = 'float64'",
    )
    base = run_sweep(parse_spec(text, overrides=["train.method=gd", "train.kernel=xla"]))
    closed = run_sweep(parse_spec(text, overrides=["grid.depth=1"]))  # the depth-1 closed form
    fused = run_sweep(parse_spec(text, overrides=["grid.depth=[2, 3]", "train.kernel=fused"]))
    mom = ["grid.depth=2", "train.optimizer=momentum"]
    fused_m = run_sweep(parse_spec(text, overrides=[*mom, "train.kernel=fused"]))
    xla_m = run_sweep(parse_spec(text, overrides=[*mom, "train.kernel=xla"]))
    pallas = run_sweep(parse_spec(text, overrides=["grid.depth=[2, 3]", "train.kernel=pallas"]))
    pallas_m = run_sweep(parse_spec(text, overrides=[*mom, "train.kernel=pallas"]))
    # one minibatch of all P examples on the raw-data path (one compile: depth 2, one P)
    raw = run_sweep(parse_spec(text, overrides=["train.batch_size=20", "grid.depth=2", "grid.n_over_p=0.5"]))
    scale = float(base.test_error.isel(epoch=0).max())
    pairs = (closed, base), (fused, base), (fused_m, xla_m), (pallas, base), (pallas_m, xla_m), (raw, base)
    for other, ref in pairs:
        ref = ref.sel(depth=other.depth, n_over_p=other.n_over_p)
        for name in ("test_error", "train_error", "best_test_error"):
            assert float(abs(other[name] - ref[name]).max()) < 1e-10 * scale, name
    assert "fused" in fused.kernel and "closed_form" in closed.kernel and "pallas" in pallas_m.kernel
    # and the decay changes the numbers: E_g(end) differs with γ
    end = base.test_error.isel(epoch=-1)
    assert float(abs(end.sel(weight_decay=0.4) - end.sel(weight_decay=0.0)).min()) > 1e-3


@pytest.mark.parametrize("depth", [1, 3])
def test_weight_decay_equals_a_numpy_loop_and_its_gradient_vanishes(depth):
    gamma, lr, epochs = 0.5, 0.05, 1500  # the slowest mode contracts by ≥ εγ per epoch: e^-37
    text = spec_text(
        f"depth = {depth}\nn_over_p = 0.5\nsnr = 4.0\nseed = 2",
        "n_in = 6\nn_out = 2",
        "width = 5\ninit_scale = 0.6",
        f"epochs = {epochs}\nrecord = {{ log = 10, final_weights = true }}\nlearning_rate = {lr}\n"
        f"dtype = 'float64'\nweight_decay = {gamma}\nmethod = 'gd'",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    x, y, _w_bar, _noise_var = data.raw_data(0, 2, 12, 6, 2, 1.0, 4.0)
    w0 = initial_weights(spec, depth, 2, p=12)
    saved, effs = numpy_gd(x, y, w0, lr, epochs, [epochs], weight_decay=gamma)
    np.testing.assert_allclose(ds.final_weights.squeeze(), effs[-1], rtol=0, atol=1e-9)
    ws = saved[epochs]  # at the end the regularised loss is stationary: every layer's gradient ~ 0
    for i, w in enumerate(ws):
        left = np.eye(2)
        for v in reversed(ws[i + 1 :]):
            left = left @ v
        right = np.eye(6)
        for v in ws[:i]:
            right = v @ right
        grad = -left.T @ ((y.T - effs[-1] @ x.T) @ x) @ right.T + gamma * w
        assert np.abs(grad).max() < 1e-8 * max(1.0, np.abs(w).max())


def test_two_layer_weight_decay_reaches_the_convex_minimum():
    # (γ/2)(‖W_1‖² + ‖w_2‖²) at its balanced optimum is γ‖w‖ for one output: the minimum of
    # ½‖y − Xw‖² + γ‖w‖ is ridge at γ/‖w‖ with ‖w‖ a fixed point, found by bisection
    gamma = 0.8
    text = spec_text(
        "depth = 2\nn_over_p = 0.5\nsnr = 2.0\nseed = 1",
        "n_in = 8",
        "width = 8\ninit_scale = 0.3",
        f"epochs = 6000\nrecord = {{ log = 5, final_weights = true }}\nlearning_rate = 0.02\n"
        f"dtype = 'float64'\nweight_decay = {gamma}",
    )
    ds = run_sweep(parse_spec(text))
    x, y, _, _ = data.raw_data(0, 1, 16, 8, 1, 1.0, 2.0)
    g, b = x.T @ x, x.T @ y[:, 0]

    def ridge(rho):
        return np.linalg.solve(g + (gamma / rho) * np.eye(8), b)

    lo, hi = 1e-6, 1e3  # ‖ridge(γ/ρ)‖ − ρ changes sign once
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if np.linalg.norm(ridge(mid)) > mid else (lo, mid)
    np.testing.assert_allclose(ds.final_weights.squeeze(), ridge(lo), rtol=0, atol=1e-8)


@pytest.mark.slow
def test_depth1_weight_decay_follows_the_theory_within_sampling_error():
    n, seeds, gamma = 200, 32, 0.5
    text = spec_text(
        f"depth = 1\nn_over_p = [2.0, 0.5]\nsnr = 2.0\nseed = {{ count = {seeds} }}",
        f"n_in = {n}",
        "init = 'gaussian_fan_in'\ninit_scale = 0.5",
        "epochs = 300\nrecord = { log = 25 }\nlearning_rate = 0.1\ndtype = 'float64'\n"
        f"weight_decay = {gamma}",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
        curves = ds.test_error.sel(n_over_p=r).squeeze()
        mean, sem = curves.mean("seed"), curves.std("seed") / np.sqrt(seeds)
        th = theory.test_error(
            p / n, 1.0, 0.5, 0.25 / n, epochs=spec.record_epochs, step=0.1, weight_decay=gamma
        )
        z = np.abs(mean.values - th) / np.maximum(sem.values, 1e-12)
        assert z.max() < 4, (r, z.max())
