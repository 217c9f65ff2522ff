"""Early stopping on held-out examples: the split, the stopped error against a NumPy loop,
the depth-1 refit, and bad values."""

import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

from dynax import parse_spec, run_sweep
from dynax.sim import data
from dynax.spec import SpecError


@pytest.mark.parametrize(
    ("value", "grid", "words"),
    [
        ("0", "", "≥ 1"),
        ("-0.1", "", "> 0"),
        ("1.0", "", "< 1"),
        ("1.5", "", "< 1"),
        ("8", "n_over_p = [0.5, 2.0]", "V = 8 of P = 6 examples at n_over_p = 2.0"),
        ("0.2", "n_over_p = 12.0", "P = 1"),
        ("true", "", "a fraction"),
    ],
)
def test_bad_validation_values_are_spec_errors_naming_the_p(value, grid, words):
    grid = grid or "n_over_p = 0.5"
    with pytest.raises(SpecError) as e:
        parse_spec(spec_text(f"depth = 1\n{grid}\nsnr = 1.0\nseed = 0", train=f"validation = {value}"))
    assert "`train.validation`" in str(e.value) and words in str(e.value), str(e.value)
    for other in ("protocol = 'online'", "batch_size = 2"):
        with pytest.raises(SpecError, match=r"train\.validation"):
            parse_spec(
                spec_text(
                    "depth = 1\nn_over_p = 0.5\nsnr = 1.0\nseed = 0", train=f"validation = 0.2\n{other}"
                )
            )


@pytest.mark.slow  # a NumPy loop of every run (~14 s)
def test_held_out_stopping_equals_a_numpy_loop_and_the_refit():
    lr, epochs = 0.02, 150
    text = spec_text(
        "depth = [1, 2]\nn_over_p = [0.5, 1.5]\nsnr = 1.0\nseed = [0, 3]",
        "n_in = 12\nn_out = 2",
        "width = 6\ninit_scale = 0.3",
        f"epochs = {epochs}\nrecord = {{ every = 15 }}\nlearning_rate = {lr}\ndtype = 'float64'\n"
        "validation = 0.25",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    gd = run_sweep(parse_spec(text, overrides=["train.method=gd"]))  # the closed form vs the GD kernel
    for name in ("validation_error", "stopped_test_error", "refit_test_error"):
        np.testing.assert_allclose(ds[name], gd[name], rtol=1e-10)
    np.testing.assert_array_equal(ds.stopped_epoch, gd.stopped_epoch)
    np.testing.assert_array_equal(ds.n_fit, [18, 6])  # P − round(P/4): the last V of P held out
    for depth in (1, 2):
        for r, p, p_fit in zip((0.5, 1.5), spec.n_train, spec.n_fit, strict=True):
            for seed in (0, 3):
                x, y, w_bar, nv = data.raw_data(0, seed, p, 12, 2, 1.0, 1.0)
                w0 = initial_weights(spec, depth, seed, p=p_fit)
                _, effs = numpy_gd(x[:p_fit], y[:p_fit], w0, lr, epochs, [])
                xv, yv = x[p_fit:], y[p_fit:]  # held out: the last V examples
                val = np.array([np.mean((yv - xv @ w.T) ** 2) for w in effs])
                test = np.sum((effs - w_bar) ** 2, axis=(1, 2)) / 24 + nv
                k = int(np.argmin(val))
                run = ds.sel(depth=depth, n_over_p=r, seed=seed).squeeze()
                np.testing.assert_allclose(run.validation_error, val[list(spec.record_epochs)], rtol=1e-10)
                assert int(run.stopped_epoch) == k
                np.testing.assert_allclose(run.stopped_test_error, test[k], rtol=1e-10)
                if depth == 1:  # refit: all P examples, the same rate and start, k epochs
                    _, full = numpy_gd(x, y, w0, lr, max(k, 1), [])
                    refit = np.sum((full[k] - w_bar) ** 2) / 24 + nv
                    np.testing.assert_allclose(run.refit_test_error, refit, rtol=1e-10)
                    k_t = int(np.floor(k * p_fit / p + 0.5))  # the same λt: Σ_xx grows with P
                    refit = np.sum((full[k_t] - w_bar) ** 2) / 24 + nv
                    np.testing.assert_allclose(run.refit_equal_time_test_error, refit, rtol=1e-10)
                else:
                    assert np.isnan(run.refit_test_error) and np.isnan(run.refit_equal_time_test_error)


@pytest.mark.slow  # 13 s; test_held_out_stopping_equals_a_numpy_loop_and_the_refit covers the held-out path
def test_held_out_ridge_equals_a_direct_fit_on_the_raw_data():
    """γ chosen on the held-out examples (ridge fitted to the others), then refitted on all P:
    against NumPy's solve on the raw examples."""
    from dynax.engine.refit import HELDOUT_GAMMAS

    text = spec_text(
        "depth = 1\nn_over_p = [0.5, 1.5]\nsnr = [0.5, 4.0]\nseed = [0, 3]",
        "n_in = 12\nn_out = 2",
        "init_scale = 0.3",
        "epochs = 20\nrecord = { every = 10 }\nvalidation = 0.25",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    chosen = set()
    for r, p, p_fit in zip((0.5, 1.5), spec.n_train, spec.n_fit, strict=True):
        for snr in (0.5, 4.0):
            for seed in (0, 3):
                x, y, w_bar, nv = data.raw_data(0, seed, p, 12, 2, 1.0, snr)

                def ridge(x, y, g):
                    return np.linalg.solve(x.T @ x + g * np.eye(12), x.T @ y).T

                val = [
                    np.sum((y[p_fit:] - x[p_fit:] @ ridge(x[:p_fit], y[:p_fit], g).T) ** 2)
                    for g in HELDOUT_GAMMAS
                ]
                g = HELDOUT_GAMMAS[int(np.argmin(val))]
                run = ds.sel(n_over_p=r, snr=snr, seed=seed).squeeze()
                assert float(run.heldout_ridge_gamma) == g
                for name, w in (
                    ("heldout_ridge_test_error", ridge(x[:p_fit], y[:p_fit], g)),
                    ("heldout_ridge_refit_test_error", ridge(x, y, g)),
                ):
                    np.testing.assert_allclose(run[name], np.sum((w - w_bar) ** 2) / 24 + nv, rtol=1e-9)
                chosen.add(g)
    assert len(chosen) > 2  # the choice depends on the data (not a grid edge everywhere)
