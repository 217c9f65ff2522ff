"""The refit a practitioner makes after early stopping on held-out data (depth 1): GD on
all P examples, from the run's own initial weights, for the stopped number of epochs at the
run's learning rate, evaluated exactly in the eigenbasis of the full Σ_xx (the closed form
of :mod:`dynax.sim.closed_form` at one epoch)."""

from __future__ import annotations

import numpy as np

from ..sim import data
from ..sim.closed_form import decay
from ..sim.scope import float64
from ..spec import derived

__all__ = ["refit_test_error"]


@float64
def refit_test_error(plan, idx: np.ndarray, w0, lr, stopped, cache) -> np.ndarray:
    """E_g of each depth-1 run refitted on all P for its ``stopped`` epochs (NaN where it
    never stopped); ``w0`` (B, N_out, N) its initial weights, ``lr`` its rate."""
    spec, t = plan.spec, plan.table
    pr = spec.problem
    out = np.full(len(idx), np.nan)
    for j, i in enumerate(idx):
        if stopped[j] < 0:
            continue
        seed, pj = int(t.seed[i]), int(t.p_index[i])
        key = ("refit", seed, pj)
        if key not in cache.ridge:  # the full training set's eigenbasis, once per (seed, P)
            st = data.problem_stats(spec.seed, seed, [spec.n_train[pj]], pr, eigen=True)
            cache.ridge[key] = (st.factor[0], st.teacher, st.eigvals[0], st.eigvecs[0])
        factor, w_bar, lam, u = cache.ridge[key]
        lx, lz = factor[: pr.n_in], factor[pr.n_in :]
        s = float(t.noise_std[i])
        eps = float(lr[j]) * float(derived.grad_scale(spec.train.loss, spec.n_train[pj]))
        a = eps * (np.clip(lam, 0.0, None) + float(t.weight_decay[i]))
        q, sk = (np.asarray(v) for v in decay(a, float(stopped[j])))
        b = ((w_bar @ lx + s * lz) @ lx.T) @ u  # Σ_yx U
        w = (w0[j] @ u) * q[None, :] + eps * b * sk[None, :]
        d = w - w_bar @ u
        out[j] = np.sum(d * d) / (pr.n_in * pr.n_out) + s * s
    return out
