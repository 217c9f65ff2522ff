"""The raw-data trainer: online SGD, minibatch replay, nonlinear teachers and students.

Full-batch GD on a linear network needs only sufficient statistics (``kernel``). The
protocols and models here need the examples themselves:

* ``protocol = "online"``: one SGD step per fresh example (or minibatch of B), drawn
  inside the compiled loop from the data key exactly as stored examples are (example μ
  from ``fold_in(data, μ)``), so the first P online examples are the replay training set;
* ``protocol = "replay"`` with ``batch_size = B``: SGD over the stored P examples,
  reshuffled every epoch from ``fold_in(stream, epoch)`` with ``stream = fold_in(run, 2)``;
  minibatch gradients are sums over the batch (``loss = "mean"`` divides by P, as in
  full batch); the last partial batch is kept;
* a two-layer ReLU teacher ``f(x) = a·relu(V x)`` (``problem.teacher = "relu"``);
* the random-feature student (a fixed random ReLU layer ``relu(F x)`` and a trained
  readout) and fully trained ReLU/tanh students (``model.activation``).

The stored examples are padded to a bucket of P (:func:`dynax.spec.derived.p_bucket`, less
than 12.5% waste) with a mask: padded examples never enter a sum with nonzero weight, and the
shuffle gives each real example a key of its own (``fold_in(epoch key, μ)``), so a run
gives the same result in any bucket. ``E_g`` is the exact population risk where the
teacher and the student are linear, and otherwise an estimate on a fixed test set of
``n_test`` examples per run (from ``fold_in(run, 3)``), plus ``σ_ε²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..spec import derived
from ..theory import optimal_online_rate
from . import committee, data, modes, recorders, streams, teachers, tracker
from .gd import product
from .init import InitConfig, init_from
from .optimizers import optimizer
from .recorders import View
from .scope import float64
from .tracker import DIVERGENCE_FACTOR, Outputs, records

__all__ = ["RawConfig", "RawInputs", "feature_layer", "initial_weights", "train_raw"]

FEATURES = 1_000_003  # folded into a run's init key for the random-feature layer


@dataclass(frozen=True)
class RawConfig:
    """Static settings of one raw-data compile group."""

    depth: int
    width: int
    n_in: int
    n_out: int
    p_bucket: int
    epochs: int
    record: tuple[int, ...]  # replay: recorded epochs (online runs carry their own steps)
    protocol: str = "replay"
    batch: int = 0  # minibatch size; 0 = full batch (replay only)
    optimizer: str = "gd"
    inits: tuple[str, ...] = ("gaussian",)
    dtype: str = "float32"
    root_seed: int = 0
    student: str = "deep_linear"
    activation: str = "linear"
    teacher: str = "linear"
    teacher_width: int = 0
    n_test: int = 0  # 0: the exact population risk (linear teacher and student)
    schedule: str = "none"
    records: tuple[str, ...] = ()  # what train.record's flags add, as in the GD kernel
    record_floats: int = 0
    modes: int = 0  # teacher modes of the mode bases (linear students only)
    data_modes: int = 0
    validation: bool = False  # never on this path (a spec error): kept for one config layout
    weight_decay: bool = False  # the spec has γ > 0 somewhere: the loss carries the penalty term
    dropout: bool = False  # the group's runs have q > 0: the loss masks the hidden units
    dropout_scaling: str = "inverted"  # kept units × 1/p ("inverted") or × 1 ("none")
    input_noise: bool = False  # the group's runs have σ_n > 0: fresh input noise per step
    covariance: bool = False  # an input covariance C = A Aᵀ/N (problem.input_spectrum)
    pretrain_epochs: int = 0  # init "pretrained": each layer's autoencoding epochs
    train_readout: bool = False  # the committee student's readout trained at η/N (else fixed at 1)

    def shapes(self) -> list[tuple[int, int]]:
        """Shapes of the TRAINED layers, input side first."""
        if self.student == "random_features":
            return [(self.n_out, self.width)]
        return derived.layer_shapes(self.depth, self.width, self.n_in, self.n_out)

    @property
    def exact(self) -> bool:
        return self.n_test == 0

    @property
    def readout_gram(self) -> bool:
        """The test error of a random-feature readout as a quadratic form in it (the test
        features' Gram, O(N_h²) per evaluation) rather than over the test set (O(n_test·N_h))."""
        return self.student == "random_features" and self.n_test > self.width


class RawInputs(NamedTuple):
    """One run's inputs (a leading run axis when batched)."""

    x: jax.Array  # (p_bucket, N) stored examples (zero beyond P)
    z: jax.Array  # (p_bucket, N_out) their standard-normal label noise
    t1: jax.Array  # linear teacher w̄ (N_out, N), or the ReLU teacher's V (N_t, N)
    t2: jax.Array  # the ReLU teacher's readout a (N_out, N_t); (N_out, 0) if linear
    test_x: jax.Array  # (n_test, N)
    test_f: jax.Array  # (n_test, N_out) noiseless teacher outputs
    noise_std: jax.Array
    n_train: jax.Array  # P
    learning_rate: jax.Array
    grad_scale: jax.Array
    init_scale: jax.Array
    init_code: jax.Array
    seed: jax.Array
    momentum: jax.Array
    b1: jax.Array
    b2: jax.Array
    record_steps: jax.Array  # (n_record,) online: steps at the record positions
    init_var: jax.Array  # σ_0² for the optimal_online schedule
    teacher_var: jax.Array  # σ_w²
    weight_decay: jax.Array  # γ
    mode_u: jax.Array | None = None  # the teacher's singular vectors (modes recorded only)
    mode_v: jax.Array | None = None
    dropout: jax.Array | None = None  # q, the drop probability (dropout runs only)
    input_noise: jax.Array | None = None  # σ_n (input-noise runs only)
    draw: jax.Array | None = None  # the streams' replicate (dropout and input-noise runs only)
    input_root: jax.Array | None = None  # A (N, N), A Aᵀ/N = C (an input covariance only)


_ACT = {"linear": lambda h: h, "relu": jax.nn.relu, "tanh": jnp.tanh, "erf": teachers.erf_unit}


@float64
def feature_layer(root_seed, seed, width: int, n_in: int, dtype=jnp.float64):
    """The random-feature student's fixed first layer F (width, N): entries N(0, 1)/√N_h,
    so ``F x`` has entries of variance 1/N_h and Σ_hh's scale (and a stable learning
    rate) does not grow with the width; it depends on (seed, width) only."""
    run = data.run_key(root_seed, seed)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(run, 1), width), FEATURES)
    f = jax.random.normal(key, (width, n_in), jnp.float64) / math.sqrt(width)
    return f.astype(dtype)


