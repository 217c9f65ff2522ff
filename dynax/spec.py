"""Sweep specs: TOML files parsed and validated into frozen dataclasses.

The format is the contract of DESIGN.md §4. Every error raised here is a
:class:`SpecError` whose message names the file, the dotted key, the bad value
and what is allowed, so a user can fix a spec without reading code.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Auto",
    "Axis",
    "Model",
    "Problem",
    "Record",
    "SpecError",
    "SweepSpec",
    "Train",
    "load_spec",
    "parse_spec",
]

INITS = ("gaussian", "gaussian_fan_in", "orthogonal", "balanced", "aligned", "zero")
OPTIMIZERS = ("gd", "momentum", "adam")
PROTOCOLS = ("replay", "online")
LOSSES = ("sum", "mean")
DTYPES = ("float32", "float64")
METHODS = ("auto", "gd")
SCHEDULES = ("none", "optimal_online")

CORE_DIMS = ("depth", "n_over_p", "snr", "seed")
# Grid-able keys outside the core dims: grid name -> (section, field).
EXTRA_AXES = {
    "width": ("model", "width"),
    "init": ("model", "init"),
    "init_scale": ("model", "init_scale"),
    "optimizer": ("train", "optimizer"),
    "momentum": ("train", "momentum"),
    "b1": ("train", "b1"),
    "b2": ("train", "b2"),
    "learning_rate": ("train", "learning_rate"),
    "protocol": ("train", "protocol"),
}
STUDENTS = ("deep_linear", "random_features")
ACTIVATIONS = ("linear", "relu", "tanh")
TEACHERS = ("linear", "relu")
TOP_KEYS = ("name", "description", "seed", "grid", "problem", "model", "train")
SECTION_KEYS = {
    "grid": (*CORE_DIMS, *EXTRA_AXES),
    "problem": ("n_in", "n_out", "teacher_var", "teacher", "teacher_width", "n_test"),
    "model": ("width", "init", "init_scale", "student", "activation"),
    "train": (
        "optimizer",
        "momentum",
        "b1",
        "b2",
        "learning_rate",
        "loss",
        "epochs",
        "record",
        "protocol",
        "batch_size",
        "schedule",
        "dtype",
        "method",
        "null_space_error",
    ),
}


class SpecError(ValueError):
    """A spec (or a command-line override) that cannot be run as written."""


@dataclass(frozen=True)
class Auto:
    """``learning_rate = {auto = f}``: f times each run's stability bound."""

    factor: float


@dataclass(frozen=True)
class Record:
    """Which epochs are recorded: ``{log = n}`` or ``{every = k}``."""

    kind: str  # "log" or "every"
    value: int

    def epochs(self, total: int) -> tuple[int, ...]:
        """The recorded epochs for a run of ``total`` epochs, sorted, 0 and total included."""
        if self.kind == "log":
            import numpy as np

            inner = np.unique(np.round(np.geomspace(1, total, self.value - 1)).astype(int))
            return (0, *(int(e) for e in inner))
        steps = list(range(0, total, self.value))
        return (*steps, total)


@dataclass(frozen=True)
class Axis:
    """One dimension of the result: its name and its values, in order."""

    name: str
    values: tuple


@dataclass(frozen=True)
class Problem:
    n_in: int
    n_out: int = 1
    teacher_var: float = 1.0
    teacher: str = "linear"
    teacher_width: int = 0  # hidden units of the relu teacher
    n_test: int = 0  # test-set size where E_g is estimated (nonlinear cases); 0 = exact


@dataclass(frozen=True)
class Model:
    width: int
    init: str = "gaussian"
    init_scale: float = 1e-3
    student: str = "deep_linear"
    activation: str = "linear"


