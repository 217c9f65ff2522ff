"""dynax.theory against closed forms, the docs/theory.md tables, and the engine's simulations."""

import warnings

import numpy as np
import pytest
from conftest import initial_weights, spec_text

from dynax import parse_spec, predict, run_sweep, theory
from dynax.sim import data, flow, gd

ALPHAS = [0.3, 0.5, 1.6, 3.0]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_mp_quadrature_moments(alpha):
    lam, w = theory.mp_bulk_nodes(alpha)
    assert abs(w.sum() - min(1.0, alpha)) < 1e-8
    assert abs((w * lam).sum() - alpha) < 1e-8
    inv = alpha / (1 - alpha) if alpha < 1 else 1 / (alpha - 1)
    assert abs((w / lam).sum() - inv) < 1e-8
    # the Stieltjes transform over the full law (zero mass included)
    for gamma in (0.1, 1.0, 7.0):
        quad = (w / (lam + gamma)).sum() + max(0.0, 1 - alpha) / gamma
        assert abs(theory.stieltjes(alpha, gamma) - quad) < 1e-8
    # the density itself integrates to the bulk mass
    lo, hi = theory.mp_edges(alpha)
    x = np.linspace(lo, hi, 400_001)
    assert abs(np.trapezoid(theory.mp_density(x, alpha), x) - min(1.0, alpha)) < 1e-4


def test_discrete_time_tends_to_gradient_flow():
    t = np.array([0.1, 1.0, 5.0, 30.0])
    flow = theory.test_error(0.7, 1.0, 0.5, 0.1, t=t)
    for step, tol in ((1e-2, 2e-2), (1e-4, 2e-4)):
        disc = theory.test_error(0.7, 1.0, 0.5, 0.1, epochs=np.round(t / step), step=step)
        assert np.max(np.abs(disc / flow - 1)) < tol
    # and the asymptote is reached
    late = theory.test_error(2.0, 1.0, 0.5, t=[1e5])[0]
    assert late == pytest.approx(theory.asymptotic_test_error(2.0, 1.0, 0.5), rel=1e-6)
    assert theory.asymptotic_test_error(1.0, 1.0, 0.5) == np.inf


# docs/theory.md §2.5 (σ_0 = 0, σ_ε² = 1, σ_w² = SNR)
TABLE_ALPHA = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0]
TABLE = {  # SNR: (E*/σ², t*)
    0.1: (
        [1.0978, 1.0956, 1.0936, 1.0916, 1.0879, 1.0845, 1.0729],
        [0.094, 0.093, 0.093, 0.092, 0.090, 0.088, 0.083],
    ),
    1: (
        [1.8837, 1.7836, 1.6978, 1.6246, 1.5086, 1.4232, 1.2422],
        [0.697, 0.697, 0.691, 0.681, 0.653, 0.619, 0.487],
    ),
    5: (
        [5.0070, 4.1303, 3.4018, 2.8376, 2.1311, 1.7704, 1.3138],
        [2.276, 2.707, 2.983, 3.067, 2.815, 2.394, 1.327],
    ),
    10: (
        [8.7928, 6.7704, 5.0572, 3.7766, 2.4134, 1.8737, 1.3245],
        [3.586, 4.787, 5.735, 6.082, 5.200, 4.000, 1.841],
    ),
}
BAYES = {
    1: [1.8828, 1.7808, 1.6930, 1.6180, 1.5000, 1.4142, 1.2361],
    10: [8.7846, 6.7417, 5.0000, 3.7016, 2.3589, 1.8443, 1.3193],
}


@pytest.mark.parametrize("snr", sorted(TABLE))
def test_optimal_stopping_matches_science_tables(snr):
    errors, times = TABLE[snr]
    for alpha, e_ref, t_ref in zip(TABLE_ALPHA, errors, times, strict=True):
        t, e = theory.optimal_stopping(alpha, snr, 1.0)
        assert abs(e - e_ref) < 2e-4, (alpha, e, e_ref)
        assert abs(t / t_ref - 1) < 0.01 or abs(t - t_ref) < 6e-4, (alpha, t, t_ref)  # table has 3 decimals
        assert e >= theory.bayes_error(alpha, snr, 1.0)
        if snr in BAYES:
            assert abs(theory.bayes_error(alpha, snr, 1.0) - BAYES[snr][TABLE_ALPHA.index(alpha)]) < 2e-4


