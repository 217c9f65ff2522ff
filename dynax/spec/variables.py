"""The result's variables, in ONE table (docs/design.md §4 "Result"); the switches of
``train.record`` and the dims beyond the spec's are in :mod:`dynax.spec.records`.

Every writer and reader of results uses :data:`VARIABLES`: the spec checks (what a flag
needs), the plan's memory model, the chunk (each trainer's outputs by name), the part files,
the merge of shards, the labelled Dataset and its coordinates. A variable with a ``flag`` is
recorded by the trainers (:data:`dynax.sim.recorders.RECORDERS` says how, by name) when
``train.record.<flag>`` is on. Adding a recorded curve: a row here (and its flag in
:data:`dynax.spec.records.FLAGS` if it is a new switch) and a recorder (docs/design.md
"Extending this contract").

Dims: a run variable has the spec's dims; a curve has them and ``epoch``; ``extra`` dims
(mode, data_mode, output, input, ...) come between; a data variable (``over``) keeps only the
spec dims its values depend on (equal across the others: the Dataset takes one). Dtypes:
``"float"`` is the sweep's ``train.dtype``; others are fixed.
"""

from __future__ import annotations

import numpy as np

from .model import Auto, OverDepth, SweepSpec
from .variable import Variable, extra_size

__all__ = ["PRESENT", "VARIABLES", "Variable", "computed", "extra_size", "recorded"]


def _train_long_name(spec: SweepSpec) -> str:
    if spec.model.student == "committee":
        return (
            "training error: NaN (the committee student learns online from fresh examples: no training set)"
        )
    return "training error: mean squared residual on the P training examples"


def _test_long_name(spec: SweepSpec) -> str:
    if spec.model.student == "committee":
        return (
            "generalization error: exact from the overlaps Q, R, T and the readouts (the erf closed form, "
            "docs/theory.md 6) including sigma_eps^2; twice the papers' noiseless epsilon_g, plus sigma_eps^2"
        )
    if spec.nonlinear:
        return (
            f"generalization error estimated on a fixed test set of n_test = {spec.problem.n_test} "
            "examples per run (noiseless teacher outputs) plus sigma_eps^2"
        )
    cov = " under the input covariance of problem.input_spectrum" if spec.problem.input_spectrum else ""
    return f"generalization error: exact population risk E_g{cov} including sigma_eps^2"


def _auto_rate(spec: SweepSpec) -> bool:
    """The rate differs from run to run: automatic, or eta0/D (not an axis)."""
    return isinstance(spec.train.learning_rate, Auto | OverDepth) and "learning_rate" not in spec.dims


def _any_auto_rate(spec: SweepSpec) -> bool:
    rates = spec.axis("learning_rate").values if "learning_rate" in spec.dims else [spec.train.learning_rate]
    return any(isinstance(r, Auto) for r in rates)


def _rate_long_name(spec: SweepSpec) -> str:
    if isinstance(spec.train.learning_rate, OverDepth):
        return f"learning rate used: eta0/depth with eta0 = {spec.train.learning_rate.eta0:g}"
    factor = spec.train.learning_rate.factor if isinstance(spec.train.learning_rate, Auto) else float("nan")
    return f"learning rate used: {factor:g} x the run's stability bound"


DATA_DIMS = ("n_over_p", "snr", "seed")  # what a training set depends on


def _validates(spec: SweepSpec) -> bool:
    return bool(spec.train.validation)


def _heldout_ridge(spec: SweepSpec) -> bool:
    return bool(spec.train.validation) and spec.problem.ridge_baselines


def _ridge(spec: SweepSpec) -> bool:
    return spec.problem.ridge_baselines


def _not_bayes(pr) -> str | None:
    """Why ``ridge_test_error`` is NaN: a teacher without a Gaussian prior (None: it has one)."""
    what = ("has a chosen spectrum (problem.teacher_singular_values)" if pr.teacher_singular_values
            else "is a hierarchy's +-1 features" if pr.hierarchy is not None
            else "is the identity (an autoencoder)" if pr.teacher == "identity" else None)  # fmt: skip
    return what and f"NaN: ridge at gamma* is Bayes only for a Gaussian teacher prior; this teacher {what}"


