"""The gallery: the papers' results reproduced from the sweep specs in ``sweeps/``.

Each item is one or two specs, a result and its theory in ``results/<item>/``, figures
(PNG) beside them and ``numbers.json``: the measured numbers next to what docs/theory.md
states. ``dynax gallery ITEM`` makes the figures and numbers from a result written by
``dynax run sweeps/<spec>.toml -o results/<item>/<spec>.nc`` (:func:`load`, then
:func:`make`); ``make(item, results, out)`` does the same in Python for results already in
memory (the tests use tiny versions). One module per item; :mod:`.common` holds what they share.
"""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from ..predict import theory_dataset
from ..spec import SpecError
from ..store import spec_of, write_netcdf
from .bounds import bounds
from .committee import committee
from .decomposition import decomposition
from .denoising import denoising
from .depth import depth
from .dropout import dropout
from .frozen_subspace import frozen_subspace
from .hierarchy import hierarchy
from .input_noise import input_noise
from .learning_curves import learning_curves
from .modes import modes
from .nonlinear import hidden_spectrum, nonlinear
from .phase_diagram import phase_diagram
from .pretraining import pretraining
from .regularization import regularization
from .replay_vs_online import replay_vs_online
from .stopping import stopping
from .very_deep import very_deep

__all__ = ["ITEMS", "SPECS", "hidden_spectrum", "load", "make"]

# item -> the specs (sweeps/<name>.toml) whose results it reads, in order
SPECS = {
    "learning_curves": ("learning_curves",),
    "phase_diagram": ("phase_diagram",),
    "frozen_subspace": ("frozen_subspace",),
    "depth": ("depth", "depth_balanced"),
    "replay_vs_online": ("replay_vs_online",),
    "nonlinear": ("nonlinear", "nonlinear_snr"),
    "decomposition": ("decomposition",),
    "modes": ("modes_plateau", "modes_depth", "modes_generalization"),
    "regularization": (
        "regularization_path",
        "regularization_null",
        "regularization_modes",
        "regularization_peak",
    ),
    "stopping": ("stopping",),
    "hierarchy": ("hierarchy_stages", "hierarchy_illusory", "hierarchy_noise"),
    "dropout": ("dropout", "dropout_unscaled", "dropout_shared"),
    "input_noise": ("input_noise", "input_noise_decay"),
    "bounds": ("bounds",),
    "very_deep": ("very_deep",),
    "pretraining": ("pretraining", "pretraining_random"),
    "denoising": ("denoising",),
    "committee": ("committee_n250", "committee_n500", "committee_n1000", "committee_k3", "committee_k4"),
}
ITEMS = tuple(SPECS)
_MAKERS = {
    "learning_curves": learning_curves,
    "phase_diagram": phase_diagram,
    "frozen_subspace": frozen_subspace,
    "depth": depth,
    "replay_vs_online": replay_vs_online,
    "nonlinear": nonlinear,
    "decomposition": decomposition,
    "modes": modes,
    "regularization": regularization,
    "stopping": stopping,
    "hierarchy": hierarchy,
    "dropout": dropout,
    "input_noise": input_noise,
    "bounds": bounds,
    "very_deep": very_deep,
    "pretraining": pretraining,
    "denoising": denoising,
    "committee": committee,
}


def load(item: str, results: str | Path = "results", history: str = "") -> list:
    """The ``(result, theory)`` pairs of an item from ``results/<item>/``: each spec's
    result, and its theory (``<spec>.theory.nc`` when it belongs to that result's spec and
    overrides, else computed and written there).

    Raises:
        SpecError: an unknown item, or a result that is missing (with the command that makes it).
    """
    if item not in SPECS:
        raise SpecError(f"gallery: unknown item {item!r}; allowed: {', '.join(ITEMS)}")
    folder = Path(results) / item
    pairs = []
    for name in SPECS[item]:
        path = folder / f"{name}.nc"
        if not path.exists():
            raise SpecError(f"gallery: {path} is missing; run `dynax run sweeps/{name}.toml -o {path}` first")
        ds = xr.open_dataset(path).load()
        spec = spec_of(ds, str(path))
        th_path = folder / f"{name}.theory.nc"
        th = xr.open_dataset(th_path).load() if th_path.exists() else None
        if th is None or th.attrs.get("spec_sha256") != spec.sha256:
            th = theory_dataset(spec)
            th.attrs["history"] = history or f"dynax gallery {item}"
            write_netcdf(th, th_path)
        pairs.append((ds, th))
    return pairs