def test_initial_weight_variance_and_bayes_special_values():
    for alpha, refs in (
        (0.5, (1.784, 1.950, 2.423)),
        (1.0, (1.625, 1.734, 2.019)),
        (2.0, (1.423, 1.473, 1.580)),
    ):
        for s02, ref in zip((0.0, 0.25, 1.0), refs, strict=True):
            assert theory.optimal_stopping(alpha, 1.0, 1.0, s02)[1] == pytest.approx(ref, abs=6e-4)
    assert theory.bayes_error(1.0, 1.0, 1.0) == pytest.approx((1 + np.sqrt(5)) / 2, abs=1e-12)
    # no noise: no overtraining
    t, e = theory.optimal_stopping(0.5, 1.0, 0.0)
    assert t == np.inf and e == pytest.approx(0.5)


def sim_vs_theory(alphas, snrs, s0s, n=400, seeds=64, epochs=1000, lr=0.1):
    spec = parse_spec(
        spec_text(
            f"depth = 1\nn_over_p = {[1 / a for a in alphas]}\nsnr = {snrs}\ninit_scale = {s0s}\n"
            f"seed = {{ count = {seeds} }}",
            f"n_in = {n}",
            "",
            f"epochs = {epochs}\nrecord = {{ log = 40 }}\nlearning_rate = {lr}\ndtype = 'float64'",
        )
    )
    return run_sweep(spec), predict.theory_dataset(spec)


@pytest.mark.slow
def test_depth1_theory_agrees_with_simulation_at_n400():
    sim, th = sim_vs_theory(ALPHAS, [0.5, 4.0, 50.0], [0.0, 0.5])
    mean = sim.test_error.mean("seed")
    se = sim.test_error.std("seed") / np.sqrt(sim.sizes["seed"])
    tol = np.maximum(0.03 * th.test_error, 4 * se)
    assert bool((abs(mean - th.test_error) <= tol).all()), float(
        (abs(mean - th.test_error) / th.test_error).max()
    )
    # optimal early stopping: theory vs the minimum of the seed-averaged simulated curve
    i = mean.argmin("epoch")
    sim_opt = mean.isel(epoch=i)
    sim_se = se.isel(epoch=i)
    assert bool((abs(sim_opt - th.optimal_test_error) <= np.maximum(0.02 * sim_opt, 4 * sim_se)).all())
    assert bool((th.optimal_test_error >= th.bayes_test_error).all())


def test_theory_dataset_aligns_with_the_simulation():
    sim, th = sim_vs_theory([0.5, 2.0], [4.0], [0.0], n=60, seeds=4, epochs=50)
    diff = sim.test_error.mean("seed") - th.test_error  # one line, as promised
    assert diff.dims == ("depth", "n_over_p", "snr", "init_scale", "epoch")
    assert "seed" not in th.dims and bool(th.test_error.notnull().all())
    np.testing.assert_allclose(th.time.values, np.broadcast_to(0.1 * th.epoch.values, th.time.shape))
    deep = predict.theory_dataset(parse_spec(spec_text("depth = 2\nn_over_p = 1.0\nsnr = 1.0\nseed = 0")))
    assert bool(deep.test_error.isnull().all()) and "balanced" in deep.test_error.attrs["comment"]
    assert bool(deep.bayes_test_error.notnull().all())


def balanced_problem(depth, n=12, p=24, snr=4.0, s=0.3):
    spec = parse_spec(
        spec_text(
            f"depth = {depth}\nn_over_p = {n / p}\nsnr = {snr}\nseed = 2",
            f"n_in = {n}",
            f"width = 8\ninit = 'balanced'\ninit_scale = {s}",
        )
    )
    st = data.seed_stats(0, 2, [p], n, 1, 1.0)
    ws = initial_weights(spec, depth, 2)
    w0 = ws[-1]
    for w in reversed(ws[:-1]):
        w0 = w0 @ w
    return spec, st, w0


