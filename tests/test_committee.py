"""Soft committee machines (docs/theory.md §6): the erf integrals, the generalization error and
the Saad & Solla drift against Monte Carlo averages over the Gaussian pre-activations, and the RK4
integration against a halved step."""

import numpy as np
import pytest
from conftest import spec_text
from scipy.special import erf

from dynax import parse_spec, run_sweep
from dynax.sim import data
from dynax.theory import committee

RNG = np.random.default_rng(5)
S = 200_000  # Monte Carlo samples


def _g(h):
    return erf(h / np.sqrt(2))


def _dg(h):
    return np.sqrt(2 / np.pi) * np.exp(-h * h / 2)


def _cov(n, scale=0.6):
    a = RNG.standard_normal((n, n)) * scale
    return a @ a.T / n + 0.3 * np.eye(n)


def _close(samples, value, k=5.0):
    """The sample mean within k standard errors of ``value`` (elementwise over trailing axes)."""
    mean, se = samples.mean(0), samples.std(0) / np.sqrt(len(samples))
    assert np.all(np.abs(mean - value) <= k * se + 1e-12), (mean, value, se)


def test_erf_integrals_equal_monte_carlo():
    c = _cov(4)
    u = RNG.multivariate_normal(np.zeros(4), c, size=S)
    g, dg = _g(u), _dg(u)
    _close(g[:, :, None] * g[:, None, :], committee.i2(c))
    _close(dg[:, :, None] * dg[:, None, :], committee.j2(c))
    _close(dg[:, :, None, None] * u[:, None, :, None] * g[:, None, None, :], committee.i3(c))
    # every index pattern of I4 (repeated indices included), on a subset to keep memory small
    four = (
        dg[:, :, None, None, None]
        * dg[:, None, :, None, None]
        * g[:, None, None, :, None]
        * g[:, None, None, None, :]
    )
    _close(four[:50_000], committee.i4(c))


def test_generalization_error_and_drift_equal_the_average_sgd_step():
    """E_g = <(zeta - phi)^2> + sigma^2 and the ODE's drift = the mean of one SGD step's change of
    the overlaps times N (with ||x||^2 -> 1, the N -> infinity limit the ODE takes), for drawn
    overlaps of K = 3 students and M = 2 teachers, both readouts not all ones."""
    k, m, eta, nv = 3, 2, 0.7, 0.2
    c = _cov(k + m, 0.8)
    q, r, t = c[:k, :k], c[:k, k:], c[k:, k:]
    v, v_star = np.array([1.0, 0.5, -0.8]), np.array([1.0, 1.5])
    z = RNG.multivariate_normal(np.zeros(k + m), c, size=S)
    lam, nu = z[:, :k], z[:, k:]
    delta = _g(nu) @ v_star - _g(lam) @ v + np.sqrt(nv) * RNG.standard_normal(S)
    _close(delta**2, committee.committee_error(q, r, t, v, v_star, nv))
    kappa, kappa_v = 0.3, 0.05  # weight decay's shrinkage per unit of alpha (first layer, readout)
    d_q, d_r, d_v = committee.committee_drift(q, r, t, v, v_star, eta, nv, kappa, kappa_v, True)
    a = v * _dg(lam) * delta[:, None]  # v_i g'(lambda_i) delta
    _close(eta * a[:, :, None] * nu[:, None, :], d_r + kappa * r)
    step = eta * (a[:, :, None] * lam[:, None, :] + a[:, None, :] * lam[:, :, None])
    _close(step + eta**2 * a[:, :, None] * a[:, None, :], d_q + 2 * kappa * q)
    _close(eta * _g(lam) * delta[:, None], d_v + kappa_v * v)  # the readout's step (eta/N) g delta, x N


def _ode(alphas, spu):
    t = np.eye(2)
    q0, r0 = 0.01 * np.eye(2) + 0.001, np.array([[1e-3, -2e-3], [5e-4, 1e-3]])
    return committee.committee_ode(q0, r0, t, [1, 1], [1, 1], 0.5, np.asarray(alphas), steps_per_unit=spu)


