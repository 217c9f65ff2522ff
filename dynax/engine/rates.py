"""Where the learning rate of every run is decided.

A run's rate is the spec's number, or ``learning_rate = {auto = f}``: f × the run's own
stability bound (:func:`dynax.theory.stability_bound`, docs/theory.md §3.2), taken at
the largest eigenvalue of the input correlation one step sees and at the end-to-end norm
the run can reach in its epochs (:func:`auto_step`). Online runs under
``schedule = "optimal_online"`` start at the oracle rate η*(e_0) (docs/theory.md §4.1); the
kernel anneals it. Rates are float64 and in the spec's units (divided by the gradient
scale 1/P of the mean loss).
"""

from __future__ import annotations

import math

import numpy as np

from ..spec import INITS, Auto, SweepSpec, derived, fixed_rate
from ..theory import mp_edges, optimal_online_rate, stability_bound

__all__ = ["auto_rates", "auto_step", "fixed_rate_warnings", "raw_rates", "ridge_norm", "weight_norm"]


def weight_norm(teachers, ls_terms, noise_std) -> np.ndarray:
    """The larger of the teacher's norm and the run's own min-norm least-squares
    solution's (the limit of GD from a small init as t → ∞, which far exceeds the
    teacher's near N = P with noise). ``ls_terms``: :attr:`dynax.sim.data.SeedStats.ls_terms`."""
    teachers = np.asarray(teachers).reshape(len(noise_std), -1)
    aa, ag, gg = np.asarray(ls_terms).T
    ls = np.sqrt(np.maximum(aa + 2 * noise_std * ag + noise_std**2 * gg, 0.0))
    return np.maximum(np.sqrt(np.sum(teachers**2, axis=1)), ls)


def ridge_norm(spectrum, noise_std, gamma) -> np.ndarray:
    """‖w_ridge(γ)‖ of each run: the ridge solution ``b (G + γ)⁻¹ L_xᵀ`` at ``γ`` (sum-loss
    units), from :attr:`dynax.sim.data.SeedStats.ls_spectrum`; finite for every γ > 0."""
    g, a, c, e = (np.asarray(spectrum)[:, i] for i in range(4))
    s = np.asarray(noise_std, np.float64)[:, None]
    coef = np.maximum(a + 2 * s * c + s * s * e, 0.0)
    gam = np.asarray(gamma, np.float64)[:, None]
    return np.sqrt(np.sum(coef * g / (g + gam) ** 2, axis=1))


_BISECTIONS = 48  # halvings of log(rate): relative precision 2^-48 of the bracket's log-width


def auto_step(
    depth, lam_max, teachers, spectrum, noise_std, init, shapes, scale, factor, epochs, weight_decay=0.0
):
    """``factor`` × the stability bound of each run (sum-loss units), taken at the norm the
    run can reach in its ``epochs``: the larger of the teacher's and the ridge solution's at
    γ = 1/(ε·epochs), ε the step itself (GD at time t filters the data like ridge at γ ≈ 1/t,
    docs/theory.md §1.2). A larger step reaches a larger norm, whose bound is smaller: the
    step is the fixed point ε = factor · bound(norm(ε)), found by bisection. Unlike the
    least-squares norm (GD's limit as t → ∞), this stays finite near N = P at low SNR.
    Weight decay γ adds γ to the curvature (2/(λ_max + γ) at depth 1) and to the ridge
    parameter of the norm reached."""
    lam_max = np.asarray(lam_max, np.float64)
    teacher = np.sqrt(np.sum(np.asarray(teachers).reshape(len(lam_max), -1) ** 2, axis=1))

    gamma = np.broadcast_to(np.asarray(weight_decay, np.float64), lam_max.shape)

    def step(norm):
        return factor * stability_bound(depth, lam_max, norm, init, shapes, scale, gamma)

    hi = step(teacher)  # the largest possible step: at the smallest norm
    if depth == 1:
        return hi  # 2/λ_max: no norm enters
    lo = step(np.maximum(teacher, ridge_norm(spectrum, noise_std, gamma + 1e-12 / (hi * max(epochs, 1)))))
    for _ in range(_BISECTIONS):
        mid = np.sqrt(lo * hi)
        norm = np.maximum(teacher, ridge_norm(spectrum, noise_std, gamma + 1.0 / (mid * max(epochs, 1))))
        above = step(norm) >= mid  # mid is still stable at the norm it reaches: go up
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return lo


