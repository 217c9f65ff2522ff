"""An input covariance of chosen spectrum (``problem.input_spectrum``, docs/theory.md §2.10) and
greedy layer-wise pretraining (``model.init = "pretrained"``, §3.1): the draws, E_g under the
covariance, both trainers against a NumPy loop, and the refusals."""

import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

import dynax
from dynax import parse_spec, plan_sweep, run_sweep
from dynax.sim import data
from dynax.sim.init import autoencode

LAM = [4.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]  # mean 1.25: stored as LAM / 1.25
SPECTRUM = [2.0, 1.0]


def _text(problem="", model="init = 'orthogonal'\ninit_scale = 0.5", train="", depth="[1, 2]") -> str:
    return spec_text(
        f"depth = {depth}\nn_over_p = [0.5, 2.0]\nsnr = [4.0]\nseed = [0, 3]",
        f"n_in = 8\nn_out = 2\ninput_spectrum = {LAM}\n{problem}",
        f"width = 6\n{model}",
        f"epochs = 40\nlearning_rate = 0.04\nrecord = {{ every = 8 }}\ndtype = 'float64'\n{train}",
    )


def test_inputs_have_the_chosen_covariance():
    """Many draws' sample covariance is C = U diag(λ) Uᵀ/N (λ normalised to mean 1) within 4 s.e.
    per entry; with input_basis = 'teacher' U's first columns are the teacher's V."""
    lam = np.asarray(LAM) / np.mean(LAM)
    p = 20000
    x, _, _, _ = data.raw_data(0, 1, p, 8, 1, 1.0, 1.0, covariance=tuple(lam))
    a = np.asarray(data.input_root(0, 1, 8, 1, tuple(lam)))
    c = a @ a.T / 8
    sample = x.T @ x / p
    se = np.sqrt((c**2 + np.outer(np.diag(c), np.diag(c))) / p)  # Var of x_i x_j for Gaussians
    assert np.all(np.abs(sample - c) < 4 * se)
    np.testing.assert_allclose(np.linalg.eigvalsh(a.T @ a), np.sort(lam), rtol=1e-12)
    a_t = np.asarray(data.input_root(0, 1, 8, 2, tuple(lam), "teacher", tuple(SPECTRUM)))
    _, _, v = data.spectral_teacher(0, 1, 8, 2, tuple(SPECTRUM))
    np.testing.assert_allclose(a_t[:, :2] / np.sqrt(lam[:2]), np.asarray(v), atol=1e-12)


@pytest.mark.parametrize(
    "train",
    ["", pytest.param("batch_size = 1000", marks=pytest.mark.slow)],  # 10 s: the raw path, one batch
)
def test_runs_equal_a_numpy_loop_and_eg_reads_the_covariance(train):
    """Full-batch GD on the covariance's draws: E_t and E_g = ‖(W − w̄) A‖²/(N N_out) + σ_ε² at
    every record against a NumPy loop, on the XLA kernel (depth 1 too: the closed form assumes
    white inputs) and on the raw-data path; and the E_g formula against the mean squared error on
    fresh draws x = A x_white from the covariance (one run's final weights), within 4 standard
    errors of that mean."""
    spec = parse_spec(_text(train=train), overrides=["train.record={every=8, final_weights=true}"])
    trainers = {g.trainer for g in plan_sweep(spec).groups}
    assert trainers == ({"raw"} if train else {"xla"})
    assert spec.problem.input_spectrum == tuple(np.asarray(LAM) / np.mean(LAM))
    ds = run_sweep(spec)
    assert "ridge_test_error" not in ds and ds.attrs["input_basis"] == "random"
    lam = spec.problem.input_spectrum
    for depth in (1, 2):
        for seed in (0, 3):
            w0 = initial_weights(spec, depth, seed)
            a = np.asarray(data.input_root(0, seed, 8, 2, lam))
            for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
                x, y, w_bar, nv = data.raw_data(0, seed, p, 8, 2, 1.0, 4.0, covariance=lam)
                _, effs = numpy_gd(x, y, w0, 0.04, 40, ())
                curves = effs[list(spec.record_epochs)]
                test = np.sum(((curves - w_bar) @ a) ** 2, axis=(1, 2)) / 16 + nv
                train_err = np.mean((y.T[None] - curves @ x.T) ** 2, axis=(1, 2))
                run = ds.sel(depth=depth, n_over_p=r, seed=seed).squeeze()
                np.testing.assert_allclose(run.test_error, test, rtol=1e-10)
                np.testing.assert_allclose(run.train_error, train_err, rtol=1e-10)
    run = ds.sel(depth=2, n_over_p=2.0, seed=3).squeeze()
    _, _, w_bar, nv = data.raw_data(0, 3, 4, 8, 2, 1.0, 4.0, covariance=lam)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40000, 8)) / np.sqrt(8) @ a.T  # a: seed 3's root, from the loop
    r = x @ (w_bar - run.final_weights.values).T + np.sqrt(nv) * rng.standard_normal((len(x), 2))
    sq = np.mean(r**2, axis=1)
    assert abs(sq.mean() - float(run.test_error[-1])) < 4 * sq.std() / np.sqrt(len(sq))


