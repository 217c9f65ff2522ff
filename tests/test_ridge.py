"""The paired ridge baselines on each run's own data, and the excess of early stopping over them."""

import numpy as np
from conftest import spec_text

import dynax
from dynax import parse_spec, run_sweep
from dynax.sim import data


def test_ridge_baselines_equal_a_direct_fit_on_the_same_data():
    text = spec_text(
        "depth = 1\nn_over_p = [2.0, 0.5]\nsnr = [inf, 0.5]\nseed = [0, 7]",
        "n_in = 12\nn_out = 2",
        "init_scale = 0.1",
        "epochs = 40\nrecord = { log = 8 }",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    assert ds.ridge_test_error.dims == ("n_over_p", "snr", "seed")
    for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
        for snr in (np.inf, 0.5):
            for seed in (0, 7):
                x, y, w_bar, nv = data.raw_data(0, seed, p, 12, 2, 1.0, snr)
                g = x.T @ x

                def direct(gamma, x=x, y=y, w_bar=w_bar, nv=nv, g=g):
                    w = (
                        (y.T @ x @ np.linalg.pinv(g))
                        if gamma == 0
                        else np.linalg.solve(g + gamma * np.eye(12), x.T @ y).T
                    )
                    return np.sum((w - w_bar) ** 2) / 24 + nv

                at = ds.sel(n_over_p=r, snr=snr, seed=seed)
                gamma_star = nv / 1.0  # σ_ε²/σ_w²; the min-norm solution when noiseless
                np.testing.assert_allclose(at.ridge_test_error, direct(gamma_star), rtol=1e-10, atol=1e-14)
                best, gamma = float(at.best_ridge_test_error), float(at.best_ridge_gamma)
                np.testing.assert_allclose(best, direct(gamma), rtol=1e-10, atol=1e-14)
                # the oracle is at least as good as γ* and as a grid of γ around it
                for other in (gamma_star, *np.geomspace(1e-3, 1e2, 11)):
                    assert best <= direct(other) * (1 + 1e-9) + 1e-14
    s = dynax.analyze(ds)
    for name in ("excess_over_ridge", "excess_over_ridge_sem", "best_excess_over_ridge"):
        assert name in s and set(s[name].dims) == {"depth", "n_over_p", "snr"}
    # depth 1 stops close to ridge at γ* on the same data (the §2.7 range), never far below it
    assert float(s.excess_over_ridge.sel(depth=1, snr=0.5).max()) < 0.2
