"""Teacher-student data and its sufficient statistics, from coordinate-derived keys.

Randomness follows docs/design.md §4 ("Randomness"): for a run with replicate ``seed``,

* ``run = fold_in(root, seed)`` with ``root = PRNGKey(spec.seed)``;
* ``data = fold_in(run, 0)``: the teacher ``w̄ = σ_w · normal(data)``, and example μ
  (input ``x ~ N(0, I/N)`` and standard-normal label noise ``z``) from ``fold_in(data, μ)``;
* ``init = fold_in(run, 1)`` folded with depth, width and init kind (:mod:`dynax.sim.init`);
* the test set of nonlinear runs from ``fold_in(run, 3)``, drawn as stored examples are;
* a teacher of chosen singular values (``problem.teacher_singular_values``),
  ``w̄ = U diag(s) Vᵀ``, takes its orthonormal U, V from ``fold_in(run, 4)``
  (:func:`spectral_teacher`) instead of ``data``; the examples stay where they are;
* a hierarchy (``problem.teacher = "hierarchy"``) draws its ±1 features from
  ``fold_in(run, 4)`` too (:func:`hierarchy_features`); its inputs are the one-hot items
  (``X = I``, P = N) and only the label noise ``z`` comes from ``data``;
* an input covariance of chosen spectrum (``problem.input_spectrum``) takes each white draw
  ``x`` to ``A x`` with ``A = U diag(√λ)`` (:func:`input_root`), U random orthonormal from
  ``fold_in(run, 7)`` (or the teacher's V first, ``input_basis = "teacher"``): the same
  numbers ``x`` and ``z`` as white inputs, so nesting and common noise stand.

With ``problem.inputs = "whitened"`` the first P inputs are made exactly white,
``X_w = X (XᵀX)^{-1/2} √(P/N)`` so that ``Σ_μ x_μ x_μᵀ = (P/N)·I``; whitening mixes all P
examples, so whitened sets are NOT nested across N/P (the noise ``z`` still is).

Otherwise nothing depends on P, the SNR, the learning rate or a run's place in a batch, so the
training sets of one seed are nested across N/P (P examples are a prefix of P' > P) and
the noise pattern ``z`` is the same at every SNR (labels are ``y = w̄ x + σ_ε z``).

The kernel sees the data only through a square-root factor ``L`` of the augmented Gram
matrix: with ``A = [X; Z] ∈ R^{(N+N_out)×P}`` (examples as columns),
``L Lᵀ = A Aᵀ``. Writing ``L = [L_x; L_z]`` (first N rows, last N_out rows),
``Σ_xx = L_x L_xᵀ`` and, for a student with end-to-end weights W, the residual in factor
space ``r̃ = σ_ε L_z − (W − w̄) L_x`` has ``‖r̃‖² = Σ_μ ‖y_μ − W x_μ‖²`` exactly and the loss
gradient is ``−r̃ L_xᵀ``. A step therefore costs nothing in P, the training error is a sum
of squares (never negative), and every N/P value has the same shapes.

The draws are float64: the traced functions (:func:`examples`, :func:`teacher`, ...) are
meant to run inside :func:`dynax.sim.scope.x64`, which the host functions here enter.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits

from ..spec import derived
from . import executables
from .covariance import inputs_of, root, whiten
from .scope import float64
from .teachers import teacher, teacher_apply, teacher_params

__all__ = [
    "RawData",
    "SeedStats",
    "data_key",
    "example",
    "examples",
    "factor_width",
    "hierarchy_features",
    "input_root",
    "inputs_of",
    "problem_stats",
    "problem_teacher",
    "raw_data",
    "run_key",
    "seed_raw_data",
    "seed_stats",
    "seed_teacher",
    "spectral_teacher",
    "teacher_modes",
    "whiten",
]

TEST_STREAM = 3  # fold_in(run, 3): the test set of nonlinear runs
TEACHER_STREAM = 4  # fold_in(run, 4): a chosen spectrum's singular vectors, or a hierarchy's features
INPUT_STREAM = 7  # fold_in(run, 7): the input covariance's eigenvectors (5, 6: dropout, input noise)


def run_key(root_seed, seed):
    """``fold_in(PRNGKey(root_seed), seed)``; works on traced integers."""
    return jax.random.fold_in(jax.random.PRNGKey(root_seed), seed)


def data_key(root_seed, seed):
    return jax.random.fold_in(run_key(root_seed, seed), 0)


def factor_width(n_in: int, n_out: int, p_max: int) -> int:
    """Columns K of the factor L: the raw data when P_max ≤ N + N_out, else N + N_out."""
    return min(p_max, n_in + n_out)


@float64
def examples(key, n_in: int, n_out: int, p_max: int):
    """The first ``p_max`` examples of a seed.

    Returns:
        x: (p_max, n_in) inputs, entries N(0, 1/N); z: (p_max, n_out) standard normals.
    """

    return jax.vmap(lambda mu: example(key, mu, n_in, n_out))(jnp.arange(p_max, dtype=jnp.uint32))


@float64
def example(key, mu, n_in: int, n_out: int):
    """Example μ of a data key, float64: input (N,) with entries N(0, 1/N) and standard
    normal label noise (N_out,). Stored and online examples both come from here."""
    kx, kz = jax.random.split(jax.random.fold_in(key, mu))
    x = jax.random.normal(kx, (n_in,), jnp.float64) / np.sqrt(n_in)
    z = jax.random.normal(kz, (n_out,), jnp.float64)
    return x, z


def _orthonormal(key, n, r):
    """n × r orthonormal columns, Haar distributed (QR of a Gaussian, signs fixed by R)."""
    q, rr = jnp.linalg.qr(jax.random.normal(key, (n, r), jnp.float64))
    return q * jnp.where(jnp.diagonal(rr) < 0, -1.0, 1.0)[None, :]


@float64
def spectral_teacher(root_seed, seed, n_in: int, n_out: int, spectrum: tuple):
    """A teacher of chosen singular values: ``(w̄, U, V)`` with ``w̄ = U diag(s) Vᵀ``,
    U (N_out, r) and V (N, r) orthonormal, from ``fold_in(run, TEACHER_STREAM)``."""
    ku, kv = jax.random.split(jax.random.fold_in(run_key(root_seed, seed), TEACHER_STREAM))
    u, v = _orthonormal(ku, n_out, len(spectrum)), _orthonormal(kv, n_in, len(spectrum))
    return (u * jnp.asarray(spectrum, jnp.float64)[None, :]) @ v.T, u, v


@float64
def hierarchy_features(root_seed, seed, n_out: int, hierarchy):
    """A seed's features on a hierarchy's items, (n_out, B^K) of ±1, from ``fold_in(run, 4)``.

    Each feature (row) is +1 or −1 with probability ½ at the root; going down each edge into
    level l + 1 it flips sign with probability ``flip[l]``, independently on every edge and for
    every feature (a branching diffusion). Item i is the leaf whose path from the root reads the
    base-B digits of i, most significant first: the B children of a node are consecutive."""
    key = jax.random.fold_in(run_key(root_seed, seed), TEACHER_STREAM)
    values = jnp.where(jax.random.bernoulli(jax.random.fold_in(key, 0), 0.5, (n_out, 1)), 1.0, -1.0)
    for level, flip in enumerate(hierarchy.flip):
        values = jnp.repeat(values, hierarchy.branching, axis=1)
        flips = jax.random.bernoulli(jax.random.fold_in(key, level + 1), flip, values.shape)
        values = jnp.where(flips, -values, values)
    return values.astype(jnp.float64)


@float64
def seed_teacher(
    root_seed, seed, n_in: int, n_out: int, teacher_var, spectrum: tuple = (), hierarchy=None, kind="linear"
):
    """The linear teacher of a seed: drawn with entries N(0, σ_w²) from the data key, of the
    chosen ``spectrum``, a ``hierarchy``'s features (a :class:`~dynax.spec.Hierarchy`), or the
    identity (``kind = "identity"``: a linear autoencoder's target, labels = the clean inputs)."""
    if kind == "identity":
        return jnp.eye(n_out, n_in, dtype=jnp.float64)
    if hierarchy is not None:
        return hierarchy_features(root_seed, seed, n_out, hierarchy)
    if spectrum:
        return spectral_teacher(root_seed, seed, n_in, n_out, spectrum)[0]
    return teacher(data_key(root_seed, seed), n_in, n_out, teacher_var)


def teacher_modes(root_seed: int, seed: int, w_bar: np.ndarray, spectrum: tuple = ()):
    """The teacher's singular modes ``(U (N_out, r), s (r,), V (N, r))``: the given spectrum in
    its given order, else the SVD of ``w̄`` (r = min(N, N_out), s descending)."""
    if spectrum:
        _, u, v = spectral_teacher(root_seed, seed, w_bar.shape[1], w_bar.shape[0], tuple(spectrum))
        return np.asarray(u), np.asarray(spectrum, np.float64), np.asarray(v)
    u, s, vt = np.linalg.svd(w_bar, full_matrices=False)
    return u, s, vt.T


@float64
def input_root(root_seed, seed, n_in: int, n_out: int, covariance: tuple, basis: str = "random", spectrum=()):
    """``A = U diag(√λ)`` (N, N), ``A Aᵀ/N = C`` (:func:`dynax.sim.covariance.root`): U from
    ``fold_in(run, INPUT_STREAM)``, first the teacher's V (chosen ``spectrum``) if ``basis = "teacher"``."""
    if not covariance:  # white inputs: no root
        return jnp.zeros((0, 0), jnp.float64)
    key = jax.random.fold_in(run_key(root_seed, seed), INPUT_STREAM)
    g = jax.random.normal(key, (n_in, n_in), jnp.float64)
    v = spectral_teacher(root_seed, seed, n_in, n_out, spectrum)[2] if basis == "teacher" else None
    return root(g, covariance, v)


class SeedStats(NamedTuple):
    """Everything the kernel needs from the data of one seed, for every P of the sweep."""

    factor: np.ndarray  # (n_P, N + N_out, K) square root of the augmented Gram matrix
    teacher: np.ndarray  # (N_out, N)
    lam_max: np.ndarray  # (n_P,) largest eigenvalue of Σ_xx (sum convention)
    # ‖w_mn‖² = aa + 2σ ag + σ² gg: the min-norm least-squares solution's norm at noise σ
    ls_terms: np.ndarray  # (n_P, 3)
    # per eigenmode k of G = L_xᵀ L_x: (g_k, a_k, c_k, e_k) with ‖w_ridge(γ)‖² =
    # Σ_k (a_k + 2σ c_k + σ² e_k) g_k/(g_k + γ)² for b = w̄ L_x + σ L_z (sum over outputs)
    ls_spectrum: np.ndarray  # (n_P, 4, K)
    # for the depth-1 closed form (empty unless asked for): Σ_xx = U Λ Uᵀ, and Uᵀ L_x
    eigvals: np.ndarray  # (n_P, N)
    eigvecs: np.ndarray  # (n_P, N, N)
    rotated: np.ndarray  # (n_P, N, K)
    # the teacher's singular modes (teacher_modes): U (N_out, r), s (r,), V (N, r)
    modes_u: np.ndarray
    modes_s: np.ndarray
    modes_v: np.ndarray
    # the held-out examples (train.validation) of each P: a factor (n_P, N + N_out, K_v) of
    # their augmented Gram matrix, zero columns beyond; (n_P, N + N_out, 0) without
    val_factor: np.ndarray
    # what the generalization bounds read of each training set (docs/theory.md §2.9), (n_P, 4):
    # Σ_xx's smallest nonzero eigenvalue (the min(P, N)-th largest), the largest input norm
    # max_μ ‖x_μ‖, the noise draws' mean square ‖Z‖²/(P N_out) and their largest |z_μk|
    data_terms: np.ndarray
    # A (N, N) with A Aᵀ/N = C, the population input covariance (problem.input_spectrum); (0, 0) if white
    input_root: np.ndarray


def gram_factor(a: np.ndarray, k: int) -> np.ndarray:
    """A factor L (rows × k) with L Lᵀ = A Aᵀ: A's own columns (zero-padded) when it has at
    most k, else from the eigendecomposition of A Aᵀ (k = its rows)."""
    if a.shape[1] <= k:
        return np.pad(a, ((0, 0), (0, k - a.shape[1])))
    lam, q = np.linalg.eigh(a @ a.T)
    return q * np.sqrt(np.clip(lam, 0.0, None))[None, :]


@float64
def noise_draws(key, n_out: int, p_max: int):
    """The label noise z (p_max, n_out) of the first p_max examples, without their inputs: the
    same numbers :func:`examples` draws (z's key does not depend on the input's draw)."""

    def one(mu):
        return jax.random.normal(jax.random.split(jax.random.fold_in(key, mu))[1], (n_out,), jnp.float64)

    return jax.vmap(one)(jnp.arange(p_max, dtype=jnp.uint32))


def _seed_stats(
    root_seed, seed, teacher_var, *, n_in, n_out, p_max, spectrum, hierarchy, kind, covariance, basis
):
    """The teacher, a seed's first p_max examples and the input root A ((0, 0) if white), one
    compilation per sweep; one-hot items (a hierarchy) are I, so only their noise is drawn."""
    if hierarchy is not None:
        x, z = jnp.eye(p_max, n_in, dtype=jnp.float64), noise_draws(data_key(root_seed, seed), n_out, p_max)
    else:
        x, z = examples(data_key(root_seed, seed), n_in, n_out, p_max)
    root = input_root(root_seed, seed, n_in, n_out, covariance, basis, spectrum)
    x = x @ root.T if covariance else x
    return seed_teacher(root_seed, seed, n_in, n_out, teacher_var, spectrum, hierarchy, kind), x, z, root


@float64
def seed_stats(
    root_seed: int,
    seed: int,
    p_values,
    n_in: int,
    n_out: int,
    teacher_var: float,
    eigen: bool = False,
    spectrum: tuple = (),
    inputs: str = "gaussian",
    validation=None,
    hierarchy=None,
    teacher_kind: str = "linear",
    covariance: tuple = (),
    basis: str = "random",
) -> SeedStats:
    """Sufficient statistics of one seed for each P in ``p_values``, in float64.

    The examples are drawn on the device by one compiled program for every seed of a sweep;
    the small dense linear algebra per P (one eigendecomposition of Σ_xx, :func:`_p_stats`)
    runs in NumPy on the host, the P side by side on one BLAS thread each: deterministic,
    independent of any batching and of the machine's core count. ``eigen`` keeps that
    eigendecomposition (the closed form's and the fused kernel's basis) for every run that
    shares the data. ``spectrum`` and
    ``inputs`` are the problem's ``teacher_singular_values`` and ``inputs`` (``hierarchy``: its
    tree, whose features are the teacher and whose items the inputs); with
    ``validation`` (V per P), each P of ``p_values`` is a fit set (the first P examples) and
    the next V examples are its held-out set (``val_factor``). ``covariance`` and ``basis``:
    the problem's ``input_spectrum`` and ``input_basis`` (:func:`input_root`).
    """
    p_values = np.asarray(p_values, dtype=np.int64)
    n_val = np.zeros_like(p_values) if validation is None else np.asarray(validation, dtype=np.int64)
    p_max = int(p_values.max())
    static = dict(
        n_in=n_in,
        n_out=n_out,
        p_max=int((p_values + n_val).max()),
        spectrum=tuple(float(v) for v in spectrum),
        hierarchy=hierarchy,
        kind=teacher_kind,
        covariance=tuple(float(v) for v in covariance),
        basis=basis,
    )
    args = (np.uint32(root_seed), np.uint32(seed), np.float64(teacher_var))
    draws, _ = executables.compiled(
        ("seed draws", *static.items()), lambda: jax.jit(partial(_seed_stats, **static)), *args
    )  # timed as a compile: the caller takes it from executables.compile_total()
    w_bar, x, z, root = (np.asarray(v) for v in draws(*args))
    x_all, z_all, x, z = x, z, x[:p_max], z[:p_max]
    k = factor_width(n_in, n_out, p_max)
    k_val = min(int(n_val.max()), n_in + n_out)

    def one(p, v_p):  # each P's statistics, and its next V examples, held out
        held = np.concatenate([x_all[p : p + v_p], z_all[p : p + v_p]], axis=1).T
        return _p_stats(x, z, w_bar, p, k, n_in, inputs, eigen), gram_factor(held, k_val)

    # the P side by side, each on one BLAS thread: as fast as BLAS's own threads and the
    # same numbers on any number of cores (OpenBLAS's results depend on its thread count)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(min(len(p_values), _cores())) as pool:
        per_p, vals = zip(*pool.map(one, p_values, n_val), strict=True)
    factors, lam_max, ls, spectra, lams, us, rots, terms = zip(*per_p, strict=True)
    empty = np.zeros((len(p_values), 0))
    modes = teacher_modes(root_seed, seed, w_bar, spectrum)
    return SeedStats(
        np.stack(factors),
        w_bar,
        np.asarray(lam_max),
        np.asarray(ls),
        np.asarray(spectra),
        np.stack(lams) if eigen else empty,
        np.stack(us) if eigen else empty[..., None],
        np.stack(rots) if eigen else empty[..., None],
        *modes,
        np.stack(vals),
        np.asarray(terms),
        root,
    )


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _p_stats(x, z, w_bar, p: int, k: int, n_in: int, inputs: str, eigen: bool) -> tuple:
    """One P's statistics from the first ``p`` of the examples ``x``, ``z``, all from one
    eigendecomposition, Σ_xx = U Λ Uᵀ: the factor L (L Lᵀ = the augmented Gram matrix of those
    examples), λ_max, the min-norm least-squares terms, the spectrum of G = L_xᵀ L_x with the
    teacher's and the noise's parts, with ``eigen`` U, Λ and Uᵀ L_x (else None), and the
    bounds' :attr:`SeedStats.data_terms`.

    G's nonzero eigenvalues are Σ_xx's, with eigenvectors v_k = L_xᵀ u_k/√λ_k, so the teacher's
    and the noise's coefficients along mode k are w̄ u_k √λ_k and zᵀX u_k/√λ_k (= b_k). With more
    examples than N + N_out the factor is built in Σ_xx's eigenbasis, where G is diagonal:
    L = [[0, U√Λ], [C, B]] with B = zᵀX U/√Λ and C Cᵀ = zᵀz − B Bᵀ (the N_out-square Schur
    complement), so L Lᵀ = [[XᵀX, Xᵀz], [zᵀX, zᵀz]]; with fewer, the raw (masked) data is the
    factor. Directions of Σ_xx at its rounding (λ ≤ N·ε·λ_max: X u = 0 in exact arithmetic)
    carry no B; modes of G below 1e-10 λ_max enter no sum (zeros in the spectrum)."""
    p_max, n_out = len(x), z.shape[1]
    xp = inputs_of(x, p, inputs)
    zp = np.where(np.arange(p_max)[:, None] < p, z, 0.0)
    lam, u = np.linalg.eigh(xp.T @ xp)  # the one decomposition
    top = lam[-1]
    root = np.sqrt(np.clip(lam, 0.0, None))
    nonzero = lam > n_in * np.finfo(np.float64).eps * top
    b = np.where(nonzero, (zp.T @ (xp @ u)) / np.where(nonzero, root, 1.0), 0.0)  # (N_out, N)
    tu = (w_bar @ u) * root  # the teacher's coefficients w̄ u_k √λ_k (N_out, N)
    if k == p_max:  # the raw (masked) data is already the smallest factor
        factor = np.concatenate([xp, zp], axis=1).T
    else:  # k = N + N_out
        s_lam, s_vec = np.linalg.eigh(zp.T @ zp - b @ b.T)  # N_out-square
        factor = np.block(
            [[np.zeros((n_in, n_out)), u * root[None, :]], [s_vec * np.sqrt(np.clip(s_lam, 0.0, None)), b]]
        )
    # G's K eigenvalues: Σ_xx's (ascending), its smallest dropped or zeros put first
    kept = lam > 1e-10 * top
    g = np.where(kept, lam, 0.0)
    modes = [g, np.sum(tu * tu, 0), np.sum(tu * b, 0), np.sum(b * b, 0)]
    modes = [np.where(kept, m, 0.0) for m in modes]
    spectrum = [m[max(n_in - k, 0) :] if k <= n_in else np.pad(m, (k - n_in, 0)) for m in modes]
    inv = np.where(kept, 1.0 / np.where(kept, lam, 1.0), 0.0)
    ls = [np.sum(modes[1] * inv), np.sum(modes[2] * inv), np.sum(modes[3] * inv)]
    # the row space is Σ_xx's top min(P, N) directions (as null_space_error's complement)
    terms = (lam[n_in - min(p, n_in)], np.sqrt(np.max(np.sum(xp * xp, 1))), np.sum(zp * zp) / (p * n_out))
    terms = (*terms, np.max(np.abs(zp)))
    if not eigen:
        return factor, top, ls, spectrum, None, None, None, terms
    if k == p_max:
        rotated = u.T @ factor[:n_in]
    else:  # Uᵀ L_x = [0, √Λ]
        rotated = np.concatenate([np.zeros((n_in, n_out)), np.diag(root)], axis=1)
    return factor, top, ls, spectrum, lam, u, rotated, terms


def problem_stats(root_seed: int, seed: int, p_values, problem, eigen: bool = False, validation=None):
    """:func:`seed_stats` for a spec's :class:`~dynax.spec.Problem` (every teacher and input key)."""
    return seed_stats(
        root_seed, seed, p_values, problem.n_in, problem.n_out, problem.teacher_var, eigen,
        problem.teacher_singular_values, problem.inputs, validation, problem.hierarchy, problem.teacher,
        problem.input_spectrum, problem.input_basis,
    )  # fmt: skip


def problem_teacher(root_seed: int, seed: int, problem) -> np.ndarray:
    """The linear teacher w̄ of a seed for a spec's :class:`~dynax.spec.Problem`."""
    return np.asarray(
        seed_teacher(
            root_seed, seed, problem.n_in, problem.n_out, problem.teacher_var,
            tuple(problem.teacher_singular_values), problem.hierarchy, problem.teacher,
        )
    )  # fmt: skip


@float64
def raw_data(
    root_seed: int,
    seed: int,
    p: int,
    n_in: int,
    n_out: int,
    teacher_var: float,
    snr: float,
    spectrum: tuple = (),
    inputs: str = "gaussian",
    hierarchy=None,
    kind: str = "linear",
    covariance: tuple = (),
    basis: str = "random",
):
    """The raw training set of one run (for oracles and baselines, not the engine); with a
    ``covariance`` (an input spectrum) the inputs are ``A x`` (:func:`input_root`).

    Returns:
        x: (P, N) inputs; y: (P, N_out) labels ``w̄ x + σ_ε z``; w_bar: (N_out, N); noise_var.
    """
    w_bar = np.asarray(
        seed_teacher(root_seed, seed, n_in, n_out, teacher_var, tuple(spectrum), hierarchy, kind)
    )
    if hierarchy is not None:  # one-hot items: the noise only
        x, z = np.eye(p, n_in), np.asarray(noise_draws(data_key(root_seed, seed), n_out, p))
    else:
        x, z = (np.asarray(v) for v in examples(data_key(root_seed, seed), n_in, n_out, p))
    a = np.asarray(input_root(root_seed, seed, n_in, n_out, tuple(covariance), basis, tuple(spectrum)))
    x = x @ a.T if covariance else x
    x = inputs_of(x, p, inputs)
    noise_var = float(derived.noise_var(teacher_var, snr))
    y = x @ w_bar.T + np.sqrt(noise_var) * z
    return x, y, w_bar, noise_var


class RawData(NamedTuple):
    """One seed's raw data: the first ``p_max`` stored examples, the teacher and the test set."""

    x: np.ndarray  # (p_max, N)
    z: np.ndarray  # (p_max, N_out)
    t1: np.ndarray
    t2: np.ndarray
    test_x: np.ndarray  # (n_test, N)
    test_f: np.ndarray  # (n_test, N_out) noiseless teacher outputs
    input_root: np.ndarray  # A (N, N) of an input covariance (input_root); (0, 0) if white


@partial(jax.jit, static_argnames=("n_in", "n_out", "p_max", "teacher", "teacher_width", "n_test", "spectrum",
                                   "covariance", "basis", "readout"))  # fmt: skip
def _seed_raw(root_seed, seed, teacher_var, *, n_in, n_out, p_max, teacher, teacher_width, n_test, spectrum,
              covariance, basis, readout):  # fmt: skip
    key = data_key(root_seed, seed)
    x, z = examples(key, n_in, n_out, p_max)
    linear = spectral_teacher(root_seed, seed, n_in, n_out, spectrum)[0] if spectrum else None
    t1, t2 = teacher_params(key, teacher, n_in, n_out, teacher_var, teacher_width, linear, readout)
    tkey = jax.random.fold_in(run_key(root_seed, seed), TEST_STREAM)
    test_x, _ = examples(tkey, n_in, n_out, n_test)
    root = input_root(root_seed, seed, n_in, n_out, covariance, basis, spectrum)
    if covariance:  # the same white draws, each taken to A x (stored and test examples alike)
        x, test_x = x @ root.T, test_x @ root.T
    return x, z, t1, t2, test_x, teacher_apply(teacher, t1, t2, test_x), root


@float64
def seed_raw_data(root_seed: int, seed: int, problem, p_max: int) -> RawData:
    """The raw data of one seed for the raw-data trainer (one compilation per sweep);
    ``problem`` is the spec's :class:`~dynax.spec.Problem`."""
    return RawData(
        *(
            np.asarray(v)
            for v in _seed_raw(
                np.uint32(root_seed),
                np.uint32(seed),
                np.float64(problem.teacher_var),
                n_in=problem.n_in,
                n_out=problem.n_out,
                p_max=p_max,
                teacher=problem.teacher,
                teacher_width=problem.teacher_width,
                n_test=problem.n_test,
                spectrum=problem.teacher_singular_values,
                covariance=problem.input_spectrum,
                basis=problem.input_basis,
                readout=problem.teacher_readout,
            )
        )
    )