# which reduction each item's optimal errors are (docs/theory.md §2.5): written into numbers.json
MIN_OF_MEAN = "minimum over recorded epochs of the seed-mean curve (opt_error_of_mean)"
OWN_BEST = "seed mean of each run's own best over every epoch (mean_of_best_error)"
REDUCTIONS = {
    "learning_curves": f"optimal errors: {MIN_OF_MEAN}",
    "phase_diagram": f"optimal errors: {MIN_OF_MEAN}",
    "frozen_subspace": f"optimal_error: {MIN_OF_MEAN}",
    "depth": f"min_of_mean: {MIN_OF_MEAN}; own_best: {OWN_BEST}",
    "replay_vs_online": (
        f"replay: {OWN_BEST} (oracle early stopping); online: the seed-mean curve at P examples"
    ),
    "nonlinear": f"optimal_error: {OWN_BEST}; final_error: the seed mean at the last epoch",
    "decomposition": f"optimal_error_sim: {MIN_OF_MEAN}; optimal_error_exact: the minimum of the exact curve",
    "regularization": (
        f"path: early stopping = {MIN_OF_MEAN} and {OWN_BEST}; ridge = seed mean of the exact ridge error "
        "on each run's own training set (ridge_test_error at gamma* = 1/SNR, the minimum over gamma of the "
        "seed-mean ridge path, and the per-run oracle best_ridge_test_error); excesses paired per seed with "
        "standard errors; null_space: seed mean at each recorded epoch; peak: seed mean at the last epoch; "
        "modes: mode_strength at the last epoch (the same for every seed)"
    ),
    "stopping": (
        "seed means with standard errors of each run's oracle best (best_test_error), its held-out stop "
        "(stopped_test_error), the depth-1 refit at equal epochs (refit_test_error) and at equal time "
        "lambda t (refit_equal_time_test_error), ridge at gamma* on the same fit set (ridge_test_error) and "
        "ridge with gamma chosen on the held-out set refitted on all P (heldout_ridge_refit_test_error); "
        "every relative cost a/b - 1 is paired per seed (seed mean of the per-seed ratios, its s.e.)"
    ),
    "hierarchy": (
        "stages, similarity, illusory correlations: single runs (each seed, init scale and depth) against "
        "the exact recursion of the same run, half times averaged over a level's modes and the seeds, "
        "illusory-correlation times the median over (item, feature) pairs of all seeds; noise: "
        f"{MIN_OF_MEAN}, learnt fractions the seed mean of each level's mean u/s there"
    ),
    "dropout": (
        "mode strength u/s: seed mean (s.e.) at each recorded epoch, the theory from each seed's own start "
        "averaged; fixed point: u/s at the last epoch; half time: each seed's first crossing of half its "
        "fixed point (linear between records), then the seed mean; shared modes: the mean of the last 10 "
        "records (seed mean, s.e.) and the units' shares' std/mean over units (seed mean)"
    ),
    "very_deep": (
        "learning time: each seed's first crossing of the criterion (linear between records), then the "
        "seed mean and s.e. over the seeds that reached it (diverged and unfinished runs counted apart); "
        "aligned theory: the exact per-mode GD recursion's first epoch below the criterion"
    ),
    "pretraining": (
        "learning time: each seed's first crossing of E_g <= 0.1 x its zero network's error (linear between "
        "records), then the seed mean and s.e. over the seeds that reached it (diverged and unfinished runs "
        "counted apart); pretraining epochs reported beside, not counted; the ratio is of seed means"
    ),
    "denoising": (
        "gains: the final map's u_i^T W u_i along each input eigenvector, seed mean (s.e.); ridge at "
        "gamma = P sigma_n^2 on each seed's own training set, seed mean; final_test_error: seed mean at the "
        "last epoch"
    ),
    "committee": (
        "each run against its own ODE (from its initial overlaps); agreement: the paired difference "
        "sim - ODE per record, its seed mean over its s.e., outside and inside the escape window (the "
        "runs' escape times, sim and ODE, widened 1.5x) apart; rms: over seeds and records outside the "
        "window; escape: each run's first crossing of halfway from the symmetric plateau to the lowest end "
        "any run's ODE reaches (linear between records), then the seed mean over the runs that crossed"
    ),
    "bounds": (
        "gap and bounds: seed means (s.e.) at each recorded epoch of test_error - train_error and of "
        "each bound minus train_error (analysis.generalization_bounds, delta = 0.05); ratios: bound seed "
        "mean over gap seed mean; holds: counted over every (run, epoch) pair"
    ),
    "input_noise": (
        "fixed points: u/s at the last epoch, seed mean per mode; curves: seed mean (s.e.) at each recorded "
        "epoch, theory from the seed-mean start; half times: the seed-mean curve's crossing of half way "
        "from its start to the theory's fixed point"
    ),
    "modes": (
        "mode curves and half-learning times: seed means at equal t (one rate per run group); "
        "learning time vs depth: each seed's own crossing of E_g = 0.1 sigma_w^2, then the seed mean; "
        f"t* and E_g*: {MIN_OF_MEAN}, mode strengths at t*: the seed mean there"
    ),
}


def make(item: str, results, out: str | Path) -> dict:
    """Figures and numbers of a gallery item.

    Args:
        item: one of :data:`ITEMS`.
        results: one ``(result, theory)`` pair per spec of :data:`SPECS` [item], in order
            (theory may be None for nonlinear runs).
        out: the folder for the figures and ``numbers.json``.
    Returns:
        The numbers (also written to ``out/numbers.json``) with the figure paths.
    """
    if item not in _MAKERS:
        raise ValueError(f"unknown gallery item {item!r}; allowed: {', '.join(ITEMS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nums, written = _MAKERS[item](list(results), out)
    first = results[0][0]
    nums = {
        "item": item,
        "specs": list(SPECS[item]),
        "device_kind": first.attrs.get("device_kind", ""),
        "n_runs": sum(int(r.diverged.size) for r, _ in results),
        "reduction": REDUCTIONS[item],
        **nums,
        "figures": written,
    }
    (out / "numbers.json").write_text(json.dumps(nums, indent=1) + "\n")
    return nums