def auto_rates(table, idx: np.ndarray, depth: int, shapes, lam_max, teachers, spectrum, grad_scale, epochs):
    """Each run's learning rate (float64): fixed (``table.lr``), or :func:`auto_step` of its
    data (``lam_max`` of the sum-convention Σ_xx, ``teachers``, ``spectrum`` =
    ``SeedStats.ls_spectrum``) divided by the gradient scale; ``shapes`` are the trained
    layers' shapes."""
    t = table
    lr = t.lr[idx].copy()
    auto = np.isnan(lr)
    if auto.any():
        for init in np.unique(t.init[idx][auto]):
            for scale in np.unique(t.init_scale[idx][auto & (t.init[idx] == init)]):
                for f in np.unique(t.auto[idx][auto & (t.init[idx] == init) & (t.init_scale[idx] == scale)]):
                    m = auto & (t.init[idx] == init) & (t.init_scale[idx] == scale) & (t.auto[idx] == f)
                    eps = auto_step(
                        depth, lam_max[m], teachers[m], spectrum[m], t.noise_std[idx][m], INITS[init],
                        shapes, scale, f, epochs, t.weight_decay[idx][m],
                    )  # fmt: skip
                    lr[m] = eps / grad_scale[m]
    return lr


def raw_rates(spec: SweepSpec, table, idx, cfg, teachers, init_var, grad_scale, full_batch) -> np.ndarray:
    """Rates of raw-data runs (online, minibatch, nonlinear) of one compile group ``cfg``.

    Args:
        teachers: each run's teacher ``t1``; init_var: σ_0² per run (the schedule's e_0);
        full_batch: a function returning ``(lam_max, ls_spectrum)`` of each run's stored data
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
    epochs = spec.train.epochs
    if online:  # the bound at the minibatch's λ_max ≈ (1 + √(B/N))² (MP at load B/N) and ‖w̄‖
        lam = np.full(len(idx), mp_edges(cfg.batch / spec.problem.n_in)[1])
        lam *= spec.problem.top_input_variance  # a chosen covariance's top direction
        spectrum = np.zeros((len(idx), 4, 1))  # no ridge term: the norm is the teacher's
    else:
        lam, spectrum = full_batch()
    return auto_rates(t, idx, cfg.depth, cfg.shapes(), lam, teachers, spectrum, grad_scale, epochs)


def fixed_rate_warnings(spec: SweepSpec) -> list[str]:
    """Fixed learning rates above the stability bound, with the theory's λ_max = (1+√α)², naming
    the init and scale whose estimate is the smallest."""
    rates = spec.axis("learning_rate").values if "learning_rate" in spec.dims else [spec.train.learning_rate]
    if any(isinstance(r, Auto) for r in rates) or spec.model.student != "deep_linear":
        return []  # random features: 2/λ_max of the feature Gram, not of the inputs; committee: no bound
    pr = spec.problem
    teacher_norm = math.sqrt(
        pr.n_in * pr.n_out * pr.teacher_var
    )  # a chosen spectrum's: σ_w² is derived from it
    get = lambda name: spec.axis(name).values if name in spec.dims else [spec.setting(name)]  # noqa: E731
    out = []
    for depth in spec.axis("depth").values:
        for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
            lam_max = p / pr.n_in if pr.white else mp_edges(p / pr.n_in)[1]
            lam_max *= pr.top_input_variance  # about: C's top direction carries it
            scale = float(derived.grad_scale(spec.train.loss, p))
            worst, at = math.inf, ""
            for init in get("init"):
                for s in get("init_scale"):
                    for w in get("width"):
                        shapes = derived.layer_shapes(depth, w, pr.n_in, pr.n_out)
                        gamma = max(get("weight_decay"))
                        eps = (
                            float(stability_bound(depth, lam_max, teacher_norm, init, shapes, s, gamma))
                            / scale
                        )
                        worst, at = (eps, f"init {init} at scale {s:g}") if eps < worst else (worst, at)
            bad = [fixed_rate(lr, depth) for lr in rates if fixed_rate(lr, depth) > worst]  # eta0/D at D
            if bad:
                gauss = depth > 2 and "gaussian" in at  # each layer's typical norm multiplied: pessimistic
                why = (
                    "the estimate multiplies each Gaussian layer's typical spectral norm, pessimistic for a "
                    "product of many layers: try a short run"
                    if gauss
                    else "those runs will likely diverge"
                )
                out.append(
                    f"learning rate {max(bad):g} exceeds the stability bound {worst:.3g} at depth {depth}, "
                    f"N/P = {r:g}, for {at} (docs/theory.md §3.2); {why}"
                )
    return out