@pytest.mark.parametrize("depth", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_balanced_end_to_end_flow_matches_gd(depth):
    step, epochs = 2e-4, 15000
    spec, st, w0 = balanced_problem(depth)
    spec = parse_spec(
        spec.text,
        overrides=[f"train.learning_rate={step}", f"train.epochs={epochs}", "train.dtype='float64'"],
    )
    ds = run_sweep(spec).squeeze()
    exact, _ = flow.balanced_flow(st.factor[0], st.teacher, 0.5, w0, depth, step * ds.epoch.values)
    rel = np.abs(ds.test_error.values / exact - 1)
    assert rel.max() < 1e-3, rel.max()
    assert ds.test_error[-1] < 0.8 * ds.test_error[0]  # it did learn, through the plateau


def test_saxe_modes_match_gd_on_whitened_inputs():
    n, n_out, depth, a0 = 6, 3, 2, 0.1
    rng = np.random.default_rng(1)
    w_bar = rng.normal(size=(n_out, n))
    factor = np.concatenate([np.eye(n), np.zeros((n_out, n))])  # Σ_xx = I, no label noise
    step, epochs = 1e-3, 6000
    record = tuple(range(0, epochs + 1, 500))
    cfg = gd.KernelConfig(depth, 5, n, n_out, n, epochs, record, inits=("aligned",), dtype="float64")
    run = gd.run_inputs(factor, w_bar, n_train=n, init="aligned", init_scale=a0, seed=0, learning_rate=step)
    out = gd.train_gd(cfg, run)
    svals = np.linalg.svd(w_bar, compute_uv=False)
    for d, tol in ((2, 2e-3),):
        t = step * np.asarray(record)
        u = np.stack([theory.saxe_mode(s, a0**d, t, d) for s in svals])
        predicted = np.sum((u - svals[:, None]) ** 2, axis=0) / (n * n_out)
        np.testing.assert_allclose(out.test_error, predicted, rtol=tol, atol=1e-6)
    # the depth-D solution solves its ODE (a tight independent integration as the oracle)
    from scipy.integrate import solve_ivp

    t = np.linspace(0, 30, 301)
    for d in (3, 4):
        ref = solve_ivp(
            lambda _, u, d=d: d * u ** (2 - 2 / d) * (2.0 - u),
            (0, 30),
            [1e-3],
            t_eval=t,
            rtol=1e-11,
            atol=1e-14,
        ).y[0]
        np.testing.assert_allclose(theory.saxe_mode(2.0, 1e-3, t, d), ref, rtol=1e-4, atol=1e-7)


@pytest.mark.slow  # ~6 s: the balanced flow integrated at four init scales
def test_escape_times_scale_with_init():
    s = 2.0
    u0 = np.geomspace(1e-9, 1e-6, 6)
    for depth in (3, 4):
        t = [theory.saxe_escape_time(s, u, depth) for u in u0]
        slope = np.polyfit(np.log(u0), np.log(t), 1)[0]
        assert abs(slope / (-(depth - 2) / depth) - 1) < 0.1
    t2 = [theory.saxe_escape_time(s, u, 2) for u in u0]
    assert np.polyfit(np.log(1 / u0), t2, 1)[0] == pytest.approx(1 / (2 * s), rel=1e-3)  # logarithmic
    # the same scaling in the exact scalar-output network (MP inputs, balanced init)
    _, st, _ = balanced_problem(3)
    lx, lz = st.factor[0][:12], st.factor[0][12:]
    w_ls = np.linalg.solve(lx @ lx.T, lx @ (st.teacher @ lx + 0.5 * lz).T).ravel()
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 3000)])
    escapes = []
    scales = np.geomspace(1e-3, 1e-2, 4)  # u0 = scale^3
    direction = np.ones(12) / np.sqrt(12)
    for sc in scales:
        _, _, ws = flow.balanced_flow(
            st.factor[0], st.teacher, 0.5, sc**3 * direction, 3, times, weights=True
        )
        k = np.argmax(np.linalg.norm(ws, axis=1) >= 0.5 * np.linalg.norm(w_ls))
        escapes.append(times[k])
    slope = np.polyfit(np.log(scales**3), np.log(escapes), 1)[0]
    assert abs(slope / (-1 / 3) - 1) < 0.1, slope


