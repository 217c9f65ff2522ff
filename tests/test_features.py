"""The random-feature closed form (dynax.theory.features, dynax.predict.decomposition_dataset)
against its oracles: Monte Carlo moments of ReLU units, the engine's trained readouts on its
own test set, the exact identity of the error decomposition, and the frozen null space of
the training features."""

import jax
import numpy as np
import pytest
from conftest import spec_text

from dynax import parse_spec, predict, run_sweep, theory
from dynax.sim import data, raw, teachers
from dynax.sim.init import InitConfig, init_from
from dynax.spec import INITS


def test_relu_moments_match_monte_carlo():
    """The arc-cosine kernel against 4·10⁵ samples of x ~ N(0, I/N), including a pair of
    opposite rows (θ = π, moment 0) and a row with itself (variance/2)."""
    rng = np.random.default_rng(1)
    n = 7
    u = rng.normal(size=(4, n))
    u[3] = -u[0]
    x = rng.normal(size=(400_000, n)) / np.sqrt(n)
    h = np.maximum(x @ u.T, 0.0)
    mc = h.T @ h / len(x)
    se = np.sqrt(np.var(h[:, :, None] * h[:, None, :], axis=0) / len(x))
    exact = theory.relu_moments(u, u)
    assert np.all(np.abs(mc - exact) < 5 * se + 1e-12)
    assert abs(exact[0, 3]) < 1e-15 * exact[0, 0]
    np.testing.assert_allclose(np.diag(exact), np.sum(u * u, 1) / (2 * n), rtol=1e-12)


def _spec(init="init = 'gaussian'"):
    grid = (
        "depth = 2\nn_over_p = [0.3]\nsnr = [inf, 2.0]\nwidth = [8, 20, 40]\n"
        "init_scale = [0.0, 3.0]\nseed = { count = 3 }"
    )
    return parse_spec(
        spec_text(
            grid,
            "n_in = 6\nteacher = 'relu'\nteacher_width = 10\nn_test = 4000",
            f"student = 'random_features'\nactivation = 'relu'\n{init}",
            "epochs = 2000\nrecord = { log = 15 }\nlearning_rate = 0.2\ndtype = 'float64'",
        )
    )


@pytest.mark.slow  # 13-15 s: the default suite stays under 10 minutes on 2 cores
def test_closed_form_readout_is_the_engines_gd_on_its_own_test_set():
    """P = 20, N_h = 8/20/40, noisy and noiseless labels, zero and nonzero init: the closed
    form's readout, evaluated on the engine's own test set, reproduces the engine's E_g at
    every recorded epoch (float64, 1e-9 relative), and the exact population E_g is within
    sampling error of that test-set estimate."""
    spec = _spec()
    ds = run_sweep(spec)
    pr = spec.problem
    p = spec.n_train[0]
    z_scores = []
    for seed in range(3):
        key = data.data_key(spec.seed, seed)
        x, z = (np.asarray(a) for a in data.examples(key, pr.n_in, 1, p))
        tv, ta = (
            np.asarray(a) for a in teachers.teacher_params(key, "relu", pr.n_in, 1, 1.0, pr.teacher_width)
        )
        tkey = jax.random.fold_in(data.run_key(spec.seed, seed), data.TEST_STREAM)
        test_x = np.asarray(data.examples(tkey, pr.n_in, 1, pr.n_test)[0])
        test_f = np.maximum(test_x @ tv.T, 0.0) @ ta[0]
        for width in spec.axis("width").values:
            fl = np.asarray(raw.feature_layer(spec.seed, seed, width, pr.n_in))
            for snr in spec.axis("snr").values:
                nv = 0.0 if np.isinf(snr) else 1.0 / snr
                y = np.maximum(x @ tv.T, 0.0) @ ta[0] + np.sqrt(nv) * z[:, 0]
                for s in spec.axis("init_scale").values:
                    cfg = InitConfig(1, width, width, 1, ("gaussian",), "float64", spec.seed)
                    code = np.asarray(INITS.index("gaussian"))
                    a0 = np.asarray(init_from(cfg, seed, code, np.asarray(s), None)[0])[0]
                    r = theory.decompose_run(x, y, fl, a0, tv, ta[0], nv, 0.2, 1.0, spec.record_epochs)
                    pred = np.maximum(test_x @ fl.T, 0.0) @ r.readout[:-1].T
                    on_test = np.mean((test_f[:, None] - pred) ** 2, axis=0) + nv
                    point = ds.sel(width=width, snr=snr, init_scale=s, seed=seed).squeeze()
                    np.testing.assert_allclose(point.test_error.values, on_test, rtol=1e-9)
                    np.testing.assert_allclose(point.train_error.values, r.train_error[:-1], rtol=1e-9)
                    resid2 = (test_f - pred[:, -1]) ** 2
                    z_scores.append(
                        (on_test[-1] - r.test_error[-2]) / (np.std(resid2) / np.sqrt(len(resid2)) + 1e-300)
                    )
    z_scores = np.asarray(z_scores)
    assert np.max(np.abs(z_scores)) < 5 and abs(np.mean(z_scores)) < 1.5


