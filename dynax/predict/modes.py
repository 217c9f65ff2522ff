"""The mode strengths of an aligned network on white inputs, exactly (docs/theory.md §3.1).

From the ``aligned`` init every singular mode of Σ_yx starts at u₀ = init_scale^D and,
with Σ_xx = (P/N)·I (``problem.inputs = "whitened"``, or a hierarchy's one-hot items),
evolves on its own: at each GD step every layer's strength a (u = a^D) moves by
ε·α·a^{D−1}(s − a^D), with α = P/N and s the mode's singular value of Σ_yx times N/P
(:func:`dynax.theory.saxe_mode_discrete`). The curves are filled per seed: with a chosen
spectrum and no noise ``mode_strength`` is the same for every seed; with noise the network
follows the data's modes (``data_mode_strength``, with each seed's own ``s``) and
``mode_strength`` is left NaN.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from ..sim import data
from ..sim.modes import ZERO_MODE
from ..spec import Auto, SweepSpec, derived, fixed_rate
from ..theory import mode_oracle, saxe_mode_discrete

__all__ = ["mode_oracle_dataset", "mode_theory"]

NOTE = (
    "mode strengths: exact per-mode GD recursion (docs/theory.md §3.1) where it holds: aligned "
    "init, whitened inputs, gradient descent at a fixed rate; mode_strength noiseless only"
)


def _applies(spec: SweepSpec, v: dict) -> bool:
    get = lambda name: v.get(name, spec.setting(name))  # noqa: E731
    return (
        "modes" in spec.train.record.flags
        and spec.problem.white
        and get("init") == "aligned"
        and get("optimizer") == "gd"
        and get("protocol") == "replay"
        and spec.train.batch_size == 0
        and not isinstance(get("learning_rate"), Auto)
    )


def _data_modes(spec: SweepSpec, seed: int, j: int, noise_var: float):
    """σ_α(Σ_yx)·N/P of one seed's data at one P and noise (descending)."""
    pr = spec.problem
    st = data.problem_stats(spec.seed, seed, spec.n_train[j : j + 1], pr)
    lx, lz = st.factor[0][: pr.n_in], st.factor[0][pr.n_in :]
    syx = (st.teacher @ lx + np.sqrt(noise_var) * lz) @ lx.T
    s = np.linalg.svd(syx, compute_uv=False)
    return s * pr.n_in / spec.n_train[j], st.modes_s


def mode_theory(spec: SweepSpec) -> dict[str, xr.Variable]:
    """``mode_strength`` and ``data_mode_strength`` over (..., seed, mode/data_mode, epoch),
    NaN where the exact recursion does not apply; empty when the spec records no modes."""
    if "modes" not in spec.train.record.flags:
        return {}
    pr = spec.problem
    dims = spec.dims
    axes = [spec.axis(d) for d in dims]
    epochs = np.asarray(spec.record_epochs)
    shape = tuple(len(a.values) for a in axes)
    ms = np.full((*shape, pr.n_modes, len(epochs)), np.nan)
    dms = np.full((*shape, pr.n_data_modes, len(epochs)), np.nan)
    cache = {}
    for idx in itertools.product(*[range(s) for s in shape]):
        v = {a.name: a.values[i] for a, i in zip(axes, idx, strict=True)}
        if not _applies(spec, v):
            continue
        get = lambda name, v=v: v.get(name, spec.setting(name))  # noqa: E731
        depth, j = v["depth"], spec.axis("n_over_p").values.index(v["n_over_p"])
        p, noise_var = spec.n_train[j], float(derived.noise_var(pr.teacher_var, v["snr"]))
        key = (v["seed"], j, noise_var)
        if key not in cache:
            cache[key] = _data_modes(spec, v["seed"], j, noise_var)
        s_data, s_teacher = cache[key]
        width = get("width") if depth > 1 else pr.n_in
        r = min(pr.n_out, pr.n_in) if depth == 1 else min(pr.n_out, pr.n_in, width)
        u0 = np.where(np.arange(pr.n_data_modes) < r, float(get("init_scale")) ** depth, 0.0)
        step = float(fixed_rate(get("learning_rate"), depth)) * float(derived.grad_scale(spec.train.loss, p))
        g = float(get("weight_decay"))
        dms[idx] = saxe_mode_discrete(s_data, u0, epochs, step, depth, p / pr.n_in, g).T
        # a zero singular value has no direction (the simulation's strengths are NaN there)
        dms[idx][s_data <= ZERO_MODE * s_data[0]] = np.nan
        if noise_var == 0:  # the teacher's modes are the data's, in descending order
            rank = np.argsort(np.argsort(-s_teacher, kind="stable"), kind="stable")
            u0_t = np.where(rank < r, float(get("init_scale")) ** depth, 0.0)
            ms[idx] = saxe_mode_discrete(s_teacher, u0_t, epochs, step, depth, p / pr.n_in, g).T
            ms[idx][s_teacher <= 0] = np.nan  # the teacher lacks it: the start is an arbitrary overlap
    attrs = {"units": "1", "comment": NOTE}
    return {
        "mode_strength": xr.Variable(
            (*dims, "mode", "epoch"), ms, {"long_name": "teacher mode strength: theory", **attrs}
        ),
        "data_mode_strength": xr.Variable(
            (*dims, "data_mode", "epoch"), dms, {"long_name": "data mode strength: theory", **attrs}
        ),
    }


