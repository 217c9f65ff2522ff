"""Structured problems: ``problem.teacher = "hierarchy"`` (docs/design.md §4, docs/theory.md §3.5),
the identity teacher, an input covariance of chosen spectrum and greedy layer-wise pretraining.

Items are the leaves of a balanced tree; each is one input (one-hot, so N = items and P = N);
its features are ±1 values diffused down the tree (:func:`dynax.sim.data.hierarchy_features`).
:func:`hierarchy` reads ``problem.hierarchy``; :func:`hierarchy_checks` refuses what the
one-hot items cannot do, each with the key that asked for it.
"""

from __future__ import annotations

from .model import INPUT_BASES, MAX_ITEMS, Hierarchy

__all__ = ["covariance_checks", "hierarchy", "hierarchy_checks", "identity_teacher",
           "input_covariance", "pretraining", "teacher_spectrum"]  # fmt: skip

KEYS = ("branching", "levels", "flip")


def hierarchy(v, pr: dict) -> Hierarchy:
    """``problem.hierarchy = {branching = B, levels = K, flip = f or [f_1, …, f_K]}`` for
    ``problem.teacher = "hierarchy"`` (``v``: the spec validator)."""
    key = "problem.hierarchy"
    if key.split(".")[1] not in pr:
        v.fail(key, "missing; the hierarchy teacher needs {branching = B, levels = K, flip = f}")
    table = pr["hierarchy"]
    if not isinstance(table, dict):
        v.fail(key, f"got {table!r}; expected a table {{branching = B, levels = K, flip = f}}")
    v.check_keys(table, KEYS, f"{key}.")
    for k in KEYS:
        if k not in table:
            v.fail(f"{key}.{k}", "missing; the hierarchy needs branching, levels and flip")
    branching = v.integer(f"{key}.branching", table["branching"], lo=2, hi=MAX_ITEMS)
    levels = v.integer(f"{key}.levels", table["levels"], lo=1)
    items = 1
    for _ in range(levels):  # stop as soon as the tree is too large (never a huge power)
        items *= branching
        if items > MAX_ITEMS:
            v.fail(
                f"{key}.levels",
                f"got branching = {branching}, levels = {levels}: more than {MAX_ITEMS} items "
                f"(branching^levels); allowed: at most {MAX_ITEMS} (inputs, and a similarity of items² "
                "per record)",
            )
    flip = table["flip"]
    if isinstance(flip, list):
        if len(flip) != levels:
            v.fail(
                f"{key}.flip",
                f"got {len(flip)} values; expected one flip probability per level (levels = {levels}), "
                "the first for the edges below the root, or one number for every level",
            )
        flips = tuple(v.number(f"{key}.flip[{i}]", f, lo=0, hi=0.5) for i, f in enumerate(flip))
    else:
        flips = (v.number(f"{key}.flip", flip, lo=0, hi=0.5),) * levels
    return Hierarchy(branching, levels, flips)


def hierarchy_checks(v, problem, pr: dict, student, activation, train, axes, values, raw_path):
    """What the one-hot items of a hierarchy cannot do (``pr``: the raw ``[problem]`` table)."""
    h = problem.hierarchy
    if problem.teacher != "hierarchy":
        if "hierarchy" in pr:
            v.fail("problem.hierarchy", 'applies only to problem.teacher = "hierarchy"')
        if problem.inputs == "onehot":
            v.fail("problem.inputs", "'onehot' inputs are the items of problem.teacher = 'hierarchy'")
        if "similarity" in train["record"].flags:
            v.fail(
                "train.record.similarity", "is the item-by-item similarity of problem.teacher = 'hierarchy'"
            )
        return
    for k, why in (
        ("teacher_var", "σ_w² = 1: the features are ±1"),
        ("teacher_singular_values", "the singular values are the tree's"),
        ("inputs", "the inputs are the one-hot items"),
    ):
        if k in pr:
            v.fail(f"problem.{k}", f"does not apply to problem.teacher = 'hierarchy' ({why})")
    if "n_in" in pr and pr["n_in"] != h.items:
        v.fail(
            "problem.n_in",
            f"got {pr['n_in']!r}; the hierarchy has branching^levels = {h.branching}^{h.levels} = {h.items} "
            "items, one input each: leave n_in out or give that",
        )
    bad = [r for r in axes["n_over_p"] if r != 1]
    if bad:
        v.fail(
            "grid.n_over_p",
            f"got {bad}; a hierarchy's training set is its {h.items} items, once each (P = N): allowed: 1",
        )
    if student != "deep_linear" or activation != "linear":
        v.fail(
            "model.student" if student != "deep_linear" else "model.activation",
            "the hierarchy is for linear students (the theory of its modes is linear)",
        )
    if "n_out" not in pr or problem.n_out < h.items:
        got = pr.get("n_out", "nothing (default 1)")
        why = "fewer cannot carry the tree's N modes: the levels would not be the data's modes"
        v.fail(
            "problem.n_out",
            f"got {got}; a hierarchy of {h.items} items needs N_out ≥ {h.items} features ({why}); "
            f"give the number of features, e.g. {4 * h.items}",
        )
    if raw_path:
        v.fail(
            "train.protocol" if "online" in values["protocol"] else "train.batch_size",
            "a hierarchy is learnt by full-batch GD on its items (no online or minibatch runs)",
        )
    if train["validation"]:
        v.fail(
            "train.validation",
            "is refused for a hierarchy: a held-out one-hot item has an input direction no training "
            "example touches, so it is never learnt and its error says nothing about stopping",
        )


