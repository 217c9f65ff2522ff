"""Shared test helpers: float64 for the oracle tests, strict rank promotion, a raw-data GD oracle.

The test process turns on ``jax_enable_x64`` itself (``import dynax`` does not; its own
calls run in a scoped float64 mode): oracle tests build float64 inputs by hand. What a
user's process sees is tested in subprocesses (tests/test_layers.py).
"""

import os

import jax
import numpy as np
import pytest

# the CLI keeps compiled programs on disk; tests count compilations, so they run without it
os.environ["DYNAX_COMPILATION_CACHE"] = "off"

from dynax.sim import data, gd
from dynax.sim.scope import guard_cpu_dispatch

guard_cpu_dispatch()
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


def spec_text(grid: str, problem: str = "n_in = 12", model: str = "", train: str = "epochs = 50") -> str:
    """A small spec; each argument is the body of its table."""
    return f"name = 't'\n[grid]\n{grid}\n[problem]\n{problem}\n[model]\n{model}\n[train]\n{train}\n"


def numpy_gd(x, y, weights, lr, epochs, record, loss="sum", weight_decay=0.0, nesterov=None):
    """Full-batch GD on the raw data matrix, a loop over epochs in plain numpy.

    Args:
        x: (P, N) inputs; y: (P, N_out) labels; weights: initial layers, input side first;
        weight_decay: γ, the loss's (γ/2)Σ_l‖W_l‖² (times 1/P for the mean loss);
        nesterov: β of Nesterov momentum (Sutskever's form, its velocity v ← βv − η∇L(w + βv),
            w ← w + v, tracked at the look-ahead point w + βv as its reformulation does).
    Returns:
        dict epoch -> (final weights list) at each epoch in ``record``, and the trajectory
        of end-to-end weights at every epoch.
    """
    ws = [np.array(w, dtype=np.float64) for w in weights]
    scale = 1.0 / len(x) if loss == "mean" else 1.0
    effs = []
    saved = {}
    for epoch in range(epochs + 1):
        eff = ws[-1]
        for w in reversed(ws[:-1]):
            eff = eff @ w
        effs.append(eff)
        if epoch in record:
            saved[epoch] = [w.copy() for w in ws]
        if epoch == epochs:
            break
        resid = y.T - eff @ x.T  # (N_out, P)
        g_eff = -(resid @ x) * scale  # dL/dW_eff
        grads = []
        for i in range(len(ws)):
            left = np.eye(ws[-1].shape[0])
            for w in reversed(ws[i + 1 :]):
                left = left @ w
            right = np.eye(ws[0].shape[1])
            for w in ws[:i]:
                right = w @ right
            grads.append(left.T @ g_eff @ right.T)
        grads = [g + weight_decay * scale * w for w, g in zip(ws, grads, strict=True)]
        if nesterov is None:
            ws = [w - lr * g for w, g in zip(ws, grads, strict=True)]
            continue
        # with φ = w + βv the look-ahead point (what is tracked), v' = βv − η∇L(φ) and
        # φ' = w' + βv' = φ + v' + β(v' − v): one step in φ
        if epoch == 0:
            vs = [np.zeros_like(w) for w in ws]
        new_vs = [nesterov * v - lr * g for v, g in zip(vs, grads, strict=True)]
        ws = [w + v2 + nesterov * (v2 - v) for w, v, v2 in zip(ws, vs, new_vs, strict=True)]
        vs = new_vs
    return saved, np.array(effs)


def initial_weights(spec, depth, seed, init=None, init_scale=None, p=None, noise_std=0.0):
    """dynax's initial weights for one run (float64), from the kernel's own init (the aligned
    init reads the data of ``p`` examples, default the sweep's largest, at ``noise_std``)."""
    pr = spec.problem
    p = p or max(spec.n_train)
    st = data.problem_stats(spec.seed, seed, [p], pr)
    cfg = gd.KernelConfig(
        depth=depth,
        width=spec.model.width if depth > 1 else pr.n_in,
        n_in=pr.n_in,
        n_out=pr.n_out,
        k=st.factor.shape[-1],
        epochs=1,
        record=(0, 1),
        inits=(init or spec.model.init,),
        dtype="float64",
        root_seed=spec.seed,
        pretrain_epochs=spec.model.pretrain_epochs,
    )
    run = gd.run_inputs(
        st.factor[0],
        st.teacher,
        n_train=p,
        init=init or spec.model.init,
        init_scale=spec.model.init_scale if init_scale is None else init_scale,
        seed=seed,
        noise_std=noise_std,
    )
    return [np.asarray(w) for w in gd.init_weights(cfg, run)]


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
