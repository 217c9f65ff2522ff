"""Optimizers beyond plain GD against NumPy loops: Nesterov momentum (the XLA kernel; the
eigenbasis kernels do not take it and its groups fall back to the XLA kernel)."""

import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

from dynax import parse_spec, plan_sweep, run_sweep
from dynax.sim import data

NESTEROV = spec_text(
    "depth = [1, 2]\nn_over_p = [2.0, 0.5]\nsnr = 2.0\nseed = [0, 5]",
    "n_in = 8",
    "width = 6\ninit_scale = 0.4",
    "epochs = 60\nrecord = { every = 10 }\nlearning_rate = 0.03\noptimizer = 'nesterov'\nmomentum = 0.8\n"
    "dtype = 'float64'\nkernel = 'fused'\nweight_decay = 0.1",
)


def test_nesterov_equals_a_numpy_loop():
    spec = parse_spec(NESTEROV)
    assert {g.trainer for g in plan_sweep(spec).groups} == {"xla"}  # fused asked for, not taken
    ds = run_sweep(spec)
    for depth in (1, 2):
        for seed in (0, 5):
            w0 = initial_weights(spec, depth, seed)
            for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
                x, y, w_bar, noise_var = data.raw_data(0, seed, p, 8, 1, 1.0, 2.0)
                _, effs = numpy_gd(x, y, w0, 0.03, 60, (), weight_decay=0.1, nesterov=0.8)
                curves = effs[list(spec.record_epochs)]
                test = np.sum((curves - w_bar) ** 2, axis=(1, 2)) / 8 + noise_var
                train = np.mean((y.T[None] - curves @ x.T) ** 2, axis=(1, 2))
                run = ds.sel(depth=depth, n_over_p=r, seed=seed).squeeze()
                np.testing.assert_allclose(run.test_error, test, rtol=1e-10)
                np.testing.assert_allclose(run.train_error, train, rtol=1e-10)
                # the exact running minimum over every epoch, not only the records
                every = np.sum((effs - w_bar) ** 2, axis=(1, 2)) / 8 + noise_var
                np.testing.assert_allclose(run.best_test_error, every.min(), rtol=1e-10)
                assert int(run.best_epoch) == int(np.argmin(every))


@pytest.mark.slow  # 7 s; test_nesterov_equals_a_numpy_loop is the oracle in the default run
def test_nesterov_differs_from_heavy_ball_and_the_auto_rate_treats_it_as_momentum():
    auto = ["train.learning_rate={auto=0.5}", "train.weight_decay=0", "train.epochs=30"]
    nesterov = run_sweep(parse_spec(NESTEROV, overrides=auto))
    heavy = run_sweep(parse_spec(NESTEROV, overrides=[*auto, "train.optimizer=momentum"]))
    np.testing.assert_array_equal(nesterov.learning_rate_used, heavy.learning_rate_used)
    assert int(nesterov.diverged.sum()) == 0
    assert float(abs(nesterov.test_error - heavy.test_error).max()) > 1e-6
