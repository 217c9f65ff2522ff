"""What a sweep is: the allowed values and the frozen dataclasses a validated spec becomes.

The TOML format and its checks are in :mod:`dynax.spec.parse`; quantities derived from
a spec's grid are in :mod:`dynax.spec.derived`. The contract is docs/design.md §4.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

from . import derived

__all__ = [
    "ACTIVATIONS",
    "CORE_DIMS",
    "DROPOUT_SCALINGS",
    "DTYPES",
    "EXTRA_AXES",
    "INITS",
    "INPUTS",
    "INPUT_BASES",
    "KERNELS",
    "LOSSES",
    "METHODS",
    "OPTIMIZERS",
    "OPTIMIZER_KINDS",
    "PROTOCOLS",
    "SCHEDULES",
    "STUDENTS",
    "TEACHERS",
    "TEACHER_KINDS",
    "Auto",
    "Axis",
    "Hierarchy",
    "Model",
    "OptimizerKind",
    "Problem",
    "Record",
    "SpecError",
    "SweepSpec",
    "TeacherKind",
    "Train",
]

# the order of their codes in the run table (append only)
INITS = ("gaussian", "gaussian_fan_in", "orthogonal", "balanced", "aligned", "zero", "pretrained")
INPUT_BASES = ("random", "teacher")  # problem.input_basis: the input covariance's eigenvectors


@dataclass(frozen=True)
class OptimizerKind:
    """An optimizer as the spec and the engine see it; its update rule is
    :data:`dynax.sim.optimizers.UPDATES`'s (docs/design.md "Extending this contract")."""

    descent: bool  # a stable step never raises the training objective (the auto rate's no-rise check)
    reads: tuple[str, ...] = ()  # the train.* hyperparameters it takes


# the optimizers a spec may name, in the order of their codes in the run table (append only)
OPTIMIZER_KINDS = {
    "gd": OptimizerKind(descent=True),
    "momentum": OptimizerKind(descent=False, reads=("momentum",)),
    "adam": OptimizerKind(descent=False, reads=("b1", "b2")),
    "nesterov": OptimizerKind(descent=False, reads=("momentum",)),  # Nesterov momentum, β = train.momentum
}
OPTIMIZERS = tuple(OPTIMIZER_KINDS)


@dataclass(frozen=True)
class TeacherKind:
    """A teacher as the spec and the engine see it; its parameters and outputs are
    :data:`dynax.sim.teachers.TEACHERS`'s."""

    linear: bool  # a matrix w̄: exact E_g, singular modes, ridge baselines


TEACHER_KINDS = {
    "linear": TeacherKind(linear=True),
    "relu": TeacherKind(linear=False),
    "hierarchy": TeacherKind(linear=True),
    "identity": TeacherKind(linear=True),  # w̄ = I (n_out = n_in): a linear autoencoder's target
    "committee": TeacherKind(linear=False),  # Σ_n erf(w*_n·x/√2): a soft committee machine
}
PROTOCOLS = ("replay", "online")
LOSSES = ("sum", "mean")
DTYPES = ("float32", "float64")
METHODS = ("auto", "gd")
KERNELS = ("auto", "xla", "fused", "pallas")
SCHEDULES = ("none", "optimal_online")
# inverted: kept hidden units scaled by 1/p (the expected output unchanged); none: unscaled masks
DROPOUT_SCALINGS = ("inverted", "none")

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
    "weight_decay": ("train", "weight_decay"),
    "dropout": ("train", "dropout"),
    "input_noise": ("train", "input_noise"),
    "draw": ("train", "draw"),
}
STUDENTS = ("deep_linear", "random_features", "committee")  # committee: K erf units, readout 1 or trained
ACTIVATIONS = ("linear", "relu", "tanh", "erf")  # erf: g(h) = erf(h/√2), the committee machines' unit
TEACHERS = tuple(TEACHER_KINDS)
# whitened: Σ_μ x_μ x_μᵀ = (P/N)·I exactly; onehot: item μ is e_μ (the hierarchy teacher's, P = N)
INPUTS = ("gaussian", "whitened", "onehot")
MAX_ITEMS = 4096  # the largest hierarchy (items = branching^levels): similarity is items × items per record
NONLINEAR_N_TEST = 1000  # default test-set size where E_g is estimated (nonlinear runs)
MIN_SNR = 1e-8  # smallest SNR a spec may give: below it the signal is under float32 rounding of the noise
TOP_KEYS = ("name", "description", "seed", "grid", "problem", "model", "train")
SECTION_KEYS = {
    "grid": (*CORE_DIMS, *EXTRA_AXES),
    "problem": (
        "n_in",
        "n_out",
        "teacher_var",
        "teacher_singular_values",
        "inputs",
        "teacher",
        "teacher_width",
        "n_test",
        "hierarchy",
        "input_spectrum",
        "input_basis",
        "teacher_readout",
    ),
    "model": ("width", "init", "init_scale", "student", "activation", "pretrain_epochs", "train_readout"),
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
        "kernel",
        "null_space_error",
        "weight_decay",
        "validation",
        "dropout",
        "dropout_scaling",
        "draw",
        "input_noise",
    ),
}


