"""Multi-output teachers and mode dynamics: chosen spectra, whitened inputs, recorded mode
strengths and final weights, against NumPy GD loops and the Saxe et al. mode solutions."""

import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

import dynax
from dynax import parse_spec, run_sweep, theory
from dynax.sim import data
from dynax.spec import SpecError

SPECTRUM = "teacher_singular_values = [3.0, 1.5, 0.5]"


def _error(text: str) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(text)
    return str(e.value)


@pytest.mark.parametrize(
    ("problem", "grid", "train", "key", "words"),
    [
        (
            "n_in = 4\nn_out = 2\nteacher_singular_values = [1.0, 2.0, 3.0]",
            "",
            "",
            "teacher_singular_values",
            "at most",
        ),
        (
            "n_in = 4\nn_out = 3\nteacher_singular_values = [1.0, -2.0]",
            "",
            "",
            "teacher_singular_values[1]",
            "≥ 0",
        ),
        (
            "n_in = 4\nn_out = 3\nteacher_singular_values = [1.0, inf]",
            "",
            "",
            "teacher_singular_values[1]",
            "finite",
        ),
        (
            "n_in = 4\nn_out = 3\nteacher_singular_values = [0.0, 0.0]",
            "",
            "",
            "teacher_singular_values",
            "> 0",
        ),
        (
            "n_in = 4\nn_out = 3\nteacher_var = 2.0\nteacher_singular_values = [1.0]",
            "",
            "",
            "teacher_singular_values",
            "teacher_var",
        ),
        ("n_in = 4\ninputs = 'whitened'", "n_over_p = [0.5, 2.0]", "", "inputs", "P ≥ N"),
        ("n_in = 4\ninputs = 'whitened'", "", "protocol = 'online'", "inputs", "online"),
        ("n_in = 4\ninputs = 'whitened'", "", "batch_size = 2", "inputs", "minibatch"),
        ("n_in = 4\ninputs = 'whitened'\nteacher = 'relu'\nteacher_width = 3", "", "", "inputs", "linear"),
        ("n_in = 4\ninputs = 'white'", "", "", "inputs", "whitened"),
        ("n_in = 4\nn_out = 2", "", "record = { log = 5, modes = 1 }", "record.modes", "true or false"),
        (
            "n_in = 4\nn_out = 2\nteacher = 'relu'\nteacher_width = 3",
            "",
            "record = { log = 5, modes = true }",
            "record.modes",
            "linear teacher",
        ),
    ],
)
def test_bad_multi_output_keys_are_spec_errors_naming_the_key(problem, grid, train, key, words):
    grid = grid or "n_over_p = 0.5"
    msg = _error(spec_text(f"depth = 2\n{grid}\nsnr = inf\nseed = 0", problem, "width = 4", train))
    assert f"`problem.{key}`" in msg or f"`train.{key}`" in msg, msg
    assert words in msg, msg


def test_spectral_teacher_and_whitened_inputs_are_exact():
    pr = parse_spec(
        spec_text("depth = 1\nn_over_p = 0.5\nsnr = inf\nseed = 0", f"n_in = 6\nn_out = 4\n{SPECTRUM}")
    ).problem
    assert pr.teacher_var == pytest.approx((9 + 2.25 + 0.25) / 24, rel=1e-15)  # ‖W̄‖²_F/(N·N_out)
    st = data.seed_stats(0, 3, [6, 12], 6, 4, pr.teacher_var, False, pr.teacher_singular_values, "whitened")
    np.testing.assert_allclose(np.linalg.svd(st.teacher, compute_uv=False)[:3], [3.0, 1.5, 0.5], rtol=1e-13)
    np.testing.assert_allclose(st.modes_u.T @ st.teacher @ st.modes_v, np.diag([3.0, 1.5, 0.5]), atol=1e-13)
    for j, p in enumerate((6, 12)):
        lx = st.factor[j][:6]
        np.testing.assert_allclose(lx @ lx.T, (p / 6) * np.eye(6), atol=1e-12)  # Σ_xx = (P/N)·I
    # the examples' noise and the teacher are the ones the raw oracle draws
    x, _y, w_bar, _ = data.raw_data(
        0, 3, 12, 6, 4, pr.teacher_var, np.inf, pr.teacher_singular_values, "whitened"
    )
    np.testing.assert_allclose(w_bar, st.teacher, rtol=0, atol=0)
    np.testing.assert_allclose(x.T @ x, 2 * np.eye(6), atol=1e-12)


