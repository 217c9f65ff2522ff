"""Structured teachers: a hierarchy of items and features (docs/theory.md §3.5) — its spec
keys, its closed-form modes against the sampled features, the Saxe curves of each level, and
the recorded weights and item similarity against NumPy GD loops."""

import jax
import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

from dynax import parse_spec, predict, run_sweep, theory
from dynax.sim import data
from dynax.sim.scope import x64
from dynax.spec import SpecError
from dynax.spec.model import Hierarchy

TREE = "teacher = 'hierarchy'\nn_out = 30\nhierarchy = { branching = 2, levels = 2, flip = 0.1 }"


def _error(grid: str, problem: str, model: str = "", train: str = "") -> str:
    grid = grid or "n_over_p = 1.0"
    with pytest.raises(SpecError) as e:
        parse_spec(
            spec_text(f"depth = 2\n{grid}\nsnr = inf\nseed = 0", problem, model, train or "epochs = 5")
        )
    return str(e.value)


@pytest.mark.parametrize(
    ("grid", "problem", "model", "train", "key", "words"),
    [
        ("", "teacher = 'hierarchy'", "", "", "problem.hierarchy", "missing"),
        ("", "teacher = 'hierarchy'\nhierarchy = 3", "", "", "problem.hierarchy", "table"),
        (
            "",
            "teacher = 'hierarchy'\nhierarchy = {branching = 2, levels = 2}",
            "",
            "",
            "hierarchy.flip",
            "missing",
        ),
        ("", TREE.replace("branching = 2", "branching = 1"), "", "", "hierarchy.branching", "[2, 4096]"),
        ("", TREE.replace("levels = 2", "levels = 0"), "", "", "hierarchy.levels", "≥ 1"),
        ("", TREE.replace("flip = 0.1", "flip = 0.6"), "", "", "hierarchy.flip", "≤ 0.5"),
        (
            "",
            TREE.replace("flip = 0.1", "flip = [0.1]"),
            "",
            "",
            "hierarchy.flip",
            "one flip probability per level",
        ),
        ("", TREE.replace("flip = 0.1", "flip = [0.1, -0.1]"), "", "", "hierarchy.flip[1]", "≥ 0"),
        ("", TREE.replace("levels = 2", "levels = 13"), "", "", "hierarchy.levels", "more than 4096 items"),
        ("", TREE.replace("levels = 2", "levels = 2, depth = 1"), "", "", "hierarchy.depth", "unknown key"),
        ("", TREE + "\nn_in = 5", "", "", "problem.n_in", "4 items"),
        ("", TREE.replace("n_out = 30", "n_out = 3"), "", "", "problem.n_out", "N_out ≥ 4"),
        ("", TREE.replace("n_out = 30\n", ""), "", "", "problem.n_out", "default 1"),
        ("", TREE, "activation = 'relu'", "", "model.activation", "linear students"),
        (
            "",
            TREE.replace("levels = 2", "levels = 20000"),
            "",
            "",
            "hierarchy.levels",
            "more than 4096 items",
        ),
        ("", TREE.replace("branching = 2", "branching = 5000"), "", "", "hierarchy.branching", "[2, 4096]"),
        ("n_over_p = 1.05", TREE, "", "", "grid.n_over_p", "allowed: 1"),
        ("", TREE + "\nteacher_var = 2.0", "", "", "problem.teacher_var", "±1"),
        ("", TREE + "\ninputs = 'gaussian'", "", "", "problem.inputs", "one-hot"),
        ("", TREE + "\nteacher_singular_values = [1.0]", "", "", "problem.teacher_singular_values", "tree"),
        ("n_over_p = [1.0, 0.5]", TREE, "", "", "grid.n_over_p", "P = N"),
        ("", TREE, "", "epochs = 5\nvalidation = 0.25", "train.validation", "never learnt"),
        ("", TREE, "", "epochs = 5\nprotocol = 'online'", "train.protocol", "full-batch"),
        ("", TREE, "", "epochs = 5\nbatch_size = 2", "train.batch_size", "full-batch"),
        ("", TREE, "student = 'random_features'", "", "model.student", "linear students"),
        (
            "",
            "n_in = 4\nhierarchy = { branching = 2, levels = 2, flip = 0.1 }",
            "",
            "",
            "problem.hierarchy",
            "applies only",
        ),
        ("", "n_in = 4\ninputs = 'onehot'", "", "", "problem.inputs", "items"),
        (
            "",
            "n_in = 4",
            "",
            "epochs = 5\nrecord = { log = 5, similarity = true }",
            "record.similarity",
            "hierarchy",
        ),
    ],
)
def test_bad_hierarchy_keys_are_spec_errors_naming_the_key(grid, problem, model, train, key, words):
    msg = _error(grid, problem, model, train)
    assert f"`{key}`" in msg or f".{key}`" in msg, msg
    assert words in msg, msg