@float64
def initial_weights(cfg: RawConfig, run):
    """Initial trained weights: the same draws as the sufficient-statistics path (the
    random-feature readout is drawn as a depth-1 network on N_h inputs). ``run`` needs
    ``seed``, ``init_code`` and ``init_scale`` (and its examples for the aligned init, which
    reads their Σ_yx: full-batch replay with a linear teacher, e.g. under dropout)."""
    rf = cfg.student == "random_features"
    icfg = InitConfig(
        1 if rf else cfg.depth, cfg.width, cfg.width if rf else cfg.n_in, cfg.n_out, cfg.inits, cfg.dtype,
        cfg.root_seed, cfg.pretrain_epochs,
    )  # fmt: skip
    syx = _syx(cfg, run) if "aligned" in cfg.inits else None
    sxx = _syx(cfg, run, inputs=True) if "pretrained" in cfg.inits else None  # pretraining's Σ_xx
    ws = init_from(icfg, run.seed, run.init_code, run.init_scale, syx, sxx)
    return committee.initial_weights(ws) if cfg.student == "committee" else ws


def _syx(cfg: RawConfig, run, inputs: bool = False) -> jax.Array:
    """Σ_yx (N_out, N) of a run's P stored examples (a linear teacher), float64; ``inputs``: Σ_xx."""
    x64 = run.x * (jnp.arange(cfg.p_bucket) < run.n_train)[:, None]
    return x64.T @ x64 if inputs else (x64 @ run.t1.T + run.noise_std * run.z).T @ x64


