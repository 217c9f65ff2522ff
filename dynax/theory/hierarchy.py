"""A hierarchy of items and features in closed form (docs/theory.md §3.5).

Items are the leaves of a balanced tree, ``branching`` (B) children per node and ``levels``
(K) levels below the root: N = B^K items, item i the leaf whose path reads the base-B digits
of i. A feature is ±1 with probability ½ at the root and flips sign with probability
``flip[l]`` on each edge into level l + 1. Two items whose lowest common ancestor is k levels
above them then have features that agree on average by

    c_k = E[y_i y_j] = Π_{l = K−k}^{K−1} (1 − 2 flip[l])²        (c_0 = 1: the same item)

(the two paths from their ancestor cross k edges each). The item covariance C (N × N, unit
diagonal) depends on the tree only, and its eigenvectors are the tree's: the uniform vector
(level 0, the root), and for each node at level l − 1 the B − 1 contrasts between its
children's subtrees (level l). With n_k = B^k − B^{k−1} items k levels apart (n_0 = 1) and
S_m = Σ_{k ≤ m} n_k c_k, the eigenvalues are

    λ_0 = S_K,    λ_l = S_{K−l} − B^{K−l} c_{K−l+1}    ((B − 1)·B^{l−1} modes each, l = 1…K),

decreasing with l: broad distinctions are the strong modes. N_out features drawn
independently have E[w̄ᵀ w̄] = N_out·C for the feature matrix w̄ (N_out × N), so with one-hot
items (Σ_xx = I, Σ_yx = w̄) the input-output modes are the tree's levels with singular values
s_l = √(N_out λ_l) in mean square: E[‖w̄ v‖²] = N_out λ_l for each mode vector v of level l.
Every mode is then learnt along the Saxe curve of its own s (:func:`~dynax.theory.saxe_mode`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "hierarchy_covariance",
    "hierarchy_eigenvalues",
    "hierarchy_levels",
    "hierarchy_modes",
    "hierarchy_singular_values",
    "leaf_correlations",
]


def leaf_correlations(branching: int, levels: int, flip) -> np.ndarray:
    """``c_k`` for k = 0…K: the mean product of two items' features when their lowest common
    ancestor is k levels above them."""
    keep = (1.0 - 2.0 * np.broadcast_to(np.asarray(flip, np.float64), (levels,))) ** 2
    # k edges up from the leaves cross the last k levels' edges (twice: once per path)
    return np.concatenate([[1.0], np.cumprod(keep[::-1])])


def hierarchy_eigenvalues(branching: int, levels: int, flip) -> tuple[np.ndarray, np.ndarray]:
    """The item covariance's eigenvalues per level l = 0…K (root first) and their multiplicities."""
    b, k_max = branching, levels
    c = leaf_correlations(b, k_max, flip)
    n_k = np.array([1] + [b**k - b ** (k - 1) for k in range(1, k_max + 1)], np.float64)
    s = np.cumsum(n_k * c)  # S_m
    lam = np.empty(k_max + 1)
    lam[0] = s[k_max]
    for level in range(1, k_max + 1):
        m = k_max - level
        lam[level] = s[m] - b**m * c[m + 1]
    mult = np.array([1] + [(b - 1) * b ** (level - 1) for level in range(1, k_max + 1)], np.int64)
    return lam, mult


def hierarchy_singular_values(branching: int, levels: int, flip, n_out: int) -> np.ndarray:
    """``s_l = √(N_out λ_l)`` per level (root first): the input-output singular values of one-hot
    items in mean square (the sampled ones scatter about them; see the module docstring)."""
    lam, _ = hierarchy_eigenvalues(branching, levels, flip)
    return np.sqrt(n_out * np.clip(lam, 0.0, None))


def hierarchy_levels(branching: int, levels: int) -> np.ndarray:
    """The level of each of the N modes in the order of :func:`hierarchy_modes` (descending
    singular value): 0, then B − 1 of level 1, then (B − 1)·B of level 2, …"""
    _, mult = hierarchy_eigenvalues(branching, levels, 0.0)
    return np.repeat(np.arange(levels + 1), mult)


def hierarchy_modes(branching: int, levels: int) -> np.ndarray:
    """The tree's orthonormal mode vectors, (N, N) columns by level (root first).

    Level l has, for each node at level l − 1, B − 1 orthonormal contrasts among the indicator
    vectors of its B children's subtrees (the Helmert contrasts, normalised)."""
    b, n = branching, branching**levels
    cols = [np.full(n, 1.0 / np.sqrt(n))]
    # Helmert contrasts among B groups: row j compares group j with the groups before it
    helmert = np.zeros((b - 1, b))
    for j in range(1, b):
        helmert[j - 1, :j] = 1.0
        helmert[j - 1, j] = -j
        helmert[j - 1] /= np.linalg.norm(helmert[j - 1])
    for level in range(1, levels + 1):
        size = b ** (levels - level)  # items under a node at level l
        for node in range(b ** (level - 1)):
            start = node * b * size
            for h in helmert:
                v = np.zeros(n)
                v[start : start + b * size] = np.repeat(h, size) / np.sqrt(size)
                cols.append(v)
    return np.stack(cols, axis=1)


def hierarchy_covariance(branching: int, levels: int, flip) -> np.ndarray:
    """The item covariance C (N × N): ``C_ij = c_k`` with k the levels from i and j up to their
    lowest common ancestor."""
    c = leaf_correlations(branching, levels, flip)
    items = np.arange(branching**levels)
    k = np.full((len(items), len(items)), levels)  # every two items share the root
    for up in range(levels - 1, -1, -1):  # a nearer common ancestor, `up` levels above them
        k = np.where((items[:, None] // branching**up) == (items[None, :] // branching**up), up, k)
    return c[k]