def mode_oracle_dataset(spec: SweepSpec) -> dict[str, xr.Variable]:
    """``oracle_test_error`` and ``oracle_expected_test_error`` over (n_over_p, snr, seed) for
    a teacher of chosen spectrum (:func:`dynax.theory.mode_oracle` on each seed's own data):
    the error of an estimator that knows the teacher's singular vectors and values, a
    reference below what any network can do without them; empty for other teachers and for an
    input covariance of chosen spectrum (its error formula takes white inputs)."""
    pr = spec.problem
    if not pr.teacher_singular_values or not pr.linear_teacher or pr.input_spectrum:
        return {}
    r_values, snrs, seeds = (spec.axis(d).values for d in ("n_over_p", "snr", "seed"))
    out = np.full((2, len(r_values), len(snrs), len(seeds)), np.nan)
    for c, seed in enumerate(seeds):
        st = data.problem_stats(spec.seed, seed, spec.n_fit, pr)  # the examples a run fits
        u, s, v = st.modes_u, st.modes_s, st.modes_v  # (N_out, r), (r,), (N, r)
        for a in range(len(spec.n_fit)):
            lx, lz = st.factor[a][: pr.n_in], st.factor[a][pr.n_in :]
            xv = lx.T @ v  # (K, r): Σ_xx's quadratic form along each v_α is ‖L_xᵀ v_α‖²
            kappa = np.sum(xv * xv, axis=0)
            teach = np.sum((u.T @ st.teacher @ lx) * xv.T, axis=1)  # u_αᵀ w̄ Σ_xx v_α
            noise = np.sum((u.T @ lz) * xv.T, axis=1)  # u_αᵀ L_z L_xᵀ v_α
            for b, snr in enumerate(snrs):
                nv = float(derived.noise_var(pr.teacher_var, snr))
                out[:, a, b, c] = mode_oracle(teach + np.sqrt(nv) * noise, kappa, s, nv, pr.n_in, pr.n_out)
    dims = ("n_over_p", "snr", "seed")
    note = "docs/theory.md §3.1: an oracle reference, not a network; sigma_eps^2 included"
    return {
        "oracle_test_error": xr.Variable(
            dims,
            out[0],
            {"long_name": "E_g of the mode oracle (knows the teacher's singular vectors and values; "
             "best linear shrinkage of each mode's least-squares estimate) on each seed's own data",
             "units": "1", "comment": note},
        ),
        "oracle_expected_test_error": xr.Variable(
            dims,
            out[1],
            {"long_name": "expectation of oracle_test_error over the label noise, given each seed's inputs",
             "units": "1", "comment": note},
        ),
    }  # fmt: skip
