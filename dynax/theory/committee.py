"""Soft committee machines: the exact generalization error of erf networks from their overlaps,
and the Saad & Solla (1995) ODEs of online SGD (docs/theory.md §6), in dynax's units.

A student ``φ(x) = Σ_k v_k g(w_k·x)`` learns a teacher ``ζ(x) = Σ_n v*_n g(w*_n·x) + σ ξ`` with
``g(h) = erf(h/√2)``, inputs ``x ~ N(0, I/N)``, ξ standard normal. Its pre-activations
``λ_k = w_k·x`` and the teacher's ``ν_n = w*_n·x`` are jointly Gaussian with covariance

    C = [[Q, R], [Rᵀ, T]],   Q_ik = w_i·w_k/N,  R_in = w_i·w*_n/N,  T_nm = w*_n·w*_m/N,

so every average is an integral over a few Gaussians (:func:`i2`, :func:`i3`, :func:`i4`,
:func:`j2`). Online SGD on ``½(ζ − φ)²``, one fresh example per step, first layer at the rate η
(``w_k ← w_k + η v_k g'(λ_k) δ x``, δ = ζ − φ) and the readout fixed or at the rate η/N
(``v_k ← v_k + (η/N) g(λ_k) δ``), both with weight decay, has, in the time α = steps/N and as
N → ∞, the deterministic overlaps of :func:`committee_drift` (:func:`committee_ode` integrates
them). Every function takes an array module ``xp`` (NumPy by default; ``jax.numpy`` traces them
for the batched integrator of :mod:`dynax.predict.committee`).
dynax's error is ``E_g = ⟨(ζ − φ)²⟩ = ⟨(ζ₀ − φ)²⟩ + σ²``: twice the papers'
noiseless ε_g = ½⟨(ζ₀ − φ)²⟩, plus the noise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Trajectory", "committee_drift", "committee_error", "committee_ode", "i2", "i3", "i4", "j2"]


def _d(c, xp=np):
    return xp.diagonal(c, axis1=-2, axis2=-1)


def i2(c, xp=np):
    """``⟨g(u_a) g(u_b)⟩`` for every pair (a, b) of jointly Gaussian u with covariance ``c``
    (..., n, n): ``(2/π) arcsin(C_ab/√((1 + C_aa)(1 + C_bb)))``."""
    d = 1.0 + _d(c, xp)
    return (2 / np.pi) * xp.arcsin(c / xp.sqrt(d[..., :, None] * d[..., None, :]))


def j2(c, xp=np):
    """``⟨g'(u_a) g'(u_b)⟩`` for every pair: ``(2/π)/√((1 + C_aa)(1 + C_bb) − C_ab²)``."""
    d = 1.0 + _d(c, xp)
    return (2 / np.pi) / xp.sqrt(d[:, None] * d[None, :] - c * c)


def i3(c, xp=np):
    """``⟨g'(u_a) u_b g(u_c)⟩`` for every triple, (n, n, n) indexed [a, b, c]:
    ``(2/π) (C_bc(1 + C_aa) − C_ab C_ac) / ((1 + C_aa) √((1 + C_aa)(1 + C_cc) − C_ac²))``."""
    d = 1.0 + _d(c, xp)
    lam3 = d[:, None] * d[None, :] - c * c  # [a, c]
    num = c[None, :, :] * d[:, None, None] - c[:, :, None] * c[:, None, :]
    return (2 / np.pi) * num / (d[:, None, None] * xp.sqrt(lam3)[:, None, :])


def i4(c, rows=None, xp=np):
    """``⟨g'(u_a) g'(u_b) g(u_c) g(u_d)⟩`` for every quadruple, (n, n, n, n) indexed [a, b, c, d]:
    ``(4/π²) arcsin(Λ₀/√(Λ₁Λ₂))/√Λ₄`` with Λ₄ = (1 + C_aa)(1 + C_bb) − C_ab²,
    Λ₀ = Λ₄C_cd − C_bc C_bd (1 + C_aa) − C_ac C_ad (1 + C_bb) + C_ab C_ac C_bd + C_ab C_ad C_bc,
    Λ₁ = Λ₄(1 + C_cc) − C_bc²(1 + C_aa) − C_ac²(1 + C_bb) + 2 C_ab C_ac C_bc, Λ₂ the same with d.
    ``rows``: the indices a and b run over (all if None)."""
    d = 1.0 + _d(c, xp)
    every = np.arange(c.shape[0])
    ab = every if rows is None else np.asarray(rows)
    a_, b_, c_, d_ = np.ix_(ab, ab, every, every)
    caa, cbb, ccc, cdd = d[a_], d[b_], d[c_], d[d_]
    cab, cac, cad, cbc, cbd, ccd = c[a_, b_], c[a_, c_], c[a_, d_], c[b_, c_], c[b_, d_], c[c_, d_]
    lam4 = caa * cbb - cab**2
    lam0 = lam4 * ccd - cbc * cbd * caa - cac * cad * cbb + cab * cac * cbd + cab * cad * cbc
    lam1 = lam4 * ccc - cbc**2 * caa - cac**2 * cbb + 2 * cab * cac * cbc
    lam2 = lam4 * cdd - cbd**2 * caa - cad**2 * cbb + 2 * cab * cad * cbd
    return (4 / np.pi**2) * xp.arcsin(lam0 / xp.sqrt(lam1 * lam2)) / xp.sqrt(lam4)


def _arrays(xp, *arrays):
    return [np.asarray(a, float) if xp is np else xp.asarray(a) for a in arrays]


def _joint(q, r, t, xp=np):
    return xp.concatenate([xp.concatenate([q, r], 1), xp.concatenate([r.T, t], 1)], 0)


def committee_error(q, r, t, v, v_star, noise_var=0.0, xp=np):
    """dynax's ``E_g = ⟨(ζ − φ)²⟩`` from the overlaps: ``vᵀI2(Q)v − 2 vᵀI2(R)v* + v*ᵀI2(T)v* + σ²``."""
    q, r, t, v, v_star = _arrays(xp, q, r, t, v, v_star)
    u = xp.concatenate([v, -v_star])
    e = u @ i2(_joint(q, r, t, xp), xp) @ u + noise_var
    return float(e) if xp is np else e