def _bounds(spec: SweepSpec) -> bool:
    return "bounds" in spec.train.record.flags


def _modes(spec: SweepSpec) -> bool:
    return "modes" in spec.train.record.flags


_FLAG = {"flag_values": np.array([0, 1], dtype=np.int8)}

VARIABLES: tuple[Variable, ...] = (
    Variable("train_error", True, "float", np.nan, _train_long_name),
    Variable("test_error", True, "float", np.nan, _test_long_name),
    Variable(
        "best_test_error",
        False,
        "float",
        np.nan,
        "minimum of test_error over every epoch (exact early-stopping error)",
    ),
    Variable(
        "best_epoch", False, "int64", -1, "first epoch of the minimum of test_error (-1 if never finite)"
    ),
    Variable(
        "best_examples",
        False,
        "int64",
        -1,
        "training examples seen at the minimum of test_error (-1 if never finite)",
    ),
    Variable(
        "diverged",
        False,
        "int8",
        0,
        "run diverged (non-finite loss or E_g > 1e6 E_g(0))",
        attrs={**_FLAG, "flag_meanings": "finite diverged"},
    ),
    Variable(
        "null_space_error",
        True,
        "float",
        np.nan,
        "error in the null space of the training inputs (the frozen subspace): "
        "||P_null (W_eff - w_bar)||^2 / (N N_out), part of test_error - sigma_eps^2",
        computed=lambda spec: spec.train.null_space_error,
    ),
    Variable("learning_rate_used", False, "float64", np.nan, _rate_long_name, in_dataset=_auto_rate),
    Variable(
        "rate_halvings",
        False,
        "int8",
        -1,
        "times the automatic learning rate was halved, the run trained again from its initial weights, "
        "because its training objective rose (or it diverged) at the larger rate (0: the first rate held)",
        in_dataset=_any_auto_rate,
    ),
    Variable(
        "mode_strength",
        True,
        "float",
        np.nan,
        "strength of each teacher singular mode, u_alpha = U_alpha^T W_eff V_alpha "
        "(reaches the teacher's singular value when the mode is learnt)",
        flag="modes",
        extra=("mode",),
    ),
    Variable(
        "data_mode_strength",
        True,
        "float",
        np.nan,
        "strength along each singular mode of the training data's Sigma_yx = sum_mu y_mu x_mu^T: "
        "U_alpha^T W_eff V_alpha with U, V Sigma_yx's singular vectors",
        flag="modes",
        extra=("data_mode",),
    ),
    Variable(
        "teacher_singular_value",
        False,
        "float64",
        np.nan,
        "singular values of the seed's teacher w_bar (the order of the mode dim)",
        flag="modes",
        in_dataset=lambda spec: _modes(spec) and not spec.problem.teacher_singular_values,
        extra=("mode",),
        over=("seed",),
    ),
    Variable(
        "teacher_mode_level",
        False,
        "int64",
        -1,
        "tree level of each of the seed's teacher modes (0: the root): the level whose tree modes hold "
        "the largest share of its right singular vector (the `level` coordinate is the closed form's "
        "order; a draw's modes may cross between adjacent levels)",
        computed=lambda spec: _modes(spec) and spec.problem.hierarchy is not None,
        extra=("mode",),
        over=("seed",),
    ),
    Variable(
        "data_singular_value",
        False,
        "float64",
        np.nan,
        "singular values of the training data's Sigma_yx times N/P (the teacher's for noiseless "
        "whitened inputs), descending",
        flag="modes",
        extra=("data_mode",),
        over=DATA_DIMS,
    ),
    Variable(
        "validation_error",
        True,
        "float",
        np.nan,
        "validation error: mean squared residual on the V held-out examples (train.validation)",
        computed=_validates,
    ),
    Variable(
        "stopped_test_error",
        False,
        "float",
        np.nan,
        "test_error at the first minimum of validation_error over every epoch: early stopping "
        "without the oracle",
        computed=_validates,
    ),
    Variable(
        "stopped_epoch",
        False,
        "int64",
        -1,
        "first epoch of the minimum of validation_error over every epoch (-1 if never finite)",
        computed=_validates,
    ),
    Variable(
        "refit_test_error",
        False,
        "float64",
        np.nan,
        "depth 1: test error after refitting on all P examples for stopped_epoch epochs at the run's "
        "learning rate, from the same initial weights (NaN at depth >= 2)",
        computed=_validates,
    ),
    Variable(
        "refit_equal_time_test_error",
        False,
        "float64",
        np.nan,
        "depth 1: test error after refitting on all P examples from the same initial weights at the run's "
        "learning rate for round(stopped_epoch (P - V)/P) epochs: the stopped epoch's time lambda t "
        "(Sigma_xx grows with the examples under the sum loss; stopped_epoch under the mean loss); NaN at "
        "depth >= 2",
        computed=_validates,
    ),
    Variable(
        "heldout_ridge_gamma",
        False,
        "float64",
        np.nan,
        "ridge parameter gamma (sum-loss units) with the least mean squared residual on the V held-out "
        "examples, ridge fitted to the P - V others; the first least of 61 values geomspace(1e-3, 1e3)",
        computed=_heldout_ridge,
        over=DATA_DIMS,
    ),
    Variable(
        "heldout_ridge_test_error",
        False,
        "float64",
        np.nan,
        "population error of ridge at heldout_ridge_gamma fitted to the P - V fit examples",
        computed=_heldout_ridge,
        over=DATA_DIMS,
    ),
    Variable(
        "heldout_ridge_refit_test_error",
        False,
        "float64",
        np.nan,
        "population error of ridge at heldout_ridge_gamma refitted to all P examples: the practical "
        "competitor of early stopping on held-out data",
        computed=_heldout_ridge,
        over=DATA_DIMS,
    ),
    Variable(
        "ridge_test_error",
        False,
        "float64",
        np.nan,
        "population error of ridge regression at gamma* = sigma_eps^2/sigma_w^2 fitted to the run's own "
        "training set: the Bayes-optimal (posterior-mean) estimate given that data for a Gaussian teacher "
        "prior; the min-norm interpolator when noiseless",
        computed=_ridge,
        over=DATA_DIMS,
        comment=lambda spec: _not_bayes(spec.problem),
    ),
    Variable(
        "best_ridge_test_error",
        False,
        "float64",
        np.nan,
        "population error of ridge regression at the oracle gamma (the best for the run's own training set)",
        computed=_ridge,
        over=DATA_DIMS,
    ),
    Variable(
        "best_ridge_gamma",
        False,
        "float64",
        np.nan,
        "the oracle ridge parameter gamma of best_ridge_test_error (sum-loss units; 0: min-norm)",
        computed=_ridge,
        over=DATA_DIMS,
    ),
    Variable(
        "input_min_eigenvalue",
        False,
        "float64",
        np.nan,
        "smallest nonzero eigenvalue of the training inputs' Sigma_xx = sum_mu x_mu x_mu^T (its "
        "min(P, N)-th largest; the row space's edge, docs/theory.md 2.9)",
        computed=_bounds,
        over=("n_over_p", "seed"),
    ),
    Variable(
        "input_max_norm",
        False,
        "float64",
        np.nan,
        "largest training input norm max_mu ||x_mu||",
        computed=_bounds,
        over=("n_over_p", "seed"),
    ),
    Variable(
        "noise_mean_square",
        False,
        "float64",
        np.nan,
        "mean square of the training set's standard-normal label-noise draws ||Z||^2/(P N_out) "
        "(its noise power is noise_var times this)",
        computed=_bounds,
        over=("n_over_p", "seed"),
    ),
    Variable(
        "noise_max",
        False,
        "float64",
        np.nan,
        "largest |z| of the training set's standard-normal label-noise draws",
        computed=_bounds,
        over=("n_over_p", "seed"),
    ),
    Variable(
        "teacher_norm",
        False,
        "float64",
        np.nan,
        "Frobenius norm of the seed's teacher ||w_bar||_F",
        computed=_bounds,
        over=("seed",),
    ),
    Variable(
        "final_weights",
        False,
        "float",
        np.nan,
        "end-to-end weights W_eff = W_D ... W_1 at the last epoch (NaN if the run diverged)",
        flag="final_weights",
        extra=("output", "input"),
    ),
    Variable(
        "weights",
        True,
        "float",
        np.nan,
        "end-to-end weights W_eff = W_D ... W_1 at each recorded epoch (for one-hot items, column i is "
        "item i's predicted features)",
        flag="weights",
        extra=("output", "input"),
    ),
    Variable(
        "similarity",
        True,
        "float",
        np.nan,
        "representational similarity of the items' outputs, (W_eff^T W_eff)_ab / N_out: the mean over "
        "features of item a's output times item b's",
        flag="similarity",
        extra=("item_a", "item_b"),
    ),
    Variable(
        "end_to_end_norm",
        True,
        "float",
        np.nan,
        "Frobenius norm of the end-to-end weights, ||W_D ... W_1||_F, at each recorded epoch "
        "(NaN once diverged)",
        flag="end_to_end_norm",
    ),
    Variable(
        "hidden_unit_product",
        True,
        "float",
        np.nan,
        "size of each first-hidden-layer unit's rank-one share of W_eff, ||(W_D ... W_2)[:, i]|| "
        "||W_1[i, :]||, at each recorded epoch (NaN at depth 1, past a run's width and once diverged)",
        flag="hidden_units",
        extra=("unit",),
    ),
    Variable(
        "layer_frobenius_norm",
        True,
        "float",
        np.nan,
        "Frobenius norm of each layer's weights ||W_l||_F (layer 1: the input layer) at each recorded epoch "
        "(NaN past the run's depth and once diverged)",
        flag="layer_frobenius_norm",
        extra=("layer",),
    ),
)


