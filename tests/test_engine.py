"""The engine against its oracles: the closed form, raw-data GD, single runs, chunking,
fresh test samples, Marchenko-Pastur theory; compile counts and divergence."""

from functools import partial

import jax
import numpy as np
import pytest
import xarray as xr
from conftest import initial_weights, numpy_gd, spec_text

from dynax import engine, parse_spec, run_sweep, theory
from dynax.sim import closed_form, data, gd
from dynax.theory import stability_bound

VOLATILE = ("created", "history", "chunk_size", "devices")


def strip(ds):
    return ds.drop_attrs(deep=False).assign_attrs({k: v for k, v in ds.attrs.items() if k not in VOLATILE})


def test_closed_form_equals_gd_kernel():
    grid = "depth = 1\nn_over_p = [0.5, 1.0, 2.0]\nsnr = [0.5, 4.0, inf]\nseed = { count = 2 }"
    for train in (
        "epochs = 300\nrecord = { log = 30 }\ndtype = 'float64'\nnull_space_error = true",
        # oscillating modes (1 < ελ < 2) and the mean loss
        "epochs = 200\nrecord = { every = 7 }\ndtype = 'float64'\n"
        "learning_rate = { auto = 0.9 }\nloss = 'mean'",
    ):
        text = spec_text(grid, "n_in = 30", "init_scale = 0.3", train)
        a = run_sweep(parse_spec(text))
        b = run_sweep(parse_spec(text, overrides=["train.method=gd"]))
        scale = b.test_error.isel(epoch=0)
        for name in ("test_error", "train_error", "null_space_error"):
            if name in a:
                assert float((abs(a[name] - b[name]) / scale).max()) < 1e-10
        assert float((abs(a.best_test_error - b.best_test_error) / scale).max()) < 1e-10
        noisy = a.snr < np.inf  # noiseless curves end flat at rounding level: ties there
        xr.testing.assert_equal(a.best_epoch.where(noisy, 0), b.best_epoch.where(noisy, 0))
        assert int(a.diverged.sum()) == 0


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_sufficient_statistics_gd_equals_raw_data_gd(depth):
    text = spec_text(
        f"depth = {depth}\nn_over_p = [2.0, 0.5]\nsnr = 2.0\nseed = [0, 5]",
        "n_in = 8",
        "width = 6\ninit_scale = 0.4",
        "epochs = 60\nrecord = { every = 10 }\nlearning_rate = 0.05\nmethod = 'gd'\ndtype = 'float64'\n"
        "null_space_error = true",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    record = spec.record_epochs
    for seed in (0, 5):
        w0 = initial_weights(spec, depth, seed)
        for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
            x, y, w_bar, noise_var = data.raw_data(0, seed, p, 8, 1, 1.0, 2.0)
            saved, _ = numpy_gd(x, y, w0, 0.05, 60, record)
            null_basis = np.linalg.svd(x)[2][p:]  # rows: the inputs' null space (P < N), or none
            test, train, null = [], [], []
            for e in record:
                eff = saved[e][-1]
                for w in reversed(saved[e][:-1]):
                    eff = eff @ w
                test.append(np.sum((eff - w_bar) ** 2) / 8 + noise_var)
                train.append(np.mean((y.T - eff @ x.T) ** 2))
                null.append(np.sum(((eff - w_bar) @ null_basis.T) ** 2) / 8)
            run = ds.sel(depth=depth, n_over_p=r, seed=seed).squeeze()
            np.testing.assert_allclose(run.test_error, test, rtol=1e-10)
            np.testing.assert_allclose(run.train_error, train, rtol=1e-9)
            np.testing.assert_allclose(run.null_space_error, null, rtol=1e-9, atol=1e-14)
            if p < 8:  # a real frozen subspace: constant at depth 1, changing at depth >= 2
                change = float(abs(run.null_space_error[-1] - run.null_space_error[0]))
                assert change < 1e-12 if depth == 1 else change > 1e-4


def test_batched_equals_loop_of_single_runs():
    text = spec_text(
        "depth = [1, 2]\nn_over_p = [0.5, 1.5]\nsnr = [1.0, 8.0]\nseed = { count = 2 }\n"
        "learning_rate = [0.02, 0.05]",
        "n_in = 10",
        "width = 7\ninit_scale = 0.2",
        "epochs = 80\nrecord = { log = 15 }\nmethod = 'gd'\ndtype = 'float64'\noptimizer = 'momentum'",
    )
    spec = parse_spec(text)
    plan = engine.plan_sweep(spec)
    res = engine.execute(plan)
    cache = engine.inputs.stats_cache(plan)
    for group in plan.groups:
        single = jax.jit(partial(gd.train_gd, group.config))
        inputs, _ = engine.inputs.chunk_inputs(plan, group, group.runs, cache)
        for j, i in enumerate(group.runs):
            out = single(jax.tree.map(lambda a, j=j: a[j], inputs))
            np.testing.assert_allclose(out.test_error, res.test_error[i], rtol=1e-12)
            # E_t falls to 3e-4 of its start: the single and the batched program sum in their
            # own orders (XLA's codegen, which differs by CPU), and that cancellation lifts the
            # float64 rounding to ~1e-12 (seen on a Zen 5 VM); 1e-10 is still far below any bug
            np.testing.assert_allclose(out.train_error, res.train_error[i], rtol=1e-10)
            assert int(out.best_epoch) == res.best_epoch[i]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunk_size_does_not_change_results(dtype):
    text = spec_text(
        "depth = [1, 2]\nn_over_p = [0.5, 1.0, 2.0]\nsnr = [0.5, 4.0, inf]\nseed = { count = 3 }",
        "n_in = 16",
        "init_scale = 0.3",
        f"epochs = 120\nrecord = {{ log = 20 }}\ndtype = '{dtype}'",
    )
    spec = parse_spec(text)
    budget = 3 * max(engine.plan_sweep(spec).bytes_per_run.values())  # batches of 3 runs
    runs = [strip(run_sweep(spec, chunk_size=k, memory_budget=budget)) for k in (1, 7, 10**6)]
    groups = engine.plan_sweep(spec, 7, budget).groups
    assert all(g.chunk_size % g.batch == 0 and g.chunk_size >= 7 for g in groups)
    assert min(g.batch for g in groups) == 3 and all(g.n_chunks > 1 for g in groups)
    for other in runs[1:]:
        xr.testing.assert_identical(runs[0], other)


def test_population_error_matches_fresh_test_samples():
    spec = parse_spec(
        spec_text(
            "depth = 2\nn_over_p = 1.0\nsnr = 2.0\nseed = 3",
            "n_in = 20",
            "width = 10\ninit_scale = 0.3",
            "epochs = 40\nrecord = { every = 40 }\nlearning_rate = 0.02\ndtype = 'float64'",
        )
    )
    ds = run_sweep(spec).squeeze()
    x, y, w_bar, noise_var = data.raw_data(0, 3, 20, 20, 1, 1.0, 2.0)
    saved, _ = numpy_gd(x, y, initial_weights(spec, 2, 3), 0.02, 40, (40,))
    w1, w2 = saved[40]
    rng = np.random.default_rng(0)
    xt = rng.normal(size=(100_000, 20)) / np.sqrt(20)
    yt = xt @ w_bar.T + np.sqrt(noise_var) * rng.normal(size=(100_000, 1))
    sq = ((yt - xt @ (w2 @ w1).T) ** 2).ravel()
    se = sq.std() / np.sqrt(len(sq))
    assert abs(sq.mean() - float(ds.test_error.isel(epoch=-1))) < 4 * se


def test_one_compilation_per_compile_group():
    counts = {}

    def listen(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            name = kw.get("fun_name", "")
            counts[name] = counts.get(name, 0) + 1

    spec = parse_spec(
        spec_text(
            "depth = [1, 2]\nn_over_p = { geomspace = [0.2, 5.0, 10] }\nsnr = { geomspace = [0.5, 50, 5] }\n"
            "seed = { count = 2 }",
            "n_in = 23",  # shapes no other test uses: nothing cached
            "width = 9",
            "epochs = 30\nrecord = { log = 10 }\nkernel = 'xla'",
        )
    )
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        run_sweep(spec, memory_budget=20 * max(engine.plan_sweep(spec).bytes_per_run.values()))
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert counts.get("jit(train_chunk)") == 2  # closed form (depth 1) and GD (depth 2)
    assert counts.get("jit(_seed_stats)") == 1  # one program for every P and seed


def test_divergence_is_recorded_not_raised():
    spec = parse_spec(
        spec_text(
            "depth = [1, 2]\nn_over_p = 0.5\nsnr = 4.0\nseed = { count = 2 }\nlearning_rate = [0.05, 3.0]",
            "n_in = 10",
            "width = 10\ninit_scale = 0.3",
            "epochs = 200\nrecord = { log = 20 }",
        )
    )
    ds = run_sweep(spec)
    bad = ds.sel(learning_rate=3.0)
    good = ds.sel(learning_rate=0.05)
    assert int(bad.diverged.sum()) == bad.diverged.size and int(good.diverged.sum()) == 0
    assert bad.diverged.attrs["flag_meanings"] == "finite diverged"
    assert bool(bad.test_error.isel(epoch=-1).isnull().all())
    assert bool(np.isfinite(bad.test_error.isel(epoch=0)).all())  # recorded until it blew up
    assert bool(np.isfinite(bad.best_test_error).all()) and bool(np.isfinite(good.test_error).all())


@pytest.mark.parametrize("alpha", [pytest.param(0.5, marks=pytest.mark.slow), 2.0])  # 7 s each
def test_depth1_matches_marchenko_pastur_theory(alpha):
    n, snr, s0, lr = 200, 4.0, 0.5, 0.2
    spec = parse_spec(
        spec_text(
            f"depth = 1\nn_over_p = {1 / alpha}\nsnr = {snr}\nseed = {{ count = 32 }}",
            f"n_in = {n}",
            f"init_scale = {s0}",
            f"epochs = 500\nrecord = {{ log = 40 }}\nlearning_rate = {lr}\ndtype = 'float64'",
        )
    )
    ds = run_sweep(spec).squeeze()
    sim = ds.test_error.mean("seed")
    th = theory.test_error(alpha, 1.0, 1 / snr, s0**2, epochs=ds.epoch.values, step=lr)
    rel = np.abs(sim.values / th - 1)
    assert rel.max() < 0.05, rel.max()
    th_train = theory.train_error(alpha, 1.0, 1 / snr, s0**2, epochs=ds.epoch.values, step=lr)
    floor = 0.05 * (1 / snr)  # E_t → 0 when interpolating: compare on the noise scale
    assert np.all(np.abs(ds.train_error.mean("seed").values - th_train) < np.maximum(0.05 * th_train, floor))


@pytest.mark.slow  # a smoke test of every init and optimizer (27 s); the oracles cover each one
def test_every_init_and_optimizer_runs_in_float32():
    spec = parse_spec(
        spec_text(
            "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = 4.0\n"
            "init = ['gaussian', 'gaussian_fan_in', 'orthogonal', 'balanced', 'aligned']\n"
            "optimizer = ['gd', 'momentum', 'adam']\nseed = { count = 2 }",
            "n_in = 10",
            "width = 6\ninit_scale = 0.2",
            "epochs = 40\nrecord = { log = 8 }\nlearning_rate = 0.01",
        )
    )
    ds = run_sweep(spec)
    for name in ("train_error", "test_error", "best_test_error"):
        assert ds[name].dtype == np.float32
    assert int(ds.diverged.sum()) == 0 and bool(np.isfinite(ds.test_error).all())
    improved = ds.best_test_error < ds.test_error.isel(epoch=0)
    assert float(improved.mean()) > 0.9  # almost every run learned something in 40 epochs


def test_auto_rate_takes_the_norm_a_run_reaches_finite_near_n_equals_p():
    # the ridge norm of the spectrum equals a direct ridge solve, and the least-squares
    # norm (GD's t -> inf limit, which blows up near N = P with noise) as gamma -> 0
    for p, snr in ((47, 0.1), (20, 2.0), (160, 1.0)):
        st = data.seed_stats(0, 3, [p, 160], 40, 1, 1.0)
        x, y, _, noise_var = data.raw_data(0, 3, p, 40, 1, 1.0, snr)
        sigma = np.sqrt([noise_var])
        for gamma in (0.1, 3.0):
            w = np.linalg.solve(x.T @ x + gamma * np.eye(40), x.T @ y)
            got = engine.rates.ridge_norm(st.ls_spectrum[:1], sigma, [gamma])[0]
            assert got == pytest.approx(np.linalg.norm(w), rel=1e-8)
        w_mn = np.linalg.lstsq(x, y, rcond=None)[0]
        assert engine.rates.ridge_norm(st.ls_spectrum[:1], sigma, [1e-12])[0] == pytest.approx(
            np.linalg.norm(w_mn), rel=1e-6
        )
    # the step is the fixed point eps = f * bound(max(|w_bar|, |w_ridge(1 / (eps * epochs))|))
    st = data.seed_stats(0, 3, [40], 40, 1, 1.0)  # N = P: the least-squares norm is huge
    shapes = [(40, 40), (1, 40)]
    args = (2, st.lam_max, st.teacher[None], st.ls_spectrum, np.sqrt([10.0]), "gaussian_fan_in", shapes, 0.1)
    eps = engine.rates.auto_step(*args, 0.5, 2000)[0]
    norm = max(
        np.linalg.norm(st.teacher),
        engine.rates.ridge_norm(st.ls_spectrum, np.sqrt([10.0]), [1 / (eps * 2000)])[0],
    )
    assert eps == pytest.approx(
        0.5 * stability_bound(2, st.lam_max[0], norm, "gaussian_fan_in", shapes, 0.1), rel=1e-9
    )
    ls_norm = engine.rates.weight_norm(st.teacher[None], st.ls_terms, np.sqrt([10.0]))[0]
    assert eps > 3 * 0.5 * stability_bound(2, st.lam_max[0], ls_norm, "gaussian_fan_in", shapes, 0.1)
    spec = parse_spec(
        spec_text(
            "depth = 2\nn_over_p = [0.85, 1.17]\nsnr = 0.1\nseed = { count = 2 }",
            "n_in = 40",
            "width = 40\ninit = 'gaussian_fan_in'\ninit_scale = 0.1",
            "epochs = 2000\nrecord = { every = 50 }",
        )
    )
    ds = run_sweep(spec)
    # stable late dynamics: E_g grows smoothly as noise is fitted, no oscillating jumps
    late = ds.test_error.isel(epoch=slice(10, None))
    assert bool((late.diff("epoch") >= -1e-3 * late.isel(epoch=slice(1, None))).all())


def test_decay_is_consistent_under_jit_at_the_edges():
    # a = ε·λ exactly 1 (q = 0), oscillating (1 < a < 2), frozen (a = 0, ±tiny), diverging
    a = np.array([1.0, 1.5, 0.0, 1e-17, -1e-17, 0.3, 2.5])
    k = np.arange(7, dtype=np.float64)[:, None]
    q_ref = np.power.outer(1.0 - a, np.arange(7)).T
    s_ref = np.array([[np.sum((1.0 - x) ** np.arange(kk)) for x in a] for kk in range(7)])
    for fn in (closed_form.decay, jax.jit(closed_form.decay)):
        for scale in (1.0, 3.0):  # a computed as a product, as in the kernel (FMA bait)
            eps, lam = 1.0 / scale, a * scale
            qk, s = jax.jit(lambda e, lm, fn=fn: fn((e * lm)[None, :], k))(eps, lam)
            np.testing.assert_allclose(qk, q_ref, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-15)