def committee_drift(
    q, r, t, v, v_star, eta, noise_var=0.0, decay=0.0, readout_decay=0.0, train_readout=False, xp=np
):
    """``(dQ/dα, dR/dα, dv/dα)`` of online SGD, α = steps/N (first layer at the rate η, the readout
    at η/N when ``train_readout``, else fixed):

        dR_in/dα = η v_i ⟨g'(λ_i) ν_n δ⟩ − κ R_in,
        dQ_ik/dα = η v_i ⟨g'(λ_i) λ_k δ⟩ + η v_k ⟨g'(λ_k) λ_i δ⟩ + η² v_i v_k ⟨g'(λ_i) g'(λ_k) δ²⟩ − 2κ Q_ik,
        dv_i/dα = η ⟨g(λ_i) δ⟩ − κ_v v_i,

    with δ = Σ_n v*_n g(ν_n) − Σ_j v_j g(λ_j) + σξ: ⟨g' u δ⟩ is a sum of :func:`i3` terms,
    ⟨g'g'δ²⟩ one of :func:`i4` terms plus σ² :func:`j2`, ⟨g δ⟩ one of :func:`i2` terms. The
    weight decay's rates per unit of α are κ = ``decay`` (the first layer) and κ_v =
    ``readout_decay`` (dynax's penalty: κ = ηγN/P, κ_v = ηγ/P, docs/theory.md §6)."""
    q, r, t, v, v_star = _arrays(xp, q, r, t, v, v_star)
    k = q.shape[0]
    c = _joint(q, r, t, xp)
    u = xp.concatenate([-v, v_star])  # δ = Σ_c u_c g(z_c) + σξ
    g3 = i3(c, xp)[:k] @ u  # [i, b]: ⟨g'(λ_i) z_b δ⟩, z = (λ, ν)
    d_r = eta * v[:, None] * g3[:, k:] - decay * r
    first = v[:, None] * g3[:, :k]
    g4 = xp.einsum("abcd,c,d->ab", i4(c, np.arange(k), xp), u, u) + noise_var * j2(c, xp)[:k, :k]
    d_q = eta * (first + first.T) + eta**2 * v[:, None] * v[None, :] * g4 - 2 * decay * q
    d_v = eta * (i2(c, xp)[:k] @ u) - readout_decay * v if train_readout else 0.0 * v
    return d_q, d_r, d_v


class Trajectory(NamedTuple):
    """The overlaps, readouts and E_g at each output time (a leading time axis)."""

    q: np.ndarray  # (n_t, K, K)
    r: np.ndarray  # (n_t, K, M)
    v: np.ndarray  # (n_t, K)
    test_error: np.ndarray  # (n_t,)


def rk4(f, state, h):
    """One classical Runge-Kutta step of ``d state/dα = f(state)`` (a tuple of arrays)."""

    def add(s, k, a):
        return tuple(x + a * y for x, y in zip(s, k, strict=True))

    k1 = f(state)
    k2 = f(add(state, k1, h / 2))
    k3 = f(add(state, k2, h / 2))
    k4 = f(add(state, k3, h))
    return tuple(
        x + h / 6 * (a + 2 * b + 2 * c + d) for x, a, b, c, d in zip(state, k1, k2, k3, k4, strict=True)
    )


def committee_ode(
    q0, r0, t, v0, v_star, eta, alphas, noise_var=0.0, steps_per_unit=100, decay=0.0, readout_decay=0.0,
    train_readout=False,
) -> Trajectory:  # fmt: skip
    """The overlaps, readouts and E_g at the times ``alphas`` (α = steps/N, increasing, from 0) by
    classical RK4 at ``steps_per_unit`` steps per unit of α (each output time reached exactly);
    the rates as in :func:`committee_drift`. NumPy, one run (the reference of the batched
    integrator in :mod:`dynax.predict.committee`)."""
    state = tuple(np.array(a, float) for a in (q0, r0, v0))
    alphas = np.asarray(alphas, float)

    def f(s):
        return committee_drift(*s[:2], t, s[2], v_star, eta, noise_var, decay, readout_decay, train_readout)

    out, now = [], 0.0
    for target in alphas:
        n = max(1, int(np.ceil((target - now) * steps_per_unit)))
        for _ in range(n if target > now else 0):
            state = rk4(f, state, (target - now) / n)
        now = max(now, target)
        out.append(state)
    qs, rs, vs = (np.asarray(a) for a in zip(*out, strict=True))
    err = [committee_error(a, b, t, c, v_star, noise_var) for a, b, c in zip(qs, rs, vs, strict=True)]
    return Trajectory(qs, rs, vs, np.asarray(err))
