"""What ``train.record`` can switch on (:data:`FLAGS`: what each switch needs of the problem
and its default) and the dims a recorded variable has beyond the spec's (:data:`DIMS`). The
variables each switch records are the rows of :data:`dynax.spec.variables.VARIABLES` with
that ``flag`` (docs/design.md "Extending this contract")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .model import Problem, Record, SweepSpec

__all__ = ["DIMS", "FLAGS", "IMPLIES", "Dim", "Flag", "flag_problems", "parse_record"]


@dataclass(frozen=True)
class Flag:
    """A switch of ``train.record``: the trainers record the variables whose ``flag`` it is."""

    name: str
    what: str  # what it records, for the parser's message and docs
    # what it needs of the problem: (linear_student, problem) -> the reason it cannot, or None
    needs: Callable[[bool, Problem], str | None]
    # its default: (linear_student, problem) -> bool (off unless said)
    default: Callable[[bool, Problem], bool] = lambda linear_student, problem: False


def _needs_linear_student(linear_student: bool, problem: Problem) -> str | None:
    return None if linear_student else "needs a linear student (the end-to-end weights W_eff)"


def _needs_modes(linear_student: bool, problem: Problem) -> str | None:
    if problem.linear_teacher or not linear_student:
        return _needs_linear_student(linear_student, problem)
    return "needs the linear teacher (a ReLU teacher has no singular modes)"


def _needs_sampled_inputs(linear_student: bool, problem: Problem) -> str | None:
    if problem.hierarchy is not None or problem.inputs != "gaussian":
        return (
            "needs i.i.d. Gaussian inputs (problem.inputs = 'gaussian'): the norm bound is over "
            "independent draws, which whitened sets and one-hot items are not"
        )
    if not problem.linear_teacher:
        return "needs the linear teacher (the bounds read its norm and the inputs' null space)"
    if problem.input_spectrum:
        return "needs white Gaussian inputs: the bounds' truncation radius is for x ~ N(0, I/N)"
    return _needs_linear_student(linear_student, problem)


def _needs_committee(linear_student: bool, problem: Problem) -> str | None:
    if problem.teacher == "committee" and not linear_student:
        return None
    return "needs a committee student learning the committee teacher (model.student = 'committee')"


def _structured(linear_student: bool, problem: Problem) -> bool:
    """Modes are on by default with a chosen spectrum or a hierarchy (no older spec changes hash)."""
    return (bool(problem.teacher_singular_values) or problem.hierarchy is not None) and linear_student


FLAGS: dict[str, Flag] = {
    f.name: f
    for f in (
        Flag("modes", "the strength of each teacher and data singular mode", _needs_modes, _structured),
        Flag("final_weights", "W_eff at the last epoch", _needs_linear_student),
        Flag("weights", "W_eff at every record", _needs_linear_student),
        Flag(
            "similarity", "the items' similarity W_eff^T W_eff / N_out at every record", _needs_linear_student
        ),
        Flag(
            "end_to_end_norm", "the end-to-end weights' Frobenius norm at every record", _needs_linear_student
        ),
        Flag("layer_frobenius_norm", "each layer's Frobenius norm at every record", _needs_linear_student),
        Flag(
            "hidden_units",
            "each first-layer hidden unit's share of W_eff, ||(W_D...W_2)[:, i]|| ||W_1[i, :]||, per record",
            _needs_linear_student,
        ),
        Flag(
            "overlaps",
            "a committee student's overlaps Q = W W^T/N and R = W W*^T/N (its readout when trained) at "
            "every record, and the teacher's T (on by default for model.student = 'committee')",
            _needs_committee,
        ),
        Flag(
            "bounds",
            "what the generalization bounds read (docs/theory.md §2.9): each training set's input "
            "spectrum, norms and noise, and with them end_to_end_norm and null_space_error",
            _needs_sampled_inputs,
        ),
    )
}


# a switch that needs others turns them on (setting one of them false is refused)
IMPLIES = {"bounds": ("end_to_end_norm",)}


def parse_record(val, v, problem: Problem, linear_student: bool = True, on: tuple = ()) -> Record:
    """``train.record`` (``val``: the spec's validator, whose ``fail`` raises): the epochs, and the
    flags of :data:`FLAGS` (``modes`` on by default with a given spectrum or a hierarchy and a
    linear student, those in ``on`` (the student's own) too, the others off, those a flag
    :data:`IMPLIES` on with it)."""
    expected = f"expected {{log = n}} or {{every = k}}, optionally with {', '.join(FLAGS)} = true/false"
    if not isinstance(v, dict):
        val.fail("train.record", f"got {v!r} ({type(v).__name__}); {expected}")
    val.check_keys(v, ("log", "every", *FLAGS), "train.record.")
    kinds = [k for k in ("log", "every") if k in v]
    if len(kinds) != 1:
        val.fail("train.record", f"got {v!r}; {expected}")
    kind = kinds[0]
    value = val.integer(f"train.record.{kind}", v[kind], lo=2 if kind == "log" else 1)
    flags = set()
    for name, flag in FLAGS.items():
        switch = v.get(name, flag.default(linear_student, problem) or name in on)
        if not isinstance(switch, bool):
            val.fail(f"train.record.{name}", f"got {switch!r}; expected true or false")
        flags |= {name} if switch else set()
    for name in [f for f in IMPLIES if f in flags]:
        for other in IMPLIES[name]:
            if v.get(other) is False:
                val.fail(f"train.record.{other}", f"got false; train.record.{name} needs it (drop the key)")
            flags.add(other)
    return Record(kind, value, frozenset(flags))


def flag_problems(flags, linear_student: bool, problem: Problem) -> list[tuple[str, str]]:
    """(flag, why) for each flag in ``flags`` that this student and problem cannot record."""
    why = ((f, FLAGS[f].needs(linear_student, problem)) for f in FLAGS if f in flags)
    return [(f, w) for f, w in why if w]


@dataclass(frozen=True)
class Dim:
    """A dim beyond the spec's: its length for a spec, its label, its symbol in messages, its
    first coordinate."""

    size: Callable[[SweepSpec], int]
    long_name: str
    symbol: str
    first: int = 0  # coordinates first, first + 1, ...


def _width(spec: SweepSpec) -> int:
    return max(spec.axis("width").values) if "width" in spec.dims else spec.model.width


DIMS: dict[str, Dim] = {
    "mode": Dim(lambda spec: spec.problem.n_modes, "teacher singular mode", "r"),
    "data_mode": Dim(
        lambda spec: spec.problem.n_data_modes,
        "singular mode of the training data's Sigma_yx, by descending value",
        "r_data",
    ),
    "output": Dim(lambda spec: spec.problem.n_out, "output unit", "N_out"),
    "input": Dim(lambda spec: spec.problem.n_in, "input unit", "N"),
    "item_a": Dim(lambda spec: spec.problem.n_in, "item (leaf of the hierarchy)", "N"),
    "item_b": Dim(lambda spec: spec.problem.n_in, "item (leaf of the hierarchy)", "N"),
    # the sweep's largest width: a narrower run's extra units are NaN (depth 1: all)
    "unit": Dim(lambda spec: _width(spec), "unit i of the first hidden layer", "N_h"),
    # a committee's units (the sweep's largest width: a narrower run's are NaN) and its teacher's
    "unit_a": Dim(lambda spec: _width(spec), "student unit a (first layer row w_a)", "K"),
    "unit_b": Dim(lambda spec: _width(spec), "student unit b (first layer row w_b)", "K"),
    "teacher_unit": Dim(lambda spec: spec.problem.teacher_width, "teacher unit n (w*_n)", "M"),
    "teacher_unit_a": Dim(lambda spec: spec.problem.teacher_width, "teacher unit n (w*_n)", "M"),
    "teacher_unit_b": Dim(lambda spec: spec.problem.teacher_width, "teacher unit m (w*_m)", "M"),
    # the sweep's largest depth: a shallower run's deeper layers are NaN
    "layer": Dim(
        lambda spec: max(spec.axis("depth").values), "layer l of W_l, input side first", "D", first=1
    ),
}