def _optimizer(name, run, dtype, scheduled: bool):
    if scheduled:  # the rate is applied to the gradient before the update
        return optax.sgd(jnp.asarray(1.0, dtype))
    return optimizer(name, run, dtype)


class _State(NamedTuple):
    weights: list
    opt_state: optax.OptState
    track: tracker.Tracker  # minimum over epochs (replay) or steps (online); bad_epoch large if none
    e: jax.Array  # the schedule's excess-error estimate
    descent: tracker.Descent  # full batch: the training objective's lowest value and first rise


class _Net(NamedTuple):
    """One run's network on its raw data: what the trained layers see, and its errors."""

    inputs: object  # x -> what the trained layers see (the fixed random features, or x)
    forward: object  # (weights, inputs) -> outputs
    test_error: object  # weights -> E_g (exact, or on the test set) including σ_ε²
    train_error: object  # weights -> mean squared residual on the P examples
    grad: object  # (weights, inputs, labels, per-example weight) -> gradient of the loss
    loss_and_grad: object  # the same -> (the loss, its gradient)
    loss: object  # the same -> the loss (with the weight-decay penalty): the training objective
    masks: object  # (example ids, epoch) -> each hidden layer's scaled dropout masks, or None
    noise: object  # (example ids, epoch) -> the input noise of those examples (B, N), or None
    s_tr: jax.Array  # (p_bucket, ·) the training inputs as the trained layers see them
    y_tr: jax.Array  # (p_bucket, N_out) labels
    mask: jax.Array  # (p_bucket,) 1 for the P real examples
    sigma: jax.Array  # σ_ε
    t1: jax.Array
    t2: jax.Array