def _euler_lag_bound(s, u0, eps, depth):
    """Leading-order (in ε = α·step) bound on |u_GD − u_flow|/s for a growing mode.

    Depth 1 is exact: u − s = (u0 − s)(1 − ε)^k against (u0 − s)e^{−εk}, whose difference
    is at most |u0 − s| x e^{−x} ε/(2(1 − ε)) ≤ |u0 − s| ε/(2e(1 − ε)). Deeper, per step
    ln a grows by ln(1 + x) = x − x²/2 against the flow's x + (D − 2)x²/2 (x = ε s a^{D−2},
    the flow's rate rising within the step), a relative lag (D − 1)x/2 that integrates over
    the growth to a delay δτ = ε (D − 1) ln(a_end/a0)/2 ≤ ε (D − 1) ln(s/u0)/(2D); a delay
    moves u by at most δτ · max du/dτ, with max_u D u^p (s − u) = D s^{1+p} (p/(1+p))^p/(1+p)
    at u = s p/(1 + p), p = 2 − 2/D.
    """
    if depth == 1:
        return np.abs(u0 - s) / s * eps / (2 * np.e * (1 - eps))
    p = 2 - 2 / depth
    delay = eps * (depth - 1) * np.log(s / u0) / (2 * depth)
    return delay * depth * s**p * (p / (1 + p)) ** p / (1 + p)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_saxe_mode_discrete_tends_to_the_flow(depth):
    s, u0 = np.array([0.5, 1.0, 2.0]), 0.05
    eps = 4e-4  # α·step: the bound below is then under 1e-3 at every depth (7.6e-4 at D = 3)
    epochs = np.arange(0, 25_001, 250)  # α t up to 10: every mode has learned
    for alpha in (0.5, 2.0):
        step = eps / alpha
        u = theory.saxe_mode_discrete(s, u0, epochs, step, depth, alpha)
        assert u.shape == (epochs.size, 3)
        flow_u = np.stack([theory.saxe_mode(si, u0, step * epochs, depth, alpha) for si in s], axis=1)
        err = np.max(np.abs(u - flow_u), axis=0) / s
        bound = _euler_lag_bound(s, u0, eps, depth)
        assert np.all(bound < 1e-3)
        assert np.all(err <= bound), (err, bound)
        assert np.all(np.abs(u[-1] / s - 1) < 1e-3)  # learned


def test_saxe_mode_alpha_rescales_time():
    t = np.linspace(0.0, 20.0, 41)
    cases = [(1.5, 1e-3), (1.5, 3.0), (0.0, 0.4), (1.5, 0.0), (0.7, 0.7)]
    for depth in (1, 2, 3, 4):
        for s, u0 in cases:
            for alpha in (0.5, 2.0):
                # the same product α·t is formed inside, so the results agree bit for bit
                np.testing.assert_array_equal(
                    theory.saxe_mode(s, u0, t, depth, alpha=alpha), theory.saxe_mode(s, u0, alpha * t, depth)
                )
            if depth > 1 and 0 < u0 < s:
                ref = theory.saxe_escape_time(s, u0, depth)
                assert theory.saxe_escape_time(s, u0, depth, alpha=4.0) == pytest.approx(ref / 4, rel=1e-15)
    # α = 1 keeps the published forms (depth 2 is now evaluated as s/(1 + (s/u0 − 1)e^{−2st}))
    s, u0 = 2.0, 1e-3
    e = np.exp(2 * s * t)
    np.testing.assert_allclose(theory.saxe_mode(s, u0, t, 2), s * e / (e - 1 + s / u0), rtol=1e-14)
    np.testing.assert_array_equal(theory.saxe_mode(s, u0, t, 1), s + (u0 - s) * np.exp(-t))


