"""The committee ODEs on a sweep's grid (dynax.predict.committee, docs/theory.md §6): the batched
JAX integrator against the NumPy reference, its step error, and each run's initial overlaps
against the simulation's first record."""

import numpy as np
import pytest
from conftest import spec_text

from dynax import parse_spec, run_sweep
from dynax.predict import committee as pc
from dynax.predict import theory_dataset
from dynax.theory import committee


def _overlaps(rng, k, m, scale):
    w, ws = rng.standard_normal((k, 50)) * scale, rng.standard_normal((m, 50))
    return w @ w.T / 50, w @ ws.T / 50, ws @ ws.T / 50


def test_batched_integrator_equals_the_numpy_reference():
    """Three runs at once (K = 3, M = 2: noise, weight decay, a trained readout, different rates
    and record times) equal three NumPy RK4 integrations at the same step, to 1e-10."""
    rng = np.random.default_rng(3)
    runs = []
    for eta, nv, decay in ((0.5, 0.0, 0.0), (0.9, 0.1, 0.02), (0.3, 0.05, 0.1)):
        q, r, t = _overlaps(rng, 3, 2, 0.2)
        alphas = np.array([0.0, 0.3, 0.3, 2.0, 7.5, 20.0]) * (1 + decay)
        runs.append((q, r, t, np.ones(3), np.array([1.0, -0.6]), eta, nv, decay, decay / 50, alphas))
    got = pc.integrate(*(np.stack(c) for c in zip(*runs, strict=True)), train_readout=True, steps_per_unit=20)
    for i, (q, r, t, v, vs, eta, nv, decay, rdecay, alphas) in enumerate(runs):
        ref = committee.committee_ode(q, r, t, v, vs, eta, alphas, nv, 20, decay, rdecay, True)
        for a, b in zip(got, ref, strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-10, atol=1e-13)


def test_step_error_on_the_plateau_and_its_escape():
    """K = M = 2 from a small start at eta = 1: onto the plateau, through the escape and learnt
    (alpha to 300); the default step and half of it agree on E_g within 1e-9."""
    rng = np.random.default_rng(4)
    q, r, t = _overlaps(rng, 2, 2, 0.05)
    alphas = np.geomspace(1, 300, 40)
    alphas = np.concatenate([[0.0], alphas])
    args = [np.stack([a]) for a in (q, r, t, np.ones(2), np.ones(2), 1.0, 0.0, 0.0, 0.0, alphas)]
    e1 = pc.integrate(*args, steps_per_unit=pc.STEPS_PER_UNIT)[3][0]
    e2 = pc.integrate(*args, steps_per_unit=2 * pc.STEPS_PER_UNIT)[3][0]
    assert e1[-1] < 1e-3 * e1[0] and e1[len(e1) // 2] > 0.01  # it learns, after a plateau
    assert np.max(np.abs(e1 - e2)) < 1e-9


def _spec(extra_grid="", rate="learning_rate = 0.7", width="width = 2"):
    return parse_spec(
        spec_text(
            f"depth = [2]\nn_over_p = [1.0]\nsnr = [inf, 5.0]\nseed = [0, 1]\n{extra_grid}",
            "n_in = 60\nteacher = 'committee'\nteacher_width = 2",
            f"student = 'committee'\nactivation = 'erf'\ninit_scale = 0.3\ntrain_readout = true\n{width}",
            f"epochs = 8\nrecord = {{ log = 6 }}\ndtype = 'float32'\nprotocol = 'online'\n{rate}",
        )
    )


@pytest.mark.parametrize(
    "widths",
    ["", pytest.param("width = [2, 3]", marks=pytest.mark.slow)],  # slow: two widths, two programs (15 s)
)
def test_theory_starts_from_each_runs_own_overlaps(widths):
    """dynax theory's ODE of every run starts at the run's recorded first overlaps (float32 runs:
    the same rounded weights) and readouts, also with widths 2 and 3 in one sweep (padded with NaN);
    test_error is the ODEs' seed mean; the theory's time is the result's (eta examples/P)."""
    spec = _spec(widths, width="" if widths else "width = 2")
    ds, th = run_sweep(spec), theory_dataset(spec)
    for name in ("overlap_Q", "overlap_R", "readout_weight"):
        a, b = ds[name].isel(epoch=0), th[f"ode_{name}"].isel(epoch=0)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-7)
    if widths:
        assert np.isnan(th.ode_overlap_Q.sel(width=2, unit_a=2)).all()
    np.testing.assert_allclose(th.ode_test_error.isel(epoch=0), ds.test_error.isel(epoch=0), rtol=1e-5)
    np.testing.assert_allclose(th.test_error, th.ode_test_error.mean("seed"))
    th_time = th.time.isel(depth=0, n_over_p=0, snr=0, **({"width": 0} if widths else {}))
    np.testing.assert_allclose(th_time, ds.time.squeeze())  # eta examples/P, as the result's


def test_theory_follows_the_grid():
    """A rate axis changes the ODE as it changes the simulation: the larger rate is further down
    at alpha = 1; noise leaves E_g above sigma_eps^2."""
    spec = _spec("learning_rate = [0.3, 0.9]", rate="")
    th = theory_dataset(spec).squeeze(["depth", "n_over_p"])
    e = th.ode_test_error.sel(epoch=1, snr=np.inf)
    assert bool((e.sel(learning_rate=0.9) < e.sel(learning_rate=0.3)).all())
    noise_var = spec.problem.teacher_var / 5.0
    assert bool((th.ode_test_error.sel(snr=5.0) > noise_var).all())


@pytest.mark.slow  # 16 seeds at N = 400 (25 s)
def test_simulation_follows_its_ode_with_weight_decay_and_a_trained_readout():
    """Weight decay (kappa = eta gamma N/P = 4.8 on the first layer), label noise and a trained
    readout: the seed means of E_g and of the readouts equal their own ODEs' within 4 s.e. at
    every record from alpha = 0.1 on (N = 400, 16 seeds, float64; over the first few steps the
    paired difference is a sum of a few heavy-tailed products, and 16 seeds do not estimate its
    s.e.)."""
    spec = parse_spec(
        spec_text(
            "depth = [2]\nn_over_p = [2.0]\nsnr = [5.0]\nseed = { count = 16 }",
            "n_in = 400\nteacher = 'committee'\nteacher_width = 2",
            "student = 'committee'\nwidth = 2\nactivation = 'erf'\ninit_scale = 0.5\ntrain_readout = true",
            "epochs = 40\nrecord = { log = 12 }\ndtype = 'float64'\nprotocol = 'online'\n"
            "learning_rate = 0.8\nweight_decay = 3.0",
        )
    )
    ds, th = run_sweep(spec), theory_dataset(spec)
    late = (ds.examples.squeeze() >= 40).values  # alpha >= 0.1
    for sim, ode in ((ds.test_error, th.ode_test_error), (ds.readout_weight, th.ode_readout_weight)):
        d = (sim - ode).squeeze().isel(epoch=late)
        mean, sem = d.mean("seed"), d.std("seed", ddof=1) / np.sqrt(16)
        assert bool((np.abs(mean) <= 4 * sem + 1e-12).all()), (mean.values, sem.values)
