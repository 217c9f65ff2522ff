"""Checks of key combinations: what single keys allow but their combination does not
(:func:`cross_checks`, called by :mod:`dynax.spec.parse` once every section is read)."""

from __future__ import annotations

from . import committee, derived
from .model import EXTRA_AXES, INITS, Auto, Problem
from .records import flag_problems
from .structured import covariance_checks, hierarchy_checks

__all__ = ["cross_checks"]


def cross_checks(v, problem: Problem, student: str, activation: str, train: dict, axes, values, pr=None):
    """What single keys allow but their combination does not (``pr``: the raw ``[problem]``)."""

    def where(name):
        return f"grid.{name}" if name in axes else f"{EXTRA_AXES[name][0]}.{EXTRA_AXES[name][1]}"

    nonlinear = problem.n_test > 0
    dropout = any(q > 0 for q in values["dropout"])
    noise = any(s > 0 for s in values["input_noise"])
    # the raw-data path: the examples themselves (full-batch dropout and noise runs keep Σ_yx and white sets)
    sampled = nonlinear or train["batch_size"] > 0 or "online" in values["protocol"]
    raw_path = sampled or dropout or noise
    stream_checks(v, train, values, where, dropout or noise, raw_path)
    if dropout:
        dropout_checks(v, problem, student, axes, where)
    if noise:
        noise_checks(v, problem, student, values, where)
    schedule = train["schedule"]
    hierarchy_checks(v, problem, pr or {}, student, activation, train, axes, values, raw_path)
    modes_checks(v, problem, student, activation, train, axes, values, raw_path, where)
    validation_checks(v, problem, train, axes, raw_path)
    covariance_checks(v, problem, train)
    committee.student_checks(v, problem, student, activation, train, axes, values, where)
    if train["null_space_error"] and raw_path:
        v.fail(
            "train.null_space_error",
            "is recorded on the full-batch linear path only (replay, no batch_size, linear "
            "teacher and student)",
        )
    if schedule != "none":
        if "online" not in values["protocol"]:
            v.fail(
                "train.schedule",
                f"got {schedule!r}; the schedule applies to online runs, and this sweep has none "
                '(set train.protocol = "online" or grid.protocol = ["replay", "online"])',
            )
        if values["optimizer"] != ["gd"]:
            v.fail("train.schedule", f'got {schedule!r}; the oracle schedule is for optimizer = "gd"')
    if student == "random_features" and axes["depth"] != [2]:
        v.fail(
            "grid.depth",
            f"got {axes['depth']}; the random-feature student has depth 2 "
            "(a fixed random layer and a trained readout)",
        )
    if activation != "linear" and student == "deep_linear" and 1 in axes["depth"]:
        v.fail("model.activation", "applies to hidden layers; depth 1 has none (use depth ≥ 2)")
    for kind, reads in (("aligned", "Σ_yx"), ("pretrained", "Σ_xx")):
        if sampled and kind in values["init"]:
            v.fail(
                where("init"),
                f"init {kind!r} needs the full-batch linear path (it reads {reads}); online, minibatch and "
                "nonlinear runs allow: " + ", ".join(i for i in INITS if i not in ("aligned", "pretrained")),
            )
    if nonlinear and any(isinstance(x, Auto) for x in values["learning_rate"]):
        v.fail(
            where("learning_rate"),
            "learning_rate = {auto = f} uses the linear stability bound; give a number for nonlinear runs",
        )
    if problem.n_out != 1 and "balanced" in values["init"]:
        v.fail(
            where("init"),
            f"balanced initialisation needs problem.n_out = 1 (got n_out = {problem.n_out})",
        )
    if "zero" in values["init"] and any(d >= 2 for d in axes["depth"]) and student == "deep_linear":
        v.fail(
            where("init"),
            "init 'zero' is a saddle point at depth ≥ 2 (no gradient ever flows); use it at depth 1 only",
        )
    if 0 in values["init_scale"] and any(d >= 2 for d in axes["depth"]) and student == "deep_linear":
        v.fail(
            where("init_scale"),
            "init_scale = 0 starts a depth ≥ 2 network at the saddle point W = 0, where no gradient "
            "ever flows (like init 'zero'); give a scale > 0, or use it at depth 1 only",
        )


