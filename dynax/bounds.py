"""Generalization bounds beside the measured gap (docs/theory.md §2.9), from a result recorded
with ``train.record.bounds = true``. NumPy and xarray only.

Two upper bounds on each run's test error E_g(t) at every recorded epoch, and so on its gap
E_g(t) − E_t(t):

* ``rademacher_bound``: the standard norm-based bound. With probability at least 1 − δ over the
  training set, for every recorded epoch at once,
  ``E_g ≤ [E_t + 4 M B / √(P (1 − p)) + M² √(ln(2 N_out (j+1)(j+2)/δ) / (2P))] / (1 − √(3p))``
  with B = B₀ 2ʲ the first of the norms B₀, 2B₀, 4B₀, … at least ‖W_eff(t)‖_F (B₀ = σ_w √N),
  M = (B + ‖w̄‖_F) R + σ_ε Z the largest residual inside the region ‖x‖ ≤ R, |z| ≤ Z that
  holds for every training example but with probability δ/2 (R from the χ² tail of Laurent &
  Massart 2000, Z from the Gaussian tail), and p = δ/(2P) the region's outside mass.
  Constants: Mohri, Rostamizadeh & Talwalkar (2018), Foundations of Machine Learning, 2nd ed.,
  Theorem 11.3 (p = 2: 4M ℜ and M² √(ln(1/δ)/2m)) with ℜ ≤ B √(E‖x‖²)/√P (their Theorem
  5.10), a union bound over the norms B and the outputs.
* ``frozen_subspace_bound``: ``E_g ≤ σ_ε² + null_space_error(t) + P (√E_t + σ_ε ẑ)² /
  (N λ₊)``, with λ₊ the smallest nonzero eigenvalue of Σ_xx and ẑ² the training noise draws'
  mean square: the error in the inputs' null space (the frozen subspace) plus what the training
  error allows in their row space, which the conditioning λ₊ controls. It holds for every
  weight matrix on the training set's inputs, with certainty.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["DELTA", "final_bounds", "generalization_bounds", "input_radius", "noise_radius"]

DELTA = 0.05  # the default failure probability of the norm bound (over training sets)

NEEDS = (
    "end_to_end_norm",
    "null_space_error",
    "input_min_eigenvalue",
    "input_max_norm",
    "noise_mean_square",
    "noise_max",
    "teacher_norm",
)


def input_radius(n_in: int, n_train, delta: float):
    """R with P(‖x‖ > R) ≤ δ/(4P) for x ~ N(0, I/N): ‖x‖² = χ²_N/N and P(χ²_N ≥ N + 2√(Nu) + 2u)
    ≤ e^(−u) (Laurent & Massart 2000, Lemma 1), u = ln(4P/δ)."""
    u = np.log(4.0 * n_train / delta)  # n_train: a number, an array or a DataArray
    return np.sqrt(1.0 + 2.0 * np.sqrt(u / n_in) + 2.0 * u / n_in)


def noise_radius(n_out: int, n_train, delta: float):
    """Z with P(|z| > Z) ≤ δ/(4 P N_out) for a standard normal z: P(|z| > Z) ≤ 2 e^(−Z²/2)."""
    return np.sqrt(2.0 * np.log(8.0 * n_train * n_out / delta))


def _label(da: xr.DataArray, long_name: str, **extra) -> xr.DataArray:
    da.attrs = {"long_name": long_name, "units": "1", **extra}
    return da


def generalization_bounds(ds: xr.Dataset, delta: float = DELTA) -> xr.Dataset:
    """The measured gap and both bounds at every run and recorded epoch.

    Returns a Dataset over the result's dims with ``generalization_gap`` (test_error −
    train_error), ``rademacher_bound`` and ``frozen_subspace_bound`` (upper bounds on
    test_error), ``rademacher_gap_bound`` and ``frozen_subspace_gap_bound`` (the same minus
    train_error), ``rademacher_norm`` (the norm B the bound used), and over ``n_over_p``
    ``input_radius`` R and ``noise_radius`` Z. ``rademacher_*`` is NaN for runs whose training
    set left the region (an input longer than R or a noise draw beyond Z: probability at most
    δ/2); both are NaN once a run diverged.
    """
    missing = [v for v in NEEDS if v not in ds]
    if missing:
        raise ValueError(
            f"the bounds need {', '.join(missing)}: run the sweep with train.record.bounds = true "
            "(full-batch GD, a linear teacher and student, sampled inputs)"
        )
    if not 0 < delta < 1:
        raise ValueError(f"delta: got {delta!r}; expected a probability in (0, 1)")
    n_in, n_out, sigma_w2 = int(ds.attrs["n_in"]), int(ds.attrs["n_out"]), float(ds.attrs["teacher_var"])
    p = ds.n_train.astype(np.float64)
    e_t, e_g = ds.train_error.astype(np.float64), ds.test_error.astype(np.float64)
    nv = ds.noise_var
    sigma = np.sqrt(nv)

    # the norm bound
    out_mass = delta / (2.0 * p)
    radius = input_radius(n_in, p, delta)
    z_max = noise_radius(n_out, p, delta)
    inside = (ds.input_max_norm <= radius) & (ds.noise_max <= z_max)
    b0 = np.sqrt(sigma_w2 * n_in)
    norm = ds.end_to_end_norm.astype(np.float64)
    j = np.maximum(0.0, np.ceil(np.log2(norm / b0)))
    b = b0 * 2.0**j
    m = (b + ds.teacher_norm) * radius + sigma * z_max
    complexity = 4.0 * m * b / np.sqrt(p * (1.0 - out_mass))
    confidence = m**2 * np.sqrt(np.log(2.0 * n_out * (j + 1.0) * (j + 2.0) / delta) / (2.0 * p))
    rademacher = ((e_t + complexity + confidence) / (1.0 - np.sqrt(3.0 * out_mass))).where(inside)

    # the frozen-subspace bound
    z_hat = np.sqrt(ds.noise_mean_square)
    row = p * (np.sqrt(e_t) + sigma * z_hat) ** 2 / (n_in * ds.input_min_eigenvalue)
    frozen = nv + ds.null_space_error.astype(np.float64) + row

    out = xr.Dataset(
        {
            "generalization_gap": _label(e_g - e_t, "measured generalization gap test_error - train_error"),
            "rademacher_bound": _label(
                rademacher,
                f"norm-based (Rademacher) upper bound on test_error, holding with probability >= "
                f"{1 - delta:g} over training sets at every epoch (NaN: the training set left the "
                "region the bound truncates to)",
                comment="docs/theory.md 2.9; constants: Mohri, Rostamizadeh & Talwalkar (2018), Thm 11.3",
            ),
            "rademacher_gap_bound": _label(rademacher - e_t, "rademacher_bound - train_error"),
            "rademacher_norm": _label(
                b.where(norm.notnull()), "the norm B >= ||W_eff||_F of the class the bound used (B0 2^j)"
            ),
            "frozen_subspace_bound": _label(
                frozen,
                "frozen-subspace upper bound on test_error: sigma_eps^2 + null_space_error + "
                "P (sqrt(train_error) + sigma_eps z_hat)^2 / (N lambda_+); holds for every weight matrix",
                comment="docs/theory.md 2.9",
            ),
            "frozen_subspace_gap_bound": _label(frozen - e_t, "frozen_subspace_bound - train_error"),
            "input_radius": _label(radius, f"R: P(||x|| > R) <= delta/(4P), delta = {delta:g}"),
            "noise_radius": _label(z_max, f"Z: P(|z| > Z) <= delta/(4 P N_out), delta = {delta:g}"),
        }
    )
    out.attrs = {"delta": delta}
    return out.transpose(*ds.test_error.dims, missing_dims="ignore")  # the result's dim order


def final_bounds(ds: xr.Dataset, ok: xr.DataArray) -> dict:
    """The summary's seed means at the last recorded epoch of the measured gap and of both bounds
    on it (:func:`generalization_bounds` at its default δ) over the runs ``ok`` (those that did
    not diverge), norm bounds whose training set left their region excluded."""
    b = generalization_bounds(ds).isel(epoch=-1).where(ok)
    out = {}
    for name, what in (
        ("generalization_gap", "measured generalization gap test_error - train_error"),
        ("rademacher_gap_bound", f"norm-based (Rademacher) bound on the gap (delta = {b.attrs['delta']:g})"),
        ("frozen_subspace_gap_bound", "frozen-subspace bound on the gap"),
    ):
        da = b[name].mean("seed")
        da = da.drop_vars([c for c in ("epoch", "time", "examples") if c in da.coords])
        da.attrs = {
            "long_name": f"{what} at the last epoch",
            "units": "1",
            "cell_methods": "epoch: point seed: mean",
        }
        out[f"final_{name}"] = da
    return out
