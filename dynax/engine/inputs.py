"""The inputs of each chunk: per-seed data computed once (:class:`StatsCache`), gathered
into the per-run arrays the trainers of :mod:`dynax.sim` take, with each run's rate
(:mod:`dynax.engine.rates`). Host-side NumPy, deterministic, independent of batching."""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from ..sim import data, executables, ridge, trainers
from ..sim.eigen_batch import FusedBatch
from ..sim.gd import RunInputs
from ..sim.raw import RawInputs
from ..spec import INITS, SweepSpec, derived
from ..spec.runs import RunTable
from ..theory import hierarchy_levels, hierarchy_modes
from .rates import auto_rates, raw_rates

__all__ = [
    "FusedBatch",
    "StatsCache",
    "bound_terms",
    "chunk_inputs",
    "fused_inputs",
    "mode_levels",
    "raw_inputs",
    "ridge_baseline",
    "stats_cache",
]


class StatsCache:
    """Per-seed sufficient statistics and raw data, computed once (one compilation per sweep)."""

    def __init__(self, spec: SweepSpec, p_values, max_bytes: int = 512 << 20, eigen: bool = False):
        self.spec, self.p_values, self.eigen = spec, np.asarray(p_values), eigen
        self.items: OrderedDict[int, data.SeedStats] = OrderedDict()
        n, no = spec.problem.n_in, spec.problem.n_out
        k = data.factor_width(n, no, int(self.p_values.max()))
        per_p = (n + no) * k + (n * n + n * k if eigen else 0)
        self.capacity = max(1, max_bytes // (len(self.p_values) * per_p * 8))
        self.raw_items: OrderedDict = OrderedDict()
        self.p_bucket = derived.p_bucket(int(self.p_values.max()))
        per_seed = (self.p_bucket + spec.problem.n_test) * (n + no) + n * n
        self.raw_capacity = max(1, max_bytes // (per_seed * 8))
        self.ridge: dict = {}  # (seed, P index, σ_ε) -> the ridge baselines of that data
        self.compile_s = 0.0  # seconds compiling the data's programs, not yet reported

    def take_compile_seconds(self) -> float:
        """The seconds spent compiling the data's draws since the last call (a run counts
        them with its trainers' compiles)."""
        seconds, self.compile_s = self.compile_s, 0.0
        return seconds

    def raw(self, seed: int) -> data.RawData:
        """The raw examples, teacher and test set of a seed (the raw-data path)."""
        key = ("examples", seed)
        if key not in self.raw_items:
            self.raw_items[key] = data.seed_raw_data(self.spec.seed, seed, self.spec.problem, self.p_bucket)
            while len(self.raw_items) > self.raw_capacity:
                self.raw_items.popitem(last=False)
        self.raw_items.move_to_end(key)
        return self.raw_items[key]

    def get(self, seed: int) -> data.SeedStats:
        if seed in self.items:
            self.items.move_to_end(seed)
            return self.items[seed]
        pr, t = self.spec.problem, executables.compile_total()
        st = data.problem_stats(
            self.spec.seed,
            seed,
            self.p_values,
            pr,
            self.eigen,
            self.spec.n_val if self.spec.train.validation else None,
        )
        self.compile_s += executables.compile_total() - t
        self.items[seed] = st
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)
        return st


def stats_cache(plan) -> StatsCache:
    """The cache for a plan: with eigendecompositions where a group uses the closed form."""
    eigen = any(
        trainers.trainer(g.trainer).eigendecomposition or trainers.trainer(g.trainer).inputs == "eigenbasis"
        for g in plan.groups
    )
    return StatsCache(plan.spec, plan.p_values, eigen=eigen)


def _run_fields(t: RunTable, idx: np.ndarray, p, lr, grad_scale) -> dict:
    """The per-run settings both kinds of trainer inputs share."""
    return dict(
        noise_std=t.noise_std[idx],
        n_train=p,
        learning_rate=lr,
        grad_scale=np.asarray(grad_scale, dtype=np.float64),
        init_scale=t.init_scale[idx],
        init_code=t.init[idx],
        seed=t.seed[idx].astype(np.uint32),
        momentum=t.momentum[idx],
        b1=t.b1[idx],
        b2=t.b2[idx],
        weight_decay=t.weight_decay[idx],
    )


def _per_run(stats, where, p_index, name) -> list:
    """One seed-table entry per run: ``stats[seed][name][P index]``."""
    return [getattr(stats[w], name)[j] for w, j in zip(where, p_index, strict=True)]


def chunk_inputs(
    plan, group, idx: np.ndarray, cache: StatsCache, eigen: bool = True
) -> tuple[RunInputs, np.ndarray]:
    """Host arrays of one batch of sufficient-statistics runs, and their rates (float64);
    ``eigen=False`` leaves out the per-run eigendecompositions."""
    t = plan.table
    useeds, where = np.unique(t.seed[idx], return_inverse=True)
    stats = [cache.get(int(s)) for s in useeds]
    p_index = t.p_index[idx]
    lam_max = np.asarray(_per_run(stats, where, p_index, "lam_max"))
    teachers = np.stack([st.teacher for st in stats])[where]
    spectrum = np.stack(_per_run(stats, where, p_index, "ls_spectrum"))
    p = np.asarray(plan.p_values, dtype=np.int64)[p_index]
    grad_scale = derived.grad_scale(plan.spec.train.loss, p)
    cfg = group.config
    lr = auto_rates(
        t, idx, cfg.depth, cfg.shapes(), lam_max, teachers, spectrum, grad_scale, plan.spec.train.epochs
    )
    if eigen and trainers.trainer(group.trainer).eigendecomposition and stats[0].eigvecs.size:
        eig = [np.stack(_per_run(stats, where, p_index, name)) for name in ("eigvals", "eigvecs", "rotated")]
    else:
        eig = [np.zeros((len(idx), 0)), np.zeros((len(idx), 0, 0)), np.zeros((len(idx), 0, 0))]
    inputs = RunInputs(
        factor=np.stack(_per_run(stats, where, p_index, "factor")),
        teacher=teachers,
        **_run_fields(t, idx, p, lr, grad_scale),
        eigvals=eig[0],
        eigvecs=eig[1],
        rotated=eig[2],
        **_mode_fields(cfg, stats, where),
        **_validation_fields(cfg, stats, where, p_index, plan.spec),
        input_root=np.stack([st.input_root for st in stats])[where] if cfg.covariance else None,
    )
    return inputs, lr


def _validation_fields(cfg, stats, where, p_index, spec) -> dict:
    """Each run's held-out factor and V, where the group validates."""
    if not cfg.validation:
        return {}
    return {
        "val_factor": np.stack(_per_run(stats, where, p_index, "val_factor")),
        "n_val": np.asarray(spec.n_val, dtype=np.int64)[p_index],
    }


def _mode_fields(cfg, stats, where) -> dict:
    """Each run's teacher singular vectors, where the group records modes."""
    if not cfg.modes:
        return {}
    return {
        "mode_u": np.stack([st.modes_u for st in stats])[where],
        "mode_v": np.stack([st.modes_v for st in stats])[where],
    }


def fused_inputs(plan, group, idx: np.ndarray, cache: StatsCache) -> tuple[FusedBatch, np.ndarray]:
    """A :class:`FusedBatch` of one batch, and its rates: the eigendecompositions are
    gathered once per (seed, P), not once per run."""
    inputs, lr = chunk_inputs(plan, group, idx, cache, eigen=False)
    t = plan.table
    keys = np.stack([t.seed[idx].astype(np.int64), t.p_index[idx].astype(np.int64)], axis=1)
    pairs, pair = np.unique(keys, axis=0, return_inverse=True)
    stats = {int(s): cache.get(int(s)) for s in np.unique(pairs[:, 0])}
    get = lambda name: np.stack([getattr(stats[s], name)[j] for s, j in pairs])  # noqa: E731
    batch = FusedBatch(
        inputs,
        pair.ravel(),
        pairs[:, 0],
        get("eigvals"),
        get("eigvecs"),
        get("rotated"),
        get("factor"),
        np.stack([stats[s].teacher for s in pairs[:, 0]]),
        np.asarray(plan.p_values, dtype=np.int64)[pairs[:, 1]],
    )
    return batch, lr


class _RawModes(NamedTuple):
    modes_u: np.ndarray
    modes_s: np.ndarray
    modes_v: np.ndarray


def raw_inputs(plan, group, idx: np.ndarray, cache: StatsCache) -> tuple[RawInputs, np.ndarray]:
    """Host arrays of one batch of raw-data runs (:class:`~dynax.sim.raw.RawInputs`), and their rates."""
    spec, t, cfg = plan.spec, plan.table, group.config
    spectrum = spec.problem.teacher_singular_values
    useeds, where = np.unique(t.seed[idx], return_inverse=True)
    rd = [cache.raw(int(s)) for s in useeds]
    p = np.asarray(plan.p_values, dtype=np.int64)[t.p_index[idx]]
    pb = cfg.p_bucket
    rows = np.arange(pb)
    pad = lambda a: np.pad(a[:pb], ((0, max(0, pb - len(a))), (0, 0)))  # noqa: E731
    x = np.stack([pad(rd[w].x) for w in where])
    z = np.stack([pad(rd[w].z) for w in where])
    keep = (rows[None, :] < p[:, None])[..., None]
    x, z = np.where(keep, x, 0.0), np.where(keep, z, 0.0)
    if spec.problem.inputs == "whitened":  # each run's first P inputs made exactly white
        x = np.stack([data.inputs_of(xi, int(pi), "whitened") for xi, pi in zip(x, p, strict=True)])
    n_rec = len(spec.record_epochs)
    if cfg.protocol == "online":
        total = derived.online_total_steps(spec.train.epochs, p, cfg.batch)
        steps = np.stack(
            [
                derived.online_record_steps(spec.train.record.kind, n_rec, int(s), -(-int(q) // cfg.batch))
                for s, q in zip(total, p, strict=True)
            ]
        )
        grad_scale = derived.grad_scale(spec.train.loss, np.full(len(idx), cfg.batch))
    else:
        steps = np.zeros((len(idx), n_rec), np.int64)
        grad_scale = derived.grad_scale(spec.train.loss, p)
    init_var = np.asarray(
        [
            derived.sigma0_sq(INITS[i], s, spec.problem.n_in)
            for i, s in zip(t.init[idx], t.init_scale[idx], strict=True)
        ]
    )
    teachers = np.stack([r.t1 for r in rd])[where]

    def full_batch():
        stats = [cache.get(int(s)) for s in useeds]
        j = t.p_index[idx]
        return np.asarray(_per_run(stats, where, j, "lam_max")), np.stack(
            _per_run(stats, where, j, "ls_spectrum")
        )

    lr = raw_rates(spec, t, idx, cfg, teachers, init_var, grad_scale, full_batch)
    if cfg.dropout and cfg.dropout_scaling == "inverted":  # kept units × 1/p in each hidden layer:
        # a step's curvature up to 1/p^(D−1) (the masks' second moment)
        lr = np.where(np.isnan(t.lr[idx]), lr * (1.0 - t.dropout[idx]) ** (cfg.depth - 1), lr)
    inputs = RawInputs(
        x=x,
        z=z,
        t1=teachers,
        t2=np.stack([r.t2 for r in rd])[where],
        test_x=np.stack([r.test_x for r in rd])[where],
        test_f=np.stack([r.test_f for r in rd])[where],
        **_run_fields(t, idx, p, lr, grad_scale),
        record_steps=steps,
        init_var=init_var,
        teacher_var=np.full(len(idx), spec.problem.teacher_var),
        **_mode_fields(
            cfg,
            [
                _RawModes(*data.teacher_modes(spec.seed, int(s), r.t1, spectrum))
                for s, r in zip(useeds, rd, strict=True)
            ],
            where,
        ),
        dropout=t.dropout[idx] if cfg.dropout else None,
        input_noise=t.input_noise[idx] if cfg.input_noise else None,
        draw=t.draw[idx].astype(np.uint32) if cfg.dropout or cfg.input_noise else None,
        input_root=np.stack([r.input_root for r in rd])[where] if cfg.covariance else None,
    )
    return inputs, lr


def mode_levels(plan, idx: np.ndarray, cache: StatsCache) -> np.ndarray:
    """A hierarchy's teacher modes by tree level, per run (n, r): the level whose tree modes
    hold the largest share of the seed's right singular vector V_α (a draw's modes may cross
    between adjacent levels, so the level of a mode is not always its rank's)."""
    h = plan.spec.problem.hierarchy
    tree = hierarchy_modes(h.branching, h.levels)
    levels = hierarchy_levels(h.branching, h.levels)
    per_seed = {}
    for seed in dict.fromkeys(plan.table.seed[idx].tolist()):
        share = (tree.T @ cache.get(int(seed)).modes_v) ** 2  # (tree mode, α)
        per_level = np.stack([share[levels == lev].sum(0) for lev in range(h.levels + 1)])
        per_seed[seed] = np.argmax(per_level, axis=0)
    return np.stack([per_seed[s] for s in plan.table.seed[idx].tolist()]).astype(np.int64)


def ridge_baseline(plan, idx: np.ndarray, cache: StatsCache) -> dict:
    """Each run's ridge baselines on its own training set (:mod:`dynax.sim.ridge`), computed
    once per (seed, P, σ_ε), vectorised over a chunk's new ones: ``ridge_test_error`` at
    γ* = σ_ε²/σ_w² (NaN for a teacher of chosen spectrum or a hierarchy: no Gaussian prior),
    ``best_ridge_test_error`` and ``best_ridge_gamma`` (the oracle γ)."""
    t, pr = plan.table, plan.spec.problem
    keys = list(zip(t.seed[idx].tolist(), t.p_index[idx].tolist(), t.noise_std[idx].tolist(), strict=True))
    new = [k for k in dict.fromkeys(keys) if k not in cache.ridge]
    if new:
        stats = [cache.get(int(k[0])) for k in new]
        spectra = np.stack([st.ls_spectrum[k[1]] for st, k in zip(stats, new, strict=True)])
        sq = np.asarray([float(np.sum(st.teacher**2)) for st in stats])
        s = np.asarray([k[2] for k in new])
        at_star = ridge.ridge_error_many(spectra, sq, s, s * s / pr.teacher_var, pr.n_in, pr.n_out)
        best, gam = ridge.best_ridge_many(spectra, sq, s, pr.n_in, pr.n_out)
        if pr.teacher_singular_values or pr.hierarchy is not None or pr.teacher == "identity":
            at_star = np.full(len(new), np.nan)  # no Gaussian prior: γ* is not the Bayes choice
        for j, k in enumerate(new):
            cache.ridge[k] = (at_star[j], best[j], gam[j])
    out = np.asarray([cache.ridge[k] for k in keys]).T.reshape(3, len(idx))
    return dict(zip(("ridge_test_error", "best_ridge_test_error", "best_ridge_gamma"), out, strict=True))


BOUND_TERMS = ("input_min_eigenvalue", "input_max_norm", "noise_mean_square", "noise_max")


def bound_terms(plan, idx: np.ndarray, cache: StatsCache) -> dict:
    """What the generalization bounds read of each run's training set (``train.record.bounds``,
    docs/theory.md §2.9): :attr:`~dynax.sim.data.SeedStats.data_terms` at its P, and the
    seed's ``teacher_norm`` ‖w̄‖_F."""
    t = plan.table
    stats = {s: cache.get(int(s)) for s in dict.fromkeys(t.seed[idx].tolist())}
    terms = np.stack(
        [stats[s].data_terms[j] for s, j in zip(t.seed[idx].tolist(), t.p_index[idx], strict=True)]
    )
    out = dict(zip(BOUND_TERMS, terms.T, strict=True))
    out["teacher_norm"] = np.asarray([np.linalg.norm(stats[s].teacher) for s in t.seed[idx].tolist()])
    return out
