"""One result variable (:class:`Variable`): its type, its labels, its dims and when it exists.
The table of every variable is :data:`dynax.spec.variables.VARIABLES`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import SweepSpec
from .records import DIMS, FLAGS

__all__ = ["Variable", "extra_size"]


def _always(spec: SweepSpec) -> bool:
    return True


@dataclass(frozen=True)
class Variable:
    """One result variable: where it lives, its type, its labels, and when it exists."""

    name: str
    curve: bool  # over (..., seed, epoch) if True, else (..., seed)
    dtype: str  # "float" (the sweep's dtype), "float64", "int64" or "int8"
    fill: Any  # the value of a run that was not computed (another shard's)
    long_name: Any  # str, or a function of the spec
    units: str = "1"
    attrs: dict = field(default_factory=dict)
    computed: Any = _always  # spec -> bool: the engine computes it (chunks, part files)
    in_dataset: Any = None  # spec -> bool: the Dataset holds it (default: when computed)
    extra: tuple[str, ...] = ()  # dims after the spec's (and before epoch): mode, output, ...
    # the spec dims a data variable depends on (the Dataset keeps those only); None: all
    over: tuple[str, ...] | None = None
    comment: Any = None  # spec -> str or None: a CF comment (e.g. why the values are NaN)
    # the train.record switch under which the trainers record it (then computed: the switch is on)
    flag: str | None = None

    def __post_init__(self):
        if self.flag is not None:
            if self.flag not in FLAGS:
                raise ValueError(f"{self.name}: unknown flag {self.flag!r}; allowed: {', '.join(FLAGS)}")
            if self.computed is _always:
                object.__setattr__(self, "computed", lambda spec: self.flag in spec.train.record.flags)

    def numpy_dtype(self, spec: SweepSpec):
        return np.dtype(spec.train.dtype if self.dtype == "float" else self.dtype)

    def extra_shape(self, spec: SweepSpec) -> tuple[int, ...]:
        return tuple(extra_size(spec, d) for d in self.extra)

    def shape(self, spec: SweepSpec, n_runs: int) -> tuple[int, ...]:
        return (n_runs, *self.extra_shape(spec), *((len(spec.record_epochs),) if self.curve else ()))

    def dims(self, spec: SweepSpec) -> tuple[str, ...]:
        """The Dataset dims: the spec's (those of ``over``), the extra ones, then epoch."""
        base = spec.dims if self.over is None else tuple(d for d in spec.dims if d in self.over)
        return (*base, *self.extra, *(("epoch",) if self.curve else ()))

    def label(self, spec: SweepSpec) -> dict:
        long_name = self.long_name(spec) if callable(self.long_name) else self.long_name
        comment = self.comment(spec) if self.comment else None
        return {
            "long_name": long_name,
            "units": self.units,
            **self.attrs,
            **({"comment": comment} if comment else {}),
        }

    def per_run(self) -> str:
        """What one run holds of it, in words (the plan's messages): "N_out x N x recorded epochs"."""
        return (
            " x ".join([DIMS[d].symbol for d in self.extra] + (["recorded epochs"] if self.curve else []))
            or "1"
        )

    def stored(self, spec: SweepSpec) -> bool:
        return (self.in_dataset or self.computed)(spec)


def extra_size(spec: SweepSpec, dim: str) -> int:
    """The length of a dim beyond the spec's (:data:`dynax.spec.records.DIMS`)."""
    return DIMS[dim].size(spec)
