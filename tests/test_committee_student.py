"""The committee student (model.student = 'committee', docs/theory.md §6): its online SGD, overlaps
and readouts against a NumPy loop of the same steps on the same examples, its exact E_g against a
Monte Carlo estimate on 10^6 test inputs, and the refusals of its keys."""

import numpy as np
import pytest
from conftest import initial_weights, spec_text
from scipy.special import erf

from dynax import parse_spec, run_sweep
from dynax.sim import data

N, K, M = 40, 3, 2


def _spec(model="", train="", problem="", grid=""):
    return parse_spec(
        spec_text(
            f"depth = [2]\nn_over_p = [2.0]\nsnr = [inf, 4.0]\nseed = [0, 3]\n{grid}",
            f"n_in = {N}\nteacher = 'committee'\nteacher_width = {M}\n"
            f"teacher_readout = [1.0, -0.7]\n{problem}",
            f"student = 'committee'\nwidth = {K}\nactivation = 'erf'\ninit_scale = 0.5\n{model}",
            "epochs = 30\nrecord = { every = 6 }\ndtype = 'float64'\nprotocol = 'online'\n"
            f"learning_rate = 0.8\n{train}",
        )
    )


def _g(h):
    return erf(h / np.sqrt(2))


def _numpy_sgd(spec, seed, snr, readout: bool, gamma: float, record=()):
    """Online SGD in plain NumPy on the run's own examples (stored example mu is step mu's):
    w_a += eta (v_a g'(h_a) delta x - (gamma/P) w_a), v_a += (eta/N)(g(h_a) delta - (gamma/P) v_a);
    the overlaps and readouts after each of the steps ``record``."""
    pr = spec.problem
    p = spec.n_train[0]
    steps = spec.train.epochs * p
    rd = data.seed_raw_data(spec.seed, seed, pr, steps)
    w = np.array(initial_weights(spec, 2, seed)[0])
    v, v_star, ws = np.ones(K), rd.t2[0], rd.t1
    sigma = np.sqrt(pr.teacher_var / snr)
    eta = spec.train.learning_rate
    out = {}
    for mu in range(steps + 1):
        if mu in record:
            out[mu] = (w @ w.T / N, w @ ws.T / N, v.copy())
        if mu == steps:
            break
        x = rd.x[mu]
        h = w @ x
        delta = v_star @ _g(ws @ x) + sigma * rd.z[mu, 0] - v @ _g(h)
        dg = np.sqrt(2 / np.pi) * np.exp(-h * h / 2)
        w, v = (
            w + eta * (np.outer(v * dg * delta, x) - gamma / p * w),
            v + (eta / N) * (_g(h) * delta - gamma / p * v) if readout else v,
        )
    return out, w, v, rd


@pytest.mark.parametrize(
    "readout, gamma",
    [pytest.param(False, 0.0, marks=pytest.mark.slow), (True, 0.5)],  # slow: its default sibling has both
)
def test_overlaps_and_readouts_equal_a_numpy_loop(readout, gamma):
    """Q, R, the readouts and T at every record equal the NumPy loop's (float64, 1e-9), fixed and
    trained readouts, with weight decay; and E_g is the erf closed form at those overlaps."""
    from dynax.theory.committee import committee_error

    extra = f"weight_decay = {gamma}" if gamma else ""
    spec = _spec(f"train_readout = {str(readout).lower()}", extra)
    ds = run_sweep(spec).squeeze(["depth", "n_over_p"])
    assert ("readout_weight" in ds) == readout
    for seed in (0, 3):
        for snr in (np.inf, 4.0):
            run = ds.sel(seed=seed, snr=snr)
            steps = [int(s) for s in run.examples.values]  # online records, in steps (one example each)
            loop, _, _, rd = _numpy_sgd(spec, seed, snr, readout, gamma, steps)
            np.testing.assert_allclose(run.overlap_T.values, rd.t1 @ rd.t1.T / N, rtol=1e-12)
            for j, s in enumerate(steps):
                q, r, v = loop[s]
                np.testing.assert_allclose(run.overlap_Q.isel(epoch=j).values, q, rtol=1e-9, atol=1e-12)
                np.testing.assert_allclose(run.overlap_R.isel(epoch=j).values, r, rtol=1e-9, atol=1e-12)
                if readout:
                    np.testing.assert_allclose(run.readout_weight.isel(epoch=j).values, v, rtol=1e-9)
                exact = committee_error(q, r, rd.t1 @ rd.t1.T / N, v, rd.t2[0], float(run.noise_var))
                np.testing.assert_allclose(float(run.test_error.isel(epoch=j)), exact, rtol=1e-9)