class SpecError(ValueError):
    """A spec (or a command-line override) that cannot be run as written."""


@dataclass(frozen=True)
class Auto:
    """``learning_rate = {auto = f}``: f times each run's stability bound."""

    factor: float


@dataclass(frozen=True)
class OverDepth:
    """``learning_rate = {over_depth = eta0}``: a fixed rate eta0/D for a run of depth D (the
    curvature of a deep linear network grows with D; docs/theory.md §3.1, "Very deep networks")."""

    eta0: float

    def at(self, depth) -> float:
        """The rate of a run of this depth."""
        return self.eta0 / depth


def fixed_rate(setting, depth):
    """A fixed learning-rate setting at a depth: the number itself, or eta0/D (``OverDepth``);
    an :class:`Auto` setting is returned as it is."""
    return setting.at(depth) if isinstance(setting, OverDepth) else setting


@dataclass(frozen=True)
class Record:
    """What is recorded: the epochs (``{log = n}`` or ``{every = k}``), and the switches that are
    on (:data:`dynax.spec.records.FLAGS`: ``modes``, ``final_weights``, ``weights``, ...)."""

    kind: str  # "log" or "every"
    value: int
    flags: frozenset = frozenset()  # the switches that are on: "modes" in record.flags

    def epochs(self, total: int) -> tuple[int, ...]:
        """The recorded epochs for a run of ``total`` epochs (:func:`derived.record_epochs`)."""
        return derived.record_epochs(self.kind, self.value, total)


@dataclass(frozen=True)
class Axis:
    """One dimension of the result: its name and its values, in order."""

    name: str
    values: tuple


@dataclass(frozen=True)
class Hierarchy:
    """``problem.hierarchy``: items at the leaves of a balanced tree of ``branching`` children
    per node and ``levels`` levels below the root (items = branching^levels); each feature is ±1
    at the root and flips with probability ``flip[l]`` on each edge into level l + 1."""

    branching: int
    levels: int
    flip: tuple[float, ...]

    @property
    def items(self) -> int:
        return self.branching**self.levels


@dataclass(frozen=True)
class Problem:
    n_in: int
    n_out: int = 1
    teacher_var: float = 1.0
    teacher: str = "linear"
    teacher_width: int = 0  # hidden units of the relu teacher
    n_test: int = 0  # test-set size where E_g is estimated (nonlinear cases); 0 = exact
    # a teacher of chosen singular values W̄ = U diag(s) Vᵀ (teacher_var is then derived from it)
    teacher_singular_values: tuple[float, ...] = ()
    inputs: str = "gaussian"  # or "whitened", or "onehot" (the hierarchy's)
    hierarchy: Hierarchy | None = None  # problem.teacher = "hierarchy": the tree (n_in = its items)
    # the population covariance's eigenvalues λ_1..λ_N (mean 1; () = white): x = U diag(√λ) z,
    # U random orthonormal, or the teacher's input singular vectors first (input_basis = "teacher")
    input_spectrum: tuple[float, ...] = ()
    input_basis: str = "random"
    teacher_readout: tuple[float, ...] = ()  # the committee teacher's v* (() = all ones)

    @property
    def white(self) -> bool:
        """Σ_xx = (P/N)·I exactly: whitened inputs, or a hierarchy's one-hot items (P = N)."""
        return self.inputs in ("whitened", "onehot")

    @property
    def top_input_variance(self) -> float:
        """The largest eigenvalue of a chosen input spectrum (normalised: mean 1); 1 for white inputs."""
        return max(self.input_spectrum, default=1.0)

    @property
    def ridge_baselines(self) -> bool:
        """The paired ridge baselines are computed: a linear teacher and a white population (their
        closed forms, :mod:`dynax.sim.ridge`, take C = I/N)."""
        return self.linear_teacher and not self.input_spectrum

    @property
    def linear_teacher(self) -> bool:
        """The teacher is a matrix w̄ (drawn, of chosen spectrum, or a hierarchy's features)."""
        return TEACHER_KINDS[self.teacher].linear

    @property
    def n_modes(self) -> int:
        """Teacher modes: the given spectrum's length, else min(N, N_out)."""
        return len(self.teacher_singular_values) or min(self.n_in, self.n_out)

    @property
    def n_data_modes(self) -> int:
        """Singular modes of Σ_yx: min(N, N_out)."""
        return min(self.n_in, self.n_out)


