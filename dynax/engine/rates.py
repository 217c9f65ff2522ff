"""Where the learning rate of every run is decided.

A run's rate is the spec's number, or ``learning_rate = {auto = f}``: f × the run's own
stability bound (:func:`dynax.theory.stability_bound`, docs/theory.md §3.2), taken at
the largest eigenvalue of the input correlation one step sees and at the end-to-end norm
:func:`weight_norm` gives. Online runs under ``schedule = "optimal_online"`` start at the
oracle rate η*(e_0) (docs/theory.md §4.1); the kernel anneals it. Rates are float64 and
in the spec's units (divided by the gradient scale 1/P of the mean loss).
"""

from __future__ import annotations

import math

import numpy as np

from ..spec import INITS, Auto, SweepSpec, derived
from ..theory import mp_edges, optimal_online_rate, stability_bound

__all__ = ["auto_rates", "fixed_rate_warnings", "raw_rates", "weight_norm"]


def weight_norm(teachers, ls_terms, noise_std) -> np.ndarray:
    """The end-to-end norm a run's stability bound is taken at: the larger of the teacher's
    and the run's own min-norm least-squares solution's (which GD from a small init
    approaches, and which far exceeds the teacher's when it fits noise near N = P).
    ``ls_terms`` are :attr:`dynax.sim.data.SeedStats.ls_terms` of each run's data."""
    teachers = np.asarray(teachers).reshape(len(noise_std), -1)
    aa, ag, gg = np.asarray(ls_terms).T
    ls = np.sqrt(np.maximum(aa + 2 * noise_std * ag + noise_std**2 * gg, 0.0))
    return np.maximum(np.sqrt(np.sum(teachers**2, axis=1)), ls)


def auto_rates(table, idx: np.ndarray, depth: int, shapes, lam_max, norm, grad_scale) -> np.ndarray:
    """Each run's learning rate (float64): fixed (``table.lr``), or auto × its own stability
    bound at the norm ``norm`` and the largest eigenvalue ``lam_max`` of the (sum-convention)
    input correlation one step sees; ``shapes`` are the trained layers' shapes."""
    t = table
    lr = t.lr[idx].copy()
    auto = np.isnan(lr)
    if auto.any():
        for init in np.unique(t.init[idx][auto]):
            for scale in np.unique(t.init_scale[idx][auto & (t.init[idx] == init)]):
                m = auto & (t.init[idx] == init) & (t.init_scale[idx] == scale)
                eps = stability_bound(depth, lam_max[m], norm[m], INITS[init], shapes, scale)
                lr[m] = t.auto[idx][m] * eps / grad_scale[m]
    return lr


def raw_rates(spec: SweepSpec, table, idx, cfg, teachers, init_var, grad_scale, full_batch) -> np.ndarray:
    """Rates of raw-data runs (online, minibatch, nonlinear) of one compile group ``cfg``.

    Args:
        teachers: each run's teacher ``t1``; init_var: σ_0² per run (the schedule's e_0);
        full_batch: a function returning ``(lam_max, ls_terms)`` of each run's stored data
            (called only for auto rates of minibatch replay, which take the full-batch bound:
            a minibatch's Σ_B ≼ Σ).
    """
    t = table
    lr = t.lr[idx].copy()
    online = cfg.protocol == "online"
    if online and spec.train.schedule == "optimal_online":  # the rate at the first step, η*(e_0)
        e0 = spec.problem.teacher_var + init_var
        return optimal_online_rate(e0, t.noise_std[idx] ** 2)
    if not np.isnan(lr).any():
        return lr
    if online:  # the bound at the minibatch's λ_max ≈ (1 + √(B/N))² (MP at load B/N)
        lam = np.full(len(idx), mp_edges(cfg.batch / spec.problem.n_in)[1])
        norm = np.sqrt(np.sum(teachers.reshape(len(idx), -1) ** 2, axis=1))
    else:
        lam, ls = full_batch()
        norm = weight_norm(teachers, ls, t.noise_std[idx])
    return auto_rates(t, idx, cfg.depth, cfg.shapes(), lam, norm, grad_scale)


def fixed_rate_warnings(spec: SweepSpec) -> list[str]:
    """Fixed learning rates above the stability bound, with the theory's λ_max = (1+√α)²."""
    rates = spec.axis("learning_rate").values if "learning_rate" in spec.dims else [spec.train.learning_rate]
    if any(isinstance(r, Auto) for r in rates) or spec.model.student == "random_features":
        return []  # random features: the bound is 2/λ_max of the feature Gram, not of the inputs
    pr = spec.problem
    teacher_norm = math.sqrt(pr.n_in * pr.n_out * pr.teacher_var)
    get = lambda name: spec.axis(name).values if name in spec.dims else [spec.setting(name)]  # noqa: E731
    out = []
    for depth in spec.axis("depth").values:
        for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
            lam_max = mp_edges(p / pr.n_in)[1]
            scale = float(derived.grad_scale(spec.train.loss, p))
            worst = math.inf
            for init in get("init"):
                for s in get("init_scale"):
                    for w in get("width"):
                        shapes = derived.layer_shapes(depth, w, pr.n_in, pr.n_out)
                        eps = float(stability_bound(depth, lam_max, teacher_norm, init, shapes, s))
                        worst = min(worst, eps / scale)
            bad = [lr for lr in rates if lr > worst]
            if bad:
                out.append(
                    f"learning rate {max(bad):g} exceeds the stability bound {worst:.3g} at depth {depth}, "
                    f"N/P = {r:g} (docs/theory.md §3.2); those runs will likely diverge"
                )
    return out