def test_a_hierarchy_spec_derives_its_items_and_keeps_older_hashes():
    spec = parse_spec(spec_text("depth = 2\nsnr = inf\nseed = 0", TREE, "", "epochs = 5"))
    pr = spec.problem
    assert (pr.n_in, pr.teacher_var, pr.inputs, spec.n_train) == (4, 1.0, "onehot", (4,))
    assert pr.hierarchy == Hierarchy(2, 2, (0.1, 0.1)) and "modes" in spec.train.record.flags  # on by default
    assert spec.canonical()["problem"]["hierarchy"]["flip"] == (0.1, 0.1)
    plain = parse_spec(spec_text("depth = 2\nn_over_p = 1.0\nsnr = inf\nseed = 0"))
    assert "hierarchy" not in plain.canonical()["problem"]  # older specs hash as before


@pytest.mark.parametrize(
    ("b", "k", "flip"), [(2, 3, 0.1), (3, 2, [0.05, 0.2]), (2, 1, 0.3), (4, 2, [0.0, 0.1])]
)
def test_tree_modes_diagonalise_the_item_covariance_with_the_closed_form_eigenvalues(b, k, flip):
    c = theory.hierarchy_covariance(b, k, flip)
    v = theory.hierarchy_modes(b, k)
    lam, mult = theory.hierarchy_eigenvalues(b, k, flip)
    levels = theory.hierarchy_levels(b, k)
    assert mult.sum() == b**k and np.all(np.diff(lam) <= 1e-15)  # broad levels are the strong modes
    np.testing.assert_allclose(v.T @ v, np.eye(b**k), atol=1e-14)
    np.testing.assert_allclose(v.T @ c @ v, np.diag(lam[levels]), atol=1e-13)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(c)), np.sort(lam[levels]), atol=1e-13)


def _features(h: Hierarchy, n_out: int, seeds: int) -> np.ndarray:
    with x64():
        draw = jax.jit(jax.vmap(lambda s: data.hierarchy_features(0, s, n_out, h)))
        return np.asarray(draw(np.arange(seeds, dtype=np.uint32)))


def test_sampled_features_have_the_closed_form_covariance_and_singular_values():
    """Over 400 seeds: E[w̄ᵀw̄]/N_out = C entry by entry, the mean square along each level's
    tree modes is N_out λ_l (unbiased), and the sorted singular values of each seed's w̄ match
    √(N_out λ_l) up to their finite-feature bias (second-order perturbation theory), each within
    4 standard errors of the seed mean."""
    h, n_out, seeds = Hierarchy(2, 3, (0.05, 0.1, 0.15)), 400, 400
    w = _features(h, n_out, seeds)
    assert set(np.unique(w)) == {-1.0, 1.0}
    c = theory.hierarchy_covariance(2, 3, h.flip)
    per_seed = np.einsum("sfi,sfj->sij", w, w) / n_out
    se = per_seed.std(0, ddof=1) / np.sqrt(seeds)
    assert np.all(np.abs(per_seed.mean(0) - c) <= 4 * se + 1e-12)
    lam, mult = theory.hierarchy_eigenvalues(2, 3, h.flip)
    levels = theory.hierarchy_levels(2, 3)
    along = np.sum((w @ theory.hierarchy_modes(2, 3)) ** 2, axis=1) / n_out  # (seed, mode)
    sv2 = np.linalg.svd(w, compute_uv=False) ** 2 / n_out
    np.testing.assert_allclose(theory.hierarchy_singular_values(2, 3, h.flip, n_out), np.sqrt(n_out * lam))
    for lev in range(4):
        a, b = along[:, levels == lev].mean(1), sv2[:, levels == lev].mean(1)
        assert abs(a.mean() - lam[lev]) <= 4 * a.std(ddof=1) / np.sqrt(seeds), lev
        # a sample covariance's eigenvalues repel across levels (second order in the off-level
        # overlaps): E[σ²]/N_out ≈ λ_l + Σ_m mult_m λ_l λ_m / (N_out (λ_l − λ_m))
        others = np.arange(4) != lev
        bias = np.sum(mult[others] * lam[lev] * lam[others] / (lam[lev] - lam[others])) / n_out
        assert abs(b.mean() - lam[lev] - bias) <= 4 * b.std(ddof=1) / np.sqrt(seeds) + 0.25 * abs(bias), lev


