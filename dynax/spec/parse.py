"""Sweep specs: TOML text (and ``--set`` overrides) validated into a :class:`SweepSpec`.

The format is the contract of docs/design.md §4. Every error raised here is a
:class:`SpecError` whose message names the file, the dotted key, the bad value
and what is allowed, so a user can fix a spec without reading code. Defaults are the
dataclass defaults of :mod:`dynax.spec.model` (the hidden width defaults to ``n_in``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from pathlib import Path

import numpy as np

from . import committee, derived, structured
from .checks import cross_checks
from .model import (
    ACTIVATIONS,
    CORE_DIMS,
    DROPOUT_SCALINGS,
    DTYPES,
    EXTRA_AXES,
    INITS,
    INPUTS,
    KERNELS,
    LOSSES,
    METHODS,
    MIN_SNR,
    NONLINEAR_N_TEST,
    OPTIMIZERS,
    PROTOCOLS,
    SCHEDULES,
    SECTION_KEYS,
    STUDENTS,
    TEACHER_KINDS,
    TEACHERS,
    TOP_KEYS,
    Auto,
    Axis,
    Model,
    OverDepth,
    Problem,
    SpecError,
    SweepSpec,
    Train,
)
from .records import parse_record
from .structured import identity_teacher

__all__ = ["load_spec", "parse_spec"]


def _default(cls, name: str):
    """The default of a spec dataclass field: the one place spec defaults live."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


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
    if isinstance(overrides, str):  # one override, not a sequence of characters
        overrides = (overrides,)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, not a spec file") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read the spec file ({e.strerror})") from None
    if raw[:4] in (b"\x89HDF", b"CDF\x01", b"CDF\x02"):
        raise SpecError(
            f"{path}: is a netCDF file, not a TOML spec; to run a result's spec again use "
            f"`dynax run --from {path}`"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a TOML spec (not UTF-8 text: byte {e.start})") from None
    return parse_spec(text, str(path), overrides)


def parse_spec(text: str, path: str = "<spec>", overrides=()) -> SweepSpec:
    """Validate a spec given as TOML text (see :func:`load_spec`)."""
    if isinstance(overrides, str):
        overrides = (overrides,)
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

    # --- the whole spec, one step per section -------------------------------------
    def spec(self, raw: dict, text: str, overrides: tuple[str, ...]) -> SweepSpec:
        self.check_keys(raw, TOP_KEYS, "")
        for sec in SECTION_KEYS:
            if sec in raw and not isinstance(raw[sec], dict):
                self.fail(sec, f"got {_describe(raw[sec])}; expected a table [{sec}]")
        tables = {sec: dict(raw.get(sec, {})) for sec in SECTION_KEYS}
        for sec, table in tables.items():
            self.check_keys(table, SECTION_KEYS[sec], f"{sec}.")
        grid, model_raw, train_raw = tables["grid"], tables["model"], tables["train"]

        name = self.string("name", raw.get("name", Path(self.path).stem))
        description = self.string("description", raw.get("description", ""))
        seed = self.integer("seed", raw.get("seed", 0), lo=0, hi=2**32 - 1)
        problem, student, activation = self.problem(tables["problem"], model_raw)
        if problem.hierarchy is not None:  # its items, once each: P = N
            grid.setdefault("n_over_p", 1.0)
        fixed = self.settings(grid, model_raw, train_raw, problem.n_in)
        axes = self.axes(grid, problem.n_in)
        linear = student == "deep_linear" and activation == "linear"
        committee_pair = student == problem.teacher == "committee"  # its overlaps on by default
        train = self.train(train_raw, problem, linear, ("overlaps",) if committee_pair else ())
        values = {k: axes.get(k, [fixed[k]]) for k in EXTRA_AXES}
        cross_checks(self, problem, student, activation, train, axes, values, tables["problem"])

        ordered = [Axis(k, tuple(axes[k])) for k in ("depth", "n_over_p", "snr")]
        ordered += [Axis(k, tuple(axes[k])) for k in grid if k not in CORE_DIMS]
        ordered.append(Axis("seed", tuple(axes["seed"])))
        model = Model(
            width=fixed["width"],
            init=fixed["init"],
            init_scale=fixed["init_scale"],
            student=student,
            activation=activation,
            pretrain_epochs=structured.pretraining(
                self, model_raw, values["init"], axes["depth"], student, activation
            ),
            train_readout=committee.train_readout(self, model_raw, grid, student),
        )
        train = Train(**{k: fixed[k] for k in EXTRA_AXES if EXTRA_AXES[k][0] == "train"}, **train)
        return SweepSpec(
            name, description, seed, tuple(ordered), problem, model, train, self.path, text, overrides
        )

    def problem(self, pr: dict, model_raw: dict) -> tuple[Problem, str, str]:
        """``[problem]``, and the student and activation (which decide whether E_g needs a test set)."""
        if "hierarchy" in pr and pr.get("teacher") != "hierarchy":
            self.fail("problem.hierarchy", 'applies only to problem.teacher = "hierarchy" (add that key)')
        tree = structured.hierarchy(self, pr) if pr.get("teacher") == "hierarchy" else None
        if "n_in" not in pr and tree is None:
            self.fail("problem.n_in", "missing; the input dimension N is required (an integer ≥ 1)")
        n_in = self.integer("problem.n_in", pr["n_in"], lo=1) if "n_in" in pr else tree.items
        n_out = self.integer("problem.n_out", pr.get("n_out", _default(Problem, "n_out")), lo=1)
        teacher_var = self.number(
            "problem.teacher_var", pr.get("teacher_var", _default(Problem, "teacher_var")), lo=0, lo_open=True
        )
        spectrum = structured.teacher_spectrum(self, pr, n_in, n_out)
        if spectrum:  # σ_w² = ‖W̄‖²_F/(N·N_out), so the SNR keeps its meaning
            teacher_var = sum(s * s for s in spectrum) / (n_in * n_out)
        inputs = self.choice("problem.inputs", pr.get("inputs", _default(Problem, "inputs")), INPUTS)
        if tree is not None:  # ±1 features (σ_w² = 1 exactly) seen through one-hot items
            teacher_var, inputs = 1.0, "onehot"
        teacher = self.choice("problem.teacher", pr.get("teacher", _default(Problem, "teacher")), TEACHERS)
        if teacher == "identity":  # a linear autoencoder: labels are the clean inputs
            teacher_var = identity_teacher(self, pr, n_in, n_out, spectrum)
        if teacher in ("relu", "committee"):
            if "teacher_width" not in pr:
                self.fail(
                    "problem.teacher_width",
                    f"missing; the {teacher} teacher needs its number of hidden units",
                )
            teacher_width = self.integer("problem.teacher_width", pr["teacher_width"], lo=1)
        elif "teacher_width" in pr:
            self.fail("problem.teacher_width", "applies only to problem.teacher = 'relu' or 'committee'")
        else:
            teacher_width = _default(Problem, "teacher_width")
        readout = ()
        if teacher == "committee":  # σ_w² = E[f*²] at T = I: Σ v*²/3 (docs/theory.md §6)
            teacher_var, readout = committee.committee_teacher(self, pr, n_out, teacher_width, spectrum)
        elif "teacher_readout" in pr:
            self.fail("problem.teacher_readout", "applies only to problem.teacher = 'committee'")
        student = self.choice("model.student", model_raw.get("student", _default(Model, "student")), STUDENTS)
        activation = self.choice(
            "model.activation", model_raw.get("activation", _default(Model, "activation")), ACTIVATIONS
        )
        nonlinear = not TEACHER_KINDS[teacher].linear or student != "deep_linear" or activation != "linear"
        if student == "committee" and "n_test" in pr:  # learning the committee teacher (a cross check)
            self.fail("problem.n_test", "the committee student's E_g is exact from its overlaps: no test set")
        if nonlinear and student != "committee":
            n_test = self.integer("problem.n_test", pr.get("n_test", NONLINEAR_N_TEST), lo=1)
        elif "n_test" in pr:
            self.fail(
                "problem.n_test",
                "applies only to nonlinear teachers or students; with a linear teacher and student "
                "E_g is the exact population risk",
            )
        else:
            n_test = _default(Problem, "n_test")
        cov, basis = structured.input_covariance(self, pr, n_in, spectrum)
        problem = Problem(
            n_in,
            n_out,
            teacher_var,
            teacher,
            teacher_width,
            n_test,
            spectrum,
            inputs,
            tree,
            cov,
            basis,
            readout,
        )
        return problem, student, activation

    def settings(self, grid: dict, model_raw: dict, train_raw: dict, n_in: int) -> dict:
        """The grid-able settings given as fixed values (or their defaults), checked."""
        for gname, (sec, field) in EXTRA_AXES.items():
            table = model_raw if sec == "model" else train_raw
            if gname in grid and field in table:
                self.fail(f"grid.{gname}", f"also set as `{sec}.{field}`; give it in one place only")
        fixed = {}
        for gname, (sec, field) in EXTRA_AXES.items():
            table = model_raw if sec == "model" else train_raw
            if field in table:
                fixed[gname] = self.setting(gname, f"{sec}.{field}", table[field])
            elif gname == "width":
                fixed[gname] = n_in
            else:
                fixed[gname] = _default(Model if sec == "model" else Train, field)
        return fixed

    def setting(self, name: str, key: str, v):
        """Check one value of a grid-able setting."""
        if name == "width":
            return self.integer(key, v, lo=1)
        if name == "init":
            return self.choice(key, v, INITS)
        if name == "init_scale":
            return self.number(key, v, lo=0)
        if name == "optimizer":
            return self.choice(key, v, OPTIMIZERS)
        if name == "weight_decay":
            return self.number(key, v, lo=0)
        if name == "dropout":  # the drop probability q: q = 1 would drop every unit
            return self.number(key, v, lo=0, hi=1, hi_open=True)
        if name == "input_noise":
            return self.number(key, v, lo=0)
        if name == "draw":
            return self.integer(key, v, lo=0, hi=2**31 - 1)
        if name in ("momentum", "b1", "b2"):
            return self.number(key, v, lo=0, hi=1, hi_open=True)
        if name == "learning_rate":
            return self.learning_rate(key, v)
        if name == "protocol":
            return self.choice(key, v, PROTOCOLS)
        raise KeyError(name)

    def axes(self, grid: dict, n_in: int) -> dict[str, list]:
        """``[grid]``: core dims always, every value checked, distinct P for distinct N/P."""
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
                    snr = self.number(k, v, lo=0, lo_open=True, allow_inf=True)
                    if snr < MIN_SNR:
                        self.fail(
                            k,
                            f"got {v!r}; allowed: SNR ≥ {MIN_SNR:g} or inf (σ_ε² = σ_w²/SNR: below that the "
                            f"signal is under float32 rounding of the noise, far below it σ_ε² overflows)",
                        )
                    checked.append(snr)
                elif key == "seed":
                    checked.append(self.integer(k, v, lo=0, hi=2**32 - 1))
                elif key == "learning_rate" and isinstance(v, dict):
                    self.fail(
                        k,
                        "a learning-rate axis takes numbers; for auto use `train.learning_rate = {auto = f}`",
                    )
                else:
                    checked.append(self.setting(key, k, v))
            self.no_duplicates(f"grid.{key}", checked)
            axes[key] = checked
        ps = {}
        for r in axes["n_over_p"]:
            p = derived.n_train(n_in, r)
            if p < 1:
                self.fail(
                    "grid.n_over_p",
                    f"value {r} gives P = round({n_in}/{r}) = {p} training samples; "
                    f"N/P must be at most {2 * n_in} for N = {n_in} so that P ≥ 1",
                )
            if p in ps:
                self.fail("grid.n_over_p", f"values {ps[p]} and {r} both give P = {p} (N = {n_in}); drop one")
            ps[p] = r
        return axes

    def train(self, tr: dict, problem: Problem, linear: bool = True, on: tuple = ()) -> dict:
        """``[train]`` keys that are never grid axes (``linear``: a linear student; ``on``: the
        train.record flags the student turns on unless the spec says false)."""
        out = {
            "epochs": self.integer("train.epochs", tr.get("epochs", _default(Train, "epochs")), lo=1),
            "record": parse_record(
                self, tr.get("record", {"log": _default(Train, "record").value}), problem, linear, on
            ),
        }
        for key, allowed in (
            ("loss", LOSSES),
            ("schedule", SCHEDULES),
            ("dtype", DTYPES),
            ("method", METHODS),
            ("kernel", KERNELS),
            ("dropout_scaling", DROPOUT_SCALINGS),
        ):
            out[key] = self.choice(f"train.{key}", tr.get(key, _default(Train, key)), allowed)
        out["batch_size"] = (
            self.integer("train.batch_size", tr["batch_size"], lo=1)
            if "batch_size" in tr
            else _default(Train, "batch_size")
        )
        out["validation"] = self.validation(tr["validation"]) if "validation" in tr else 0
        bounds = "bounds" in out["record"].flags  # the frozen-subspace bound reads null_space_error
        null_space = tr.get("null_space_error", bounds or _default(Train, "null_space_error"))
        if not isinstance(null_space, bool) or (bounds and not null_space):
            needs = "; train.record.bounds needs it (drop the key)" if isinstance(null_space, bool) else ""
            self.fail("train.null_space_error", f"got {null_space!r}; expected true or false{needs}")
        out["null_space_error"] = null_space
        return out

    def learning_rate(self, key, v):
        if isinstance(v, dict):
            self.check_keys(v, ("auto", "over_depth"), f"{key}.")
            if len(v) != 1:
                self.fail(key, f"got {v!r}; expected a number > 0, {{auto = f}} or {{over_depth = eta0}}")
            ((form, x),) = v.items()
            x = self.number(f"{key}.{form}", x, lo=0, lo_open=True)
            return Auto(x) if form == "auto" else OverDepth(x)
        return self.number(key, v, lo=0, lo_open=True)

    def validation(self, v):
        """``train.validation``: a fraction in (0, 1) or a count ≥ 1 (checked against P later)."""
        key = "train.validation"
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.fail(key, f"got {_describe(v)}; expected a fraction in (0, 1) or a count ≥ 1 (held out)")
        if isinstance(v, int):
            return self.integer(key, v, lo=1)
        return self.number(key, v, lo=0, lo_open=True, hi=1, hi_open=True)


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