@pytest.mark.slow  # 10^6 inputs (6 s); default: E_g = the closed form (above), MC-checked in test_committee
def test_erf_error_equals_monte_carlo():
    """The recorded E_g at the last epoch equals the mean squared error of the trained network on
    10^6 fresh test inputs (plus sigma^2) within 4 standard errors."""
    spec = _spec("train_readout = true")
    ds = run_sweep(spec).squeeze(["depth", "n_over_p"]).sel(seed=3, snr=4.0)
    _, w, v, rd = _numpy_sgd(spec, 3, 4.0, True, 0.0)
    rng = np.random.default_rng(11)
    sq = []
    for _ in range(10):  # 10^6 inputs x ~ N(0, I/N) in blocks
        x = rng.standard_normal((100_000, N)) / np.sqrt(N)
        sq.append((_g(x @ rd.t1.T) @ rd.t2[0] - _g(x @ w.T) @ v) ** 2)
    sq = np.concatenate(sq)
    got = float(ds.test_error.isel(epoch=-1)) - float(ds.noise_var)
    assert abs(sq.mean() - got) < 4 * sq.std() / np.sqrt(len(sq)), (sq.mean(), got)


@pytest.mark.parametrize(
    "model, train, problem, match",
    [
        ("", "", "n_test = 100", r"problem\.n_test.*exact"),
        ("activation = 'relu'", "", "", None),
        ("", "protocol = 'replay'", "", None),
        ("", "batch_size = 4", "", r"train\.batch_size.*one example"),
        ("", "optimizer = 'adam'", "", None),
        ("", "learning_rate = { auto = 0.5 }", "", r"learning_rate.*committee"),
        ("", "", "teacher_readout = [1.0]", r"problem\.teacher_readout.*teacher_width = 2"),
        ("train_readout = 1", "", "", r"model\.train_readout.*true or false"),
        ("", "dropout = 0.2", "", r"train\.dropout.*committee"),
        ("", "record = { every = 6, overlaps = 'yes' }", "", r"train\.record\.overlaps"),
    ],
)
def test_committee_student_refusals(model, train, problem, match):
    """Every key the committee student cannot take is named (duplicate keys of the defaults are
    replaced: each case overrides one)."""
    text = spec_text(
        "depth = [2]\nn_over_p = [1.0]\nsnr = [inf]\nseed = [0]",
        f"n_in = {N}\nteacher = 'committee'\nteacher_width = 2\n{problem}",
        "student = 'committee'\nwidth = 2\n"
        + (model if "activation" in model else f"activation = 'erf'\n{model}"),
        "epochs = 5\n"
        + (train if "protocol" in train else f"protocol = 'online'\n{train}")
        + ("" if "learning_rate" in train else "\nlearning_rate = 0.5"),
    )
    key = {"activation": r"model\.activation", "protocol": r"train\.protocol", "optimizer": r"optimizer"}
    match = match or next(v for k, v in key.items() if k in model + train)
    with pytest.raises(ValueError, match=match):
        parse_spec(text)


@pytest.mark.parametrize(
    "section, text, match",
    [
        ("problem", "teacher_readout = [1.0, 2.0]", r"problem\.teacher_readout.*'committee'"),
        ("model", "train_readout = true", r"model\.train_readout.*'committee'"),
        ("record", "overlaps = true", r"train\.record\.overlaps"),
    ],
)
def test_committee_keys_need_the_committee(section, text, match):
    """The new keys on a linear sweep are refused, each by name."""
    problem = f"n_in = 10\n{text}" if section == "problem" else "n_in = 10"
    model = text if section == "model" else ""
    train = f"record = {{ log = 5, {text} }}" if section == "record" else ""
    with pytest.raises(ValueError, match=match):
        parse_spec(spec_text("depth = [1]\nn_over_p = [1.0]\nsnr = [inf]\nseed = [0]", problem, model, train))


def test_teacher_readout_sets_the_signal_variance():
    """sigma_w^2 = sum_n v*_n^2 / 3 (the teacher's E[f*^2] at T = I), and the default readout (all
    ones) leaves the spec's hash as before the key existed."""
    spec = _spec()
    assert spec.problem.teacher_var == pytest.approx((1 + 0.49) / 3)
    assert "teacher_readout" in spec.canonical()["problem"]
    plain = parse_spec(spec_text("depth = [2]\nn_over_p = [1.0]\nsnr = [inf]\nseed = [0]", "n_in = 10"))
    assert "teacher_readout" not in plain.canonical()["problem"]
    assert "train_readout" not in plain.canonical()["model"]


@pytest.mark.parametrize(
    "model, problem, match",
    [
        ("activation = 'erf'", "teacher = 'committee'\nteacher_width = 2", r"model\.width.*missing"),
        (
            "width = 2\nactivation = 'erf'",
            "teacher = 'relu'\nteacher_width = 2",
            r"model\.student.*'committee'",
        ),
    ],
)
def test_committee_student_needs_its_width_and_teacher(model, problem, match):
    """The width K is required (the default N is the linear students'); another teacher is named
    as the problem (not the overlaps the student turns on)."""
    text = spec_text(
        "depth = [2]\nn_over_p = [1.0]\nsnr = [inf]\nseed = [0]",
        f"n_in = {N}\n{problem}",
        f"student = 'committee'\n{model}",
        "epochs = 5\nprotocol = 'online'\nlearning_rate = 0.5",
    )
    with pytest.raises(ValueError, match=match):
        parse_spec(text)