def test_decomposition_identity_and_frozen_null_space():
    """E_g = σ² + approximation + null space + over-fitting + cross at every epoch and at
    t → ∞ (exact); no null-space error while N_h ≤ P; with N_h > P it is positive and
    grows with the initial readout's scale; the readout's null-space part never moves; the
    theory Dataset carries the seed means."""
    spec = _spec()
    dec = predict.decomposition_dataset(spec)
    total = (
        dec.approximation_error
        + dec.null_space_error
        + dec.overfitting_error
        + dec.cross_error
        + dec.noise_var
    )
    np.testing.assert_allclose(total.values, dec.test_error.values, rtol=1e-10)
    conv = (
        dec.approximation_error
        + dec.null_space_error
        + dec.overfitting_error_converged
        + dec.cross_error_converged
        + dec.noise_var
    )
    np.testing.assert_allclose(conv.values, dec.test_error_converged.values, rtol=1e-10)
    assert float(abs(dec.null_space_error.sel(width=[8, 20])).max()) < 1e-12
    wide = dec.null_space_error.sel(width=40)
    assert float(wide.min()) > 0
    assert bool((wide.sel(init_scale=3.0) > wide.sel(init_scale=0.0)).all())
    assert float(dec.approximation_error.min()) > 0  # 6 inputs, 10 teacher units: not representable
    # approximation error does not depend on the labels' noise, the init or the data
    a = dec.approximation_error
    assert float(abs(a - a.isel(snr=0, init_scale=0)).max()) < 1e-9
    # the readout's null-space component stays at its initial value
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 5)) / np.sqrt(5)
    f = rng.normal(size=(30, 5)) / np.sqrt(30)
    v, ta = rng.normal(size=(4, 5)), rng.normal(size=4)
    a0 = rng.normal(size=30)
    r = theory.decompose_run(x, np.maximum(x @ v.T, 0) @ ta, f, a0, v, ta, 0.0, 0.3, 1.0, [0, 10, 1000])
    phi = np.maximum(x @ f.T, 0.0)
    null = np.linalg.svd(phi)[2][10:].T
    np.testing.assert_allclose(r.readout @ null, np.tile(a0 @ null, (4, 1)), atol=1e-12)
    th = predict.theory_dataset(spec)
    np.testing.assert_allclose(
        th.null_space_error.values, dec.null_space_error.mean("seed").values, rtol=1e-12
    )
    np.testing.assert_allclose(th.test_error.values, dec.test_error.mean("seed").values, rtol=1e-12)
    assert np.isfinite(th.optimal_test_error.values).all()


def test_decomposition_refuses_what_it_does_not_model():
    """Adam, or a linear teacher: a ValueError naming what it needs, and NaN theory."""
    spec = _spec(init="init = 'zero'")
    for old, new, words in [
        ("learning_rate = 0.2", "learning_rate = 0.2\noptimizer = 'adam'", "optimizer = 'gd'"),
        ("teacher = 'relu'\nteacher_width = 10", "teacher = 'linear'", "problem.teacher = 'relu'"),
    ]:
        bad = parse_spec(spec.text.replace(old, new))
        with pytest.raises(ValueError, match=words):
            predict.decomposition_dataset(bad)
        th = predict.theory_dataset(bad)
        assert np.isnan(th.test_error.values).all() and "no theory" in th.test_error.attrs["comment"]