def _numpy_modes(spec, depth, seed, p, snr):
    """A NumPy GD loop's mode strengths, data-mode strengths and final W_eff for one run."""
    pr = spec.problem
    x, y, w_bar, noise_var = data.raw_data(
        spec.seed, seed, p, pr.n_in, pr.n_out, pr.teacher_var, snr, pr.teacher_singular_values, pr.inputs
    )
    w0 = initial_weights(spec, depth, seed, p=p, noise_std=float(np.sqrt(noise_var)))
    _, effs = numpy_gd(x, y, w0, spec.train.learning_rate, spec.train.epochs, spec.record_epochs)
    u, s, v = data.teacher_modes(spec.seed, seed, w_bar, pr.teacher_singular_values)
    du, ds, dvt = np.linalg.svd(y.T @ x, full_matrices=False)
    du[:, ds <= 1e-10 * ds[0]] = np.nan  # Σ_yx's zero modes have no direction: NaN strengths
    curves = effs[list(spec.record_epochs)]
    ms = np.einsum("oa,eon,na->ae", u, curves, v)
    dms = np.einsum("oa,eon,an->ae", du, curves, dvt)
    return (
        ms,
        dms,
        ds * pr.n_in / p,
        s,
        effs[-1],
        np.sum((curves - w_bar) ** 2, (1, 2)) / w_bar.size + noise_var,
    )


@pytest.mark.slow  # ~12 s each; test_depth1_closed_form_records_modes_like_the_gd_kernel stays
@pytest.mark.parametrize("inputs", ["gaussian", "whitened"])
def test_multi_output_modes_equal_a_loop_of_numpy_gd_runs(inputs):
    text = spec_text(
        "depth = [1, 2, 3]\nn_over_p = [1.0, 0.5]\nsnr = [inf, 2.0]\nseed = 4",
        f"n_in = 6\nn_out = 4\n{SPECTRUM}\ninputs = '{inputs}'",
        "width = 5\ninit_scale = 0.3",
        "epochs = 40\nrecord = { every = 8, final_weights = true }\nlearning_rate = 0.03\ndtype = 'float64'",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    assert ds.mode.size == 3 and ds.data_mode.size == 4 and "teacher_singular_value" not in ds
    # ridge at γ* is Bayes only under a Gaussian prior: NaN, said in a comment; the oracle ridge stays
    assert np.isnan(ds.ridge_test_error).all() and "chosen spectrum" in ds.ridge_test_error.attrs["comment"]
    assert np.isfinite(ds.best_ridge_test_error).all()
    np.testing.assert_array_equal(ds.singular_value, [3.0, 1.5, 0.5])
    for depth in (1, 2, 3):
        for seed in (4,):
            for r, p in zip((1.0, 0.5), spec.n_train, strict=True):
                for snr in (np.inf, 2.0):
                    ms, dms, dsv, s, w_end, test = _numpy_modes(spec, depth, seed, p, snr)
                    run = ds.sel(depth=depth, n_over_p=r, snr=snr, seed=seed)
                    scale = 3.0
                    np.testing.assert_allclose(run.test_error, test, rtol=1e-10)
                    np.testing.assert_allclose(run.mode_strength, ms, rtol=0, atol=1e-10 * scale)
                    np.testing.assert_allclose(s, [3.0, 1.5, 0.5])
                    # the data's singular vectors have a sign freedom per pair; strengths do not
                    np.testing.assert_allclose(run.data_mode_strength, dms, rtol=0, atol=1e-10 * scale)
                    assert np.isnan(run.data_mode_strength).any() == (snr == np.inf)  # rank 3 < 4
                    np.testing.assert_allclose(run.data_singular_value, dsv, rtol=1e-10, atol=1e-12)
                    np.testing.assert_allclose(run.final_weights, w_end, rtol=0, atol=1e-10 * scale)


def test_depth1_closed_form_records_modes_like_the_gd_kernel():
    text = spec_text(
        "depth = 1\nn_over_p = [2.0, 0.5]\nsnr = [inf, 1.0]\nseed = { count = 2 }",
        "n_in = 10\nn_out = 3",
        "init_scale = 0.2",
        "epochs = 120\nrecord = { log = 12, modes = true, final_weights = true }\ndtype = 'float64'",
    )
    a = run_sweep(parse_spec(text))
    b = run_sweep(parse_spec(text, overrides=["train.method=gd"]))
    assert "teacher_singular_value" in a and a.teacher_singular_value.dims == ("seed", "mode")
    for name in ("mode_strength", "data_mode_strength", "final_weights", "data_singular_value"):
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-11)
    w = data.seed_teacher(0, 1, 10, 3, 1.0)
    np.testing.assert_allclose(
        a.teacher_singular_value.sel(seed=1), np.linalg.svd(w, compute_uv=False), rtol=1e-12
    )


