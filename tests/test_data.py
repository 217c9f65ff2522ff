"""Common random numbers: keys from a run's coordinates, nested data, paired inits."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import spec_text

from dynax import parse_spec, run_sweep
from dynax.sim import data
from dynax.sim.ridge import ridge_error


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


@pytest.mark.parametrize(
    "n_out, p_values, inputs",
    [
        (1, [8, 29, 30, 31, 90], "gaussian"),
        pytest.param(3, [12, 33, 34, 80], "gaussian", marks=pytest.mark.slow),  # 2 s each: the
        pytest.param(2, [6, 30, 70], "whitened", marks=pytest.mark.slow),  # other two cover both factors
        (2, [5, 20, 31], "gaussian"),  # fewer than N + N_out examples: the raw data is L
    ],
)
def test_statistics_from_one_decomposition_equal_their_definitions(n_out, p_values, inputs):
    """Each (seed, P)'s statistics come from one eigendecomposition of Σ_xx (the factor built
    in its eigenbasis with more than N + N_out examples, the raw data with fewer): each equals
    its definition on the examples themselves, to float64 rounding times Σ_xx's condition
    number κ (largest over smallest nonzero eigenvalue: ~1e4 near P = N)."""
    n_in, sigma = 30, 0.3
    st = data.seed_stats(0, 7, p_values, n_in, n_out, 1.0, eigen=True, inputs=inputs)
    x_all, z_all = (np.asarray(v) for v in data.examples(data.data_key(0, 7), n_in, n_out, max(p_values)))
    w_bar = st.teacher
    eps = np.finfo(np.float64).eps
    for j, p in enumerate(p_values):
        x, z = x_all[:p], z_all[:p]
        if inputs == "whitened":
            x = data.whiten(x)
        sxx = x.T @ x
        lam = np.linalg.eigvalsh(sxx)
        kappa = lam[-1] / lam[lam > 1e-10 * lam[-1]].min()
        gram = np.concatenate([x, z], 1).T @ np.concatenate([x, z], 1)
        f = st.factor[j]
        np.testing.assert_allclose(f @ f.T, gram, rtol=0, atol=100 * eps * np.abs(gram).max())
        np.testing.assert_allclose(st.lam_max[j], lam[-1], rtol=100 * eps)
        # the min-norm least-squares solution at noise σ: ‖w̄ Π + σ zᵀ X⁺ᵀ‖² = aa + 2σ ag + σ² gg
        pinv = np.linalg.pinv(x, rcond=1e-5)  # singular values below 1e-5 σ_max: λ < 1e-10 λ_max
        w_ls = (x @ w_bar.T + sigma * z).T @ pinv.T
        aa, ag, gg = st.ls_terms[j]
        tol = 1e3 * eps * kappa
        np.testing.assert_allclose(aa + 2 * sigma * ag + sigma**2 * gg, np.sum(w_ls**2), rtol=tol)
        for gamma in (1e-3, 0.1, 1.0, 10.0):  # ridge on these examples, solved directly
            w = np.linalg.solve(sxx + gamma * np.eye(n_in), x.T @ (x @ w_bar.T + sigma * z)).T
            direct = np.sum((w - w_bar) ** 2) / (n_in * n_out) + sigma**2
            got = ridge_error(st.ls_spectrum[j], float(np.sum(w_bar**2)), sigma, gamma, n_in, n_out)
            np.testing.assert_allclose(got, direct, rtol=tol)
        u, ev = st.eigvecs[j], st.eigvals[j]
        np.testing.assert_allclose(u.T @ u, np.eye(n_in), atol=100 * eps)
        np.testing.assert_allclose(u @ np.diag(ev) @ u.T, sxx, atol=100 * eps * lam[-1])
        np.testing.assert_allclose(u @ st.rotated[j], f[:n_in], atol=100 * eps * np.sqrt(lam[-1]))


THREADS = """
import sys, numpy as np
from dynax.sim import data
st = data.seed_stats(0, 1, [333, 120, 90], 100, 2, 1.0, eigen=True)
np.savez(sys.argv[1], *st)
"""


def test_statistics_do_not_depend_on_blas_threads(tmp_path):
    """The host's linear algebra runs on one BLAS thread per P (OpenBLAS's eigendecompositions
    and products change in their last bits with its thread count): the same numbers here
    (a thread per core) and in a process held to one BLAS thread."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = tmp_path / "one.npz"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", THREADS, str(out)], check=True, env=env, cwd=root, timeout=300)
    one = np.load(out)
    here = data.seed_stats(0, 1, [333, 120, 90], 100, 2, 1.0, eigen=True)
    for name, mine, theirs in zip(
        here._fields, here, (one[f"arr_{i}"] for i in range(len(here))), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs, err_msg=name)


def test_same_noise_pattern_at_every_snr():
    x1, y1, w, v1 = data.raw_data(0, 2, 30, 10, 1, 1.0, 1.0)
    x2, y2, _, v2 = data.raw_data(0, 2, 30, 10, 1, 1.0, 16.0)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_allclose((y1 - x1 @ w.T) / np.sqrt(v1), (y2 - x2 @ w.T) / np.sqrt(v2), rtol=1e-12)


@pytest.mark.slow  # 13 s (four compile groups); test_initialisations_have_their_defining_structure by default
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


def test_identity_teacher_is_a_linear_autoencoder():
    """problem.teacher = "identity": w̄ = I, labels = the clean inputs (plus σ_ε z), σ_w² = 1/N
    derived; from W = 0 the exact E_g(0) is 1/N + σ_ε², and with P > N noiseless GD drives it to 0;
    n_out ≠ n_in and a given teacher_var are refused."""
    from conftest import spec_text

    import dynax

    text = spec_text(
        "depth = [1]\nn_over_p = [0.5]\nsnr = [inf, 4.0]\nseed = { count = 2 }",
        "n_in = 6\nn_out = 6\nteacher = 'identity'",
        "init = 'zero'",
        "epochs = 400\nlearning_rate = 0.1\ndtype = 'float64'",
    )
    spec = dynax.parse_spec(text)
    assert spec.problem.teacher_var == 1 / 6
    x, y, w_bar, _ = data.raw_data(0, 1, 12, 6, 6, 1 / 6, np.inf, kind="identity")
    np.testing.assert_array_equal(w_bar, np.eye(6))
    np.testing.assert_array_equal(y, x)
    ds = dynax.run(spec, progress=False)
    np.testing.assert_allclose(
        ds.test_error.isel(epoch=0).squeeze().values,
        (1 / 6 + ds.noise_var).values[:, None] * np.ones(2),
        rtol=1e-12,
    )
    assert float(ds.test_error.sel(snr=np.inf).isel(epoch=-1).max()) < 1e-8
    for bad, key in (("n_out = 3", "problem.n_out"), ("n_out = 6\nteacher_var = 2.0", "problem.teacher_var")):
        with pytest.raises(dynax.SpecError, match=key.replace(".", r"\.")):
            dynax.parse_spec(text.replace("n_out = 6", bad))
