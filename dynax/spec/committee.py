"""Soft committee machines in a spec (docs/design.md §4, docs/theory.md §6): the teacher
``problem.teacher = "committee"`` (``teacher_width`` = M units, readout ``teacher_readout``) and
the student ``model.student = "committee"`` (``model.width`` = K erf units, a readout fixed at 1
or trained at η/N with ``model.train_readout``), trained by online SGD on one fresh example per
step with E_g exact from the overlaps. :func:`committee_teacher` reads the teacher's keys,
:func:`student_checks` refuses what the committee student cannot do, each naming the key."""

from __future__ import annotations

from .model import Auto

__all__ = ["committee_teacher", "student_checks", "train_readout"]


def committee_teacher(v, pr: dict, n_out: int, width: int, spectrum) -> tuple[float, tuple[float, ...]]:
    """``problem.teacher = "committee"``: f*(x) = Σ_n v*_n erf(w*_n·x/√2) of ``width`` units, one
    output, readout ``problem.teacher_readout`` (M numbers, default all 1). Returns σ_w² = E[f*²]
    at the overlaps' expectation T = I, Σ_n v*_n²/3 (so the SNR keeps its meaning), and the
    readout (() for the default)."""
    if n_out != 1:
        v.fail("problem.n_out", f"got {n_out}; the committee teacher has one output (n_out = 1)")
    for key in ("teacher_var", "teacher_singular_values"):
        if key in pr:
            v.fail(f"problem.{key}", "is fixed by problem.teacher = 'committee' (σ_w² = Σ_n v*_n²/3)")
    if spectrum:
        v.fail("problem.teacher_singular_values", "does not apply to the committee teacher")
    if "teacher_readout" not in pr:
        return width / 3.0, ()
    key, values = "problem.teacher_readout", pr["teacher_readout"]
    if not isinstance(values, list) or len(values) != width:
        got = f"{len(values)} values" if isinstance(values, list) else repr(values)
        v.fail(key, f"got {got}; expected a list of teacher_width = {width} numbers (the readout v*)")
    out = tuple(v.number(f"{key}[{i}]", x) for i, x in enumerate(values))
    if not any(out):
        v.fail(key, f"got {values!r}; at least one readout must be nonzero")
    return sum(x * x for x in out) / 3.0, () if all(x == 1.0 for x in out) else out  # all ones: the default


def train_readout(v, model_raw: dict, grid: dict, student: str) -> bool:
    """``model.train_readout`` (true or false, default false): the committee student's only; its
    width K is given (the default N is the linear students')."""
    if student == "committee" and "width" not in model_raw and "width" not in grid:
        v.fail("model.width", "missing; the committee student needs its number of units K (an integer ≥ 1; "
               "the default N is the linear students')")  # fmt: skip
    key = "model.train_readout"
    if "train_readout" not in model_raw:
        return False
    if student != "committee":
        v.fail(key, "applies only to model.student = 'committee' (other students train every layer)")
    on = model_raw["train_readout"]
    if not isinstance(on, bool):
        v.fail(key, f"got {on!r}; expected true or false")
    return on


def student_checks(v, problem, student: str, activation: str, train: dict, axes, values, where) -> None:
    """What the committee student needs (online SGD, one fresh example per step, at plain rates, on
    the committee teacher), and that the overlaps are recorded for it only."""
    if student != "committee":
        if "overlaps" in train["record"].flags:
            v.fail("train.record.overlaps", "records a committee student's overlaps: it needs "
                   "model.student = 'committee'")  # fmt: skip
        return
    if problem.teacher != "committee":
        v.fail("model.student", f"'committee' learns the committee teacher (its E_g is exact from the "
               f"overlaps); got problem.teacher = {problem.teacher!r}: set it to 'committee'")  # fmt: skip
    if activation != "erf":
        v.fail("model.activation", f"got {activation!r}; the committee student's units are erf "
               "(g(h) = erf(h/√2)): set model.activation = 'erf'")  # fmt: skip
    if axes["depth"] != [2]:
        v.fail("grid.depth", f"got {axes['depth']}; the committee student has depth 2 (K erf units and "
               "their readout)")  # fmt: skip
    if values["protocol"] != ["online"]:
        v.fail(where("protocol"), f"got {values['protocol']}; the committee student learns online (one "
               "fresh example per step): set train.protocol = 'online'")  # fmt: skip
    if train["batch_size"] > 1:
        v.fail("train.batch_size", f"got {train['batch_size']}; the committee student takes one example "
               "per step (the ODEs' SGD)")  # fmt: skip
    if values["optimizer"] != ["gd"]:
        v.fail(where("optimizer"), f"got {values['optimizer']}; the committee student's SGD is plain "
               "(optimizer = 'gd')")  # fmt: skip
    if train["schedule"] != "none":
        v.fail("train.schedule", "'optimal_online' is the linear student's schedule; give a fixed rate")
    if any(isinstance(x, Auto) for x in values["learning_rate"]):
        v.fail(where("learning_rate"), "learning_rate = {auto = f} uses the linear stability bound; give "
               "the committee student's rate η (a number)")  # fmt: skip
    if problem.input_spectrum or problem.inputs != "gaussian":
        v.fail("problem.input_spectrum" if problem.input_spectrum else "problem.inputs",
               "the committee's exact E_g is for white Gaussian inputs x ~ N(0, I/N)")  # fmt: skip
    if "balanced" in values["init"]:
        v.fail(where("init"), "'balanced' is for deep linear students; the committee student's first "
               "layer starts from gaussian, gaussian_fan_in, orthogonal or zero")  # fmt: skip
