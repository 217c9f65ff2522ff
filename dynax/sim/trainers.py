"""The trainers: one protocol, one registry (docs/design.md "Extending this contract").

A compile group of runs is described by its :class:`GroupFacts` (what the spec fixes for it).
Each :class:`Trainer` says whether it takes a group (:meth:`Trainer.accepts`), makes its static
config, says how many bytes a run needs, which host inputs it reads (``inputs``: the engine
builds them from a batch), which recorded variables it can produce, and trains a batch:
``train(cfg, inputs, devices, stop_on_rise) -> (Outputs, compile seconds)``, the same for all.

:func:`choose` tries the registry in the order of :data:`PRIORITY`: the raw-data trainer for
runs that need the examples themselves, the exact closed form where it applies, the fast
kernel the spec asks for (``train.kernel``, or the one ``auto`` picks: :func:`requested_kernel`)
where it supports the group, and the XLA kernel for every other full-batch linear group. An input
covariance of chosen spectrum (``problem.input_spectrum``) goes to a trainer that reads it
(``covariance``: the raw-data and XLA ones; the closed form and the eigenbasis kernels assume white
populations).
Adding a trainer: a class here, registered in :data:`TRAINERS` and placed in :data:`PRIORITY`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import jax

from ..spec import OPTIMIZERS, SpecError, SweepSpec
from ..spec.variables import recorded
from . import eigen, executables
from .closed_form import BLOCK, closed_form
from .data import factor_width
from .gd import KernelConfig, train_gd
from .optimizers import state_slots
from .raw import RawConfig, train_raw
from .recorders import RECORDERS

__all__ = [
    "PRIORITY",
    "TRAINERS",
    "GroupFacts",
    "Trainer",
    "choose",
    "kernel_of",
    "recorded_floats",
    "requested_kernel",
    "trainer",
]

AUTO_FUSED_MAX_W1 = 256 * 256  # entries of W_1 up to which `auto` takes the fused kernel
FUSED_BUDGET = 256 << 20  # host bytes of one fused batch (each thread keeps one network in cache)
PALLAS_HOST_BUDGET = 1 << 30  # host bytes of one Pallas batch (its inputs are prepared on the host)


@dataclass(frozen=True)
class GroupFacts:
    """What the spec fixes for one compile group: what decides its trainer and its config."""

    depth: int
    width: int  # hidden width (n_in at depth 1 for linear students)
    optimizer: str
    raw: bool  # the examples themselves: online, minibatch, or a nonlinear teacher or student
    protocol: str = "replay"
    p_bucket: int = 0  # raw runs: stored examples padded to this many
    kernel: str = "xla"  # the fast kernel the spec asks for (requested_kernel)
    dropout: bool = False  # the runs have q > 0 (raw-data trainer; q = 0 runs are a group apart)
    input_noise: bool = False  # the runs have σ_n > 0 (likewise)


class Trainer:
    """The protocol every trainer follows (class attributes, and the methods below)."""

    name: ClassVar[str]
    inputs: ClassVar[str] = "sufficient_statistics"  # what the engine builds for a batch
    eigendecomposition: ClassVar[bool] = False  # its inputs carry each run's Σ_xx = U Λ Uᵀ
    optimizers: ClassVar[tuple[str, ...]] = OPTIMIZERS
    any_batch: ClassVar[bool] = False  # trains any count of runs with the same program (no padding)
    # the recorded variables it produces (train.record's flags: dynax.sim.recorders)
    records: ClassVar[frozenset[str]] = frozenset(RECORDERS)
    covariance: ClassVar[bool] = False  # takes an input covariance of chosen spectrum (E_g reads it)

    def accepts(self, spec: SweepSpec, f: GroupFacts) -> bool:
        raise NotImplementedError

    def config(self, spec: SweepSpec, f: GroupFacts, inits: tuple[str, ...]):
        return _kernel_config(spec, f, inits)

    def run_bytes(self, cfg) -> int:
        """Estimated bytes one run needs in a batch (inputs, state, temporaries, outputs)."""
        root = 2 * cfg.n_in**2 if cfg.covariance else 0  # an input covariance's A, and (W − w̄) A
        return _statistics_bytes(cfg, 4 + state_slots(cfg.optimizer), 3 * _factor(cfg) + root)

    def alone_bytes(self, cfg) -> int:
        """Estimated bytes of a run trained alone (a batch of one: what refuses an impossible
        plan), where a program's temporaries may not be shared as in a batch."""
        return self.run_bytes(cfg)

    def batch(self, spec_budget: int | None, budget: int, run_bytes: int, n_runs: int, devices: int) -> int:
        """Runs per compiled call and device from the memory budget."""
        return int(min(max(1, budget // run_bytes), -(-n_runs // devices)))

    def train(self, cfg, inputs, devices: int = 1, stop_on_rise=None) -> tuple:
        """Train a batch: its :class:`~dynax.sim.tracker.Outputs` (NumPy arrays) and the seconds
        spent compiling now (0.0 when this process had the program)."""
        raise NotImplementedError


class _Vmapped(Trainer):
    """A trainer of one run in JAX, vmapped over the batch and compiled once per shape."""

    one: ClassVar[object]

    def program(self, cfg, devices: int = 1):
        """The jitted batch trainer (every array's run axis split over ``devices``)."""
        return executables.vmapped(partial(type(self).one, cfg), devices)

    def train(self, cfg, inputs, devices: int = 1, stop_on_rise=None) -> tuple:
        exe, seconds = executables.compiled(
            (self.name, cfg, devices), lambda: self.program(cfg, devices), inputs
        )
        return jax.device_get(exe(inputs)), seconds


class RawTrainer(_Vmapped):
    """Online SGD, minibatch replay, nonlinear teachers and students (:mod:`dynax.sim.raw`)."""

    name = "raw"
    inputs = "examples"
    covariance = True
    one = staticmethod(train_raw)

    def accepts(self, spec, f):
        return f.raw

    def config(self, spec, f, inits):
        return _raw_config(spec, f, inits)

    def run_bytes(self, cfg) -> int:
        itemsize = 8 if cfg.dtype == "float64" else 4
        weights = sum(a * b for a, b in cfg.shapes())
        hidden = cfg.width * (1 if cfg.student == "random_features" else cfg.depth - 1) + cfg.n_out
        rows = cfg.p_bucket + (cfg.batch or 0)
        floats = weights * (4 + state_slots(cfg.optimizer)) + rows * (2 * (cfg.n_in + cfg.n_out) + 3 * hidden)
        if cfg.student == "random_features":
            floats += cfg.width * cfg.n_in
        if cfg.readout_gram:  # the test features once, then their Gram
            floats += cfg.n_test * (2 * (cfg.n_in + cfg.n_out) + hidden) + cfg.width * (cfg.width + cfg.n_out)
        else:
            floats += cfg.n_test * (2 * (cfg.n_in + cfg.n_out) + 3 * hidden)
        floats += 2 * cfg.p_bucket * (cfg.n_in + cfg.n_out)  # float64 inputs as they arrive
        if cfg.dropout:  # each hidden layer's masks per example, drawn from float64 uniforms
            floats += 3 * (cfg.depth - 1) * rows * cfg.width
        if cfg.input_noise:  # the noise of each example's inputs, drawn in float64, and the noisy copy
            floats += 3 * rows * cfg.n_in
        if cfg.covariance:  # an input covariance's A (float64 as it arrives, and in the run's dtype)
            floats += 3 * cfg.n_in**2
        return int((floats + recorded_floats(cfg)) * itemsize) + 512


class ClosedForm(_Vmapped):
    """Depth-1 full-batch GD solved exactly in the eigenbasis of Σ_xx (:mod:`dynax.sim.closed_form`)."""

    name = "closed_form"
    eigendecomposition = True
    optimizers = ("gd",)
    one = staticmethod(closed_form)

    def accepts(self, spec, f):
        return not f.raw and f.depth == 1 and f.optimizer == "gd" and spec.train.method == "auto"

    def run_bytes(self, cfg) -> int:  # float64 inputs (factor, U, Uᵀ L_x), one block of epochs
        n = cfg.n_in
        floats = 2 * (n * n + n * cfg.k) + 4 * BLOCK * n * cfg.n_out + 2 * len(cfg.record) * cfg.n_out * n
        return _statistics_bytes(cfg, None, floats)


class Xla(_Vmapped):
    """Full-batch GD (any optimizer) on each run's sufficient statistics (:mod:`dynax.sim.gd`)."""

    name = "xla"
    one = staticmethod(train_gd)
    covariance = True

    def alone_bytes(self, cfg) -> int:
        """A batch of one holds more copies of the weights than each run of a larger batch: XLA's
        memory analysis of the compiled kernel (depths 2 and 3, widths up to 3e4, every
        optimizer) counts 4 + (optimizer slots) per run in batches of 2 or more, as
        :meth:`run_bytes` does, and 4 more alone in float32 (1 more in float64)."""
        itemsize = 8 if cfg.dtype == "float64" else 4
        extra = 4 if cfg.dtype == "float32" else 1
        return self.run_bytes(cfg) + extra * itemsize * sum(a * b for a, b in cfg.shapes())

    def accepts(self, spec, f):
        return not f.raw


class _Eigenbasis(Trainer):
    """A kernel in the eigenbasis of each run's Σ_xx, for GD and momentum at depth ≥ 2 with one
    output and nothing recorded beyond the errors (:mod:`dynax.sim.eigen`)."""

    inputs = "eigenbasis"
    optimizers = eigen.OPTIMIZERS
    records = frozenset()

    def accepts(self, spec, f):
        return (
            not f.raw
            and f.kernel == self.name
            and not spec.train.validation  # no held-out errors (the records: Trainer.records)
            and eigen.supports(f.depth, spec.problem.n_out, f.optimizer)
        )

    def run_bytes(self, cfg) -> int:  # host memory: float64 U and Uᵀ L_x, the weights and momentum
        n = cfg.n_in
        weights = sum(a * b for a, b in cfg.shapes())
        floats = (
            2 * (n * n + n * cfg.k) + weights * (3 + state_slots(cfg.optimizer)) + 8 * n + 3 * len(cfg.record)
        )
        return _statistics_bytes(cfg, None, floats)

    def kernel(self):
        """The kernel's ``train`` and its rotation ``W_1 U``, imported when first used."""
        raise NotImplementedError

    def train(self, cfg, inputs, devices: int = 1, stop_on_rise=None) -> tuple:
        from .eigen_batch import prepare

        train, rotate = self.kernel()
        ws, runs, seconds = prepare(cfg, inputs, rotate)
        i = inputs.inputs
        out, sec = train(
            cfg, ws, runs, i.noise_std, i.learning_rate, i.grad_scale, i.momentum, i.n_train, i.weight_decay,
            stop_on_rise=stop_on_rise,
        )  # fmt: skip
        return out, seconds + sec


class Fused(_Eigenbasis):
    """The fused CPU kernel (numba, one network per thread: :mod:`dynax.sim.fused`)."""

    name = "fused"
    any_batch = True  # one network per thread: numba compiles per dtype, not per count

    def kernel(self):
        from .fused import rotate, train_fused

        return train_fused, rotate

    def batch(self, spec_budget, budget, run_bytes, n_runs, devices) -> int:
        # its batch lives in host memory: a host budget even beside a GPU
        return super().batch(spec_budget, spec_budget or FUSED_BUDGET, run_bytes, n_runs, devices)


class Pallas(_Eigenbasis):
    """The Pallas GPU kernel (one program per network, weights on-chip: :mod:`dynax.sim.pallas`)."""

    name = "pallas"

    def accepts(self, spec, f):
        itemsize = 8 if spec.train.dtype == "float64" else 4
        fits = eigen.fits_one_program(
            spec.problem.n_in, f.width, f.depth, itemsize, f.optimizer == "momentum"
        )
        return super().accepts(spec, f) and fits

    def kernel(self):
        from .eigen_batch import rotate_blas
        from .pallas import train_pallas

        return train_pallas, rotate_blas

    def batch(self, spec_budget, budget, run_bytes, n_runs, devices) -> int:
        # prepared on the host: capped there; the programs it launches (no idle ones)
        return eigen.pallas_launch(
            super().batch(spec_budget, min(budget, PALLAS_HOST_BUDGET), run_bytes, n_runs, devices), down=True
        )


TRAINERS: dict[str, Trainer] = {t.name: t for t in (RawTrainer(), ClosedForm(), Pallas(), Fused(), Xla())}
PRIORITY = ("raw", "closed_form", "pallas", "fused", "xla")  # the order choose() tries them in


def trainer(name: str) -> Trainer:
    """The registered trainer ``name``."""
    if name not in TRAINERS:
        raise ValueError(f"unknown trainer {name!r}; registered: {', '.join(TRAINERS)}")
    return TRAINERS[name]


def choose(spec: SweepSpec, f: GroupFacts) -> Trainer:
    """The first trainer of :data:`PRIORITY` that takes the group and records what it asks."""
    asked = {v.name for v in recorded(spec)}
    white = not spec.problem.input_spectrum
    for name in PRIORITY:
        t = TRAINERS[name]
        if t.accepts(spec, f) and asked <= t.records and (white or t.covariance):
            return t
    raise SpecError(f"{spec.path}: no trainer takes the compile group {f} (trainers: {', '.join(PRIORITY)})")


FAST = ("fused", "pallas")  # the kernels train.kernel may ask for besides xla


def requested_kernel(spec: SweepSpec, layout: dict | None = None) -> str:
    """Which kernel trains the spec's GD runs where it supports them: ``"fused"`` (CPU),
    ``"pallas"`` (GPU) or ``"xla"``. ``train.kernel`` names it; ``"auto"`` takes the fused
    kernel on a CPU backend for runs of at least N epochs (its set-up, the rotation W_1 U,
    costs about N/6 epochs of training per run; shorter runs are faster on the XLA kernel)
    whose first layer has at most ``AUTO_FUSED_MAX_W1`` entries (at N = N_h = 400 one
    network's W_1 no longer stays in the core's cache and the fused kernel is no faster:
    benchmarks/README.md "CPU defaults"), and the XLA kernel otherwise: the Pallas kernel is not chosen by
    ``auto`` until it has been measured on a GPU. A recorded layout decides instead
    (``--resume`` and Dask workers on another kind of machine keep the kernel the plan was
    made with)."""
    if layout is not None:
        return kernel_of([g["label"].split()[0] for g in layout["groups"]])
    kernel = spec.train.kernel
    if kernel == "auto":
        widths = spec.axis("width").values if "width" in spec.dims else [spec.model.width]
        fast = (
            jax.default_backend() == "cpu"
            and spec.train.epochs >= spec.problem.n_in
            and max(widths) * spec.problem.n_in <= AUTO_FUSED_MAX_W1
        )
        return "fused" if fast else "xla"
    return kernel


def kernel_of(names) -> str:
    """The fast kernel among the trainer names a plan ran (``"xla"`` if none)."""
    return next((k for k in FAST if k in names), "xla")


# --------------------------------------------------------------------------- configs and memory


def _kernel_config(spec: SweepSpec, f: GroupFacts, inits) -> KernelConfig:
    pr = spec.problem
    return KernelConfig(
        depth=f.depth,
        width=f.width,
        n_in=pr.n_in,
        n_out=pr.n_out,
        k=factor_width(pr.n_in, pr.n_out, max(spec.n_fit)),
        epochs=spec.train.epochs,
        record=spec.record_epochs,
        optimizer=f.optimizer,
        inits=inits,
        dtype=spec.train.dtype,
        root_seed=spec.seed,
        null_space=spec.train.null_space_error,
        **_recorded(spec),
        covariance=bool(pr.input_spectrum),
        pretrain_epochs=spec.model.pretrain_epochs,
    )


def _raw_config(spec: SweepSpec, f: GroupFacts, inits) -> RawConfig:
    pr = spec.problem
    return RawConfig(
        depth=f.depth,
        width=f.width,
        n_in=pr.n_in,
        n_out=pr.n_out,
        p_bucket=f.p_bucket,
        epochs=spec.train.epochs,
        record=spec.record_epochs,
        protocol=f.protocol,
        batch=spec.online_batch if f.protocol == "online" else spec.train.batch_size,
        optimizer=f.optimizer,
        inits=inits,
        dtype=spec.train.dtype,
        root_seed=spec.seed,
        student=spec.model.student,
        activation=spec.model.activation,
        teacher=pr.teacher,
        teacher_width=pr.teacher_width,
        n_test=pr.n_test,
        schedule=spec.train.schedule if f.protocol == "online" else "none",
        **_recorded(spec),
        dropout=f.dropout,
        dropout_scaling=spec.train.dropout_scaling,
        input_noise=f.input_noise,
        covariance=bool(pr.input_spectrum),
        pretrain_epochs=spec.model.pretrain_epochs,
        train_readout=spec.model.train_readout,
    )


def _recorded(spec: SweepSpec) -> dict:
    """The trainer settings of what ``train.record`` asks for besides the errors: the recorded
    variables by name (:data:`dynax.spec.variables.VARIABLES`), their floats per run, the mode
    bases' sizes; and whether the loss has a penalty term and held-out errors are kept."""
    rec, pr = spec.train.record, spec.problem
    decay = spec.axis("weight_decay").values if "weight_decay" in spec.dims else [spec.train.weight_decay]
    names = recorded(spec)
    return {
        "records": tuple(v.name for v in names),
        "record_floats": sum(math.prod(v.shape(spec, 1)) for v in names),
        "modes": pr.n_modes if "modes" in rec.flags else 0,
        "data_modes": pr.n_data_modes if "modes" in rec.flags else 0,
        "validation": bool(spec.train.validation),
        "weight_decay": any(v > 0 for v in decay),
    }


def _factor(cfg) -> int:
    return (cfg.n_in + cfg.n_out) * cfg.k


def _statistics_bytes(cfg, weight_copies, floats) -> int:
    """Bytes per run of a trainer on sufficient statistics: ``floats`` of its own (with
    ``weight_copies`` × the weights and 4 N·N_out + 2 records more for the XLA kernel), the
    float64 factor as it arrives and the recorded variables."""
    itemsize = 8 if cfg.dtype == "float64" else 4
    if weight_copies is not None:
        floats += (
            sum(a * b for a, b in cfg.shapes()) * weight_copies
            + 4 * cfg.n_in * cfg.n_out
            + 2 * len(cfg.record)
        )
    return int((floats + 2 * _factor(cfg) + recorded_floats(cfg)) * itemsize) + 256


def recorded_floats(cfg) -> int:
    """Per-run floats of the recorded variables and of the modes' working arrays (bases, Σ_yx
    and its SVD)."""
    n, no, r, rd = cfg.n_in, cfg.n_out, cfg.modes, cfg.data_modes
    return cfg.record_floats + (2 * (n + no) * (r + rd) + 3 * no * n if r else 0)
