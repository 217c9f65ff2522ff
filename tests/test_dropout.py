"""Dropout on hidden units (train.dropout): its expected loss against simulation, the decoupled
mode's fixed point and speed against dynax.theory, the masks' keys, and the key's checks."""

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import initial_weights, spec_text

import dynax
from dynax.sim import data
from dynax.theory import dropout_learning_time, dropout_mode, dropout_shared_minimum, saxe_mode


def _expected_gd(x, y, ws, lr, epochs, q, scaling):
    """GD on dropout's expected loss (docs/theory.md §3.6), depth 2: the end-to-end weights at
    every epoch. Inverted: ½Σ‖y − W₂W₁x‖² + ½(q/p)Σ_i‖a_i‖² w_iᵀΣ_xx w_i; unscaled masks: the
    fit of p W₂W₁ and the penalty's factor p q."""
    p = 1 - q
    w1, w2 = (np.array(w, np.float64) for w in ws)
    sxx = x.T @ x
    k, c = (1.0, q / p) if scaling == "inverted" else (p, p * q)
    effs = []
    for _ in range(epochs + 1):
        effs.append(w2 @ w1)
        g_eff = -k * ((y.T - k * (w2 @ w1) @ x.T) @ x)
        a2 = np.sum(w2 * w2, 0)  # ‖a_i‖²
        quad = np.einsum("in,nm,im->i", w1, sxx, w1)  # w_iᵀ Σ_xx w_i
        g1 = w2.T @ g_eff + c * a2[:, None] * (w1 @ sxx)
        g2 = g_eff @ w1.T + c * w2 * quad[None, :]
        w1, w2 = w1 - lr * g1, w2 - lr * g2
    return np.array(effs)


@pytest.mark.slow  # 13 s; test_masks_are_fresh_per_epoch_example_and_layer (default) covers the masks
@pytest.mark.parametrize("scaling", ["inverted", "none"])
def test_dropout_follows_its_expected_loss(scaling):
    """Full-batch GD with fresh masks per example and epoch against GD on the expected loss from
    the same initial weights and data, 32 seeds, float64: the seed means agree within 2 standard
    errors of the simulation's mean at every recorded epoch, and the paired difference within 3
    of its own (it fails with the penalty's factor q/p replaced by q, or the masks unscaled)."""
    n, seeds, lr, epochs, q = 8, 32, 0.01, 300, 0.5
    spec = dynax.parse_spec(
        spec_text(
            f"depth = [2]\nn_over_p = [0.5]\nsnr = [4.0]\nseed = {{ count = {seeds} }}",
            f"n_in = {n}",
            "width = 8\ninit = 'gaussian_fan_in'\ninit_scale = 0.5",
            f"epochs = {epochs}\nlearning_rate = {lr}\nrecord = {{ log = 6 }}\ndtype = 'float64'\n"
            f"dropout = {q}\ndropout_scaling = '{scaling}'",
        )
    )
    ds = dynax.run_sweep(spec)
    sim = ds.test_error.squeeze().values  # (seed, epoch)
    p = spec.n_train[0]
    theory = []
    noise_var = float(ds.noise_var.squeeze())
    for s in range(seeds):
        rd = data.seed_raw_data(spec.seed, s, spec.problem, p)  # one compiled draw for every seed
        x, w_bar = rd.x[:p], rd.t1
        y = x @ w_bar.T + np.sqrt(noise_var) * rd.z[:p]
        effs = _expected_gd(x, y, initial_weights(spec, 2, s), lr, epochs, q, scaling)
        theory.append([np.sum((effs[e] - w_bar) ** 2) / n + noise_var for e in ds.epoch.values])
    theory = np.array(theory)
    d = sim - theory
    se_sim = sim.std(0, ddof=1) / np.sqrt(seeds)
    se_d = d.std(0, ddof=1) / np.sqrt(seeds)
    assert (np.abs(sim.mean(0) - theory.mean(0)) <= 2 * se_sim + 1e-12).all()
    assert (np.abs(d.mean(0)) <= 3 * se_d + 1e-12).all()
    assert np.abs(d).max() > 0  # the masks are drawn: not the expected loss itself