def _aligned(depth: int, lr: float, epochs: int, record: str = "log = 40, weights = true, similarity = true"):
    text = spec_text(
        f"depth = {depth}\nsnr = inf\nseed = [0, 1]",
        TREE,
        "width = 4\ninit = 'aligned'\ninit_scale = 0.1",
        f"epochs = {epochs}\nrecord = {{ {record} }}\nlearning_rate = {lr}\ndtype = 'float64'",
    )
    return parse_spec(text), run_sweep(parse_spec(text))


@pytest.mark.parametrize(
    ("depth", "lr", "tol"),
    [
        pytest.param(2, 0.0002, 0.01, marks=pytest.mark.slow),  # the flow, to 1% of s, at a small step
        (2, 0.004, 1e-9),  # the exact GD recursion at the spec's step
        pytest.param(3, 0.0001, 0.01, marks=pytest.mark.slow),
        pytest.param(3, 0.004, 1e-9, marks=pytest.mark.slow),
    ],
)
def test_aligned_noiseless_hierarchy_modes_follow_the_saxe_curves(depth, lr, tol):
    """Each level's modes, from a small aligned start on a noiseless hierarchy, follow the
    exact flow within 1% of s at a small step, and the exact GD recursion at the spec's step."""
    spec, ds = _aligned(depth, lr, int((3 if depth == 2 else 6) / lr))  # the plateau grows with depth
    epochs = np.asarray(spec.record_epochs)
    assert list(ds.level.values) == [0, 1, 2, 2]
    for seed in (0, 1):
        run = ds.sel(seed=seed).squeeze()
        s = run.teacher_singular_value.values  # this seed's features' singular values
        got = run.mode_strength.values
        if tol < 1e-3:
            want = theory.saxe_mode_discrete(s, 0.1**depth, epochs, lr, depth, 1.0).T
        else:
            want = np.stack([theory.saxe_mode(si, 0.1**depth, lr * epochs, depth) for si in s])
        err = np.max(np.abs(got - want), axis=1) / s
        assert np.all(err < tol), (lr, seed, err)
        assert np.all(got[:, -1] > 0.99 * s)  # every level is learnt within the run
        # learnt: each item's outputs are its features, and the similarity is theirs
        w_bar = np.asarray(data.hierarchy_features(0, seed, 30, spec.problem.hierarchy))
        np.testing.assert_allclose(run.weights.isel(epoch=-1), w_bar, atol=0.02 * s.max())
        np.testing.assert_allclose(
            run.similarity.isel(epoch=-1), w_bar.T @ w_bar / 30, atol=0.05 * s.max() ** 2 / 30
        )


