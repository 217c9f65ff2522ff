"""Reductions of a sweep Dataset: seed statistics, optimal early stopping, overtraining,
and the distance to theory and to the Bayes-optimal error.

Every function takes a Dataset that follows the contract of docs/design.md §4, opened with
plain ``xr.open_dataset`` (lazily with ``chunks={}`` works too: only xarray reductions
are used, nothing is loaded whole), with any extra grid axes. Diverged runs are
excluded from every mean and counted in ``n_diverged``.

Two optimal early-stopping errors exist and are named apart (docs/theory.md §2.5):

* ``opt_error_of_mean``: the minimum over epochs of the seed-averaged curve. This is what
  the theory predicts (``E_g`` is self-averaging), read on the recorded epochs.
* ``mean_of_best_error``: the seed average of each run's exact minimum over every epoch
  (``best_test_error``). Each run picks its own best epoch, so noise biases it low:
  it is at most ``opt_error_of_mean`` up to the recording grid's resolution.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .bounds import final_bounds, generalization_bounds
from .store.cf import CONVENTIONS, cell_methods_attrs

__all__ = [
    "bootstrap_sem",
    "error_at_time",
    "final_error",
    "generalization_bounds",
    "optimal_early_stopping",
    "overtraining",
    "reached_optimum",
    "seed_statistics",
    "summarize",
    "train_error_rose",
    "valid",
]


_REDUCED = ("epoch", "seed", "time", "examples")


def _label(da: xr.DataArray, long_name: str, units: str, cell_methods: str, **extra) -> xr.DataArray:
    """Fresh attributes, and no leftover coordinate of a reduced dimension."""
    drop = [c for c in da.coords if c in _REDUCED and c not in da.dims]
    da = da.drop_vars(drop)
    da.attrs = {"long_name": long_name, "units": units, **cell_methods_attrs(cell_methods), **extra}
    return da


def valid(ds: xr.Dataset) -> xr.DataArray:
    """True for runs that did not diverge."""
    return ds.diverged == 0


def _interp_curve(values, t, common):
    """One run's curve at the times ``common``: linear in log t between recorded times > 0,
    linear in t between t = 0 and the first of them, NaN past the run's last time."""
    out = np.full(common.shape, np.nan)
    pos = t > 0
    if t[0] == 0:
        out[common == 0] = values[0]
    if pos.any():
        first, last = t[pos][0], t[pos][-1] * (1 + 1e-9)
        m = (common >= first) & (common <= last)
        out[m] = np.interp(np.log(common[m]), np.log(t[pos]), values[pos])
        if t[0] == 0:
            m = (common > 0) & (common < first)
            out[m] = values[0] + (values[pos][0] - values[0]) * common[m] / first
    return out.astype(values.dtype)