def _readout(spec: SweepSpec) -> bool:
    return "overlaps" in spec.train.record.flags and spec.model.train_readout


COMMITTEE = (  # model.student = "committee" (docs/theory.md 6); NaN past a run's width, once diverged
    Variable(
        "overlap_Q",
        True,
        "float",
        np.nan,
        "student-student overlap Q_ab = w_a . w_b / N of the first layer's rows at each recorded epoch",
        flag="overlaps",
        extra=("unit_a", "unit_b"),
    ),
    Variable(
        "overlap_R",
        True,
        "float",
        np.nan,
        "student-teacher overlap R_an = w_a . w*_n / N at each recorded epoch",
        flag="overlaps",
        extra=("unit", "teacher_unit"),
    ),
    Variable(
        "readout_weight",
        True,
        "float",
        np.nan,
        "the student's readout v_a at each recorded epoch (model.train_readout: trained at eta/N)",
        flag="overlaps",
        computed=_readout,
        extra=("unit",),
    ),
    Variable(
        "overlap_T",
        False,
        "float64",
        np.nan,
        "teacher-teacher overlap T_nm = w*_n . w*_m / N of the seed's committee teacher",
        flag="overlaps",
        extra=("teacher_unit_a", "teacher_unit_b"),
        over=("seed",),
    ),
)
VARIABLES = (*VARIABLES, *COMMITTEE)

# a shard's mask: in the Dataset of a shard only, never computed by a chunk
PRESENT = Variable(
    "present",
    False,
    "int8",
    0,
    "run computed in this shard",
    attrs={**_FLAG, "flag_meanings": "absent present"},
    computed=lambda spec: False,
)


def computed(spec: SweepSpec) -> tuple[Variable, ...]:
    """The variables a run of this spec computes (what chunks and part files hold)."""
    return tuple(v for v in VARIABLES if v.computed(spec))


def recorded(spec: SweepSpec) -> tuple[Variable, ...]:
    """The variables the trainers record for this spec beyond the errors (their flags on)."""
    return tuple(v for v in VARIABLES if v.flag is not None and v.computed(spec))
