"""The exact deep-linear flow from a balanced initialisation on each seed's own data,
averaged over the seeds (docs/theory.md §3.2), for a spec's grid point."""

from __future__ import annotations

import numpy as np

from ..engine.rates import auto_step
from ..sim import data
from ..sim.flow import balanced_flow
from ..sim.gd import KernelConfig, init_weights, product, run_inputs
from ..sim.scope import float64
from ..spec import Auto, SweepSpec

__all__ = ["balanced_seed_mean"]


@float64
def balanced_seed_mean(spec: SweepSpec, depth, p, j, noise_var, lr, grad_scale, init_scale, epochs):
    """Seed means of (test error, training error, time) of the balanced end-to-end flow at
    the recorded ``epochs``, from the engine's own balanced initial weights and rate (the
    auto rate as :mod:`dynax.engine.rates` decides it). ``j`` indexes ``spec.n_train``."""
    pr = spec.problem
    tests, trains, times = [], [], []
    for seed in spec.axis("seed").values:
        st = data.problem_stats(spec.seed, seed, spec.n_train, pr)
        cfg = KernelConfig(
            depth, spec.model.width, pr.n_in, 1, st.factor.shape[-1], 1, (0, 1), inits=("balanced",),
            dtype="float64", root_seed=spec.seed,
        )  # fmt: skip
        run = run_inputs(
            st.factor[j], st.teacher, n_train=p, init="balanced", init_scale=init_scale, seed=seed
        )
        w0 = product(init_weights(cfg, run))
        if isinstance(lr, Auto):
            eps = float(
                auto_step(
                    depth, st.lam_max[j : j + 1], st.teacher[None], st.ls_spectrum[j : j + 1],
                    np.sqrt([noise_var]), "balanced", cfg.shapes(), init_scale, lr.factor, spec.train.epochs,
                )[0]
            )  # fmt: skip
        else:
            eps = lr * grad_scale
        t = eps * epochs
        test, train = balanced_flow(st.factor[j], st.teacher, np.sqrt(noise_var), np.asarray(w0), depth, t, p)
        tests.append(test)
        trains.append(train)
        times.append(t)
    return np.mean(tests, 0), np.mean(trains, 0), np.mean(times, 0)