def on_common_time(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]`` with every seed on the same time axis.

    Where the time per epoch differs between seeds (``learning_rate = {auto = f}`` gives
    each run its own rate), averaging curves epoch by epoch would mix different times t;
    each run's curve is then interpolated (linear in log t) onto the seed-mean time of
    every recorded epoch, NaN beyond the run's own last time. Where every seed shares its
    time axis the curve is returned unchanged.
    """
    x = ds[name]
    time = ds["time"]
    if "seed" not in time.dims or "epoch" not in x.dims:
        return x
    spread = (time.max("seed") - time.min("seed")) / time.max("seed").where(time.max("seed") > 0)
    if not bool((spread.fillna(0) > 1e-12).any()):
        return x
    common = time.where(valid(ds)).mean("seed")
    return xr.apply_ufunc(
        _interp_curve,
        x,
        time.broadcast_like(x),
        common.broadcast_like(x),
        input_core_dims=[["epoch"]] * 3,
        output_core_dims=[["epoch"]],
        vectorize=True,
        dask="parallelized",
        output_dtypes=[x.dtype],
    ).transpose(*x.dims)


def seed_statistics(ds: xr.Dataset, variables=("test_error", "train_error")) -> xr.Dataset:
    """Seed mean, standard error of the mean and count of finite runs, per curve.

    Returns variables ``<name>_mean``, ``<name>_sem`` for each name, and ``n_seeds``
    (runs that entered the mean) and ``n_diverged``.
    """
    ok = valid(ds)
    out = {}
    n = ok.sum("seed")
    for name in variables:
        x = on_common_time(ds, name).where(ok)
        long = ds[name].attrs.get("long_name", name)
        covered = (x.notnull() | ~ok).all("seed")  # every finite run reaches this time
        mean = x.mean("seed").where(covered)
        sem = (x.std("seed", ddof=1) / np.sqrt(n)).where(covered)
        out[f"{name}_mean"] = _label(mean, f"seed mean of {long}", "1", "seed: mean (diverged runs excluded)")
        out[f"{name}_sem"] = _label(
            sem,
            f"standard error of the seed mean of {long}",
            "1",
            "seed: standard_error (diverged runs excluded)",
        )
    out["n_seeds"] = _label(n.astype(np.int64), "runs in the seed mean", "1", "seed: count")
    out["n_diverged"] = _label((~ok).sum("seed").astype(np.int64), "diverged runs", "1", "seed: count")
    return xr.Dataset(out)


def _time_at(ds: xr.Dataset, epoch_index: xr.DataArray) -> xr.DataArray:
    time = ds["time"]
    if "seed" in time.dims:
        time = time.where(valid(ds)).mean("seed")
    return time.isel(epoch=epoch_index)


def optimal_early_stopping(ds: xr.Dataset) -> xr.Dataset:
    """Both optimal early-stopping errors, the epoch and time of the first, and the spread.

    Returns ``opt_error_of_mean``, ``opt_epoch_of_mean``, ``opt_time_of_mean``,
    ``opt_error_sem`` (standard error at that epoch), ``mean_of_best_error`` and
    ``mean_of_best_time``.
    """
    stats = seed_statistics(ds, ("test_error",))
    mean = stats.test_error_mean
    # argmin over epochs of a curve that is all-NaN (every seed diverged) is undefined:
    # point it at epoch 0 and blank the result afterwards
    any_finite = mean.notnull().any("epoch").compute()
    i = mean.fillna(np.inf).argmin("epoch").compute()  # grid-sized index: cheap even for huge sweeps
    opt = mean.isel(epoch=i).where(any_finite)
    epoch = ds.epoch.isel(epoch=i).where(any_finite, -1)
    time = _time_at(ds, i).where(any_finite)
    best = ds.best_test_error.where(valid(ds))
    best_time = (ds.best_epoch * _rate(ds)).where(valid(ds) & (ds.best_epoch >= 0))
    out = {
        "opt_error_of_mean": _label(
            opt,
            "optimal early-stopping error: minimum over recorded epochs of the seed-mean test_error",
            "1",
            "seed: mean epoch: minimum",
        ),
        "opt_epoch_of_mean": _label(
            epoch.astype(np.int64),
            "epoch of the minimum of the seed-mean test_error",
            "1",
            "seed: mean epoch: minimum",
        ),
        "opt_time_of_mean": _label(
            time,
            "continuous time t of the minimum of the seed-mean test_error",
            "1",
            "seed: mean epoch: minimum",
        ),
        "opt_error_sem": _label(
            stats.test_error_sem.isel(epoch=i).where(any_finite),
            "standard error of the seed mean at the optimal epoch",
            "1",
            "seed: standard_error",
        ),
        "mean_of_best_error": _label(
            best.mean("seed"),
            "seed mean of each run's exact minimum test_error over every epoch",
            "1",
            "epoch: minimum seed: mean",
        ),
        "mean_of_best_time": _label(
            best_time.mean("seed"),
            "seed mean of the continuous time t of each run's exact minimum",
            "1",
            "epoch: minimum seed: mean",
        ),
    }
    return xr.Dataset(out)


def _rate(ds: xr.Dataset) -> xr.DataArray:
    """Time per epoch (t = rate × epoch), over the dims along which it varies."""
    time = ds["time"]
    last = time.isel(epoch=-1)
    return last / ds.epoch.isel(epoch=-1).astype(np.float64)


def final_error(ds: xr.Dataset) -> xr.DataArray:
    """Seed mean of test_error at the last recorded epoch."""
    x = ds.test_error.isel(epoch=-1).where(valid(ds)).mean("seed")
    return _label(x, "seed-mean test_error at the final epoch", "1", "seed: mean epoch: point (last)")


LATE_FRACTION = 0.1  # a best epoch in the last 10% of the epochs: the optimum may lie beyond the run


def reached_optimum(ds: xr.Dataset) -> xr.DataArray:
    """Per run: 1 where a noisy run's best epoch falls before the last 10% of its epochs,
    0 where it falls in them (the optimum may lie beyond the run: more epochs, or a larger
    rate, would lower the error), NaN for noiseless runs (their error falls for ever) and
    diverged runs."""
    last = ds.epoch.isel(epoch=-1).astype(np.float64)
    reached = (ds.best_epoch < (1 - LATE_FRACTION) * last).astype(np.float64)
    return reached.where(valid(ds) & (ds.noise_var > 0)).drop_vars("epoch", errors="ignore")


RISE = 1e-3  # a recorded E_t above the record before by this fraction (plus 1e-6 E_t(0))


def train_error_rose(ds: xr.Dataset) -> xr.DataArray:
    """Per run: 1 where full-batch GD's recorded training error rose from one record to the
    next by more than 0.1% (plus 1e-6·E_t(0), for rounding near zero), 0 where it never
    did. A step below the stability limit never raises the training loss, so a rise means
    the step crossed it (with the auto rate: late, as the weights grew fitting the noise;
    with a fixed rate, possibly from the start). NaN where a rise says
    nothing (online or minibatch presentation, momentum or Adam, weight decay > 0, whose
    penalty falls instead, dropout or input noise, whose fresh draws raise the clean training
    error by design) and for diverged runs."""
    from .store import spec_of

    tr = ds.train_error
    rose = (tr > tr.shift(epoch=1) * (1 + RISE) + 1e-6 * tr.isel(epoch=0)).any("epoch").astype(np.float64)
    ok = valid(ds)
    try:
        spec = spec_of(ds)
    except (KeyError, ValueError):  # no recorded spec: say nothing
        return rose.where(False)
    if spec.train.batch_size > 0:
        ok = ok & False
    plain_runs = (
        ("protocol", "replay"),
        ("optimizer", "gd"),
        ("weight_decay", 0.0),
        ("dropout", 0.0),
        ("input_noise", 0.0),
    )  # dropout and input noise raise the clean training error by design
    for name, plain in plain_runs:
        if name in ds.coords:
            ok = ok & (ds[name] == plain)
        elif name in spec.dims:  # a grid axis selected away: which value is unknown here
            ok = ok & False
        else:
            ok = ok & (spec.setting(name) == plain)
    return rose.where(ok).drop_vars("epoch", errors="ignore")


def error_at_time(ds: xr.Dataset) -> tuple[xr.DataArray, float]:
    """Seed-mean test_error at one continuous time t for the whole grid: the largest t
    every grid point's seed mean reaches (so it compares runs at equal training time, where
    ``final_error`` compares them at an equal epoch count, i.e. at their own rates)."""
    stats = seed_statistics(ds, ("test_error",))
    mean = stats.test_error_mean
    time = ds["time"].where(valid(ds)).mean("seed") if "seed" in ds["time"].dims else ds["time"]
    time = time.where(mean.notnull())
    t_end = time.max("epoch")
    t = float(t_end.min())
    if not np.isfinite(t) or t <= 0:
        return _label(xr.full_like(mean.isel(epoch=0), np.nan), "no common time", "1", "seed: mean"), t
    with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 at epoch 0: log 0 = -inf, never nearest
        i = np.abs(np.log(time.fillna(np.inf) / t)).argmin("epoch").compute()
    value = mean.isel(epoch=i)
    return (
        _label(
            value,
            f"seed-mean test_error at time t = {t:.4g} (the nearest recorded epoch; the largest t every "
            f"grid point reaches)",
            "1",
            "seed: mean epoch: point (at a common time)",
            time=t,
        ),
        t,
    )


def bootstrap_sem(ds: xr.Dataset, n_boot: int = 200, seed: int = 0) -> xr.DataArray:
    """Standard error of ``opt_error_of_mean`` by a bootstrap over seeds: seeds drawn with
    replacement, the minimum over epochs of their mean curve, the spread of that minimum
    over ``n_boot`` draws (a fixed generator: the same result every time)."""
    x = on_common_time(ds, "test_error").where(valid(ds))
    x = x.transpose(..., "seed", "epoch")
    values = np.asarray(x.values, np.float64)
    n_seed = values.shape[-2]
    rng = np.random.default_rng(seed)
    mins = np.empty((n_boot, *values.shape[:-2]))
    for b in range(n_boot):
        pick = rng.integers(0, n_seed, n_seed)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: diverged draws
            mean = np.nanmean(values[..., pick, :], axis=-2)
        mins[b] = np.where(
            np.isnan(mean).all(-1), np.nan, np.nanmin(np.where(np.isnan(mean), np.inf, mean), -1)
        )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sem = np.nanstd(mins, axis=0, ddof=1) if n_seed > 1 else np.full(mins.shape[1:], np.nan)
    dims = [d for d in x.dims if d not in ("seed", "epoch")]
    da = xr.DataArray(sem, dims=dims, coords={d: x[d] for d in dims})
    return _label(
        da,
        f"bootstrap standard error of opt_error_of_mean ({n_boot} resamplings of the seeds)",
        "1",
        "bootstrap standard error over seeds of (seed: mean epoch: minimum)",
    )


def overtraining(ds: xr.Dataset, opt: xr.Dataset | None = None) -> xr.Dataset:
    """Final − optimal error, their ratio, and the N/P of the largest overtraining.

    Returns ``overtraining``, ``overtraining_ratio`` and ``peak_n_over_p`` (over the
    other dims; NaN where every value is NaN).
    """
    opt = optimal_early_stopping(ds) if opt is None else opt
    final = final_error(ds)
    amount = final - opt.opt_error_of_mean
    any_finite = amount.notnull().any("n_over_p").compute()
    peak = ds.n_over_p.isel(n_over_p=amount.fillna(-np.inf).argmax("n_over_p").compute()).where(any_finite)
    # the N/P axis is reduced: drop every coordinate along it (n_train, alpha, n_fit, …)
    peak = peak.drop_vars([c for c in peak.coords if c == "n_over_p" or "n_over_p" in ds[c].dims])
    return xr.Dataset(
        {
            "overtraining": _label(
                amount,
                "overtraining: final minus optimal seed-mean test_error",
                "1",
                "seed: mean epoch: point (last) minus minimum",
            ),
            "overtraining_ratio": _label(
                final / opt.opt_error_of_mean,
                "final over optimal seed-mean test_error",
                "1",
                "seed: mean epoch: point (last) over minimum",
            ),
            "peak_n_over_p": _label(
                peak,
                "N/P of the largest overtraining",
                "1",
                "n_over_p: maximum (of overtraining)",
            ),
        }
    )


def _paired_excess(err: xr.DataArray, base: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Relative excess of ``err`` over ``base``, paired per seed: mean(err − base)/mean(base)
    and its standard error std(err − base)/√n/mean(base) (seeds with both values only)."""
    both = err.notnull() & base.notnull()
    diff, base = (err - base).where(both), base.where(both)
    n = both.sum("seed")
    ref = base.mean("seed")
    return diff.mean("seed") / ref, diff.std("seed", ddof=1) / np.sqrt(n) / ref