@dataclass(frozen=True)
class Train:
    epochs: int
    optimizer: str = "gd"
    momentum: float = 0.9
    b1: float = 0.9
    b2: float = 0.999
    learning_rate: float | Auto = Auto(0.5)
    loss: str = "sum"
    record: Record = Record("log", 100)
    protocol: str = "replay"
    schedule: str = "none"
    dtype: str = "float32"
    method: str = "auto"
    batch_size: int = 0  # 0: full batch (replay); online then steps one example at a time
    null_space_error: bool = False  # also record the error in the inputs' null space


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the grid and every fixed setting.

    ``axes`` holds the result's dimensions except ``epoch``, in Dataset order:
    ``depth, n_over_p, snr, [extra axes as written], seed``.
    """

    name: str
    description: str
    seed: int
    axes: tuple[Axis, ...]
    problem: Problem
    model: Model
    train: Train
    path: str = "<spec>"
    text: str = ""
    overrides: tuple[str, ...] = ()

    def axis(self, name: str) -> Axis:
        for a in self.axes:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def extra_dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes if a.name not in CORE_DIMS)

    @property
    def n_runs(self) -> int:
        return math.prod(self.shape)

    @property
    def n_train(self) -> tuple[int, ...]:
        """P for each value of ``n_over_p``."""
        return tuple(n_train(self.problem.n_in, r) for r in self.axis("n_over_p").values)

    @property
    def record_epochs(self) -> tuple[int, ...]:
        return self.train.record.epochs(self.train.epochs)

    @property
    def nonlinear(self) -> bool:
        """E_g is estimated on a test set (a nonlinear teacher or student)."""
        return self.problem.n_test > 0

    @property
    def protocols(self) -> tuple[str, ...]:
        return tuple(self.axis("protocol").values) if "protocol" in self.dims else (self.train.protocol,)

    @property
    def online_batch(self) -> int:
        """Fresh examples per online SGD step."""
        return self.train.batch_size or 1

    def setting(self, name: str):
        """The fixed value of a grid-able setting (only valid when it is not an axis)."""
        section, field = EXTRA_AXES[name]
        return getattr(getattr(self, section), field)

    def canonical(self) -> dict:
        """The effective spec as plain JSON-able data (what ``spec_sha256`` hashes)."""

        def conv(v):
            if isinstance(v, float) and math.isinf(v):
                return "inf"
            if isinstance(v, Auto):
                return {"auto": v.factor}
            if isinstance(v, Record):
                return {v.kind: v.value}
            return v

        out = {
            "name": self.name,
            "seed": self.seed,
            "grid": {a.name: [conv(v) for v in a.values] for a in self.axes},
            "problem": dataclasses.asdict(self.problem),
        }
        for section in ("model", "train"):
            obj = getattr(self, section)
            out[section] = {f.name: conv(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if not self.train.null_space_error:  # added later: absent when off, so older hashes stand
            del out["train"]["null_space_error"]
        return out

    @property
    def sha256(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def n_train(n_in: int, n_over_p: float) -> int:
    """``P = floor(N / (N/P) + 0.5)`` (DESIGN.md §4)."""
    return math.floor(n_in / n_over_p + 0.5)


# --------------------------------------------------------------------------- parsing


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> SweepSpec:
    """Read, override and validate a spec file.

    Args:
        path: the TOML file.
        overrides: ``KEY=VALUE`` strings (``--set``); VALUE parses as a TOML value,
            a bare word as a string.

    Raises:
        SpecError: naming the file, the dotted key, the bad value and what is allowed.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec file ({e.strerror})") from None
    return parse_spec(text, str(path), overrides)


