"""Generalization bounds (train.record.bounds, docs/theory.md §2.9): what they read of each
training set against NumPy, both bounds hold in every run where their assumptions do, the
region's radii against their tails, and the flag's checks."""

import numpy as np
import pytest
import xarray as xr
from conftest import spec_text

import dynax
from dynax import analysis, bounds
from dynax.sim import data


def _text(grid: str, problem: str = "n_in = 12", train: str = "") -> str:
    return spec_text(
        grid,
        problem,
        "",
        "epochs = 400\nrecord = { log = 12, bounds = true }\ndtype = 'float64'\n" + train,
    )


@pytest.mark.slow  # 10 s (a sweep and its raw data); the radii and the flag's checks run by default
def test_bounds_of_a_sweep():
    """One sweep, depths 1-2 across P = N (where the gap and both bounds peak), two SNRs, float64:

    * what the bounds read of each training set against NumPy on the raw examples: λ₊ (the
      min(P, N)-th largest eigenvalue of Σ_μ x_μ x_μᵀ), max ‖x_μ‖, the noise draws' mean square
      and largest |z|, ‖w̄‖_F;
    * E_g ≤ each bound at every run and recorded epoch (the norm bound wherever its training set
      stayed in its region, which all of these did; the frozen-subspace bound is certain, so at
      float64 rounding); the norm bound is more than 10× the gap everywhere, and the frozen-
      subspace bound's seed mean peaks at P = N, as the gap's does;
    * at depth 1 the row-space error E_g − σ_ε² − null_space_error is within the bound's last
      term, but not within it with λ₊ replaced by Σ_xx's largest eigenvalue (the eigenvalue's
      choice matters);
    * the summary's final gap, and the refusals of a result without the flag's variables.
    """
    n, p_max = 12, 24
    result = dynax.run(
        _text(
            "depth = [1, 2]\nn_over_p = [2.0, 1.0, 0.5]\nsnr = [1.0, 8.0]\nseed = { count = 6 }",
            f"n_in = {n}",
        ),
        progress=False,
    )
    lam_max = np.zeros((3, 6))
    for i, r in enumerate(result.n_over_p.values):
        p = int(result.n_train.sel(n_over_p=r))
        for seed in result.seed.values:
            x, z = (np.asarray(v)[:p] for v in data.examples(data.data_key(0, int(seed)), n, 1, p_max))
            w_bar = np.asarray(data.seed_teacher(0, int(seed), n, 1, 1.0))
            lam = np.linalg.eigvalsh(x.T @ x)[::-1]
            lam_max[i, seed] = lam[0]
            at = result.sel(n_over_p=r, seed=seed)
            np.testing.assert_allclose(float(at.input_min_eigenvalue), lam[min(p, n) - 1], rtol=1e-9)
            np.testing.assert_allclose(float(at.input_max_norm), np.linalg.norm(x, axis=1).max(), rtol=1e-12)
            np.testing.assert_allclose(float(at.noise_mean_square), np.mean(z**2), rtol=1e-12)
            np.testing.assert_allclose(float(at.noise_max), np.abs(z).max(), rtol=1e-12)
            np.testing.assert_allclose(
                float(result.teacher_norm.sel(seed=seed)), np.linalg.norm(w_bar), rtol=1e-12
            )

    b = analysis.generalization_bounds(result)
    e_g = result.test_error
    assert b.rademacher_bound.notnull().all()
    assert (e_g <= b.rademacher_bound).all()
    assert (e_g <= b.frozen_subspace_bound * (1 + 1e-12)).all()
    assert (b.rademacher_gap_bound > 10 * abs(b.generalization_gap)).all()
    assert (b.rademacher_norm >= result.end_to_end_norm).all()
    late = b.isel(epoch=-1).mean("seed").sel(depth=1, snr=1.0)
    assert int(np.argmax(late.frozen_subspace_gap_bound.values)) == 1
    assert int(np.argmax(late.generalization_gap.values)) == 1

    run = result.sel(depth=1)
    row = run.test_error - run.noise_var - run.null_space_error
    z = np.sqrt(run.noise_mean_square)
    term = run.n_train * (np.sqrt(run.train_error) + np.sqrt(run.noise_var) * z) ** 2 / n
    assert (row <= term / run.input_min_eigenvalue * (1 + 1e-12)).all()
    assert (row > term / xr.DataArray(lam_max, dims=("n_over_p", "seed"))).any()

    summary = analysis.summarize(result)
    np.testing.assert_allclose(
        summary.final_generalization_gap.values, b.generalization_gap.isel(epoch=-1).mean("seed").values
    )
    with pytest.raises(ValueError, match=r"train\.record\.bounds = true"):
        analysis.generalization_bounds(result.drop_vars("input_min_eigenvalue"))
    with pytest.raises(ValueError, match="delta"):
        analysis.generalization_bounds(result, delta=1.5)


def test_radii_hold_their_tail_probabilities():
    """P(‖x‖ > R) ≤ δ/(4P) and P(|z| > Z) ≤ δ/(4 P N_out): Monte Carlo frequencies (2e5 draws)
    within 3 standard errors of at most the bound, at a δ where the tails are measurable."""
    rng = np.random.default_rng(0)
    delta, p, n = 0.8, 1, 20
    x = rng.standard_normal((200_000, n)) / np.sqrt(n)
    tail = np.mean(np.linalg.norm(x, axis=1) > bounds.input_radius(n, p, delta))
    assert tail <= delta / (4 * p) + 3 * np.sqrt(delta / (4 * p) / len(x))
    z = rng.standard_normal(200_000)
    assert np.mean(np.abs(z) > bounds.noise_radius(1, p, delta)) <= delta / (4 * p) + 3 * np.sqrt(
        0.2 / len(z)
    )


def test_bounds_flag_turns_on_what_it_reads_and_refuses_the_rest():
    spec = dynax.parse_spec(_text("depth = [1]\nn_over_p = [1.0]\nsnr = [1.0]\nseed = { count = 1 }"))
    assert {"bounds", "end_to_end_norm"} <= spec.train.record.flags and spec.train.null_space_error
    grid = "depth = [1]\nn_over_p = [1.0]\nsnr = [1.0]\nseed = { count = 1 }"
    for train, key in (
        ("null_space_error = false", "train.null_space_error"),
        ("batch_size = 4", "train.record.bounds"),
        ("validation = 2", "train.record.bounds"),
    ):
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            dynax.parse_spec(_text(grid, train=train))
    with pytest.raises(ValueError, match=r"train\.record\.end_to_end_norm"):
        dynax.parse_spec(
            spec_text(grid, "n_in = 12", "", "record = { log = 5, bounds = true, end_to_end_norm = false }")
        )
    with pytest.raises(ValueError, match=r"train\.record\.bounds.*i\.i\.d\. Gaussian"):
        dynax.parse_spec(_text(grid, "n_in = 12\ninputs = 'whitened'"))
    with pytest.raises(ValueError, match=r"train\.record\.bounds.*linear teacher"):
        dynax.parse_spec(_text(grid, "n_in = 12\nteacher = 'relu'\nteacher_width = 4"))