def excess_over_ridge(ds: xr.Dataset, opt: xr.Dataset) -> dict:
    """Early stopping against ridge on the same training sets, like with like
    (docs/theory.md §2.7): the seed-mean curve at its minimum against the seed mean of
    ``ridge_test_error`` (γ* = σ_ε²/σ_w², the Bayes estimate given each data set), and each
    run's own optimum against its ``best_ridge_test_error`` (the oracle γ). Both relative,
    paired per seed, with standard errors; negative where stopping beats ridge (possible on a
    draw: an oracle stopping time against a fixed γ*, or a deep network's own bias). The
    seed-mean curve is ``opt_error_of_mean``'s: every seed at the same time t
    (:func:`on_common_time`), each seed's E_g taken at that curve's minimum."""
    ok = valid(ds)
    curves = on_common_time(ds, "test_error").where(ok)
    epoch = opt.opt_epoch_of_mean.compute()  # -1 where every run diverged
    at_opt = curves.sel(epoch=epoch.where(epoch >= 0, ds.epoch[0])).where(epoch >= 0).drop_vars("epoch")
    base = ds.ridge_test_error.broadcast_like(at_opt)
    mean_ex, mean_sem = _paired_excess(at_opt, base)
    own_ex, own_sem = _paired_excess(
        ds.best_test_error.where(ok), ds.best_ridge_test_error.broadcast_like(at_opt)
    )
    cm = "seed: mean epoch: minimum, relative to ridge on the same data"
    out = {
        "excess_over_ridge": _label(
            mean_ex,
            "relative excess of the minimum of the seed-mean test_error over the seed mean of "
            "ridge_test_error (gamma* = 1/SNR on each run's own data), paired per seed",
            "1",
            cm,
        ),
        "excess_over_ridge_sem": _label(mean_sem, "standard error of excess_over_ridge (paired)", "1", cm),
        "best_excess_over_ridge": _label(
            own_ex,
            "relative excess of each run's own best test_error over its best_ridge_test_error "
            "(the oracle gamma), seed mean of the paired differences",
            "1",
            "epoch: minimum seed: mean, relative to the oracle ridge on the same data",
        ),
        "best_excess_over_ridge_sem": _label(
            own_sem, "standard error of best_excess_over_ridge (paired)", "1", "seed: standard_error"
        ),
    }
    if "comment" in ds.ridge_test_error.attrs:
        out["excess_over_ridge"].attrs["comment"] = ds.ridge_test_error.attrs["comment"]
    return out


