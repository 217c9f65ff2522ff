"""Common random numbers: keys from a run's coordinates, nested data, paired inits."""

import itertools

import numpy as np
from conftest import spec_text

from dynax import parse_spec, run_sweep
from dynax.sim import data


def test_teacher_and_examples_are_nested_across_p():
    big = data.seed_stats(0, 4, [40, 10], 12, 2, 1.0)
    small = data.seed_stats(0, 4, [10], 12, 2, 1.0)
    np.testing.assert_array_equal(big.teacher, small.teacher)  # same teacher at every P
    x40, y40, w40, _ = data.raw_data(0, 4, 40, 12, 2, 1.0, 2.0)
    x10, y10, _, _ = data.raw_data(0, 4, 10, 12, 2, 1.0, 2.0)
    np.testing.assert_array_equal(x40[:10], x10)  # P = 10 is a prefix of P = 40
    np.testing.assert_array_equal(y40[:10], y10)
    np.testing.assert_array_equal(w40, big.teacher)
    # the factor reproduces the Gram matrix of exactly those examples
    for st, p in ((big, 40), (big, 10)):
        f = st.factor[[40, 10].index(p)]
        x, _y, _, _ = data.raw_data(0, 4, p, 12, 2, 1.0, np.inf)
        np.testing.assert_allclose(f[:12] @ f[:12].T, x.T @ x, atol=1e-12)
    assert not np.allclose(data.seed_stats(0, 5, [10], 12, 2, 1.0).teacher, big.teacher)
    assert not np.allclose(data.seed_stats(1, 4, [10], 12, 2, 1.0).teacher, big.teacher)


def test_same_noise_pattern_at_every_snr():
    x1, y1, w, v1 = data.raw_data(0, 2, 30, 10, 1, 1.0, 1.0)
    x2, y2, _, v2 = data.raw_data(0, 2, 30, 10, 1, 1.0, 16.0)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_allclose((y1 - x1 @ w.T) / np.sqrt(v1), (y2 - x2 @ w.T) / np.sqrt(v2), rtol=1e-12)


def test_initial_weights_shared_across_learning_rates_optimizers_and_snr():
    spec = parse_spec(
        spec_text(
            "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0, 5.0]\noptimizer = ['gd', 'adam']\n"
            "learning_rate = [0.01, 0.03]\ninit_scale = [0.1, 0.4]\nseed = { count = 3 }",
            "n_in = 9",
            "width = 5",
            "epochs = 20\nrecord = { log = 5 }\ndtype = 'float64'",
        )
    )
    ds = run_sweep(spec)
    excess0 = ds.test_error.isel(epoch=0) - ds.noise_var  # E_g(0) − σ_ε² = ‖W(0) − w̄‖²/N
    for dim in ("optimizer", "learning_rate", "snr", "n_over_p"):
        ref = excess0.isel({dim: 0})
        np.testing.assert_allclose(excess0, ref.broadcast_like(excess0), rtol=1e-12, atol=1e-14)
    # init_scale multiplies the same draw: at zero teacher distance this would be exact;
    # here the seeds differ and the scales differ, so only check they are not all equal
    assert not np.allclose(excess0.isel(seed=0), excess0.isel(seed=1))
    # the runs did train differently
    assert not np.allclose(ds.test_error.sel(optimizer="gd"), ds.test_error.sel(optimizer="adam"))


def test_initialisations_have_their_defining_structure():
    from conftest import initial_weights

    spec = parse_spec(spec_text("depth = 3\nn_over_p = 0.5\nsnr = inf\nseed = 1", "n_in = 9", "width = 6"))
    s = 0.7
    # gaussian: per-entry std s, not scaled by fan-in; fan-in: std s/sqrt(fan_in)
    w = np.concatenate([m.ravel() for m in initial_weights(spec, 3, 1, "gaussian", 1.0)])
    assert 0.8 < w.std() < 1.2
    w1 = initial_weights(spec, 3, 1, "gaussian_fan_in", 1.0)[0]
    assert 0.8 / 3 < w1.std() < 1.2 / 3
    for layer in initial_weights(spec, 3, 1, "orthogonal", s):  # singular values s
        np.testing.assert_allclose(np.linalg.svd(layer, compute_uv=False), s, rtol=1e-12)
    ws = initial_weights(spec, 3, 1, "balanced", s)
    for a, b in itertools.pairwise(ws):  # W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ
        np.testing.assert_allclose(b.T @ b, a @ a.T, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(ws[2] @ ws[1] @ ws[0]), s**3, rtol=1e-12)
    # aligned: W_eff(0) = s^D Σ_yx/‖Σ_yx‖ (noiseless data here: Σ_yx = w̄ X X^T)
    ws = initial_weights(spec, 3, 1, "aligned", s)
    x, y, _, _ = data.raw_data(0, 1, 18, 9, 1, 1.0, np.inf)
    syx = y.T @ x
    np.testing.assert_allclose(ws[2] @ ws[1] @ ws[0], s**3 * syx / np.linalg.norm(syx), atol=1e-12)


def test_linear_algebra_in_a_batch_runs_one_matrix_at_a_time():
    """jaxlib 0.10's batched CPU LAPACK calls can deadlock XLA's intra-op pool when several run
    at once (docs: README "A known hang"); dynax's trainers factorise one matrix per call, with
    the same numbers as the batched call."""
    import jax
    import jax.numpy as jnp

    from dynax.sim.scope import unbatched, x64

    with x64():
        a = jax.random.normal(jax.random.PRNGKey(0), (6, 5, 4), jnp.float64)
        batched = jax.vmap(jnp.linalg.qr)(a)
        one_by_one = jax.vmap(unbatched(jnp.linalg.qr))(a)
        for x, y in zip(batched, one_by_one, strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        hlo = jax.jit(jax.vmap(unbatched(jnp.linalg.qr))).lower(a).as_text()
        assert "while" in hlo  # a loop over the batch, each call one 5 x 4 matrix