def _network(cfg: RawConfig, run: RawInputs, dtype) -> _Net:
    act = _ACT[cfg.activation]
    n, n_out = cfg.n_in, cfg.n_out
    p = run.n_train
    mask = (jnp.arange(cfg.p_bucket) < p).astype(dtype)
    x_tr = run.x.astype(dtype)
    sigma = run.noise_std.astype(dtype)
    noise_var = sigma * sigma
    t1, t2 = run.t1.astype(dtype), run.t2.astype(dtype)
    y_tr = teachers.teacher_apply(cfg.teacher, t1, t2, x_tr) + sigma * run.z.astype(dtype)
    feats = (
        feature_layer(cfg.root_seed, run.seed, cfg.width, n, dtype)
        if cfg.student == "random_features"
        else None
    )
    gs = run.grad_scale.astype(dtype)

    def inputs(x):
        return x if feats is None else act(x @ feats.T)

    def forward(ws, s, drop=None):
        if feats is not None:
            return s @ ws[0].T
        h = s
        for layer, w in enumerate(ws[:-1]):
            h = act(h @ w.T)
            if drop is not None:  # dropout: the hidden units each example keeps, scaled
                h = h * drop[layer]
        return h @ ws[-1].T

    s_tr = inputs(x_tr)  # computed once: the features are fixed
    s_test = None if cfg.exact else inputs(run.test_x.astype(dtype))
    quad, committee_error = None, committee.test_error(t1, t2) if cfg.student == "committee" else None
    if cfg.readout_gram:  # E_g is checked at every epoch: O(N_h²) instead of O(n_test·N_h)
        tf, m = run.test_f.astype(dtype), cfg.n_test
        quad = (s_test.T @ s_test / m, tf.T @ s_test / m, jnp.sum(tf * tf) / m)

    def test_error(ws):
        if cfg.student == "committee":  # exact from the overlaps (docs/theory.md §6)
            return committee_error(ws) + noise_var
        if cfg.exact:  # with an input covariance C = A Aᵀ/N: ‖(W − w̄) A‖²
            d = product(ws) - t1
            d = d @ run.input_root.astype(dtype) if cfg.covariance else d
            return jnp.sum(d * d) / (n * n_out) + noise_var
        if quad is not None:
            g, h, c = quad
            a = ws[0]
            return (c - 2 * jnp.sum(a * h) + jnp.sum((a @ g) * a)) / n_out + noise_var
        r = run.test_f.astype(dtype) - forward(ws, s_test)
        return jnp.mean(r * r) + noise_var

    def train_error(ws):
        if cfg.student == "committee":  # online from fresh examples: no training set
            return jnp.array(jnp.nan, dtype)
        r = (y_tr - forward(ws, s_tr)) * mask[:, None]
        return jnp.sum(r * r) / (p.astype(dtype) * n_out)

    gamma = run.weight_decay.astype(dtype)

    def loss(ws, x, y, weight, drop=None):
        r = (y - forward(ws, x, drop)) * weight[:, None]
        # weight decay in proportion to the examples the step sees (Σ weight of P): one pass
        # over the P examples adds (γ/2)Σ_l‖W_l‖² once, as one full-batch step does
        if not cfg.weight_decay:
            return 0.5 * gs * jnp.sum(r * r)
        share = jnp.sum(weight) / p.astype(dtype)
        return 0.5 * gs * (jnp.sum(r * r) + gamma * share * sum(jnp.sum(w * w) for w in ws))

    grad, loss_and_grad = jax.grad(loss), jax.value_and_grad(loss)
    if cfg.student == "committee":  # the first layer at η, the readout at η/N or fixed
        grad, loss_and_grad = committee.steps(cfg, grad), committee.steps(cfg, loss_and_grad)
    return _Net(
        inputs, forward, test_error, train_error, grad, loss_and_grad, loss,
        streams.dropout_masks(cfg, run, dtype), streams.input_noise(cfg, run, dtype),
        s_tr, y_tr, mask, sigma, t1, t2,
    )  # fmt: skip


def _online_steps(cfg: RawConfig, run: RawInputs, net: _Net, check, update, dtype):
    """Online SGD: one step per minibatch of B fresh examples (example k drawn as stored
    example k is); returns the step loop body and the record positions (steps)."""
    key = data.data_key(cfg.root_seed, run.seed)
    b = cfg.batch

    def fresh(k):  # the B examples of step k, generated as stored examples are
        mus = (k * b + jnp.arange(b)).astype(jnp.uint32)
        x, z = jax.vmap(lambda mu: data.example(key, mu, cfg.n_in, cfg.n_out))(mus)
        x = (x @ run.input_root.T if cfg.covariance else x).astype(dtype)
        return net.inputs(x), teachers.teacher_apply(cfg.teacher, net.t1, net.t2, x) + net.sigma * z.astype(
            dtype
        )

    def step(k, state):
        state = check(state, net.test_error(state.weights), k.astype(jnp.int64))
        x, y = fresh(k)
        ids = k * b + jnp.arange(b)  # each example once: epoch 0 for its mask and noise
        drop = net.masks(ids, 0) if cfg.dropout else None
        x = x + net.noise(ids, 0) if cfg.input_noise else x
        return update(state, x, y, jnp.ones((b,), dtype), ~state.track.diverged, drop=drop)

    return step, run.record_steps.astype(jnp.int64)