def _aligned(depth: int, lr: float, epochs: int, snr: str = "inf", scale: float = 0.1):
    text = spec_text(
        f"depth = {depth}\nn_over_p = [1.0, 0.5]\nsnr = {snr}\nseed = 0",
        f"n_in = 6\nn_out = 4\n{SPECTRUM}\ninputs = 'whitened'",
        f"width = 6\ninit = 'aligned'\ninit_scale = {scale}",
        f"epochs = {epochs}\nrecord = {{ log = 40 }}\nlearning_rate = {lr}\ndtype = 'float64'",
    )
    return parse_spec(text), run_sweep(parse_spec(text))


@pytest.mark.parametrize("depth", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_aligned_white_noiseless_modes_follow_the_exact_curves(depth):
    s = np.array([3.0, 1.5, 0.5])
    # a small step follows the flow to 1% of s (Euler's error is O(ε·α·D·s) per unit time: a smaller
    # step at depth 3, whose sigmoid is steeper); the spec's own step follows the recursion to rounding
    small = 0.002 if depth == 2 else 0.0005
    for lr, tol in ((small, 0.01), (0.05, 1e-9)):
        spec, ds = _aligned(depth, lr, int(8 / lr))
        epochs = np.asarray(spec.record_epochs)
        for r, p in zip((1.0, 0.5), spec.n_train, strict=True):
            alpha, u0 = p / 6, 0.1**depth
            got = ds.mode_strength.sel(n_over_p=r).squeeze().values  # (mode, epoch)
            if tol < 1e-3:
                want = theory.saxe_mode_discrete(s, u0, epochs, lr, depth, alpha).T
            else:
                want = np.stack([theory.saxe_mode(si, u0, lr * epochs, depth, alpha) for si in s])
            err = np.max(np.abs(got - want), axis=1) / s
            assert np.all(err < tol), (lr, r, err)
            assert got[0, -1] > 0.99 * s[0]  # the strongest mode is learnt within the run


def test_aligned_noisy_data_modes_follow_the_curves_of_the_data_spectrum():
    spec, ds = _aligned(2, 0.05, 300, snr="[inf, 1.0, 4.0]")
    th = dynax.predict(spec)  # `dynax theory`: each seed's own data spectrum, the exact recursion
    epochs = np.asarray(spec.record_epochs)
    for r, p in zip((1.0, 0.5), spec.n_train, strict=True):
        for snr in (1.0, 4.0):
            run = ds.sel(n_over_p=r, snr=snr).squeeze()
            sd = run.data_singular_value.values  # σ_α(Σ_yx)·N/P: the modes the data pull toward
            want = theory.saxe_mode_discrete(sd, 0.1**2, epochs, 0.05, 2, p / 6).T
            np.testing.assert_allclose(run.data_mode_strength, want, rtol=0, atol=1e-9 * sd.max())
            np.testing.assert_allclose(
                th.data_mode_strength.sel(n_over_p=r, snr=snr).squeeze(), want, rtol=1e-12
            )
            assert np.isnan(th.mode_strength.sel(n_over_p=r, snr=snr)).all()  # noisy: the data's modes only
    noiseless = ds.mode_strength.sel(snr=np.inf)
    np.testing.assert_allclose(th.mode_strength.sel(snr=np.inf), noiseless, rtol=0, atol=1e-9 * 3)


def test_raw_data_trainer_records_modes_like_the_gd_kernel():
    # one minibatch of all P examples is full-batch GD (the sum in another order)
    text = spec_text(
        "depth = 2\nn_over_p = 0.5\nsnr = 2.0\nseed = 1",
        f"n_in = 6\nn_out = 4\n{SPECTRUM}",
        "width = 5\ninit_scale = 0.3",
        "epochs = 30\nrecord = { every = 10, final_weights = true }\nlearning_rate = 0.03\ndtype = 'float64'",
    )
    a = run_sweep(parse_spec(text))
    b = run_sweep(parse_spec(text, overrides=["train.batch_size=12"]))
    for name in ("mode_strength", "data_mode_strength", "final_weights", "data_singular_value", "test_error"):
        np.testing.assert_allclose(b[name], a[name], rtol=1e-11, atol=1e-12)


def test_final_weights_over_the_cap_are_refused_before_training():
    from dynax.engine import plan_sweep

    text = spec_text(
        "depth = 1\nn_over_p = 1.0\nsnr = inf\nseed = { count = 600 }",
        "n_in = 1000\nn_out = 1000",
        "",
        "epochs = 10\nrecord = { log = 5, final_weights = true }",
    )
    with pytest.raises(SpecError, match=r"train\.record\.final_weights.*2\.24 GiB.*cap is 2 GiB"):
        plan_sweep(parse_spec(text))
    assert (
        plan_sweep(parse_spec(text, overrides=["grid.seed={count=500}"])).final_weights_bytes() == 500 * 4e6
    )


@pytest.mark.slow  # 10 s; test_depth1_closed_form_records_modes_like_the_gd_kernel covers recorded modes
def test_modes_are_opt_in_without_a_spectrum_and_analyze_reads_them(tmp_path):
    from dynax.cli import main

    # an n_out > 1 spec written before modes existed keeps its hash (nothing new is recorded)
    spec = parse_spec(spec_text("depth = 1\nn_over_p = 0.5\nsnr = 2.0\nseed = 0", "n_in = 6\nn_out = 3"))
    assert "modes" not in spec.train.record.flags and "modes" not in spec.canonical()["train"]["record"]
    text = spec_text(
        "depth = [1, 2]\nn_over_p = 0.5\nsnr = [1.0, 4.0]\nseed = [0, 1]",
        f"n_in = 6\nn_out = 3\n{SPECTRUM}",
        "width = 4",
        "epochs = 30\nrecord = { log = 6, final_weights = true }",
    )
    out = tmp_path / "m.nc"
    dynax.run(text, output=out, progress=False)
    assert main(["analyze", str(out)]) == 0  # the mode/data_mode/output/input dims are not grid axes


def test_whitened_depth1_theory_is_the_single_eigenvalue_law():
    text = spec_text(
        "depth = 1\nn_over_p = [1.0, 0.5]\nsnr = [inf, 2.0]\nseed = { count = 3 }",
        "n_in = 16\ninputs = 'whitened'",
        "init = 'zero'",
        "epochs = 200\nrecord = { log = 12 }\nlearning_rate = 0.3\ndtype = 'float64'",
    )
    ds, th = run_sweep(parse_spec(text)), dynax.predict(text)
    # every mode at λ = α: noiseless from zero, E_g = (‖w̄‖²/N)·q^{2k} exactly for each draw
    for seed in range(3):
        var = float(np.mean(np.asarray(data.seed_teacher(0, seed, 16, 1, 1.0)) ** 2))
        got = ds.test_error.sel(snr=np.inf, seed=seed)
        np.testing.assert_allclose(
            got, var * th.test_error.sel(snr=np.inf), rtol=1e-9, atol=1e-14
        )  # float64 rounding floor
    assert np.isfinite(th.bayes_test_error).all()


def test_mode_oracle_on_each_seeds_data_equals_its_definition_and_its_noise_average():
    """The mode oracle (docs/theory.md §3.1): on the raw examples, the least-squares strength
    along each teacher mode, shrunk by s²/(s² + σ²/κ); its expectation over the label noise
    against a Monte Carlo average over 4000 noise draws on the same inputs (within 4 s.e.)."""
    from dynax.predict import theory_dataset

    text = spec_text(
        "depth = 1\nn_over_p = [0.5, 2.0]\nsnr = [0.5, 4.0]\nseed = [0, 5]",
        "n_in = 10\nn_out = 6\nteacher_singular_values = [4.0, 2.0, 0.5]",
        "init_scale = 0.1",
        "epochs = 10",
    )
    spec = parse_spec(text)
    th = theory_dataset(spec)
    rng = np.random.default_rng(0)
    for r, p in zip((0.5, 2.0), spec.n_train, strict=True):
        for snr in (0.5, 4.0):
            for seed in (0, 5):
                x, y, w_bar, nv = data.raw_data(
                    0, seed, p, 10, 6, 0.3375, snr, (4.0, 2.0, 0.5)
                )  # σ_w² = Σs²/(N N_out)
                u, s, vt = np.linalg.svd(w_bar)
                u, s, v = u[:, :3], s[:3], vt[:3].T
                kappa = np.sum((x @ v) ** 2, axis=0)

                def oracle(y, u=u, s=s, v=v, kappa=kappa, x=x, nv=nv):
                    est = np.einsum("pa,pa->a", y @ u, x @ v) / kappa * s**2 / (s**2 + nv / kappa)
                    return np.sum((est - s) ** 2) / 60 + nv

                got = th.sel(n_over_p=r, snr=snr, seed=seed)
                np.testing.assert_allclose(got.oracle_test_error, oracle(y), rtol=1e-9)
                draws = [
                    oracle(x @ w_bar.T + np.sqrt(nv) * rng.standard_normal(y.shape)) for _ in range(4000)
                ]
                sem = np.std(draws) / np.sqrt(len(draws))
                assert abs(np.mean(draws) - float(got.oracle_expected_test_error)) < 4 * sem