def test_rk4_converges_onto_the_plateau():
    """K = M = 2 from a small random start (noiseless, a realisable teacher): E_g falls from 0.68
    onto the symmetric plateau (about 0.029, the students not yet specialised) by alpha = 60, and
    halving the step changes the overlaps by less than 1e-8."""
    q1, r1, _, e1 = _ode([0.0, 5.0, 60.0], 10)
    q2, r2, _, _ = _ode([0.0, 5.0, 60.0], 20)
    assert np.max(np.abs(q1 - q2)) < 1e-8 and np.max(np.abs(r1 - r2)) < 1e-8
    assert e1[0] > 0.6 and 0.02 < e1[-1] < 0.04
    assert abs(q1[-1][0, 0] - q1[-1][1, 1]) < 0.05  # symmetric: both students alike on the plateau


@pytest.mark.slow  # 400 units of alpha (10 s)
def test_ode_escapes_the_plateau_and_learns_the_teacher():
    """Later the students specialise (R becomes diagonal up to a permutation) and E_g falls below
    1e-4 of its start by alpha = 400."""
    _, r, _, e = _ode([0.0, 60.0, 400.0], 5)
    assert e[-1] < 1e-4 * e[0]
    assert np.max(np.abs(np.sort(np.abs(r[-1]), axis=1)[:, 0])) < 0.05  # each student one teacher unit


def _committee_spec(extra_problem="", n_test=20000):
    return parse_spec(
        spec_text(
            "depth = [2]\nn_over_p = [1.0]\nsnr = [inf]\nseed = { count = 2 }",
            f"n_in = 100\nteacher = 'committee'\nteacher_width = 2\nn_test = {n_test}\n{extra_problem}",
            "width = 2\nactivation = 'erf'\ninit = 'gaussian'\ninit_scale = 0.1",
            "epochs = 40\nrecord = { log = 10 }\ndtype = 'float64'\nprotocol = 'online'\nlearning_rate = 0.5",
        )
    )


def test_committee_teacher_outputs_and_its_signal_variance():
    """The committee teacher's test outputs are sum_n erf(w*_n x/sqrt 2); their mean square is
    v*^T I2(T) v* for the seed's own overlaps T = W* W*^T/N (within 4 s.e.), and the derived
    sigma_w^2 = M/3 is that at T = I."""
    spec = _committee_spec()
    assert spec.problem.teacher_var == 2 / 3 and spec.nonlinear
    rd = data.seed_raw_data(spec.seed, 1, spec.problem, 100)
    np.testing.assert_allclose(rd.test_f[:, 0], _g(rd.test_x @ rd.t1.T).sum(1), rtol=1e-12)
    t = rd.t1 @ rd.t1.T / 100
    sq = rd.test_f[:, 0] ** 2
    exact = np.ones(2) @ committee.i2(t) @ np.ones(2)
    assert abs(sq.mean() - exact) < 4 * sq.std() / np.sqrt(len(sq))


@pytest.mark.slow  # 8 s; by default the committee student learns this teacher (test_committee_student.py)
def test_erf_students_learn_a_committee_teacher_online():
    """K = M = 2 erf students, online SGD, N = 100: every run finishes and E_g falls."""
    ds = run_sweep(_committee_spec(n_test=500))
    assert int(ds.diverged.sum()) == 0
    e = ds.test_error.squeeze()
    assert bool((e.isel(epoch=-1) < 0.5 * e.isel(epoch=0)).all())


@pytest.mark.parametrize(
    "problem, match",
    [
        ("teacher_var = 2.0", r"problem\.teacher_var.*committee"),
        ("n_out = 2", r"problem\.n_out.*one output"),
    ],
)
def test_committee_teacher_refusals(problem, match):
    with pytest.raises(ValueError, match=match):
        _committee_spec(problem)