def test_saxe_mode_edge_cases_match_the_recursion():
    alpha, step = 2.0, 5e-4
    eps = alpha * step
    epochs = np.arange(0, 20_001, 200)
    t = step * epochs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # u0 = 0 is a fixed point at depth ≥ 2, exactly, in both
        for depth in (2, 3, 4):
            disc = theory.saxe_mode_discrete([0.0, 1.0], 0.0, epochs, step, depth, alpha)
            assert np.all(disc == 0)
            assert np.all(theory.saxe_mode(1.0, 0.0, np.append(t, 1e4), depth, alpha) == 0)
            assert np.all(theory.saxe_mode(0.0, 0.0, t, depth, alpha) == 0)
        # ... but not at depth 1: u = s(1 − e^{−αt}), the bound of _euler_lag_bound
        disc = theory.saxe_mode_discrete(1.0, 0.0, epochs, step, 1, alpha)
        assert np.max(np.abs(disc - theory.saxe_mode(1.0, 0.0, t, 1, alpha))) <= eps / (2 * np.e * (1 - eps))
        # s = 0: a decays by a ← a(1 − ε a^m), m = 2D − 2, so w = a^{−m} gains
        # m ε + m(m+1)ε²/(2w) per step against the flow's m ε: a relative excess
        # (m+1) ε ln(w/w0)/(2w) ≤ (m+1) ε/(2e w0), hence |δu/u| ≤ D(2D−1) ε u0^p/(4(D−1)e)
        # to leading order in ε (the 1% slack covers the O(ε) relative rest, ε = 1e-3)
        u0 = 0.5
        for depth in (2, 3):
            disc = theory.saxe_mode_discrete(0.0, u0, epochs, step, depth, alpha)
            flow_u = theory.saxe_mode(0.0, u0, t, depth, alpha)
            p = 2 - 2 / depth
            bound = depth * (2 * depth - 1) * eps * u0**p / (4 * (depth - 1) * np.e)
            assert np.max(np.abs(disc / flow_u - 1)) <= 1.01 * bound
            assert flow_u[-1] < u0 / 10  # it did decay
        # depth 2 is the hyperbola u0/(1 + 2α u0 t), to rounding
        np.testing.assert_allclose(
            theory.saxe_mode(0.0, u0, t, 2, alpha), u0 / (1 + 2 * alpha * u0 * t), rtol=1e-15
        )
        # a step past the stable one diverges to inf/nan, quietly
        wild = theory.saxe_mode_discrete([1.0, 2.0], [0.5, 0.01], [0, 3, 3, 2000], 3.0, 2)
        assert wild.shape == (4, 2) and np.all(wild[0] == [0.5, 0.01]) and np.all(wild[1] == wild[2])
        assert not np.any(np.isfinite(wild[-1]))


@pytest.mark.parametrize("depth", [3, 4])
def test_saxe_mode_from_above_solves_its_ode(depth):
    from scipy.integrate import solve_ivp

    t = np.linspace(0, 10, 101)
    for s, u0 in ((1.0, 1.5), (2.0, 50.0)):
        ref = solve_ivp(
            lambda _, u, s=s: depth * u ** (2 - 2 / depth) * (s - u),
            (0, 10),
            [u0],
            t_eval=t,
            method="DOP853",
            rtol=1e-12,
            atol=1e-14,
        ).y[0]
        # exact quadrature of t(v) and cubic Hermite interpolation of v(t), error O(Δv⁴) ≈ 1e-10
        np.testing.assert_allclose(theory.saxe_mode(s, u0, t, depth), ref, rtol=1e-8)


def test_saxe_plateau_time_is_the_leading_escape_time():
    s, alpha = 1.5, 2.0
    with pytest.raises(ValueError, match="no plateau"):
        theory.saxe_plateau_time(s, 1e-3, 1)
    for depth in (2, 3, 4):
        rel = []
        for r in (1e-4, 1e-8):  # r = u0/s
            plateau = theory.saxe_plateau_time(s, r * s, depth, alpha)
            escape = theory.saxe_escape_time(s, r * s, depth, frac=0.5, alpha=alpha)
            rel.append(abs(escape / plateau - 1))
            if depth == 2:
                # escape − plateau = ln(1 − r)/(2αs) exactly (the ln(frac/(1 − frac)) term is
                # 0 at one half), so the ratio misses 1 by −ln(1 − r)/ln(1/r) ≤ r/((1 − r) ln(1/r));
                # 1e-15 for the rounding of two logarithms
                bound = r / ((1 - r) * np.log(1 / r)) + 1e-15
            else:
                # 1/(s − u) = 1/s + u/(s(s − u)) splits the escape integral into the plateau,
                # minus A = (s/2)^{−q}/(q αDs), plus 0 < J ≤ (s/2)^{−q}/((1 − q) αDs),
                # q = (D − 2)/D, so |escape/plateau − 1| ≤ (2r)^q max(1, q/(1 − q))
                q = (depth - 2) / depth
                bound = (2 * r) ** q * max(1.0, q / (1 - q))
            assert rel[-1] <= bound, (depth, r, rel[-1], bound)
        assert rel[1] < rel[0]  # → 1 as u0/s → 0
    assert theory.saxe_plateau_time(s, 1e-8, 2, alpha) == pytest.approx(np.log(s / 1e-8) / (2 * alpha * s))