@dataclass(frozen=True)
class Model:
    width: int
    init: str = "gaussian"
    init_scale: float = 1e-3
    student: str = "deep_linear"
    activation: str = "linear"
    pretrain_epochs: int = 0  # init = "pretrained": GD epochs of each layer's greedy autoencoding
    train_readout: bool = False  # the committee student's readout trained at η/N (else fixed at 1)


@dataclass(frozen=True)
class Train:
    epochs: int = 1000
    optimizer: str = "gd"
    momentum: float = 0.9
    b1: float = 0.9
    b2: float = 0.999
    learning_rate: float | Auto | OverDepth = Auto(0.5)
    loss: str = "sum"
    record: Record = Record("log", 100)
    protocol: str = "replay"
    schedule: str = "none"
    dtype: str = "float32"
    method: str = "auto"
    kernel: str = (
        "auto"  # GD kernel: auto (the fastest that supports the run), xla, fused (CPU), pallas (GPU)
    )
    batch_size: int = 0  # 0: full batch (replay); online then steps one example at a time
    null_space_error: bool = False  # also record the error in the inputs' null space
    weight_decay: float = 0.0  # γ: grad_scale·(γ/2)·Σ_l ‖W_l‖²_F added to the loss
    # held-out examples: a fraction f in (0, 1) (V = max(1, round(f·P))) or a count ≥ 1; 0 = none
    validation: float | int = 0
    # q: each hidden unit dropped with probability q per example and step (p = 1 − q kept)
    dropout: float = 0.0
    dropout_scaling: str = "inverted"
    # σ_n: Gaussian noise of this standard deviation added to each training input entry, fresh
    # per example and step (the inputs' own entries have standard deviation 1/√N)
    input_noise: float = 0.0
    # which replicate of the dropout masks and input noise (0: the run key's own streams; d > 0
    # another draw of them on the same data and initial weights, docs/design.md §4 Randomness)
    draw: int = 0


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
        return tuple(derived.n_train(self.problem.n_in, r) for r in self.axis("n_over_p").values)

    @property
    def n_val(self) -> tuple[int, ...]:
        """V, the held-out examples of each P (``train.validation``; 0 without)."""
        return tuple(derived.n_validation(self.train.validation, p) for p in self.n_train)

    @property
    def n_fit(self) -> tuple[int, ...]:
        """The examples GD trains on, P − V for each value of ``n_over_p``."""
        return tuple(p - v for p, v in zip(self.n_train, self.n_val, strict=True))

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
            if isinstance(v, OverDepth):
                return {"over_depth": v.eta0}
            if isinstance(v, Record):  # the flags added later: present only when on
                return {v.kind: v.value, **{k: True for k in sorted(v.flags)}}
            return v

        out = {
            "name": self.name,
            "seed": self.seed,
            "grid": {a.name: [conv(v) for v in a.values] for a in self.axes},
            "problem": dataclasses.asdict(self.problem),
        }
        for key, default in (
            ("teacher_singular_values", ()),
            ("inputs", "gaussian"),
            ("hierarchy", None),
            ("input_spectrum", ()),  # added later: absent when off, so older hashes stand
            ("input_basis", "random"),
            ("teacher_readout", ()),
        ):
            if out["problem"][key] == default:
                del out["problem"][key]
        for section in ("model", "train"):
            obj = getattr(self, section)
            out[section] = {f.name: conv(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for key in ("pretrain_epochs", "train_readout"):  # added later, likewise
            if not getattr(self.model, key):
                del out["model"][key]
        if not self.train.null_space_error:  # added later: absent when off, so older hashes stand
            del out["train"]["null_space_error"]
        if self.train.validation == 0:  # added later, likewise
            del out["train"]["validation"]
        if "weight_decay" not in self.dims and self.train.weight_decay == 0:  # added later, likewise
            del out["train"]["weight_decay"]
        if "dropout" not in self.dims and self.train.dropout == 0:  # added later, likewise
            del out["train"]["dropout"], out["train"]["dropout_scaling"]
        if "input_noise" not in self.dims and self.train.input_noise == 0:  # likewise
            del out["train"]["input_noise"]
        if "draw" not in self.dims and self.train.draw == 0:  # likewise
            del out["train"]["draw"]
        if self.train.kernel == "auto":  # likewise (the kernel auto picks is in the layout hash)
            del out["train"]["kernel"]
        return out

    @property
    def sha256(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
