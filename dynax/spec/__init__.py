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
    DTYPES,
    EXTRA_AXES,
    INITS,
    INPUTS,
    KERNELS,
    LOSSES,
    METHODS,
    OPTIMIZERS,
    PROTOCOLS,
    SCHEDULES,
    STUDENTS,
    TEACHERS,
    Auto,
    Axis,
    Hierarchy,
    Model,
    Problem,
    Record,
    SpecError,
    SweepSpec,
    Train,
)
from .parse import load_spec, parse_spec

__all__ = [
    "ACTIVATIONS",
    "CORE_DIMS",
    "DTYPES",
    "EXTRA_AXES",
    "INITS",
    "INPUTS",
    "KERNELS",
    "LOSSES",
    "METHODS",
    "OPTIMIZERS",
    "PROTOCOLS",
    "SCHEDULES",
    "STUDENTS",
    "TEACHERS",
    "Auto",
    "Axis",
    "Hierarchy",
    "Model",
    "Problem",
    "Record",
    "SpecError",
    "SweepSpec",
    "Train",
    "load_spec",
    "parse_spec",
]