def test_saxe_mode_depth_two_is_finite_at_late_times():
    s = np.array([0.5, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e^{2αst} would overflow here
        for alpha in (1.0, 2.0):
            for u0 in (1e-3, 3.0):  # from below and from above
                u = theory.saxe_mode(s, u0, 1e4, 2, alpha)
                assert np.all(np.isfinite(u)) and np.all(u == s)


@pytest.mark.parametrize(
    "depth", [pytest.param(1, marks=pytest.mark.slow), 2, pytest.param(3, marks=pytest.mark.slow)]
)
def test_deep_nets_converge_to_each_runs_least_squares(depth):
    text = spec_text(
        f"depth = {depth}\nn_over_p = [0.5, 0.25]\nsnr = 1.0\nseed = {{ count = 3 }}",
        "n_in = 16",
        "width = 16\ninit = 'gaussian_fan_in'\ninit_scale = 0.3",
        "epochs = 30000\nrecord = { log = 10 }\nlearning_rate = { auto = 0.5 }\ndtype = 'float64'",
    )
    spec = parse_spec(text)
    ds = run_sweep(spec)
    final = ds.test_error.isel(epoch=-1).squeeze()
    for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
        for seed in range(3):
            x, y, w_bar, nv = data.raw_data(0, seed, p, 16, 1, 1.0, 1.0)
            w_ls = np.linalg.lstsq(x, y, rcond=None)[0].T
            ls = np.sum((w_ls - w_bar) ** 2) / 16 + nv
            assert float(final.sel(n_over_p=r, seed=seed)) == pytest.approx(ls, rel=1e-6)


def online_sgd(n, alpha_max, lr, noise_var, seeds, rng, schedule=None):
    """One-pass SGD, w ← w + η (y − w·x) x, fresh x ~ N(0, I/N); returns e at each step."""
    steps = int(alpha_max * n)
    out = np.zeros((seeds, steps + 1))
    for s in range(seeds):
        w_bar = rng.normal(size=n)
        w = np.zeros(n)
        out[s, 0] = np.sum((w - w_bar) ** 2) / n
        for k in range(steps):
            x = rng.normal(size=n) / np.sqrt(n)
            y = w_bar @ x + np.sqrt(noise_var) * rng.normal()
            e = out[s, k]
            eta = schedule(e) if schedule else lr
            w += eta * (y - w @ x) * x
            out[s, k + 1] = np.sum((w - w_bar) ** 2) / n
    return out.mean(0)


def test_online_learning_curves_match_one_pass_sgd():
    n, rng = 400, np.random.default_rng(0)
    marks = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    idx = (marks * n).astype(int)
    # docs/theory.md §4.1 numbers, excess e at α = 0.25 .. 4 for η = 0.5, σ_w² = σ_ε² = 1
    np.testing.assert_allclose(
        theory.online_test_error(marks, 1.0, 1.0, lr=0.5) - 1, [0.886, 0.792, 0.648, 0.482, 0.367], atol=2e-3
    )
    sim = online_sgd(n, 4.0, 0.5, 1.0, 20, rng)[idx]
    np.testing.assert_allclose(sim + 1, theory.online_test_error(marks, 1.0, 1.0, lr=0.5), rtol=0.05)
    sim = online_sgd(n, 4.0, None, 1.0, 20, rng, schedule=lambda e: theory.optimal_online_rate(e, 1.0))[idx]
    np.testing.assert_allclose(sim + 1, theory.online_test_error_optimal(marks, 1.0, 1.0), rtol=0.05)
    np.testing.assert_allclose(theory.online_test_error_optimal(marks, 1.0, 0.0), np.exp(-marks))
