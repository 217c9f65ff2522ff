"""Every quantity derived from a spec's grid, in one place (docs/design.md §1, §4).

Each function takes plain values (or a :class:`~dynax.spec.model.SweepSpec` where it
needs several of them) and returns NumPy values in float64 or int64. The engine, the
labelled Dataset and the theory all call these, so a convention (the noise variance of an
SNR, the 1/P of the mean loss, the record grid) is written once.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "HELDOUT_GAMMAS",
    "RISE_ABSOLUTE",
    "RISE_RELATIVE",
    "depth1_init_var",
    "grad_scale",
    "layer_shapes",
    "n_train",
    "n_validation",
    "noise_var",
    "online_examples",
    "online_record_steps",
    "online_total_steps",
    "p_bucket",
    "record_epochs",
    "replay_examples",
    "rose",
    "sigma0_sq",
]


# What counts as a rise of a full-batch run's training objective (the training loss, plus the
# weight-decay penalty where γ > 0) from one epoch to a later one: more than RISE_RELATIVE of the
# lowest value before it, plus RISE_ABSOLUTE of its value at epoch 0 (rounding near zero). A GD
# step within the stability limit never raises it (docs/theory.md §3.2); the trainers track it
# at every epoch, and dynax.analysis.train_error_rose applies it to the recorded curves.
RISE_RELATIVE = 1e-3
RISE_ABSOLUTE = 1e-6

# the ridge parameters (sum-loss units, as best_ridge_gamma) the held-out ridge chooses from
HELDOUT_GAMMAS = np.geomspace(1e-3, 1e3, 61)


def rose(value, lowest, start):
    """Whether ``value`` is a rise over ``lowest`` (the least value before it) for a run that
    started at ``start``; works on NumPy and JAX arrays alike (False for NaN)."""
    return value > lowest * (1 + RISE_RELATIVE) + RISE_ABSOLUTE * start


def n_train(n_in: int, n_over_p: float) -> int:
    """``P = floor(N / (N/P) + 0.5)`` (docs/design.md §4)."""
    return math.floor(n_in / n_over_p + 0.5)


def n_validation(validation, p: int) -> int:
    """V held out of P examples: ``max(1, round(f·P))`` for a fraction f in (0, 1), the count
    itself for an integer ≥ 1, 0 for none; the last V of the P examples are held out."""
    if not validation:
        return 0
    if isinstance(validation, int):
        return int(validation)
    return max(1, math.floor(validation * p + 0.5))


def noise_var(teacher_var, snr):
    """``σ_ε² = σ_w²/SNR``, 0 where the SNR is infinite (noiseless); float64, the shape of ``snr``."""
    snr = np.asarray(snr, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(np.isinf(snr), 0.0, teacher_var / snr)


def grad_scale(loss: str, p):
    """The factor on ``½ Σ_μ ‖r_μ‖²``: 1 for ``loss = "sum"``, 1/P for ``"mean"``; float64."""
    p = np.asarray(p)
    return 1.0 / p if loss == "mean" else np.ones(p.shape)


def record_epochs(kind: str, value: int, total: int) -> tuple[int, ...]:
    """Recorded epochs of a run of ``total`` epochs, sorted, 0 and ``total`` included:
    ``log = n``: {0} ∪ unique(round(geomspace(1, total, n − 1))); ``every = k``: 0, k, 2k, …, total."""
    if kind == "log":
        inner = np.unique(np.round(np.geomspace(1, total, value - 1)).astype(int))
        return (0, *(int(e) for e in inner))
    steps = list(range(0, total, value))
    return (*steps, total)


def online_record_steps(kind: str, n_record: int, total_steps: int, pass_steps: int = 0) -> np.ndarray:
    """Record positions (in SGD steps) of an online run with ``total_steps`` steps: as many
    as the replay record grid has, log-spaced from step 1 (``kind = "log"``) or evenly
    spaced; 0 first, non-decreasing (a position may repeat when there are few steps).
    ``pass_steps`` (one pass over P examples) replaces the nearest position, so the
    equal-data comparison with replay is read at exactly P examples."""
    if kind == "log":
        inner = np.round(np.geomspace(1, total_steps, n_record - 1)).astype(np.int64)
        steps = np.concatenate([[0], inner])
    else:
        steps = np.round(np.linspace(0, total_steps, n_record)).astype(np.int64)
    if 0 < pass_steps <= total_steps and pass_steps not in steps:
        j = 1 + int(np.argmin(np.abs(np.log(steps[1:].clip(1) / pass_steps))))
        steps[j] = pass_steps
        steps = np.sort(steps)
    return steps


def online_total_steps(epochs: int, p, batch: int):
    """SGD steps of an online run that sees ``epochs × P`` examples in minibatches of ``batch``."""
    return -(-epochs * np.asarray(p) // batch)


def online_examples(spec) -> np.ndarray:
    """Examples seen at each record position of an online run, (n_over_p, epoch), int64."""
    n_rec, b = len(spec.record_epochs), spec.online_batch
    rows = []
    for p in spec.n_train:
        total = online_total_steps(spec.train.epochs, p, b)
        rows.append(online_record_steps(spec.train.record.kind, n_rec, total, -(-p // b)) * b)
    return np.stack(rows).astype(np.int64)


def replay_examples(spec) -> np.ndarray:
    """Examples seen at each recorded epoch of a replay run, P × epoch, (n_over_p, epoch)
    (P − V × epoch with train.validation: the held-out examples are never trained on)."""
    p = np.asarray(spec.n_fit, dtype=np.int64)
    return p[:, None] * np.asarray(spec.record_epochs, dtype=np.int64)[None, :]


def layer_shapes(depth: int, width: int, n_in: int, n_out: int) -> list[tuple[int, int]]:
    """Layer shapes, input side first: W_1 (N_h, N), ..., W_D (N_out, N_h); (N_out, N) at depth 1."""
    if depth == 1:
        return [(n_out, n_in)]
    return [(width, n_in)] + [(width, width)] * (depth - 2) + [(n_out, width)]


def depth1_init_var(init: str, scale: float, n_in: int):
    """Per-entry initial variance σ_0² of a depth-1 student (docs/design.md §4); None if the
    init is correlated with the data (aligned), where the random-matrix theory does not apply."""
    return {
        "gaussian": scale**2,
        "gaussian_fan_in": scale**2 / n_in,
        "orthogonal": scale**2 / n_in,
        "balanced": scale**2 / n_in,
        "zero": 0.0,
    }.get(init)


def sigma0_sq(init: str, scale: float, n_in: int) -> float:
    """σ_0² for the online schedule's initial excess error (0 where the theory has none,
    the aligned init)."""
    v = depth1_init_var(init, scale, n_in)
    return 0.0 if v is None else float(v)


def p_bucket(p: int) -> int:
    """The padded size of a raw-data training set of P examples: P rounded up to a multiple
    of an eighth of the power of two below it (at most 8 sizes per octave, less than 12.5%
    waste; P itself up to 16), so one compile serves a bucket of P."""
    p = int(p)
    if p <= 16:
        return max(p, 1)
    step = 1 << (p.bit_length() - 4)
    return -(-p // step) * step
