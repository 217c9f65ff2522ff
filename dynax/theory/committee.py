"""Soft committee machines: the exact generalization error of erf networks from their overlaps,
and the Saad & Solla (1995) ODEs of online SGD (docs/theory.md §6), in dynax's units.

A student ``φ(x) = Σ_k v_k g(w_k·x)`` learns a teacher ``ζ(x) = Σ_n v*_n g(w*_n·x) + σ ξ`` with
``g(h) = erf(h/√2)``, inputs ``x ~ N(0, I/N)``, ξ standard normal. Its pre-activations
``λ_k = w_k·x`` and the teacher's ``ν_n = w*_n·x`` are jointly Gaussian with covariance

    C = [[Q, R], [Rᵀ, T]],   Q_ik = w_i·w_k/N,  R_in = w_i·w*_n/N,  T_nm = w*_n·w*_m/N,

so every average is an integral over a few Gaussians (:func:`i2`, :func:`i3`, :func:`i4`,
:func:`j2`). Online SGD on ``½(ζ − φ)²``, one fresh example per step, first layer at the rate η
(``w_k ← w_k + η v_k g'(λ_k) δ x``, δ = ζ − φ; the readout fixed), has, in the time α = steps/N
and as N → ∞, the deterministic overlaps of :func:`committee_drift` (:func:`committee_ode`
integrates them). dynax's error is ``E_g = ⟨(ζ − φ)²⟩ = ⟨(ζ₀ − φ)²⟩ + σ²``: twice the papers'
noiseless ε_g = ½⟨(ζ₀ − φ)²⟩, plus the noise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["committee_drift", "committee_error", "committee_ode", "i2", "i3", "i4", "j2"]


def _d(c):
    return np.diagonal(c, axis1=-2, axis2=-1)


def i2(c):
    """``⟨g(u_a) g(u_b)⟩`` for every pair (a, b) of jointly Gaussian u with covariance ``c``
    (..., n, n): ``(2/π) arcsin(C_ab/√((1 + C_aa)(1 + C_bb)))``."""
    d = 1.0 + _d(c)
    return (2 / np.pi) * np.arcsin(c / np.sqrt(d[..., :, None] * d[..., None, :]))


def j2(c):
    """``⟨g'(u_a) g'(u_b)⟩`` for every pair: ``(2/π)/√((1 + C_aa)(1 + C_bb) − C_ab²)``."""
    d = 1.0 + _d(c)
    return (2 / np.pi) / np.sqrt(d[:, None] * d[None, :] - c * c)


def i3(c):
    """``⟨g'(u_a) u_b g(u_c)⟩`` for every triple, (n, n, n) indexed [a, b, c]:
    ``(2/π) (C_bc(1 + C_aa) − C_ab C_ac) / ((1 + C_aa) √((1 + C_aa)(1 + C_cc) − C_ac²))``."""
    d = 1.0 + _d(c)
    lam3 = d[:, None] * d[None, :] - c * c  # [a, c]
    num = c[None, :, :] * d[:, None, None] - c[:, :, None] * c[:, None, :]
    return (2 / np.pi) * num / (d[:, None, None] * np.sqrt(lam3)[:, None, :])


def i4(c, rows=None):
    """``⟨g'(u_a) g'(u_b) g(u_c) g(u_d)⟩`` for every quadruple, (n, n, n, n) indexed [a, b, c, d]:
    ``(4/π²) arcsin(Λ₀/√(Λ₁Λ₂))/√Λ₄`` with Λ₄ = (1 + C_aa)(1 + C_bb) − C_ab²,
    Λ₀ = Λ₄C_cd − C_bc C_bd (1 + C_aa) − C_ac C_ad (1 + C_bb) + C_ab C_ac C_bd + C_ab C_ad C_bc,
    Λ₁ = Λ₄(1 + C_cc) − C_bc²(1 + C_aa) − C_ac²(1 + C_bb) + 2 C_ab C_ac C_bc, Λ₂ the same with d.
    ``rows``: the indices a and b run over (all if None)."""
    d = 1.0 + _d(c)
    every = np.arange(len(c))
    ab = every if rows is None else np.asarray(rows)
    a_, b_, c_, d_ = np.ix_(ab, ab, every, every)
    caa, cbb, ccc, cdd = d[a_], d[b_], d[c_], d[d_]
    cab, cac, cad, cbc, cbd, ccd = c[a_, b_], c[a_, c_], c[a_, d_], c[b_, c_], c[b_, d_], c[c_, d_]
    lam4 = caa * cbb - cab**2
    lam0 = lam4 * ccd - cbc * cbd * caa - cac * cad * cbb + cab * cac * cbd + cab * cad * cbc
    lam1 = lam4 * ccc - cbc**2 * caa - cac**2 * cbb + 2 * cab * cac * cbc
    lam2 = lam4 * cdd - cbd**2 * caa - cad**2 * cbb + 2 * cab * cad * cbd
    return (4 / np.pi**2) * np.arcsin(lam0 / np.sqrt(lam1 * lam2)) / np.sqrt(lam4)


def _joint(q, r, t):
    return np.block([[q, r], [r.T, t]])


def committee_error(q, r, t, v, v_star, noise_var: float = 0.0) -> float:
    """dynax's ``E_g = ⟨(ζ − φ)²⟩`` from the overlaps: ``vᵀI2(Q)v − 2 vᵀI2(R)v* + v*ᵀI2(T)v* + σ²``."""
    c = _joint(np.asarray(q, float), np.asarray(r, float), np.asarray(t, float))
    u = np.concatenate([np.asarray(v, float), -np.asarray(v_star, float)])
    return float(u @ i2(c) @ u) + noise_var