MODE = """
name = "mode"
seed = 3
[grid]
depth = [2]
n_over_p = [0.5]
snr = [1e8]
dropout = [0.0, 0.5, 0.75]
seed = {{ count = 8 }}
[problem]
n_in = 16
inputs = "whitened"
[model]
width = 1
init = "aligned"
init_scale = 0.05
[train]
epochs = 1500
learning_rate = 0.002
record = {{ log = 20, modes = true }}
dtype = "float64"
dropout_scaling = "{scaling}"
"""


@pytest.mark.slow  # 11 s each; test_dropout_follows_its_expected_loss (default) covers the trainer
@pytest.mark.parametrize("scaling", ["inverted", "none"])
def test_one_mode_under_dropout_follows_the_logistic(scaling):
    """One mode on one hidden unit (width 1, aligned, whitened inputs, no noise): the mode
    strength ends at the fixed point (p s inverted, s unscaled) and follows dynax.theory's
    dropout_mode along the way, to 4% of s: GD's discretisation at this step (ε α s ≈ 0.02: 3%
    at q = 0 against saxe_mode) and the masks' fluctuations, which delay the steep rise (3.6%
    at q = 0.75 under unscaled masks, where the one hidden unit is kept for a quarter of the
    examples)."""
    ds = dynax.run_sweep(dynax.parse_spec(MODE.format(scaling=scaling)))
    u = ds.mode_strength.isel(mode=0, depth=0, n_over_p=0, snr=0).values  # (dropout, seed, epoch)
    s = np.broadcast_to(ds.teacher_singular_value.isel(mode=0).squeeze().values, u.shape[1:2])
    t = ds.epoch.values * 0.002
    alpha = 2.0  # Σ_xx = (P/N) I
    for i, q in enumerate(ds.dropout.values):
        th = np.array([dropout_mode(s[k], u[i, k, 0], t, q, scaling, alpha) for k in range(len(s))])
        fixed = (1 - q) * s if scaling == "inverted" else s
        reached = np.abs(th[:, -1] - fixed) <= 1e-3 * fixed  # unscaled masks slow learning by p
        assert reached.all() or (scaling == "none" and q > 0.5)
        np.testing.assert_allclose(u[i, reached, -1], fixed[reached], rtol=2e-3)
        assert np.abs(u[i] - th).max() <= 0.04 * s.max(), q
    # the pure GD run (q = 0) is Saxe's sigmoid to the same discretisation
    saxe = np.array([saxe_mode(s[k], u[0, k, 0], t, 2, alpha) for k in range(len(s))])
    assert np.abs(u[0] - saxe).max() <= 0.03 * s.max()


def test_dropout_mode_is_the_integrated_flow():
    """dropout_mode and dropout_learning_time against a fine Euler integration of the mode
    equations du/dt = 2αu(s − u/p) (inverted) and 2αp u(s − u) (unscaled)."""
    s, u0, alpha, dt = 2.0, 1e-3, 1.5, 1e-5
    t = np.arange(0, 4.0, dt)
    for q in (0.0, 0.3, 0.6):
        p = 1 - q
        for scaling, rhs in (
            ("inverted", lambda u, p=p: 2 * alpha * u * (s - u / p)),
            ("none", lambda u, p=p: 2 * alpha * p * u * (s - u)),
        ):
            u = np.empty_like(t)
            u[0] = u0
            for i in range(1, len(t)):
                u[i] = u[i - 1] + dt * rhs(u[i - 1])
            np.testing.assert_allclose(dropout_mode(s, u0, t, q, scaling, alpha), u, rtol=2e-3, atol=1e-9)
            half = (p * s if scaling == "inverted" else s) / 2
            np.testing.assert_allclose(
                dropout_learning_time(s, u0, q, scaling, 0.5, alpha), t[np.argmax(u >= half)], rtol=1e-3
            )


TEXT = spec_text(
    "depth = [2]\nn_over_p = [0.5, 2.0]\nsnr = [2.0]\ndropout = [0.0, 0.3]\nseed = { count = 3 }",
    "n_in = 10",
    "width = 12\ninit_scale = 0.3",
    "epochs = 60\nlearning_rate = 0.02\nrecord = { log = 8 }",
)


