"""Training protocols (online, minibatch replay) and nonlinear teachers and students,
against their oracles: the online theory of docs/theory.md §4.1, full-batch GD on sufficient
statistics, unpadded runs, and chunking."""

import jax
import numpy as np
import pytest
import xarray as xr
from conftest import spec_text

from dynax import SpecError, engine, parse_spec, run_sweep, theory
from dynax.sim import raw
from dynax.spec import derived

VOLATILE = ("created", "history", "chunk_size", "devices")


def strip(ds):
    return ds.drop_attrs(deep=False).assign_attrs({k: v for k, v in ds.attrs.items() if k not in VOLATILE})


@pytest.mark.slow  # ~9 s, statistical; test_online_examples_are_the_stored_ones_and_align_with_replay stays
def test_online_sgd_matches_the_online_theory():
    """N = 400, 20 seeds, one pass up to alpha = 4: constant rate and the oracle schedule."""
    n = 400
    grid = "depth = 1\nn_over_p = [0.25]\nsnr = [1.0]\nseed = { count = 20 }"
    for train, curve in (
        ("learning_rate = 0.5", lambda a: theory.online_test_error(a, 1.0, 1.0, lr=0.5)),
        ("schedule = 'optimal_online'", lambda a: theory.online_test_error_optimal(a, 1.0, 1.0)),
    ):
        text = spec_text(
            grid,
            f"n_in = {n}",
            "init = 'zero'",
            f"protocol = 'online'\nepochs = 1\nrecord = {{ log = 40 }}\n{train}",
        )
        ds = run_sweep(parse_spec(text))
        alpha = ds.examples.isel(n_over_p=0).values / n
        sim = ds.test_error.mean("seed").squeeze().values
        ok = alpha >= 0.25  # docs/theory.md checks alpha = 0.25 ... 4
        np.testing.assert_allclose(sim[ok], curve(alpha[ok]), rtol=0.05)
        assert alpha[-1] == 4.0 and int(ds.diverged.sum()) == 0


@pytest.mark.slow  # ~15 s; test_padding_is_exact and test_online_sgd_matches_the_online_theory stay
def test_online_examples_are_the_stored_ones_and_align_with_replay():
    """Online with B = P takes one step over exactly the replay set: its error after one
    step equals full-batch GD's after one epoch (the first P online examples are the
    stored ones); `examples` aligns the two protocols."""
    p = 20
    text = spec_text(
        "depth = [1, 2]\nn_over_p = [1.0]\nsnr = [2.0]\nprotocol = ['replay', 'online']\n"
        "seed = { count = 2 }",
        f"n_in = {p}",
        "init = 'gaussian_fan_in'\ninit_scale = 0.3",
        f"epochs = 3\nlearning_rate = 0.3\nbatch_size = {p}\nrecord = {{ every = 1 }}\ndtype = 'float64'",
    )
    ds = run_sweep(parse_spec(text))
    rep, on = ds.sel(protocol="replay"), ds.sel(protocol="online")
    np.testing.assert_array_equal(ds.examples.sel(protocol="replay").values, [[0, p, 2 * p, 3 * p]])
    np.testing.assert_array_equal(ds.examples.sel(protocol="online").values, [[0, p, 2 * p, 3 * p]])
    np.testing.assert_allclose(on.test_error.isel(epoch=1), rep.test_error.isel(epoch=1), rtol=1e-12)
    np.testing.assert_allclose(on.train_error.isel(epoch=0), rep.train_error.isel(epoch=0), rtol=1e-12)
    # later steps see fresh examples: different from replaying the same set
    assert float(abs(on.test_error.isel(epoch=3) - rep.test_error.isel(epoch=3)).min()) > 1e-6


@pytest.mark.slow  # ~13 s; its sibling: test_raw_path_with_linear_activation_equals_sufficient_statistics
def test_replay_with_batch_p_equals_full_batch_gd():
    p = 24
    grid = "depth = [1, 2]\nn_over_p = [0.5]\nsnr = [0.5, 8.0]\nseed = { count = 2 }"
    train = "epochs = 60\nrecord = { log = 12 }\ndtype = 'float64'\nlearning_rate = { auto = 0.5 }"
    text = spec_text(grid, "n_in = 12", "init = 'gaussian_fan_in'\ninit_scale = 0.2", train)
    full = run_sweep(parse_spec(text, overrides=["train.method=gd"]))
    mini = run_sweep(parse_spec(text, overrides=[f"train.batch_size={p}"]))
    np.testing.assert_allclose(mini.learning_rate_used, full.learning_rate_used, rtol=1e-12)
    for name in ("test_error", "train_error", "best_test_error"):
        np.testing.assert_allclose(mini[name], full[name], rtol=1e-9)
    xr.testing.assert_equal(mini.best_epoch, full.best_epoch)