def summarize(ds: xr.Dataset, theory: xr.Dataset | None = None) -> xr.Dataset:
    """The summary Dataset of docs/design.md §4 ("Names others read").

    Args:
        ds: a sweep result.
        theory: a theory Dataset on the same grid (``dynax theory``); adds
            ``excess_over_bayes``, ``bayes_test_error``, ``theory_optimal_error`` and
            ``distance_from_theory``.
    """
    opt = optimal_early_stopping(ds)
    over = overtraining(ds, opt)
    stats = seed_statistics(ds, ("test_error",))
    out = xr.merge([opt, over, final_error(ds).rename("final_error").to_dataset()], compat="override")
    out["n_diverged"] = stats.n_diverged
    out["noise_var"] = ds.noise_var
    out["opt_error_of_mean_sem"] = bootstrap_sem(ds)
    reached = reached_optimum(ds)
    out["reached_optimum"] = _label(
        reached.mean("seed"),
        f"fraction of the noisy runs whose best epoch came before the last {LATE_FRACTION:.0%} of "
        "the epochs (below 1: the optimum may lie beyond the run; NaN: noiseless)",
        "1",
        "seed: mean",
    )
    out["n_late_optimum"] = _label(
        (reached == 0).sum("seed").astype(np.int64),
        f"noisy runs whose best epoch fell in the last {LATE_FRACTION:.0%} of the epochs",
        "1",
        "seed: count",
    )
    rose = train_error_rose(ds)
    out["n_train_error_rose"] = _label(
        (rose == 1).sum("seed").where(rose.notnull().any("seed")),
        f"full-batch GD runs whose training error rose between two records (by more than "
        f"{RISE:.1%}): their step crossed the stability limit (NaN: no run the flag applies to)",
        "1",
        "seed: count",
    )
    out["error_at_time"] = error_at_time(ds)[0]
    if "best_ridge_test_error" in ds:
        out.update(excess_over_ridge(ds, opt))
    if "input_min_eigenvalue" in ds:  # train.record.bounds: the gap and its bounds at the last epoch
        out.update(final_bounds(ds, valid(ds)))
    if theory is not None:
        bayes = theory.bayes_test_error
        out["bayes_test_error"] = _label(
            bayes.copy(), "Bayes-optimal error (posterior mean = optimal ridge)", "1", "theory"
        )
        out["excess_over_bayes"] = _label(
            out.opt_error_of_mean / bayes - 1,
            "relative excess of the optimal early-stopping error over the Bayes-optimal error",
            "1",
            "seed: mean epoch: minimum, relative to theory",
        )
        th_opt = theory.optimal_test_error
        out["theory_optimal_error"] = _label(
            th_opt.copy(), "optimal early-stopping error: theory", "1", "theory"
        )
        out["distance_from_theory"] = _label(
            out.opt_error_of_mean / th_opt - 1,
            "relative distance of opt_error_of_mean from the theory's optimal error",
            "1",
            "seed: mean epoch: minimum, relative to theory",
        )
    out.attrs = {
        "Conventions": CONVENTIONS,
        "title": f"{ds.attrs.get('title', 'sweep')} (summary)",
        "source_spec_sha256": ds.attrs.get("spec_sha256", ""),
        # the spec the summarised result ran, so the summary alone says what it summarises
        **{
            k: ds.attrs[k]
            for k in ("spec_toml", "spec_overrides", "spec_sha256", "dynax_commit")
            if k in ds.attrs
        },
        "dynax_version": ds.attrs.get("dynax_version", ""),
        "comment": "diverged runs are excluded from every mean and counted in n_diverged",
    }
    return out
