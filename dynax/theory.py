"""Random-matrix theory of depth-1 learning dynamics (science.md §2).

All formulas use the sum-loss convention of science.md §1.2: inputs ``x ~ N(0, I/N)``,
``Σ_xx = X Xᵀ`` with Marchenko-Pastur eigenvalues for load ``α = P/N``, time
``t = η·epoch`` in units of τ (for the mean loss ``t = η·epoch/P``). Errors include the
noise floor: ``E_g = ‖w − w̄‖²/N + σ_ε²``.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

__all__ = [
    "asymptotic_test_error",
    "balanced_flow",
    "bayes_error",
    "mp_bulk_nodes",
    "mp_density",
    "mp_edges",
    "online_test_error",
    "online_test_error_optimal",
    "optimal_online_time",
    "optimal_stopping",
    "saxe_escape_time",
    "saxe_mode",
    "stability_bound",
    "stieltjes",
    "test_error",
    "theory_dataset",
    "train_error",
]


def mp_edges(alpha: float) -> tuple[float, float]:
    """Edges ``(1 ∓ √α)²`` of the Marchenko-Pastur bulk."""
    s = np.sqrt(alpha)
    return (1 - s) ** 2, (1 + s) ** 2


def mp_density(lam, alpha):
    """Continuous part ``ρ_c(λ) = √((λ+ − λ)(λ − λ−))/(2πλ)`` of the MP law (zero outside)."""
    lo, hi = mp_edges(alpha)
    lam = np.asarray(lam, dtype=np.float64)
    inside = (lam > lo) & (lam < hi)
    safe = np.where(inside, lam, 1.0)
    return np.where(inside, np.sqrt(np.clip((hi - safe) * (safe - lo), 0, None)) / (2 * np.pi * safe), 0.0)


@cache
def _gauss_legendre(n: int):
    return np.polynomial.legendre.leggauss(n)


@lru_cache(maxsize=256)
def _bulk_nodes(alpha: float, n: int):
    lo, hi = mp_edges(alpha)
    c, r = (hi + lo) / 2, (hi - lo) / 2
    x, w = _gauss_legendre(n)
    theta = (x + 1) * np.pi / 2
    lam = c + r * np.cos(theta)
    # λ = c + r cos θ turns √((λ+ − λ)(λ − λ−)) dλ into r² sin²θ dθ: no edge singularity
    weight = (w * np.pi / 2) * r**2 * np.sin(theta) ** 2 / (2 * np.pi * lam)
    lam.setflags(write=False)
    weight.setflags(write=False)
    return lam, weight


def mp_bulk_nodes(alpha: float, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights for ``∫ f(λ) ρ_c(λ) dλ`` over the MP bulk.

    The bulk has mass ``min(1, α)``; the point mass ``(1 − α)_+`` at λ = 0 is not
    included (science.md §2.2).
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return _bulk_nodes(float(alpha), int(n))


def stieltjes(alpha: float, gamma):
    """``m(−γ) = ∫ ρ(λ)/(λ + γ) dλ`` over the full MP law (zero mass included), γ > 0."""
    gamma = np.asarray(gamma, dtype=np.float64)
    b = alpha - 1 + gamma
    return (np.sqrt(b * b + 4 * gamma) - b) / (2 * gamma)


def _decay(lam, t, epochs, step):
    """``e^{−λt}`` (gradient flow) or ``(1 − ε λ)^k`` (discrete GD with step ε)."""
    if epochs is None:
        return np.exp(-np.multiply.outer(np.atleast_1d(np.asarray(t, dtype=np.float64)), lam))
    k = np.atleast_1d(np.asarray(epochs, dtype=np.float64))
    return np.power.outer(1.0 - step * lam, k).T


def _check_time(t, epochs, step):
    if (t is None) == (epochs is None):
        raise ValueError("give either t (gradient flow) or epochs and step (discrete GD)")
    if epochs is not None and step is None:
        raise ValueError("discrete time needs the step ε (η, or η/P for the mean loss)")


def test_error(alpha, teacher_var, noise_var, init_var=0.0, t=None, epochs=None, step=None, n=2000):
    """Depth-1 generalization error ``E_g(t)`` (science.md §2.3), including σ_ε².

    Args:
        alpha: load P/N.
        teacher_var, noise_var, init_var: σ_w², σ_ε², σ_0² (per-entry variances).
        t: gradient-flow times (units of τ); or
        epochs, step: discrete GD steps k with step ε in sum units, ``(1 − ελ)^k``.
        n: quadrature nodes.

    Returns:
        Array over the times given.
    """
    _check_time(t, epochs, step)
    lam, wt = mp_bulk_nodes(alpha, n)
    a = teacher_var + init_var
    e = _decay(lam, t, epochs, step)
    bulk = (wt * (a * e**2 + noise_var * (1 - e) ** 2 / lam)).sum(-1)
    return noise_var + max(0.0, 1 - alpha) * a + bulk


def train_error(alpha, teacher_var, noise_var, init_var=0.0, t=None, epochs=None, step=None, n=2000):
    """Depth-1 training error ``E_t(t)`` (science.md §2.3): mean squared training residual."""
    _check_time(t, epochs, step)
    lam, wt = mp_bulk_nodes(alpha, n)
    a = teacher_var + init_var
    e = _decay(lam, t, epochs, step)
    return noise_var * max(0.0, 1 - 1 / alpha) + (wt * (noise_var + lam * a) * e**2).sum(-1) / alpha


def bayes_error(alpha, teacher_var, noise_var):
    """Bayes-optimal (posterior-mean, optimal ridge) error ``σ_ε²[1 + m(−σ_ε²/σ_w²)]``.

    For σ_ε² = 0 the posterior mean is exact on the data's span: ``(1 − α)_+ σ_w²``.
    """
    if noise_var == 0:
        return max(0.0, 1 - alpha) * teacher_var
    return noise_var * (1 + float(stieltjes(alpha, noise_var / teacher_var)))


def asymptotic_test_error(alpha, teacher_var, noise_var, init_var=0.0):
    """``E_g(t → ∞)`` at depth 1 (science.md §2.4); infinite at α = 1 with noise.

    α > 1: least squares, ``σ_ε² α/(α − 1)``. α < 1: the frozen subspace plus the
    min-norm interpolator, ``(1 − α)(σ_w² + σ_0²) + σ_ε²/(1 − α)``.
    """
    a = teacher_var + init_var
    if alpha > 1:
        return noise_var * alpha / (alpha - 1)
    if alpha < 1:
        return (1 - alpha) * a + noise_var / (1 - alpha)
    return np.inf if noise_var > 0 else 0.0


def _golden(f, lo, hi, tol=1e-10):
    """Minimise a unimodal f on [lo, hi] by golden-section search."""
    g = (np.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = f(c), f(d)
    while hi - lo > tol * max(1.0, abs(lo) + abs(hi)):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = f(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = f(d)
    return (lo + hi) / 2


def optimal_stopping(alpha, teacher_var, noise_var, init_var=0.0, step=None, n=2000):
    """Optimal early-stopping time and error at depth 1 (science.md §2.5).

    Args:
        step: None for gradient flow (t* continuous, units of τ); else the GD step ε in
            sum units, and the optimum is over integer epochs, returned as t* = ε k*.

    Returns:
        (t_star, e_star). Without label noise E_g only decreases: (inf, E_g(∞)).
    """

    if noise_var == 0:  # E_g decreases monotonically (science.md §5)
        return np.inf, asymptotic_test_error(alpha, teacher_var, noise_var, init_var)

    def flow(log_t):
        return float(test_error(alpha, teacher_var, noise_var, init_var, t=np.exp(log_t), n=n)[0])

    grid = np.linspace(np.log(1e-4), np.log(1e6), 241)
    values = test_error(alpha, teacher_var, noise_var, init_var, t=np.exp(grid), n=n)
    i = int(np.argmin(values))
    if i == len(grid) - 1:
        return np.inf, asymptotic_test_error(alpha, teacher_var, noise_var, init_var)
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    log_t = _golden(flow, lo, hi)
    if step is None:
        return float(np.exp(log_t)), flow(log_t)

    def disc(k):
        return float(test_error(alpha, teacher_var, noise_var, init_var, epochs=[k], step=step, n=n)[0])

    # the discrete optimum is near t*/ε; integer ternary search on a generous bracket
    k_lo, k_hi = 0, max(2, int(np.ceil(4 * np.exp(log_t) / step)))
    while k_hi - k_lo > 2:
        m1 = k_lo + (k_hi - k_lo) // 3
        m2 = k_hi - (k_hi - k_lo) // 3
        if disc(m1) <= disc(m2):
            k_hi = m2
        else:
            k_lo = m1
    ks = range(k_lo, k_hi + 1)
    vals = [disc(k) for k in ks]
    j = int(np.argmin(vals))
    return float(step * ks[j]), vals[j]


# --------------------------------------------------------------------------- deep


def stability_bound(depth: int, lam_max, teacher_norm, init: str = "gaussian", shapes=(), init_scale=0.0):
    """The largest stable GD step ε (sum-loss units), science.md §3.2.

    The loss curvature along the top input direction is about
    ``λ_max · Σ_l Π_{k≠l} ‖W_k‖²``; at a balanced point with end-to-end norm ‖w‖ that is
    ``D ‖w‖^{2−2/D} λ_max``. The bound takes the larger of the curvature at ‖w‖ = ‖w̄‖
    (the teacher's norm) and at the initial weights (``shapes`` and ``init_scale``), so
    it is exact at depth 1 (ε < 2/λ_max) and holds for deep runs while ‖W_eff‖ stays
    near ‖w̄‖.
    """
    lam_max = np.asarray(lam_max, dtype=np.float64)
    if depth == 1:
        return 2.0 / lam_max
    at_teacher = depth * np.asarray(teacher_norm, dtype=np.float64) ** (2 - 2 / depth)
    norms = _layer_norms(init, shapes, init_scale)
    at_init = sum(np.prod([m**2 for j, m in enumerate(norms) if j != i]) for i in range(len(norms)))
    return 2.0 / (lam_max * np.maximum(at_teacher, at_init))


def _layer_norms(init: str, shapes, scale: float) -> list[float]:
    """Typical spectral norm of each initial layer."""
    out = []
    for fan_out, fan_in in shapes:
        if init == "gaussian":
            out.append(scale * (np.sqrt(fan_in) + np.sqrt(fan_out)))
        elif init == "gaussian_fan_in":
            out.append(scale * (1 + np.sqrt(fan_out / fan_in)))
        elif init == "zero":
            out.append(0.0)
        else:  # orthogonal, balanced, aligned: singular values equal the scale
            out.append(scale)
    return out


def saxe_mode(s, u0, t, depth: int = 2):
    """One mode's strength ``u(t)`` for whitened inputs and decoupled (aligned, balanced)
    initialisation, Saxe, McClelland & Ganguli (2014); science.md §3.1.

    ``τ du/dt = D u^{2−2/D} (s − u)``: at depth 1 an exponential approach, at depth 2 the
    sigmoid ``u = s e^{2st}/(e^{2st} − 1 + s/u0)``, deeper a numerical solution.
    """
    t = np.asarray(t, dtype=np.float64)
    if depth == 1:
        return s + (u0 - s) * np.exp(-t)
    if depth == 2:
        e = np.exp(2 * s * t)
        return s * e / (e - 1 + s / u0)
    # t(u) by quadrature, inverted by interpolation on a grid uniform in logit(u/s), which
    # resolves both the plateau near u0 and the approach to s
    v = np.linspace(np.log(u0 / (s - u0)), 30.0, 3001)
    us = s / (1 + np.exp(-v))
    times = np.array([saxe_escape_time(s, u0, depth, target=u) for u in us[1:]])
    return np.interp(t, np.concatenate([[0.0], times]), us)


def saxe_escape_time(s, u0, depth: int, frac: float = 0.5, target=None):
    """Time for a mode to grow from u0 to ``frac·s`` (science.md §3.1):
    ``t = (1/D) ∫_{u0}^{u_f} du / (u^{2−2/D} (s − u))``; D = 2 in closed form."""
    uf = frac * s if target is None else target
    if depth == 2:
        return float(np.log(uf * (s - u0) / (u0 * (s - uf))) / (2 * s))
    # substitute u = e^v: du = u dv; Gauss-Legendre on v
    x, w = _gauss_legendre(400)
    a, b = np.log(u0), np.log(uf)
    v = (b - a) / 2 * x + (b + a) / 2
    u = np.exp(v)
    integrand = u / (u ** (2 - 2 / depth) * (s - u))
    return float((b - a) / 2 * np.sum(w * integrand) / depth)


def balanced_flow(factor, teacher, noise_std, w0, depth: int, times, n_train=None, rtol=1e-10, weights=False):
    """Exact end-to-end gradient flow of a scalar-output deep linear network from a
    balanced initialisation, on one run's own data (science.md §3.2, Arora et al. 2018):

    ``τ dw/dt = ‖w‖^{2−2/D} [g + (D − 1)(g·ŵ) ŵ]``, ``g = Σ_yx − w Σ_xx``.

    Args:
        factor: (N + 1, K) data factor of ``dynax.data`` (L Lᵀ = [X; Z][X; Z]ᵀ).
        teacher: (1, N); noise_std: σ_ε; w0: (1, N) initial end-to-end weights.
        times: increasing times (units of τ), the first being 0.
        n_train: P, for the training error (optional).

    Returns:
        (test_error, train_error) at ``times`` (train_error None without n_train), and the
        end-to-end weights (len(times), N) as a third item when ``weights``.
    """
    import jax
    import jax.numpy as jnp
    from jax.experimental.ode import odeint

    factor = jnp.asarray(factor, jnp.float64)
    n = factor.shape[0] - 1
    lx, lz = factor[:n], factor[n:]
    w_bar = jnp.asarray(teacher, jnp.float64)[0]
    sigma_xx = lx @ lx.T
    sigma_yx = (w_bar @ lx + noise_std * lz[0]) @ lx.T

    def rhs(w, t):
        g = sigma_yx - w @ sigma_xx
        norm = jnp.linalg.norm(w)
        w_hat = w / norm
        return norm ** (2 - 2 / depth) * (g + (depth - 1) * (g @ w_hat) * w_hat)

    ws = jax.jit(lambda w: odeint(rhs, w, jnp.asarray(times, jnp.float64), rtol=rtol, atol=1e-12))(
        jnp.asarray(w0, jnp.float64).reshape(-1)
    )
    d = ws - w_bar[None]
    test = np.asarray(jnp.sum(d * d, axis=1) / n + noise_std**2)
    train = None
    if n_train is not None:
        r = noise_std * lz[0][None] - d @ lx
        train = np.asarray(jnp.sum(r * r, axis=1) / n_train)
    return (test, train, np.asarray(ws)) if weights else (test, train)


# --------------------------------------------------------------------------- online


def online_test_error(alpha_seen, teacher_var, noise_var, init_var=0.0, lr=0.5, batch=1, n_in=None):
    """One-pass SGD on fresh examples, constant rate (science.md §4.1), as N → ∞.

    Args:
        alpha_seen: examples seen / N.
        lr: the rate η on the batch-mean gradient (dynax sums minibatch gradients, so its
            rate is η/B). Stable for η < 2 at B = 1.
        batch: minibatch size B; the O(B/N) correction needs ``n_in``.

    Returns:
        ``E_g = e + σ_ε²`` with ``de/dα = (1/B)[−2ηe + (η²/B)(e + σ_ε²) + η²(B − 1)e/(BN)]``,
        a linear ODE solved in closed form.
    """
    a = np.asarray(alpha_seen, dtype=np.float64)
    b = batch
    corr = 0.0 if b == 1 else (b - 1) / (b * n_in)
    k = (2 * lr - lr**2 / b - lr**2 * corr) / b
    c = lr**2 * noise_var / b**2
    e0 = teacher_var + init_var
    e_inf = c / k
    return e_inf + (e0 - e_inf) * np.exp(-k * a) + noise_var


def online_test_error_optimal(alpha_seen, teacher_var, noise_var, init_var=0.0):
    """One-pass SGD with the oracle-annealed rate ``η*(e) = e/(e + σ_ε²)`` (science.md §4.1):
    ``e`` solves ``α = ln(e0/e) + σ_ε² (1/e − 1/e0)``; returns ``E_g = e + σ_ε²``."""
    a = np.atleast_1d(np.asarray(alpha_seen, dtype=np.float64))
    e0 = teacher_var + init_var
    if noise_var == 0:
        return e0 * np.exp(-a)
    out = np.empty_like(a)
    for i, ai in enumerate(a):
        lo, hi = np.log(1e-300), np.log(e0)  # bisection on log e: α(e) decreases in e
        for _ in range(200):
            mid = (lo + hi) / 2
            e = np.exp(mid)
            if np.log(e0 / e) + noise_var * (1 / e - 1 / e0) > ai:
                lo = mid
            else:
                hi = mid
        out[i] = np.exp((lo + hi) / 2)
    return out + noise_var


def optimal_online_time(alpha_seen, n_train, n_in, teacher_var, noise_var, init_var=0.0):
    """Continuous time of an online run under the oracle schedule, in replay's units:
    ``t = Σ_k η_k / P = (N/P) ∫ η*(α) dα = (N/P) ln(e_0/e(α))`` (science.md §4.1)."""
    e = online_test_error_optimal(alpha_seen, teacher_var, noise_var, init_var) - noise_var
    return (n_in / n_train) * np.log((teacher_var + init_var) / e)


def optimal_online_rate(e, noise_var):
    """The oracle rate ``η* = e/(e + σ_ε²)`` at excess error e (science.md §4.1)."""
    return e / (e + noise_var)


# --------------------------------------------------------------------------- dataset


def _depth1_init_var(init: str, scale: float, n_in: int):
    """Per-entry initial variance σ_0² of a depth-1 student (DESIGN.md §4); None if the
    init is correlated with the data (aligned), where the MP theory does not apply."""
    return {
        "gaussian": scale**2,
        "gaussian_fan_in": scale**2 / n_in,
        "orthogonal": scale**2 / n_in,
        "balanced": scale**2 / n_in,
        "zero": 0.0,
    }.get(init)


def theory_dataset(spec, n: int = 2000):
    """What the theory predicts on the grid of a sweep spec, aligned with its result.

    Dims are the result's without ``seed``. Depth 1 with gradient descent: the
    Marchenko-Pastur theory in discrete time at the spec's rate (``test_error``,
    ``train_error``, ``optimal_test_error``, ``optimal_time``) and in gradient flow
    (``test_error_flow``). Depth ≥ 2 with balanced initialisation and GD: the exact
    end-to-end flow of science.md §3.2 on each seed's own data, averaged over the seeds.
    Random-feature students of a ReLU teacher (full-batch GD): the exact trajectory and
    population risk on each seed's data and features, averaged over the seeds, with the
    error decomposition of :mod:`dynax.features` (extra variables ``approximation_error``,
    ``null_space_error``, ``overfitting_error``, ``cross_error`` and their ``*_converged``
    values at t → ∞). ``bayes_test_error`` everywhere (the linear teacher's). NaN, with a
    ``comment``, where no theory applies.
    With ``learning_rate = {auto = f}`` the depth-1 rate is f × 2/λ₊ with the MP edge
    λ₊ = (1 + √α)² (the simulation uses each run's own λ_max).
    """
    import itertools

    import xarray as xr

    from .spec import Auto
    from .store import coordinates

    dims = [d for d in spec.dims if d != "seed"]
    axes = [spec.axis(d) for d in dims]
    epochs = np.asarray(spec.record_epochs, dtype=np.float64)
    shape = tuple(len(a.values) for a in axes)
    curves = {
        k: np.full((*shape, len(epochs)), np.nan) for k in ("test_error", "train_error", "test_error_flow")
    }
    points = {k: np.full(shape, np.nan) for k in ("optimal_test_error", "optimal_time", "bayes_test_error")}
    time = np.full((*shape, len(epochs)), np.nan)
    notes = set()
    pr = spec.problem
    cache = {}
    rf = None  # the random-feature seed means, or why there are none
    for idx in itertools.product(*[range(s) for s in shape]):
        v = {a.name: a.values[i] for a, i in zip(axes, idx, strict=True)}
        get = lambda name, v=v: v.get(name, spec.setting(name) if name != "depth" else None)  # noqa: E731
        depth = v["depth"]
        j = spec.axis("n_over_p").values.index(v["n_over_p"])
        p = spec.n_train[j]
        alpha = p / pr.n_in
        snr = v["snr"]
        noise_var = 0.0 if np.isinf(snr) else pr.teacher_var / snr
        points["bayes_test_error"][idx] = bayes_error(alpha, pr.teacher_var, noise_var)
        lr = get("learning_rate")
        grad_scale = 1.0 / p if spec.train.loss == "mean" else 1.0
        init, scale, optimizer = get("init"), get("init_scale"), get("optimizer")
        if optimizer != "gd":
            notes.add(f"no theory for optimizer {optimizer!r} (gradient descent only)")
            continue
        if spec.nonlinear:
            if rf is None:
                rf = _random_feature_means(spec)
            if isinstance(rf, str):
                notes.add(f"no theory for nonlinear teachers or students except {rf}")
                continue
            point = rf.sel({k: v[k] for k in dims})
            curves["test_error"][idx], curves["train_error"][idx] = point.test_error, point.train_error
            k = int(np.argmin(point.test_error.values))
            time[idx] = lr * grad_scale * epochs
            points["optimal_test_error"][idx], points["optimal_time"][idx] = point.test_error[k], time[idx][k]
            notes.add(
                "random features: exact GD on each seed's own data and features, the population risk "
                "from the arc-cosine kernel, averaged over seeds (dynax.features); the optimum is over "
                "recorded epochs"
            )
            continue
        if get("protocol") == "online":
            init_var = _depth1_init_var(init, scale, pr.n_in)
            if depth != 1 or init_var is None:
                notes.add("online theory (science.md §4.1) at depth 1 only, init not aligned")
                continue
            test, t = _online_curve(spec, j, noise_var, init_var, lr)
            curves["test_error"][idx] = test
            points["optimal_test_error"][idx] = np.min(test)
            time[idx] = t
            notes.add(
                "online: test_error is the N -> infinity curve of science.md §4.1 at alpha = examples/N; "
                "optimal_test_error its minimum over the record grid; no train_error or flow theory"
            )
            continue
        if spec.train.batch_size:
            notes.add("no theory for minibatch replay (the full-batch theory has no SGD noise)")
            continue
        if depth == 1:
            init_var = _depth1_init_var(init, scale, pr.n_in)
            if init_var is None:
                notes.add("no depth-1 theory for the aligned init (it depends on the data)")
                continue
            step = lr.factor * 2 / (1 + np.sqrt(alpha)) ** 2 if isinstance(lr, Auto) else lr * grad_scale
            key = (alpha, noise_var, init_var, step)
            if key not in cache:
                args = (alpha, pr.teacher_var, noise_var, init_var)
                cache[key] = (
                    test_error(*args, epochs=epochs, step=step, n=n),
                    train_error(*args, epochs=epochs, step=step, n=n),
                    test_error(*args, t=step * epochs, n=n),
                    optimal_stopping(*args, step=step, n=n),
                )
            test, train, flow, (t_star, e_star) = cache[key]
            curves["test_error"][idx], curves["train_error"][idx] = test, train
            curves["test_error_flow"][idx] = flow
            points["optimal_time"][idx], points["optimal_test_error"][idx] = t_star, e_star
            time[idx] = step * epochs
        elif init == "balanced" and pr.n_out == 1:
            flow, train, t = _balanced_seed_mean(spec, depth, p, j, noise_var, lr, grad_scale, scale, epochs)
            curves["test_error_flow"][idx] = flow
            curves["test_error"][idx] = flow
            curves["train_error"][idx] = train
            k = int(np.nanargmin(flow))
            points["optimal_test_error"][idx], points["optimal_time"][idx] = flow[k], t[k]
            time[idx] = t
            notes.add(
                "depth >= 2 (balanced init): exact end-to-end gradient flow (science.md §3.2) on each "
                "seed's own data, averaged over seeds; test_error is that flow at t = eta*epoch and the "
                "optimum is over recorded epochs"
            )
        else:
            notes.add(f"no theory at depth >= 2 for init {init!r} (only balanced, science.md §3.2)")

    coords = {k: c for k, c in coordinates(spec).items() if "seed" not in getattr(c, "dims", ("seed",))}
    data_vars = {}
    attrs = {
        "test_error": ("generalization error E_g: theory, discrete-time GD at the spec's rate", "1"),
        "train_error": ("training error E_t: theory, discrete-time GD at the spec's rate", "1"),
        "test_error_flow": ("generalization error E_g: theory, gradient flow at t = eta*epoch", "1"),
        "optimal_test_error": ("optimal early-stopping error E_g(t*): theory", "1"),
        "optimal_time": ("optimal early-stopping time t*: theory", "tau"),
        "bayes_test_error": ("Bayes-optimal error (posterior mean = optimal ridge)", "1"),
    }
    comment = "; ".join(sorted(notes)) if notes else ""
    for name, arr in {**curves, **points}.items():
        d = (*dims, "epoch") if name in curves else tuple(dims)
        long_name, units = attrs[name]
        a = {"long_name": long_name, "units": units}
        if comment and name != "bayes_test_error" and np.isnan(arr).any():
            a["comment"] = f"NaN where no theory applies: {comment}"
        data_vars[name] = xr.Variable(d, arr, a)
    coords["time"] = xr.Variable(
        (*dims, "epoch"), time, {"long_name": "continuous time t of the theory", "units": "tau"}
    )
    if isinstance(rf, xr.Dataset):  # the error decomposition, seed means
        for name in rf.data_vars:
            if name not in ("test_error", "train_error"):
                a = dict(rf[name].attrs, long_name=f"{rf[name].attrs['long_name']} (seed mean)")
                data_vars[name] = xr.Variable(rf[name].dims, rf[name].values, a)
    from . import __version__

    return xr.Dataset(
        data_vars,
        coords,
        {
            "title": f"{spec.name} (theory)",
            "dynax_version": __version__,
            "spec_toml": spec.text,
            "spec_sha256": spec.sha256,
            "teacher_var": float(pr.teacher_var),
            "loss": spec.train.loss,
            "quadrature_nodes": int(n),
        },
    )


def _random_feature_means(spec):
    """Seed means of :func:`dynax.features.decomposition_dataset`, with the dims in the
    spec's order; or, where it does not apply, a string saying where it does."""
    from . import features

    try:
        dec = features.decomposition_dataset(spec)
    except ValueError:
        return "the random-feature student of a ReLU teacher (full-batch GD at a fixed rate)"
    dims = [d for d in spec.dims if d != "seed"]
    return dec.mean("seed").transpose(*dims, ...)


def _online_curve(spec, j, noise_var, init_var, lr):
    """E_g and the time coordinate of a depth-1 online run at its record positions."""
    from .spec import Auto
    from .store import online_examples

    pr = spec.problem
    ex = online_examples(spec)[j].astype(np.float64)
    a_seen, p, b = ex / pr.n_in, spec.n_train[j], spec.online_batch
    if spec.train.schedule == "optimal_online":
        test = online_test_error_optimal(a_seen, pr.teacher_var, noise_var, init_var)
        return test, optimal_online_time(a_seen, p, pr.n_in, pr.teacher_var, noise_var, init_var)
    if isinstance(lr, Auto):
        lr = lr.factor * 2 / (1 + np.sqrt(b / pr.n_in)) ** 2 * (b if spec.train.loss == "mean" else 1)
    eta_mean = lr * b if spec.train.loss == "sum" else lr  # the rate on the batch-mean gradient
    test = online_test_error(a_seen, pr.teacher_var, noise_var, init_var, lr=eta_mean, batch=b, n_in=pr.n_in)
    return test, eta_mean / b * ex / p


def _balanced_seed_mean(spec, depth, p, j, noise_var, lr, grad_scale, init_scale, epochs):
    """Seed mean of the balanced end-to-end flow on each seed's own data, from the
    engine's own balanced initial weights and learning rate."""
    from . import data, kernel
    from .spec import Auto

    pr = spec.problem
    tests, trains, times = [], [], []
    for seed in spec.axis("seed").values:
        st = data.seed_stats(spec.seed, seed, spec.n_train, pr.n_in, pr.n_out, pr.teacher_var)
        cfg = kernel.KernelConfig(
            depth, spec.model.width, pr.n_in, 1, st.factor.shape[-1], 1, (0, 1), inits=("balanced",),
            dtype="float64", root_seed=spec.seed,
        )  # fmt: skip
        run = kernel.run_inputs(
            st.factor[j], st.teacher, n_train=p, init="balanced", init_scale=init_scale, seed=seed
        )
        w0 = kernel._product(kernel.init_weights(cfg, run))
        if isinstance(lr, Auto):
            from .engine import weight_norm

            norm = weight_norm(st.teacher[None], st.ls_terms[j][None], np.sqrt([noise_var]))[0]
            eps = lr.factor * float(
                stability_bound(depth, st.lam_max[j], norm, "balanced", cfg.shapes(), init_scale)
            )
        else:
            eps = lr * grad_scale
        t = eps * epochs
        test, train = balanced_flow(st.factor[j], st.teacher, np.sqrt(noise_var), np.asarray(w0), depth, t, p)
        tests.append(test)
        trains.append(train)
        times.append(t)
    return np.mean(tests, 0), np.mean(trains, 0), np.mean(times, 0)