@pytest.mark.slow  # ~13 s; test_padding_is_exact, test_replay_with_batch_p_equals_full_batch_gd stay
def test_minibatch_replay_is_reproducible_chunk_invariant_and_shuffled():
    grid = "depth = 2\nn_over_p = [0.5, 1.0]\nsnr = [4.0]\nseed = { count = 3 }"
    train = "epochs = 30\nrecord = { log = 10 }\nlearning_rate = 0.05\nbatch_size = 5"
    text = spec_text(grid, "n_in = 10", "width = 6\ninit = 'gaussian_fan_in'\ninit_scale = 0.5", train)
    spec = parse_spec(text)
    a = run_sweep(spec)
    xr.testing.assert_identical(strip(a), strip(run_sweep(spec)))
    xr.testing.assert_identical(strip(a), strip(run_sweep(spec, chunk_size=1)))
    full = run_sweep(parse_spec(text, overrides=["train.batch_size=20"]))  # B = P for P = 20 and 10
    assert float(abs(a.test_error - full.test_error).isel(epoch=-1).min()) > 1e-6
    assert float(a.train_error.isel(epoch=-1).max()) < float(a.train_error.isel(epoch=0).min())


def _raw_chunk(spec, p_bucket=None, method_source="gd"):
    """Run every run of a (single-group) spec through raw.train_raw in one call."""
    plan = engine.plan_sweep(spec, chunk_size=10**6)
    (g,) = plan.groups
    c = g.config
    pb = p_bucket or derived.p_bucket(max(spec.n_train))
    rcfg = raw.RawConfig(
        depth=c.depth,
        width=c.width,
        n_in=c.n_in,
        n_out=c.n_out,
        p_bucket=pb,
        epochs=c.epochs,
        record=c.record,
        batch=getattr(c, "batch", 0),
        inits=c.inits,
        dtype=c.dtype,
        root_seed=c.root_seed,
        student=getattr(c, "student", "deep_linear"),
        activation=getattr(c, "activation", "linear"),
        teacher=getattr(c, "teacher", "linear"),
        teacher_width=getattr(c, "teacher_width", 0),
        n_test=getattr(c, "n_test", 0),
    )
    rg = engine.Group("raw", rcfg, g.runs, len(g.runs), len(g.runs))
    inputs, _ = engine.inputs.raw_inputs(plan, rg, g.runs, engine.inputs.stats_cache(plan))
    out = jax.jit(jax.vmap(lambda r: raw.train_raw(rcfg, r)))(inputs)
    return plan, g, jax.device_get(out)


def test_raw_path_with_linear_activation_equals_sufficient_statistics():
    text = spec_text(
        "depth = [3]\nn_over_p = [0.5]\nsnr = [1.0, 20.0]\nseed = { count = 3 }",
        "n_in = 10",
        "width = 7\ninit = 'gaussian_fan_in'\ninit_scale = 0.5",
        "epochs = 80\nrecord = { log = 15 }\ndtype = 'float64'\nlearning_rate = 0.02",
    )
    spec = parse_spec(text)
    plan, _, out = _raw_chunk(spec)
    ref = engine.chunk.run_chunk(plan, 0, engine.inputs.stats_cache(plan))
    np.testing.assert_allclose(out.test_error, ref.test_error, rtol=1e-10)
    np.testing.assert_allclose(out.train_error, ref.train_error, rtol=1e-10)
    np.testing.assert_allclose(out.best_test_error, ref.best_test_error, rtol=1e-10)
    np.testing.assert_array_equal(out.best_epoch, ref.best_epoch)


@pytest.mark.parametrize("batch", ["", pytest.param("batch_size = 3", marks=pytest.mark.slow)])  # 10 s each
def test_padding_is_exact(batch):
    """P = 10 in its own bucket (16) and in a bucket of 64: the same run, nonlinear too."""
    text = spec_text(
        "depth = 2\nn_over_p = [0.6]\nsnr = [2.0]\nseed = { count = 2 }",
        "n_in = 6\nteacher = 'relu'\nteacher_width = 5\nn_test = 50",
        "width = 8\ninit = 'gaussian_fan_in'\ninit_scale = 0.8\nactivation = 'tanh'",
        f"epochs = 40\nrecord = {{ log = 10 }}\ndtype = 'float64'\nlearning_rate = 0.05\n{batch}",
    )
    spec = parse_spec(text)
    assert spec.n_train == (10,)
    _, _, a = _raw_chunk(spec)
    _, _, b = _raw_chunk(spec, p_bucket=64)
    for name in ("test_error", "train_error", "best_test_error"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12)
    np.testing.assert_array_equal(a.best_epoch, b.best_epoch)