@pytest.mark.slow  # 30 s (five compiles); the spec hash below shows q = 0 is today's spec
@pytest.mark.parametrize("student", ["linear", "relu"])
def test_dropout_zero_runs_are_todays(student):
    """q = 0 runs in a grid with q > 0 give today's numbers bit for bit: on their own trainer
    (linear, full batch), or on the raw-data trainer they share with the q > 0 runs (a ReLU
    student), where they keep the rise check (with the automatic rate: the same halvings)."""
    text = (
        TEXT
        if student == "linear"
        else TEXT.replace("init_scale = 0.3", "init_scale = 0.3\nactivation = 'relu'")
    )
    if student == "relu":
        text = text.replace("learning_rate = 0.02", "learning_rate = 0.05")
    both = dynax.run_sweep(dynax.parse_spec(text))
    plain = dynax.run_sweep(dynax.parse_spec(text.replace("dropout = [0.0, 0.3]\n", "")))
    for v in ("test_error", "train_error", "best_test_error", "best_epoch"):
        np.testing.assert_array_equal(both[v].sel(dropout=0.0).values, plain[v].values)
    assert not np.allclose(both.test_error.sel(dropout=0.3), both.test_error.sel(dropout=0.0))


@pytest.mark.slow  # 10 s: two compiles
def test_dropout_keeps_an_automatic_rate_stable_at_depth_3():
    """Inverted scaling raises a step's curvature up to 1/p per hidden layer: the automatic rate
    of a depth-3 run is p² times the q = 0 run's on the same data, and none diverges."""
    text = TEXT.replace("depth = [2]", "depth = [3]").replace(
        "learning_rate = 0.02", "learning_rate = { auto = 0.5 }"
    )
    ds = dynax.run_sweep(dynax.parse_spec(text))
    lr = ds.learning_rate_used.squeeze()
    np.testing.assert_allclose(lr.sel(dropout=0.3), 0.7**2 * lr.sel(dropout=0.0), rtol=1e-12)
    assert int(ds.diverged.sum()) == 0


def test_masks_are_fresh_per_epoch_example_and_layer():
    """The masks of dynax.sim.raw: Bernoulli(p) per hidden unit, scaled by 1/p (inverted), drawn
    anew for every epoch, example and hidden layer, all ones at q = 0; draw 0 the same masks, draw 1
    others."""
    import jax.numpy as jnp

    from dynax.sim import raw, streams

    cfg = raw.RawConfig(
        depth=3, width=400, n_in=4, n_out=1, p_bucket=8, epochs=1, record=(0, 1), dropout=True
    )
    run = SimpleNamespace(seed=jnp.uint32(2), dropout=jnp.float64(0.25), draw=None)
    masks = streams.dropout_masks(cfg, run, jnp.float64)
    ids = jnp.arange(6)
    a, b = (np.asarray(m) for m in masks(ids, 3))  # two hidden layers, (6, 400) each
    assert set(np.unique(a)) == {0.0, 1 / 0.75}
    kept = (a > 0).mean()
    assert abs(kept - 0.75) < 4 * np.sqrt(0.75 * 0.25 / a.size)  # 4 s.e. of the kept fraction
    assert not (a == b).all() and not (a[0] == a[1]).all()  # layers and examples differ
    again = np.asarray(masks(ids[::-1], 3)[0])[::-1]  # an example's mask is its own, in any order
    np.testing.assert_array_equal(again, a)
    assert not (np.asarray(masks(ids, 4)[0]) == a).all()  # the next epoch draws anew
    none = streams.dropout_masks(
        cfg, SimpleNamespace(seed=run.seed, dropout=jnp.float64(0.0), draw=None), jnp.float64
    )
    assert (np.asarray(none(ids, 3)[0]) == 1).all()
    for d, same in ((0, True), (1, False)):  # grid.draw: draw 0 is the run key's own stream
        other = SimpleNamespace(seed=run.seed, dropout=run.dropout, draw=jnp.uint32(d))
        drawn = streams.dropout_masks(cfg, other, jnp.float64)
        assert (np.asarray(drawn(ids, 3)[0]) == a).all() == same