def _replay_epochs(cfg: RawConfig, run: RawInputs, net: _Net, check, update, dtype):
    """Replay over the stored examples, full batch or reshuffled minibatches; returns the
    epoch loop body and the record positions (epochs)."""
    p = run.n_train
    b = cfg.batch or cfg.p_bucket
    n_sub = -(-cfg.p_bucket // b)  # minibatch steps per epoch in this bucket
    stream = jax.random.fold_in(data.run_key(cfg.root_seed, run.seed), 2)
    index = jnp.arange(cfg.p_bucket)

    def epoch_step(epoch, state):
        state = check(state, net.test_error(state.weights), epoch.astype(jnp.int64))
        if not cfg.batch:
            drop = net.masks(index, epoch) if cfg.dropout else None
            x = net.s_tr + net.noise(index, epoch) if cfg.input_noise else net.s_tr
            return update(state, x, net.y_tr, net.mask, ~state.track.diverged, epoch, drop)
        ekey = jax.random.fold_in(stream, epoch)
        u = jax.vmap(lambda mu: jax.random.uniform(jax.random.fold_in(ekey, mu)))(index)
        order = jnp.argsort(jnp.where(index < p, u, 2.0))  # real examples first, shuffled
        order = jnp.concatenate([order, jnp.zeros(n_sub * b - cfg.p_bucket, order.dtype)])

        def sub(s, state):
            idx = jax.lax.dynamic_slice(order, (s * b,), (b,))
            valid = ((s * b + jnp.arange(b)) < p).astype(dtype)
            drop = net.masks(idx, epoch) if cfg.dropout else None
            x = net.s_tr[idx] + net.noise(idx, epoch) if cfg.input_noise else net.s_tr[idx]
            active = (s * b < p) & ~state.track.diverged
            return update(state, x, net.y_tr[idx], valid, active, drop=drop)

        return jax.lax.fori_loop(0, n_sub, sub, state)

    return epoch_step, jnp.asarray(cfg.record, dtype=jnp.int64)


def _updater(cfg: RawConfig, net, opt, scheduled: bool, noise_var):
    """The step of a run: ``update(state, x, y, weight, active, epoch=None, drop=None)``, a no-op
    where not ``active``; full batch (``epoch`` given): the objective before it joins the descent
    state (not with dropout's masks or input noise: the objective is then stochastic); ``drop``: the dropout
    masks of the examples; with the optimal online schedule, the rate from the predicted error e."""

    def update(state: _State, x, y, weight, active, epoch=None, drop=None):
        if epoch is None or cfg.dropout or cfg.input_noise:  # no descent state for a noisy objective
            g = net.grad(state.weights, x, y, weight, drop)
        else:
            value, g = net.loss_and_grad(state.weights, x, y, weight)
            state = state._replace(descent=tracker.descend(state.descent, value, epoch))
        e = state.e
        if scheduled:  # η*(e) = e/(e + σ²); de/dα = −e²/(e + σ²), dα = B/N per step
            rate = optimal_online_rate(e, noise_var)
            g = jax.tree.map(lambda v: rate * v, g)
            e = e - (cfg.batch / cfg.n_in) * e * e / (e + noise_var)
        upd, opt_state = opt.update(g, state.opt_state, state.weights)
        new = optax.apply_updates(state.weights, upd)
        keep = lambda a, b: jax.tree.map(lambda u, v: jnp.where(active, u, v), a, b)  # noqa: E731
        return state._replace(
            weights=keep(new, state.weights),
            opt_state=keep(opt_state, state.opt_state),
            e=jnp.where(active, e, state.e),
        )

    return update


@float64
def train_raw(cfg: RawConfig, run: RawInputs) -> Outputs:
    """Train one network on its raw data (replay: full batch or minibatches; online).

    ``best_epoch`` of the returned :class:`Outputs` counts epochs for replay and SGD
    steps for online runs (the engine turns steps into examples seen and epochs).
    """
    dtype = jnp.dtype(cfg.dtype)
    net = _network(cfg, run, dtype)
    noise_var = net.sigma * net.sigma
    scheduled = cfg.schedule == "optimal_online" and cfg.protocol == "online"
    opt = _optimizer(cfg.optimizer, run, dtype, scheduled)
    ws0 = initial_weights(cfg, run)
    test0 = net.test_error(ws0)
    limit = DIVERGENCE_FACTOR * test0
    never = jnp.iinfo(jnp.int64).max

    def check(state: _State, test, pos):
        return state._replace(track=tracker.update(state.track, test, pos, limit))

    # a rise of the objective means something (not under fresh masks or input noise: groups apart)
    full_batch = cfg.protocol == "replay" and not cfg.batch and not cfg.dropout and not cfg.input_noise

    update = _updater(cfg, net, opt, scheduled, noise_var)
    mb = _mode_bases(cfg, run, dtype)

    def record(state: _State, pos):
        test = net.test_error(state.weights)
        state = check(state, test, pos)
        if full_batch:
            value = net.loss(state.weights, net.s_tr, net.y_tr, net.mask)
            state = state._replace(descent=tracker.descend(state.descent, value, pos))
        nan = jnp.array(jnp.nan, dtype)
        train = net.train_error(state.weights)
        curves = {}
        if cfg.records:
            teacher = _TeacherView(run.t1, run.mode_u, run.mode_v)
            view = View(state.weights, product(state.weights), cfg.n_out, mb, teacher)
            curves = recorders.at_record(cfg.records, view)
        return state, jax.tree.map(lambda v: jnp.where(state.track.diverged, nan, v), (train, test, curves))

    loops = _online_steps if cfg.protocol == "online" else _replay_epochs
    body, steps = loops(cfg, run, net, check, update, dtype)
    n_rec = steps.shape[0]

    def interval(state, j):
        state, rec = record(state, steps[j])
        state = jax.lax.fori_loop(steps[j], steps[j + 1], body, state)
        return state, rec

    state = _State(
        weights=ws0,
        opt_state=opt.init(ws0),
        track=tracker.start(test0, dtype, never),
        e=(run.teacher_var + run.init_var).astype(dtype),
        descent=tracker.descent(net.loss(ws0, net.s_tr, net.y_tr, net.mask)),
    )
    state, recs = jax.lax.scan(interval, state, jnp.arange(n_rec - 1))
    state, lasts = record(state, steps[n_rec - 1])
    out = tracker.outputs(state.track, dtype, (recs[0], lasts[0]), (recs[1], lasts[1]))
    out = out._replace(rise_epoch=state.descent.rise_epoch if full_batch else jnp.int64(-1))
    return out._replace(records=_records(cfg, run, state, recs[2], lasts[2], mb, dtype))


def _mode_bases(cfg: RawConfig, run: RawInputs, dtype):
    """The teacher's and the data's singular bases where modes are recorded (else None):
    Σ_yx of the P stored examples (an online run's first P), float64."""
    if not cfg.modes:
        return None
    return modes.bases(run.mode_u, run.mode_v, _syx(cfg, run), run.n_train, cfg.data_modes, dtype)


def _records(cfg: RawConfig, run: RawInputs, state, recs: dict, lasts: dict, mb, dtype) -> dict:
    """What train.record's flags add: the curves from the scan's records and the last one,
    and the values of the last epoch and of the run (:mod:`dynax.sim.recorders`)."""
    if not cfg.records:
        return {}
    teacher = _TeacherView(run.t1, run.mode_u, run.mode_v)
    end = View(state.weights, product(state.weights), cfg.n_out, mb, teacher)
    curves = jax.tree.map(records, recs, lasts)
    return {**curves, **recorders.at_end(cfg.records, end, state.track.diverged, dtype)}


class _TeacherView(NamedTuple):
    """What the recorders read of a run's teacher: the linear teacher and its modes."""

    teacher: jax.Array
    mode_u: jax.Array | None
    mode_v: jax.Array | None