def test_relu_students_train_and_divergence_is_flagged():
    text = spec_text(
        "depth = 2\nn_over_p = [0.25]\nsnr = [10.0]\nlearning_rate = [0.02, 30.0]\nseed = { count = 3 }",
        "n_in = 8\nteacher = 'relu'\nteacher_width = 10\nn_test = 200",
        "width = 16\ninit = 'gaussian_fan_in'\ninit_scale = 1.0\nactivation = 'relu'",
        "epochs = 200\nrecord = { log = 20 }",
    )
    ds = run_sweep(parse_spec(text))
    ok = ds.sel(learning_rate=0.02)
    assert int(ok.diverged.sum()) == 0
    assert float((ok.train_error.isel(epoch=-1) / ok.train_error.isel(epoch=0)).max()) < 0.5
    assert float((ok.best_test_error / ok.test_error.isel(epoch=0)).max()) < 0.9
    assert "n_test = 200" in ds.test_error.attrs["long_name"]
    bad = ds.sel(learning_rate=30.0)
    assert int(bad.diverged.sum()) == 3
    assert bool(bad.test_error.isel(epoch=-1).isnull().all())
    assert bool(np.isfinite(bad.best_test_error).all())  # the minimum before divergence is kept


@pytest.mark.slow  # ~8 s; the nonlinear path keeps test_relu_students_train_and_divergence_is_flagged
def test_random_feature_student_and_its_overtraining():
    """The paper's student (fixed random ReLU layer, trained readout): with as many
    features as examples (50) it fits the noisy training set and overtrains far more
    than with 10 features, which cannot fit it."""
    text = spec_text(
        "depth = 2\nn_over_p = [0.1]\nsnr = [1.0]\nwidth = [10, 50]\nseed = { count = 3 }",
        "n_in = 5\nteacher = 'relu'\nteacher_width = 10\nn_test = 500",
        "student = 'random_features'\nactivation = 'relu'\ninit = 'zero'",
        "epochs = 3000\nrecord = { log = 30 }\nlearning_rate = 0.1\ndtype = 'float64'",
    )
    ds = run_sweep(parse_spec(text))
    assert int(ds.diverged.sum()) == 0
    train_drop = ds.train_error.isel(epoch=-1) / ds.train_error.isel(epoch=0)
    over = (ds.test_error.isel(epoch=-1) - ds.best_test_error) / ds.best_test_error
    assert float(train_drop.sel(width=50).max()) < 0.4
    assert float(ds.train_error.isel(epoch=-1).sel(width=10).min()) > 0.5
    assert float(over.sel(width=50).min()) > 0.3
    assert float(over.sel(width=50).mean()) > 2 * float(over.sel(width=10).mean())


@pytest.mark.parametrize(
    "problem, model, train, key, words",
    [
        ("n_in = 5", "", "epochs = 5\nschedule = 'optimal_online'", "train.schedule", "online runs"),
        ("n_in = 5", "student = 'random_features'", "epochs = 5", "grid.depth", "depth 2"),
        ("n_in = 5\nteacher = 'relu'", "", "epochs = 5", "problem.teacher_width", "missing"),
        ("n_in = 5\nn_test = 10", "", "epochs = 5", "problem.n_test", "exact population"),
        ("n_in = 5\nteacher = 'relu'\nteacher_width = 3", "", "epochs = 5", "train.learning_rate", "number"),
        ("n_in = 5", "activation = 'relu'", "epochs = 5", "model.activation", "depth 1"),
        ("n_in = 5", "init = 'aligned'", "epochs = 5\nbatch_size = 2", "model.init", "aligned"),
        ("n_in = 5", "", "epochs = 5\nbatch_size = 0", "train.batch_size", "≥ 1"),
        (
            "n_in = 5",
            "",
            "epochs = 5\nbatch_size = 2\nnull_space_error = true",
            "train.null_space_error",
            "full-batch",
        ),
        ("n_in = 5", "", "epochs = 5\nnull_space_error = 1", "train.null_space_error", "true or false"),
    ],
)
def test_protocol_spec_errors(problem, model, train, key, words):
    text = spec_text(
        "depth = [1, 2]\nn_over_p = [1.0]\nsnr = [1.0]\nseed = { count = 1 }", problem, model, train
    )
    with pytest.raises(SpecError) as e:
        parse_spec(text, "bad.toml")
    assert key in str(e.value) and words in str(e.value) and "bad.toml" in str(e.value)