def stream_checks(v, train, values, where, stochastic: bool, raw_path: bool) -> None:
    """``draw`` (a replicate of the dropout and input-noise streams) needs one of them; the bounds
    need a fixed training set trained on every example."""
    if values["draw"] != [0] and not stochastic:
        v.fail(
            where("draw"),
            f"got {values['draw']}; a draw replicates the dropout masks and the input noise on the same "
            "data, and this sweep has neither (set train.dropout or train.input_noise > 0)",
        )
    if "bounds" in train["record"].flags and (raw_path or train["validation"]):
        v.fail(
            "train.record.bounds",
            "bounds a fixed training set's own error: it needs full-batch GD on every example "
            "(replay, no batch_size, no dropout, input noise or train.validation, a linear teacher "
            "and student)",
        )


def _stochastic_checks(v, key: str, problem: Problem, student: str, fixed: str) -> None:
    """What dropout and input noise (raw-data runs with fresh draws per step) both refuse."""
    if student != "deep_linear":
        why = (
            f"the random-feature layer is {fixed}"
            if student == "random_features"
            else "the committee ODEs have none"
        )
        v.fail(key, f"applies to deep_linear students ({why})")
    if problem.inputs == "onehot":
        v.fail(key, "is not combined with a hierarchy's one-hot items (problem.inputs = 'onehot')")


def dropout_checks(v, problem: Problem, student: str, axes, where) -> None:
    """``train.dropout`` (q > 0): hidden units of a trained deep network, on the raw-data path."""
    if 1 in axes["depth"]:
        v.fail(where("dropout"), "drops hidden units; depth 1 has none (use depth ≥ 2, or dropout = 0)")
    _stochastic_checks(v, where("dropout"), problem, student, "fixed")


def noise_checks(v, problem: Problem, student: str, values, where) -> None:
    """``train.input_noise`` (σ_n > 0): Gaussian inputs of a deep_linear-type student, fixed rates."""
    _stochastic_checks(v, where("input_noise"), problem, student, "computed once")
    if any(isinstance(x, Auto) for x in values["learning_rate"]):
        v.fail(
            where("learning_rate"),
            "learning_rate = {auto = f} reads the clean inputs' λ_max; with input_noise give a number "
            "(the noise adds P·σ_n² to the curvature)",
        )


def modes_checks(v, problem: Problem, student, activation, train, axes, values, raw_path, where):
    """The multi-output keys: a chosen teacher spectrum, whitened inputs, recorded modes."""
    nonlinear_model = student != "deep_linear" or activation != "linear"
    if problem.inputs == "whitened":
        small = [r for r in axes["n_over_p"] if derived.n_train(problem.n_in, r) < problem.n_in]
        if small:
            v.fail(
                "problem.inputs",
                f"'whitened' needs P ≥ N (Σ_xx = (P/N)·I has full rank); grid.n_over_p has {small} "
                f"(P < N = {problem.n_in}); allowed: n_over_p ≤ 1",
            )
        if "online" in values["protocol"]:
            v.fail(
                "problem.inputs", "'whitened' sets are fixed training sets; online runs draw fresh examples"
            )
        if train["batch_size"] > 0:
            v.fail("problem.inputs", "'whitened' is for full-batch GD; train.batch_size (minibatch) is set")
        if problem.teacher != "linear" or nonlinear_model:
            v.fail("problem.inputs", "'whitened' is for linear teachers and students")
    if problem.teacher_singular_values and problem.teacher != "linear":
        v.fail("problem.teacher_singular_values", "applies only to problem.teacher = 'linear'")
    for flag, why in flag_problems(train["record"].flags, not nonlinear_model, problem):
        v.fail(f"train.record.{flag}", why)


def validation_checks(v, problem: Problem, train, axes, raw_path):
    """``train.validation``: V < P at every P of the grid, on the full-batch linear path."""
    val = train["validation"]
    if not val:
        return
    if raw_path:
        v.fail(
            "train.validation",
            "is for full-batch replay of linear networks (online, minibatch and nonlinear runs have none)",
        )
    if problem.inputs == "whitened":
        v.fail("train.validation", "is not combined with problem.inputs = 'whitened' (one set is white)")
    for r in axes["n_over_p"]:
        p = derived.n_train(problem.n_in, r)
        n_val = derived.n_validation(val, p)
        if n_val >= p:
            v.fail(
                "train.validation",
                f"got {val!r}: holds out V = {n_val} of P = {p} examples at n_over_p = {r} "
                f"(N = {problem.n_in}), leaving none to train on; allowed: V < P at every P of the grid",
            )