@pytest.mark.parametrize(
    "depth", [pytest.param(1, marks=pytest.mark.slow), 2, pytest.param(3, marks=pytest.mark.slow)]
)
def test_recorded_weights_and_similarity_equal_a_numpy_gd_loop(depth):
    text = spec_text(
        f"depth = {depth}\nsnr = [inf, 2.0]\nseed = 3",
        TREE.replace("flip = 0.1", "flip = [0.1, 0.25]"),
        "width = 5\ninit_scale = 0.3",
        "epochs = 40\nrecord = { every = 8, weights = true, similarity = true, final_weights = true }\n"
        "learning_rate = 0.01\ndtype = 'float64'",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    assert ds.similarity.dims[-3:] == ("item_a", "item_b", "epoch") and ds.weights.dims[-3:] == (
        "output",
        "input",
        "epoch",
    )
    pr = spec.problem
    # each drawn mode's level: the tree level holding most of its right singular vector
    w = np.asarray(data.hierarchy_features(0, 3, 30, pr.hierarchy))
    share = (theory.hierarchy_modes(2, 2).T @ np.linalg.svd(w, full_matrices=False)[2].T) ** 2
    tree_levels = theory.hierarchy_levels(2, 2)
    want = np.argmax([share[tree_levels == lev].sum(0) for lev in range(3)], axis=0)
    np.testing.assert_array_equal(ds.teacher_mode_level.sel(seed=3), want)
    for snr in (np.inf, 2.0):
        x, y, w_bar, noise_var = data.raw_data(
            0, 3, 4, 4, 30, 1.0, snr, inputs="onehot", hierarchy=pr.hierarchy
        )
        np.testing.assert_array_equal(x, np.eye(4))
        w0 = initial_weights(spec, depth, 3, noise_std=float(np.sqrt(noise_var)))
        _, effs = numpy_gd(x, y, w0, 0.01, 40, spec.record_epochs)
        curves = effs[list(spec.record_epochs)]  # (epoch, output, item)
        run = ds.sel(snr=snr).squeeze()
        np.testing.assert_allclose(np.moveaxis(run.weights.values, -1, 0), curves, rtol=0, atol=1e-11)
        sim = np.einsum("eoa,eob->eab", curves, curves) / 30
        np.testing.assert_allclose(np.moveaxis(run.similarity.values, -1, 0), sim, rtol=0, atol=1e-11)
        np.testing.assert_allclose(run.final_weights, curves[-1], rtol=0, atol=1e-11)
        test = np.sum((curves - w_bar) ** 2, (1, 2)) / w_bar.size + noise_var
        np.testing.assert_allclose(run.test_error, test, rtol=1e-10)
    if depth == 1:  # the closed form against the GD kernel
        gd = run_sweep(parse_spec(text, overrides=["train.method=gd"]))
        for name in ("weights", "similarity", "mode_strength", "test_error"):
            np.testing.assert_allclose(ds[name], gd[name], rtol=0, atol=1e-11)


def test_records_together_over_the_cap_are_refused_before_training():
    from dynax.engine import plan_sweep

    text = spec_text(
        "depth = 2\nsnr = inf\nseed = { count = 300 }",
        "teacher = 'hierarchy'\nn_out = 1000\nhierarchy = { branching = 4, levels = 3, flip = 0.1 }",
        "",
        "epochs = 250\nrecord = { every = 10, weights = true, similarity = true, final_weights = true }",
    )
    plan = None
    with pytest.raises(SpecError, match=r"together they take 2\.\d\d GiB.*cap is 2 GiB") as e:
        plan = plan_sweep(parse_spec(text))
    assert plan is None and "`train.record.weights`" in str(e.value)
    each = parse_spec(text, overrides=["train.record={every = 10, weights = true}"])
    assert plan_sweep(each).variable_bytes("weights") < 2 << 30  # each alone is under the cap


def test_weights_over_the_cap_are_refused_before_training():
    from dynax.engine import plan_sweep

    text = spec_text(
        "depth = 2\nsnr = inf\nseed = { count = 2000 }",
        "teacher = 'hierarchy'\nn_out = 1000\nhierarchy = { branching = 4, levels = 3, flip = 0.1 }",
        "",
        "epochs = 100\nrecord = { log = 50, weights = true }",
    )
    with pytest.raises(SpecError, match=r"`train.record.weights`.*cap is 2 GiB"):
        plan_sweep(parse_spec(text))


def test_depth1_learning_curves_follow_the_white_input_theory():
    """One-hot items are white (Σ_xx = I), and E_g at depth 1 depends on the teacher only through
    ‖w̄‖² = N·N_out (±1 features): the theory's single-eigenvalue curve holds in expectation over
    the init and the noise; the seed mean is within 4 standard errors of it at every record."""
    text = spec_text(
        "depth = 1\nsnr = [1.0, 4.0]\nseed = { count = 30 }",
        TREE.replace("levels = 2", "levels = 3"),
        "init = 'gaussian'\ninit_scale = 0.3",
        "epochs = 300\nlearning_rate = 0.01\nrecord = { log = 20, modes = false }\ndtype = 'float64'",
    )
    spec = parse_spec(text)
    ds, th = run_sweep(spec), predict(spec)
    mean, se = ds.test_error.mean("seed"), ds.test_error.std("seed") / np.sqrt(30)
    assert np.all(np.abs(mean - th.test_error) <= 4 * se)
