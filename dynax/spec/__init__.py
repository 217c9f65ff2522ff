"""What a sweep is: spec files parsed into frozen dataclasses, and the quantities derived
from a spec's grid (docs/design.md §4). Standard library and NumPy only.

* :mod:`dynax.spec.model`: the allowed values and the dataclasses (:class:`SweepSpec`);
* :mod:`dynax.spec.parse`: TOML and ``--set`` overrides, validated section by section;
* :mod:`dynax.spec.derived`: P, the noise variance, the gradient scale, record grids,
  layer shapes and the other quantities every later layer derives from a spec.
"""

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
    OPTIMIZER_KINDS,
    OPTIMIZERS,
    PROTOCOLS,
    SCHEDULES,
    STUDENTS,
    TEACHER_KINDS,
    TEACHERS,
    Auto,
    Axis,
    Hierarchy,
    Model,
    OptimizerKind,
    Problem,
    Record,
    SpecError,
    SweepSpec,
    TeacherKind,
    Train,
)
from .parse import load_spec, parse_spec

__all__ = [
    "ACTIVATIONS",
    "CORE_DIMS",
    "DROPOUT_SCALINGS",
    "DTYPES",
    "EXTRA_AXES",
    "INITS",
    "INPUTS",
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
    "load_spec",
    "parse_spec",
]
