"""What a trainer records of a run besides its errors: one recorder per variable of
:data:`dynax.spec.variables.VARIABLES` that has a ``flag``, by name (:data:`RECORDERS`).

A recorder is a function of a :class:`View` of the run, taken at each record (a curve), at
the last epoch, or once per run. The XLA kernel, the raw-data trainer and the closed form
call the same recorders (the closed form computes the mode strengths in its eigenbasis
instead: :data:`dynax.sim.closed_form.EIGENBASIS`); the eigenbasis kernels record none and
refuse groups that ask (:attr:`dynax.sim.trainers.Trainer.records`). A trainer returns each
curve as (n_record, extra…): the engine puts the epoch last and pads a dim the group fills
only in part (``layer`` below the sweep's largest depth) with the variable's fill value.

Adding a recorded curve: its row in the table of variables and its recorder here
(docs/design.md "Extending this contract").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from . import committee, modes

__all__ = ["RECORDERS", "Recorder", "View", "at_end", "at_record", "similarity", "unit_products"]


class View(NamedTuple):
    """What a recorder reads of a run: its layer weights and their product, and its teacher."""

    ws: list  # W_1 … W_D, input side first (a leading record axis in the closed form)
    w_eff: Any  # W_D ⋯ W_1 (N_out, N)
    n_out: int
    bases: modes.ModeBases | None = None  # where modes are recorded
    run: Any = None  # the run's inputs: teacher, mode_u, mode_v


class Recorder(NamedTuple):
    """``when``: "record" (a curve), "end" (the last epoch; NaN once diverged) or "run" (once)."""

    when: str
    fn: Callable[[View], Any]


def similarity(w_eff, n_out: int):
    """The items' representational similarity ``W_effᵀ W_eff / N_out`` (N, N): item i's output is
    column i of W_eff (one-hot inputs), so entry (i, j) is the mean over features of ŷ_i ŷ_j."""
    return jnp.swapaxes(w_eff, -1, -2) @ w_eff / n_out


def unit_products(ws):
    """Each unit i of the first hidden layer: ‖(W_D ⋯ W_2)[:, i]‖ · ‖W_1[i, :]‖, the size of its
    rank-one share of W_eff (what dropout's penalty equalises; none at depth 1)."""
    if len(ws) < 2:
        return jnp.zeros((*ws[0].shape[:-2], 0), ws[0].dtype)
    out = ws[-1]
    for w in reversed(ws[1:-1]):
        out = out @ w
    return jnp.sqrt(jnp.sum(out * out, axis=-2)) * jnp.sqrt(jnp.sum(ws[0] * ws[0], axis=-1))


RECORDERS: dict[str, Recorder] = {
    "mode_strength": Recorder("record", lambda v: modes.strengths(v.w_eff, v.bases.u, v.bases.v)),
    "data_mode_strength": Recorder("record", lambda v: modes.strengths(v.w_eff, v.bases.du, v.bases.dv)),
    "weights": Recorder("record", lambda v: v.w_eff),
    "similarity": Recorder("record", lambda v: similarity(v.w_eff, v.n_out)),
    "end_to_end_norm": Recorder("record", lambda v: jnp.sqrt(jnp.sum(v.w_eff * v.w_eff, axis=(-2, -1)))),
    "layer_frobenius_norm": Recorder(
        "record", lambda v: jnp.stack([jnp.sqrt(jnp.sum(w * w, axis=(-2, -1))) for w in v.ws], axis=-1)
    ),
    "hidden_unit_product": Recorder("record", lambda v: unit_products(v.ws)),
    "final_weights": Recorder("end", lambda v: v.w_eff),
    "teacher_singular_value": Recorder(
        "run", lambda v: modes.strengths(v.run.teacher, v.run.mode_u, v.run.mode_v)
    ),
    "data_singular_value": Recorder("run", lambda v: v.bases.data_s),
    # the committee student's (docs/theory.md §6): first layer W (K, N), readout (1, K), teacher W*
    "overlap_Q": Recorder("record", lambda v: committee.overlap(v.ws[0], v.ws[0])),
    "overlap_R": Recorder("record", lambda v: committee.overlap(v.ws[0], v.run.teacher)),
    "readout_weight": Recorder("record", lambda v: v.ws[-1][..., 0, :]),
    "overlap_T": Recorder("run", lambda v: committee.overlap(v.run.teacher, v.run.teacher)),
}


def _recorder(name: str) -> Recorder:
    if name not in RECORDERS:
        raise ValueError(f"no recorder for {name!r}; recorded variables: {', '.join(RECORDERS)}")
    return RECORDERS[name]


def at_record(names, view: View, own: dict | None = None) -> dict:
    """The curves' values at one record (or at every record, batched): ``own`` maps a name to
    the trainer's own recorder, used instead of the table's."""
    own = own or {}
    return {n: (own.get(n) or _recorder(n).fn)(view) for n in names if _recorder(n).when == "record"}


def at_end(names, view: View, diverged, dtype) -> dict:
    """The values taken at the last epoch (NaN once diverged) and once per run."""
    out = {}
    for n in names:
        rec = _recorder(n)
        if rec.when == "end":
            out[n] = jnp.where(diverged, jnp.nan, rec.fn(view)).astype(dtype)
        elif rec.when == "run":
            out[n] = rec.fn(view)
    return out
