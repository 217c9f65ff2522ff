"""The run table: every run of a sweep (a cell of its grid) and its settings, as flat
arrays in C order over the spec's dims. The engine plans, batches and labels by it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import derived
from .model import INITS, OPTIMIZERS, PROTOCOLS, Auto, OverDepth, SweepSpec

__all__ = ["RunTable", "run_table"]


class RunTable(NamedTuple):
    """Per-run settings as flat arrays (C order over ``spec.dims``)."""

    depth: np.ndarray
    p_index: np.ndarray  # index into spec.n_train
    seed: np.ndarray
    noise_std: np.ndarray
    lr: np.ndarray  # NaN where learning_rate is auto
    auto: np.ndarray  # the auto factor, NaN where the rate is fixed
    width: np.ndarray
    init: np.ndarray  # index into INITS
    init_scale: np.ndarray
    optimizer: np.ndarray  # index into OPTIMIZERS
    momentum: np.ndarray
    b1: np.ndarray
    b2: np.ndarray
    protocol: np.ndarray  # index into PROTOCOLS
    weight_decay: np.ndarray  # γ
    dropout: np.ndarray  # q, the drop probability of a hidden unit
    input_noise: np.ndarray  # σ_n, the training inputs' added noise
    draw: np.ndarray  # the replicate of the dropout masks and input noise (0: the run key's own)


def run_table(spec: SweepSpec) -> RunTable:
    idx = np.indices(spec.shape).reshape(len(spec.shape), -1)
    dims = spec.dims

    def values(name, convert=float, dtype=np.float64):
        if name in dims:
            axis = spec.axes[dims.index(name)]
            return np.asarray([convert(v) for v in axis.values], dtype=dtype)[idx[dims.index(name)]]
        return np.full(idx.shape[1], convert(spec.setting(name)), dtype=dtype)

    noise_std = np.sqrt(derived.noise_var(spec.problem.teacher_var, values("snr")))
    lr_setting = spec.axis("learning_rate").values if "learning_rate" in dims else None
    if lr_setting is None and isinstance(spec.train.learning_rate, Auto):
        lr = np.full(idx.shape[1], np.nan)
        auto = np.full(idx.shape[1], spec.train.learning_rate.factor)
    elif lr_setting is None and isinstance(spec.train.learning_rate, OverDepth):  # eta0/D
        lr, auto = spec.train.learning_rate.eta0 / values("depth"), np.full(idx.shape[1], np.nan)
    else:
        lr, auto = values("learning_rate"), np.full(idx.shape[1], np.nan)
    return RunTable(
        depth=values("depth", int, np.int64),
        p_index=idx[dims.index("n_over_p")].astype(np.int64),
        seed=values("seed", int, np.int64),
        noise_std=noise_std,
        lr=lr,
        auto=auto,
        width=values("width", int, np.int64),
        init=values("init", INITS.index, np.int32),
        init_scale=values("init_scale"),
        optimizer=values("optimizer", OPTIMIZERS.index, np.int32),
        momentum=values("momentum"),
        b1=values("b1"),
        b2=values("b2"),
        protocol=values("protocol", PROTOCOLS.index, np.int32),
        weight_decay=values("weight_decay"),
        dropout=values("dropout"),
        input_noise=values("input_noise"),
        draw=values("draw", int, np.int64),
    )