def test_autoencode_learns_the_principal_subspace():
    """A linear autoencoder from a small start, k code units (GD at 0.5/λ_max): the encoder's rows
    span the top-k eigenvectors of Σ, with singular values near 1 (a balanced pair)."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    sigma = q @ np.diag([5.0, 3.0, 2.0, 0.4, 0.2, 0.1]) @ q.T
    e = 1e-3 * rng.standard_normal((3, 6))
    enc = np.asarray(autoencode(e, sigma, 3000))
    top = q[:, :3] @ q[:, :3].T
    np.testing.assert_allclose(enc @ (np.eye(6) - top), 0.0, atol=1e-12)  # the top-3 row space
    # singular values 1 up to the imbalance E Eᵀ − DᵀD that finite steps leave (O(rate²) per step
    # while the modes grow): D E = P_top with E Eᵀ = DᵀD would make them exactly 1
    np.testing.assert_allclose(np.linalg.svd(enc, compute_uv=False), 1.0, atol=1e-3)


def test_pretrained_weights_equal_a_numpy_loop_and_start_from_the_orthogonal_draw():
    """Each hidden layer in turn, input side first, an autoencoder of its inputs' Gram matrix (a
    NumPy loop of the same GD), starting from init 'orthogonal''s weights at the same scale, the
    output layer left at its draw; fine-tuning then is the run's GD from them (a NumPy loop), on
    the fused kernel (white inputs, one output), which must not take the scaled orthogonal draw."""
    text = spec_text(
        "depth = [3]\nn_over_p = [0.5]\nsnr = [4.0]\nseed = [3]",
        "n_in = 8",
        "width = 6\ninit = 'pretrained'\ninit_scale = 0.1\npretrain_epochs = 30",
        "epochs = 40\nlearning_rate = 0.04\nrecord = { every = 8 }\ndtype = 'float64'\nkernel = 'fused'",
    )
    spec = parse_spec(text)
    assert {g.trainer for g in plan_sweep(spec).groups} == {"fused"}
    p = max(spec.n_train)
    x, y, w_bar, nv = data.raw_data(0, 3, p, 8, 1, 1.0, 4.0)
    ws = initial_weights(spec, 3, 3, init="orthogonal", init_scale=0.1)
    sigma, expect = x.T @ x, []
    for w in ws[:-1]:  # the hidden layers; the output layer keeps its draw
        enc, dec, rate = w.copy(), w.T.copy(), 0.5 / np.linalg.eigvalsh(sigma)[-1]
        for _ in range(30):
            r = (np.eye(len(sigma)) - dec @ enc) @ sigma
            enc, dec = enc + rate * dec.T @ r, dec + rate * r @ enc.T
        expect.append(enc)
        sigma = enc @ sigma @ enc.T
    expect.append(ws[-1])
    got = initial_weights(spec, 3, 3)
    for g, e in zip(got, expect, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-14)
    ds = run_sweep(spec).squeeze()
    _, effs = numpy_gd(x, y, got, 0.04, 40, ())
    curves = effs[list(spec.record_epochs)]
    np.testing.assert_allclose(ds.test_error, np.sum((curves - w_bar) ** 2, (1, 2)) / 8 + nv, rtol=1e-9)
    assert ds.attrs["pretrain_epochs"] == 30


@pytest.mark.parametrize(
    "problem, model, train, match",
    [
        ("input_spectrum = [1.0, 2.0]", "", "", r"problem\.input_spectrum.*N = n_in = 8"),
        ("input_spectrum = [0, 0, 0, 0, 0, 0, 0, 0]", "", "", r"at least one eigenvalue"),
        ("input_spectrum = [1, 1, 1, 1, 1, 1, 1, -1]", "", "", r"input_spectrum\[7\]"),
        ("input_basis = 'teacher'", "", "", r"problem\.input_basis.*input_spectrum"),
        (f"input_spectrum = {LAM}\ninput_basis = 'teacher'", "", "", r"teacher_singular_values"),
        (f"input_spectrum = {LAM}\ninputs = 'whitened'", "", "", r"problem\.input_spectrum.*whitened"),
        (f"input_spectrum = {LAM}", "", "null_space_error = true", r"train\.null_space_error"),
        (f"input_spectrum = {LAM}", "", "record = { log = 5, bounds = true }", r"train\.record\.bounds"),
        ("", "init = 'pretrained'\npretrain_epochs = 5", "", r"model\.init.*depth ≥ 2"),
        ("", "init = 'orthogonal'\npretrain_epochs = 5", "", r"model\.pretrain_epochs.*'pretrained'"),
        ("", "init = 'pretrained'", "", r"model\.pretrain_epochs.*missing"),
        ("", "init = 'pretrained'\npretrain_epochs = 0", "", r"model\.pretrain_epochs"),
        (
            f"input_spectrum = {LAM}",
            "",
            "protocol = 'online'\nschedule = 'optimal_online'",
            r"train\.schedule.*white inputs",
        ),
    ],
)
def test_refusals(problem, model, train, match):
    depth = "[1, 2]" if "depth" in match else "[2]"
    text = spec_text(
        f"depth = {depth}\nn_over_p = [0.5]\nsnr = [4.0]\nseed = [0]",
        f"n_in = 8\n{problem}",
        model,
        f"epochs = 10\n{train}",
    )
    with pytest.raises(ValueError, match=match):
        dynax.parse_spec(text)


def test_pretrained_online_refused():
    text = spec_text(
        "depth = [2]\nn_over_p = [0.5]\nsnr = [4.0]\nseed = [0]",
        "n_in = 8",
        "init = 'pretrained'\npretrain_epochs = 5",
        "epochs = 10\nprotocol = 'online'\nlearning_rate = 0.1",
    )
    with pytest.raises(ValueError, match=r"model\.init.*'pretrained'.*Σ_xx"):
        dynax.parse_spec(text)