def identity_teacher(v, pr: dict, n_in: int, n_out: int, spectrum) -> float:
    """``problem.teacher = "identity"``: w̄ = I, the labels the clean inputs (a linear autoencoder;
    with ``train.input_noise`` a denoising one). Needs n_out = n_in; σ_w² = ‖I‖²/(N·N_out) = 1/N
    is derived (each output's variance, E[x_k²] = 1/N), so the SNR keeps its meaning."""
    if n_out != n_in:
        v.fail(
            "problem.n_out",
            f"got {n_out}; the identity teacher maps the inputs to themselves: n_out = n_in = {n_in}",
        )
    for key in ("teacher_var", "teacher_singular_values"):
        if key in pr:
            v.fail(
                f"problem.{key}",
                "is fixed by problem.teacher = 'identity' (σ_w² = 1/N, every singular value 1)",
            )
    if spectrum:
        v.fail("problem.teacher_singular_values", "does not apply to the identity teacher")
    return 1.0 / n_in


def input_covariance(v, pr: dict, n_in: int, teacher_spectrum) -> tuple[tuple[float, ...], str]:
    """``problem.input_spectrum`` (N values ≥ 0, not all 0, normalised to mean 1) and
    ``problem.input_basis`` (``random``, or ``teacher``: the teacher's input singular vectors
    first, in the order of its singular values, which needs a chosen teacher spectrum)."""
    key = "problem.input_spectrum"
    basis = v.choice("problem.input_basis", pr.get("input_basis", "random"), INPUT_BASES)
    if "input_spectrum" not in pr:
        if "input_basis" in pr:
            v.fail(
                "problem.input_basis", "applies only with problem.input_spectrum (white inputs have no basis)"
            )
        return (), basis
    values = pr["input_spectrum"]
    if not isinstance(values, list) or len(values) != n_in:
        got = f"{len(values)} values" if isinstance(values, list) else repr(values)
        v.fail(key, f"got {got}; expected a list of N = n_in = {n_in} numbers ≥ 0 (the input covariance's "
               "eigenvalues, relative: normalised to mean 1)")  # fmt: skip
    lam = [v.number(f"{key}[{i}]", x, lo=0) for i, x in enumerate(values)]
    if not any(lam):
        v.fail(key, f"got {values!r}; at least one eigenvalue must be > 0")
    if basis == "teacher" and not teacher_spectrum:
        v.fail("problem.input_basis", "'teacher' pairs the input directions with the teacher's singular "
               "vectors: it needs problem.teacher_singular_values")  # fmt: skip
    mean = sum(lam) / n_in
    return tuple(x / mean for x in lam), basis


def covariance_checks(v, problem, train: dict) -> None:
    """What an input covariance of chosen spectrum refuses: inputs made white or one-hot, and the
    records whose formulas hold for white populations only."""
    if not problem.input_spectrum:
        return
    if problem.inputs != "gaussian":
        v.fail("problem.input_spectrum", f"needs Gaussian draws (problem.inputs = 'gaussian'); "
               f"got inputs = {problem.inputs!r}, which fixes the training set's covariance")  # fmt: skip
    if train["null_space_error"]:
        v.fail("train.null_space_error", "splits E_g by the inputs' null space assuming a white population; "
               "it is not defined with problem.input_spectrum")  # fmt: skip
    if train["schedule"] == "optimal_online":
        v.fail("train.schedule", "'optimal_online' is the optimal rate for white inputs; it is not defined "
               "with problem.input_spectrum (give a fixed learning rate)")  # fmt: skip


def pretraining(v, model_raw: dict, inits, depths, student: str, activation: str) -> int:
    """``model.pretrain_epochs`` (int ≥ 1): required with ``init = "pretrained"``, refused without;
    pretraining needs depth ≥ 2 and a deep linear student."""
    key = "model.pretrain_epochs"
    if "pretrained" not in inits:
        if key.split(".")[1] in model_raw:
            v.fail(key, "applies only to init = 'pretrained'")
        return 0
    where = "grid.init" if len(inits) > 1 else "model.init"
    if 1 in depths:
        v.fail(where, "'pretrained' trains each hidden layer as an autoencoder of its input; depth 1 has "
               "none, and grid.depth has 1 (every init runs at every depth): use depth ≥ 2, or a spec of its "
               "own for the depth-1 runs")  # fmt: skip
    if student != "deep_linear" or activation != "linear":
        v.fail(where, "'pretrained' is for deep linear students (linear autoencoders of each layer's input)")
    if "pretrain_epochs" not in model_raw:
        v.fail(key, "missing; init = 'pretrained' needs the GD epochs of each layer's autoencoding (int ≥ 1)")
    return v.integer(key, model_raw["pretrain_epochs"], lo=1)


def teacher_spectrum(v, pr: dict, n_in: int, n_out: int) -> tuple[float, ...]:
    """``problem.teacher_singular_values``: 1 to min(N, N_out) finite values ≥ 0, not all 0."""
    key = "problem.teacher_singular_values"
    if key.split(".")[1] not in pr:
        return ()
    values = pr["teacher_singular_values"]
    if "teacher_var" in pr:
        v.fail(key, "given together with problem.teacher_var; σ_w² is derived from the spectrum "
                  "(‖W̄‖²_F/(N·N_out)): give one of them")  # fmt: skip
    r = min(n_in, n_out)
    if not isinstance(values, list) or not values:
        v.fail(
            key,
            f"got {values!r} ({type(values).__name__}); expected a list of 1 to min(N, N_out) = {r} "
            "numbers ≥ 0",
        )
    if len(values) > r:
        v.fail(key, f"got {len(values)} values; at most min(N, N_out) = min({n_in}, {n_out}) = {r}")
    out = tuple(v.number(f"{key}[{i}]", x, lo=0) for i, x in enumerate(values))
    if not any(out):
        v.fail(key, f"got {values!r}; at least one singular value must be > 0")
    return out