def committee_drift(q, r, t, v, v_star, eta: float, noise_var: float = 0.0):
    """``(dQ/dα, dR/dα)`` of online SGD (first layer at rate η, readouts fixed), α = steps/N:

        dR_in/dα = η v_i ⟨g'(λ_i) ν_n δ⟩,
        dQ_ik/dα = η v_i ⟨g'(λ_i) λ_k δ⟩ + η v_k ⟨g'(λ_k) λ_i δ⟩ + η² v_i v_k ⟨g'(λ_i) g'(λ_k) δ²⟩,

    with δ = Σ_n v*_n g(ν_n) − Σ_j v_j g(λ_j) + σξ: ⟨g' u δ⟩ is a sum of :func:`i3` terms,
    ⟨g'g'δ²⟩ one of :func:`i4` terms plus σ² :func:`j2`."""
    q, r, t = (np.asarray(a, float) for a in (q, r, t))
    k = len(q)
    c = _joint(q, r, t)
    u = np.concatenate([-np.asarray(v, float), np.asarray(v_star, float)])  # δ = Σ_c u_c g(z_c) + σξ
    s = np.asarray(v, float)
    g3 = i3(c)[:k] @ u  # [i, b]: ⟨g'(λ_i) z_b δ⟩, z = (λ, ν)
    d_r = eta * s[:, None] * g3[:, k:]
    first = s[:, None] * g3[:, :k]
    g4 = np.einsum("abcd,c,d->ab", i4(c, np.arange(k)), u, u) + noise_var * j2(c)[:k, :k]
    d_q = eta * (first + first.T) + eta**2 * np.outer(s, s) * g4
    return d_q, d_r


def committee_ode(
    q0, r0, t, v, v_star, eta: float, alphas, noise_var: float = 0.0, steps_per_unit: int = 100
):
    """The overlaps and E_g at the times ``alphas`` (α = steps/N, increasing, from 0) by classical
    RK4 at ``steps_per_unit`` steps per unit of α (each output time reached exactly). Returns
    ``(Q (n_t, K, K), R (n_t, K, M), E_g (n_t,))``."""
    q, r = np.array(q0, float), np.array(r0, float)
    alphas = np.asarray(alphas, float)

    def f(state):
        return committee_drift(state[0], state[1], t, v, v_star, eta, noise_var)

    qs, rs, now = [], [], 0.0
    for target in alphas:
        n = max(1, int(np.ceil((target - now) * steps_per_unit)))
        h = (target - now) / n
        for _ in range(n if target > now else 0):
            k1 = f((q, r))
            k2 = f((q + h / 2 * k1[0], r + h / 2 * k1[1]))
            k3 = f((q + h / 2 * k2[0], r + h / 2 * k2[1]))
            k4 = f((q + h * k3[0], r + h * k3[1]))
            q = q + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            r = r + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        now = max(now, target)
        qs.append(q.copy())
        rs.append(r.copy())
    qs, rs = np.asarray(qs), np.asarray(rs)
    err = np.asarray([committee_error(a, b, t, v, v_star, noise_var) for a, b in zip(qs, rs, strict=True)])
    return qs, rs, err