def test_dropout_keys_are_checked_and_zero_is_absent_from_the_hash():
    """dropout = 0 is the spec without the key (its hash unchanged); bad values and
    combinations are refused naming the key."""
    plain = TEXT.replace("dropout = [0.0, 0.3]\n", "")
    assert dynax.parse_spec(plain + "dropout = 0\n").sha256 == dynax.parse_spec(plain).sha256
    assert dynax.parse_spec(plain + "dropout = 0.2\n").sha256 != dynax.parse_spec(plain).sha256
    bad = {
        TEXT.replace("depth = [2]", "depth = [1, 2]"): "grid.dropout.*depth 1 has none",
        TEXT.replace("dropout = [0.0, 0.3]", "dropout = [1.0]"): "grid.dropout",
        TEXT + "dropout_scaling = 'half'\n": "train.dropout_scaling",
        TEXT.replace("width = 12", "width = 12\nstudent = 'random_features'"): "deep_linear",
        plain + "dropout = 0.2\nnull_space_error = true\n": "train.null_space_error",
    }
    for text, words in bad.items():
        with pytest.raises(dynax.SpecError, match=words):
            dynax.parse_spec(text)


@pytest.mark.slow  # 9 s: a new batch shape compiles
def test_dropout_masks_do_not_depend_on_the_batch():
    """Each example's mask comes from its run's key, epoch and index: runs trained one per
    batch give the numbers of the default batching."""
    text = spec_text(
        "depth = [2, 3]\nn_over_p = [0.5]\nsnr = [2.0]\nseed = { count = 3 }",
        "n_in = 10",
        "width = 12\ninit_scale = 0.3",
        "epochs = 60\nlearning_rate = 0.02\nrecord = { log = 8 }\ndropout = 0.4\nbatch_size = 3",
    )
    spec = dynax.parse_spec(text)
    np.testing.assert_array_equal(
        dynax.run_sweep(spec, chunk_size=1).test_error.values, dynax.run_sweep(spec).test_error.values
    )


def test_shared_minimum_is_gd_on_the_expected_loss():
    """Modes sharing a hidden layer (docs/theory.md §3.6): GD on the inverted expected loss
    ½‖S − W₂W₁‖² + ½(q/p)Σ_i‖a_i‖²‖w_i‖² (Σ_xx = I) from a random start ends at the singular values
    of dropout_shared_minimum (one common threshold θ, every mode cut by it) with every unit's share
    equal to Σm/h; unscaled masks' minimum is (s − θ)₊/p."""
    rng = np.random.default_rng(1)
    s = np.array([4.0, 2.0, 1.0, 0.5])
    for width, q in ((4, 0.4), (8, 0.25)):
        p = 1 - q
        target = np.zeros((4, 6))
        target[np.arange(4), np.arange(4)] = s
        w1, w2 = 0.3 * rng.standard_normal((width, 6)), 0.3 * rng.standard_normal((4, width))
        for _ in range(20000):
            r = w2 @ w1 - target
            g2 = r @ w1.T + (q / p) * w2 * np.sum(w1**2, 1)[None, :]
            g1 = w2.T @ r + (q / p) * w1 * np.sum(w2**2, 0)[:, None]
            w2, w1 = w2 - 0.02 * g2, w1 - 0.02 * g1
        m, share = dropout_shared_minimum(s, q, width)
        np.testing.assert_allclose(np.linalg.svd(w2 @ w1, compute_uv=False), m, atol=1e-3)
        np.testing.assert_allclose(np.linalg.norm(w2, axis=0) * np.linalg.norm(w1, axis=1), share, rtol=1e-3)
    m, _ = dropout_shared_minimum(s, 0.5, 4, "none")  # unscaled: (s − θ)₊/p
    np.testing.assert_allclose(m, [6.0, 2.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="width 2"):  # three modes kept: no width-2 network holds them
        dropout_shared_minimum(s, 0.25, 2)