def parse_spec(text: str, path: str = "<spec>", overrides=()) -> SweepSpec:
    """Validate a spec given as TOML text (see :func:`load_spec`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: TOML syntax error: {e}") from None
    for item in overrides:
        _apply_override(raw, item, path)
    return _Validator(path).spec(raw, text, tuple(overrides))


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_override(raw: dict, item: str, path: str) -> None:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(f"{path}: --set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=100")
    parts = key.split(".")
    node = raw
    for i, p in enumerate(parts[:-1]):
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise SpecError(f"{path}: --set {item!r}: {'.'.join(parts[: i + 1])} is a value, not a table")
        node = child
    node[parts[-1]] = _parse_value(value.strip())


def _describe(v) -> str:
    return f"{v!r} ({type(v).__name__})"


class _Validator:
    def __init__(self, path: str):
        self.path = path

    def fail(self, key: str, msg: str):
        raise SpecError(f"{self.path}: key `{key}`: {msg}")

    # --- key checks ---------------------------------------------------------------
    def check_keys(self, table: dict, allowed, prefix: str):
        for k in table:
            if k not in allowed:
                full = f"{prefix}{k}"
                close = difflib.get_close_matches(k, list(allowed), n=1, cutoff=0.6)
                hint = f" (did you mean `{prefix}{close[0]}`?)" if close else ""
                self.fail(full, f"unknown key{hint}; allowed here: {', '.join(allowed)}")

    # --- scalar checks --------------------------------------------------------------
    def integer(self, key, v, lo=None, hi=None):
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, f"got {_describe(v)}; expected an integer{_range(lo, hi)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.fail(key, f"got {v}; expected an integer{_range(lo, hi)}")
        return v

    def number(self, key, v, lo=None, lo_open=False, hi=None, hi_open=False, allow_inf=False):
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.fail(key, f"got {_describe(v)}; expected a number{_frange(lo, lo_open, hi, hi_open)}")
        v = float(v)
        if math.isnan(v) or (math.isinf(v) and not allow_inf):
            allowed = " (or inf)" if allow_inf else ""
            self.fail(key, f"got {v}; expected a finite number{_frange(lo, lo_open, hi, hi_open)}{allowed}")
        bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
        bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
        if bad_lo or bad_hi:
            self.fail(key, f"got {v}; expected a number{_frange(lo, lo_open, hi, hi_open)}")
        return v

    def choice(self, key, v, allowed):
        if not isinstance(v, str) or v not in allowed:
            close = difflib.get_close_matches(str(v), allowed, n=1) if isinstance(v, str) else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.fail(key, f"got {_describe(v)}; allowed: {', '.join(allowed)}{hint}")
        return v

    def string(self, key, v):
        if not isinstance(v, str):
            self.fail(key, f"got {_describe(v)}; expected a string")
        return v

    # --- axes ---------------------------------------------------------------------
    def axis_values(self, key: str, v) -> list:
        """Expand an axis form (list, linspace, geomspace, count) to a list."""
        import numpy as np

        if isinstance(v, list):
            if not v:
                self.fail(key, "empty list; an axis needs at least one value")
            return v
        if isinstance(v, dict):
            forms = ("linspace", "geomspace", "count")
            self.check_keys(v, forms, f"{key}.")
            if len(v) != 1:
                self.fail(key, f"got {v!r}; expected exactly one of {', '.join(forms)}")
            ((form, arg),) = v.items()
            if form == "count":
                n = self.integer(f"{key}.count", arg, lo=1)
                return list(range(n))
            if not (isinstance(arg, list) and len(arg) == 3):
                self.fail(f"{key}.{form}", f"got {_describe(arg)}; expected [start, stop, n]")
            a = self.number(f"{key}.{form}", arg[0])
            b = self.number(f"{key}.{form}", arg[1])
            n = self.integer(f"{key}.{form}[2]", arg[2], lo=1)
            if form == "geomspace":
                if a <= 0 or b <= 0:
                    self.fail(f"{key}.geomspace", f"got {arg!r}; start and stop must be > 0")
                return [float(x) for x in np.geomspace(a, b, n)]
            return [float(x) for x in np.linspace(a, b, n)]
        return [v]  # a scalar is a one-value axis

    def no_duplicates(self, key, values):
        seen = set()
        for v in values:
            if v in seen:
                self.fail(key, f"duplicate value {v!r} in {values!r}; axis values must be distinct")
            seen.add(v)

    # --- the whole spec -------------------------------------------------------------
    def spec(self, raw: dict, text: str, overrides: tuple[str, ...]) -> SweepSpec:
        self.check_keys(raw, TOP_KEYS, "")
        for sec in SECTION_KEYS:
            if sec in raw and not isinstance(raw[sec], dict):
                self.fail(sec, f"got {_describe(raw[sec])}; expected a table [{sec}]")
        grid = dict(raw.get("grid", {}))
        problem_raw = dict(raw.get("problem", {}))
        model_raw = dict(raw.get("model", {}))
        train_raw = dict(raw.get("train", {}))
        for sec, table in (
            ("grid", grid),
            ("problem", problem_raw),
            ("model", model_raw),
            ("train", train_raw),
        ):
            self.check_keys(table, SECTION_KEYS[sec], f"{sec}.")

        name = self.string("name", raw.get("name", Path(self.path).stem))
        description = self.string("description", raw.get("description", ""))
        seed = self.integer("seed", raw.get("seed", 0), lo=0, hi=2**32 - 1)

        # problem
        if "n_in" not in problem_raw:
            self.fail("problem.n_in", "missing; the input dimension N is required (an integer ≥ 1)")
        n_in = self.integer("problem.n_in", problem_raw["n_in"], lo=1)
        n_out = self.integer("problem.n_out", problem_raw.get("n_out", 1), lo=1)
        teacher_var = self.number(
            "problem.teacher_var", problem_raw.get("teacher_var", 1.0), lo=0, lo_open=True
        )
        teacher = self.choice("problem.teacher", problem_raw.get("teacher", "linear"), TEACHERS)
        if teacher == "relu":
            if "teacher_width" not in problem_raw:
                self.fail(
                    "problem.teacher_width", "missing; the relu teacher needs its number of hidden units"
                )
            teacher_width = self.integer("problem.teacher_width", problem_raw["teacher_width"], lo=1)
        elif "teacher_width" in problem_raw:
            self.fail("problem.teacher_width", 'applies only to problem.teacher = "relu"')
        else:
            teacher_width = 0
        student = self.choice("model.student", model_raw.get("student", "deep_linear"), STUDENTS)
        activation = self.choice("model.activation", model_raw.get("activation", "linear"), ACTIVATIONS)
        nonlinear = teacher != "linear" or student != "deep_linear" or activation != "linear"
        if nonlinear:
            n_test = self.integer("problem.n_test", problem_raw.get("n_test", 1000), lo=1)
        elif "n_test" in problem_raw:
            self.fail(
                "problem.n_test",
                "applies only to nonlinear teachers or students; with a linear teacher and student "
                "E_g is the exact population risk",
            )
        else:
            n_test = 0
        problem = Problem(n_in, n_out, teacher_var, teacher, teacher_width, n_test)

        # fixed settings, each either in its section or in [grid]
        for gname, (sec, field) in EXTRA_AXES.items():
            table = model_raw if sec == "model" else train_raw
            if gname in grid and field in table:
                self.fail(f"grid.{gname}", f"also set as `{sec}.{field}`; give it in one place only")

        checkers = {
            "width": lambda k, v: self.integer(k, v, lo=1),
            "init": lambda k, v: self.choice(k, v, INITS),
            "init_scale": lambda k, v: self.number(k, v, lo=0),
            "optimizer": lambda k, v: self.choice(k, v, OPTIMIZERS),
            "momentum": lambda k, v: self.number(k, v, lo=0, hi=1, hi_open=True),
            "b1": lambda k, v: self.number(k, v, lo=0, hi=1, hi_open=True),
            "b2": lambda k, v: self.number(k, v, lo=0, hi=1, hi_open=True),
            "learning_rate": self.learning_rate,
            "protocol": lambda k, v: self.choice(k, v, PROTOCOLS),
        }
        defaults = {
            "width": n_in,
            "init": "gaussian",
            "init_scale": 1e-3,
            "optimizer": "gd",
            "momentum": 0.9,
            "b1": 0.9,
            "b2": 0.999,
            "learning_rate": Auto(0.5),
            "protocol": "replay",
        }
        fixed = {}
        for gname, (sec, field) in EXTRA_AXES.items():
            table = model_raw if sec == "model" else train_raw
            fixed[gname] = (
                checkers[gname](f"{sec}.{field}", table[field]) if field in table else defaults[gname]
            )

        # axes: core dims always, extras between snr and seed in the order written
        axes: dict[str, list] = {}
        for key in CORE_DIMS:
            if key not in grid:
                self.fail(f"grid.{key}", "missing; depth, n_over_p, snr and seed are always axes")
        for key in grid:
            values = self.axis_values(f"grid.{key}", grid[key])
            checked = []
            for i, v in enumerate(values):
                k = f"grid.{key}" if len(values) == 1 else f"grid.{key}[{i}]"
                if key == "depth":
                    checked.append(self.integer(k, v, lo=1))
                elif key == "n_over_p":
                    checked.append(self.number(k, v, lo=0, lo_open=True))
                elif key == "snr":
                    checked.append(self.number(k, v, lo=0, lo_open=True, allow_inf=True))
                elif key == "seed":
                    checked.append(self.integer(k, v, lo=0, hi=2**32 - 1))
                elif key == "learning_rate":
                    if isinstance(v, dict):
                        self.fail(
                            k,
                            "a learning-rate axis takes numbers; "
                            "for auto use `train.learning_rate = {auto = f}`",
                        )
                    checked.append(self.learning_rate(k, v))
                else:
                    checked.append(checkers[key](k, v))
            self.no_duplicates(f"grid.{key}", checked)
            axes[key] = checked

        # N/P values must give P >= 1 and distinct P
        ps = {}
        for r in axes["n_over_p"]:
            p = n_train(n_in, r)
            if p < 1:
                self.fail(
                    "grid.n_over_p",
                    f"value {r} gives P = round({n_in}/{r}) = {p} training samples; "
                    f"N/P must be at most {2 * n_in} for N = {n_in} so that P ≥ 1",
                )
            if p in ps:
                self.fail("grid.n_over_p", f"values {ps[p]} and {r} both give P = {p} (N = {n_in}); drop one")
            ps[p] = r

        # model / train
        epochs = self.integer("train.epochs", train_raw.get("epochs", 1000), lo=1)
        record = self.record(train_raw.get("record", {"log": 100}))
        loss = self.choice("train.loss", train_raw.get("loss", "sum"), LOSSES)
        schedule = self.choice("train.schedule", train_raw.get("schedule", "none"), SCHEDULES)
        dtype = self.choice("train.dtype", train_raw.get("dtype", "float32"), DTYPES)
        method = self.choice("train.method", train_raw.get("method", "auto"), METHODS)

        batch_size = self.integer("train.batch_size", train_raw.get("batch_size", 0), lo=1) if (
            "batch_size" in train_raw) else 0  # fmt: skip
        values = {k: axes.get(k, [fixed[k]]) for k in EXTRA_AXES}

        def where(name):
            return f"grid.{name}" if name in axes else f"{EXTRA_AXES[name][0]}.{EXTRA_AXES[name][1]}"

        raw_path = nonlinear or batch_size > 0 or "online" in values["protocol"]
        null_space = train_raw.get("null_space_error", False)
        if not isinstance(null_space, bool):
            self.fail("train.null_space_error", f"got {null_space!r}; expected true or false")
        if null_space and raw_path:
            self.fail(
                "train.null_space_error",
                "is recorded on the full-batch linear path only (replay, no batch_size, linear "
                "teacher and student)",
            )
        if schedule != "none":
            if "online" not in values["protocol"]:
                self.fail(
                    "train.schedule",
                    f"got {schedule!r}; the schedule applies to online runs, and this sweep has none "
                    '(set train.protocol = "online" or grid.protocol = ["replay", "online"])',
                )
            if values["optimizer"] != ["gd"]:
                self.fail("train.schedule", f'got {schedule!r}; the oracle schedule is for optimizer = "gd"')
        if student == "random_features" and axes["depth"] != [2]:
            self.fail(
                "grid.depth",
                f"got {axes['depth']}; the random-feature student has depth 2 "
                "(a fixed random layer and a trained readout)",
            )
        if activation != "linear" and student == "deep_linear" and 1 in axes["depth"]:
            self.fail("model.activation", "applies to hidden layers; depth 1 has none (use depth ≥ 2)")
        if raw_path and "aligned" in values["init"]:
            self.fail(
                where("init"),
                "init 'aligned' needs the full-batch linear path (it reads Σ_yx); "
                "online, minibatch and nonlinear runs allow: "
                + ", ".join(i for i in INITS if i != "aligned"),
            )
        if nonlinear and any(isinstance(v, Auto) for v in values["learning_rate"]):
            self.fail(
                where("learning_rate"),
                "learning_rate = {auto = f} uses the linear stability bound; "
                "give a number for nonlinear runs",
            )
        if n_out != 1:
            for init in values["init"]:
                if init == "balanced":
                    key = "grid.init" if "init" in axes else "model.init"
                    self.fail(key, f"balanced initialisation needs problem.n_out = 1 (got n_out = {n_out})")
        if "zero" in values["init"] and any(d >= 2 for d in axes["depth"]) and student == "deep_linear":
            key = "grid.init" if "init" in axes else "model.init"
            self.fail(
                key,
                "init 'zero' is a saddle point at depth ≥ 2 (no gradient ever flows); use it at depth 1 only",
            )

        ordered = [Axis(k, tuple(axes[k])) for k in ("depth", "n_over_p", "snr")]
        ordered += [Axis(k, tuple(axes[k])) for k in grid if k not in CORE_DIMS]
        ordered.append(Axis("seed", tuple(axes["seed"])))
        model = Model(
            width=fixed["width"],
            init=fixed["init"],
            init_scale=fixed["init_scale"],
            student=student,
            activation=activation,
        )
        train = Train(
            epochs=epochs,
            optimizer=fixed["optimizer"],
            momentum=fixed["momentum"],
            b1=fixed["b1"],
            b2=fixed["b2"],
            learning_rate=fixed["learning_rate"],
            loss=loss,
            record=record,
            protocol=fixed["protocol"],
            schedule=schedule,
            dtype=dtype,
            method=method,
            batch_size=batch_size,
            null_space_error=null_space,
        )
        return SweepSpec(
            name, description, seed, tuple(ordered), problem, model, train, self.path, text, overrides
        )

    def learning_rate(self, key, v):
        if isinstance(v, dict):
            self.check_keys(v, ("auto",), f"{key}.")
            if "auto" not in v:
                self.fail(key, f"got {v!r}; expected a number > 0 or {{auto = f}}")
            return Auto(self.number(f"{key}.auto", v["auto"], lo=0, lo_open=True))
        return self.number(key, v, lo=0, lo_open=True)

    def record(self, v):
        if not isinstance(v, dict) or len(v) != 1:
            self.fail("train.record", f"got {_describe(v)}; expected {{log = n}} or {{every = k}}")
        self.check_keys(v, ("log", "every"), "train.record.")
        ((kind, n),) = v.items()
        lo = 2 if kind == "log" else 1
        return Record(kind, self.integer(f"train.record.{kind}", n, lo=lo))


def _range(lo, hi):
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" ≥ {lo}"
    if hi is not None:
        return f" ≤ {hi}"
    return ""


def _frange(lo, lo_open, hi, hi_open):
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '≥'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '≤'} {hi:g}")
    return (" " + " and ".join(parts)) if parts else ""
