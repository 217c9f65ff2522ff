"""The benchmark contenders compute the same thing: tiny sizes, real agreement checks."""

import numpy as np
import pytest

from dynax import bench, engine, parse_spec


@pytest.mark.slow  # ~9-11 s each: the benchmark records its own agreement (results/benchmarks)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_contenders_agree_on_the_same_data(depth):
    text = bench.STANDARD.format(depths=depth, seeds=1, n=12, epochs=60)
    spec = parse_spec(text, "<bench>", ["train.method=gd", "grid.n_over_p={geomspace=[0.2, 5.0, 4]}"])
    plan = engine.plan_sweep(spec)
    res, _, _ = bench.dynax_group(plan, 0)
    pick, raws = bench.subset(plan, plan.groups[0], 6, res["learning_rate_used"])
    np_curves, _ = bench.numpy_loop(raws, 60)
    jx_curves, _, _, p_max = bench.jax_vmap_raw(raws, 60)
    rec = np.asarray(spec.record_epochs)
    dyn = res.test_error[pick]
    np.testing.assert_allclose(np_curves[:, rec], dyn, rtol=2e-4)  # float64 NumPy vs float32 dynax
    np.testing.assert_allclose(jx_curves[:, rec], dyn, rtol=2e-4)
    assert p_max == max(r[0].shape[0] for r in raws)
    if depth == 1:
        closed = engine.execute(
            engine.plan_sweep(parse_spec(text, "<bench>", ["grid.n_over_p={geomspace=[0.2, 5.0, 4]}"]))
        )
        np.testing.assert_allclose(closed.test_error, res.test_error, rtol=2e-4)


def test_cost_model_counts_the_weights():
    flops, nbytes = bench.gd_costs(2, 10, 4, 11, 4)
    s = 4 * 10 + 1 * 4
    assert flops == 7 * s + 4 * 10 * 11 and nbytes == 4 * (3 * s + 10 * 11)
    flops, _ = bench.raw_costs(3, 10, 4, 50, 8)
    assert flops == 6 * 50 * (40 + 16 + 4)


def test_scaling_plot_draws_a_report(tmp_path):
    axes = {"networks": {"1": 1e4, "4": 3e4}, "n_in": {"25": 1e6, "50": 3e5}, "depth": {"2": 1e5, "3": 5e4}}
    sc = {"xla": axes, "fused": axes, "depth_closed_form_1": 2e5, "caches": {"L1": 49152, "L2": 1 << 20}}
    bench.plot_scaling({"scaling": sc, "device_kind": "cpu", "machine": "test"}, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 10_000


@pytest.mark.slow  # ~10 s: the benchmark's peer, like the contenders' agreement above
def test_end_to_end_peer_trains_the_same_sweep_in_law(tmp_path):
    """The plain jit(vmap) peer of the end-to-end benchmark draws its own data, so it agrees
    with dynax in law: its seed-mean E_g at the first and last recorded epochs is within 4
    standard errors of dynax's (N = N_h = 20, 8 N/P x 2 SNRs x 16 seeds, 300 epochs)."""
    from dynax.bench.end_to_end import END_TO_END, plain_jit_vmap

    over = [
        "problem.n_in=20",
        "model.width=20",
        "grid.seed={count=16}",
        "grid.snr=[0.5, 8.0]",
        "train.epochs=300",
    ]
    spec = parse_spec(END_TO_END, "<bench end-to-end>", over)
    peer, _ = plain_jit_vmap(spec)
    ds = engine.run_sweep(spec)
    ours = ds.test_error.transpose(*spec.dims, "epoch").values.reshape(peer.shape)
    for j in (0, -1):
        a, b = peer[:, j].reshape(-1, 16), ours[:, j].reshape(-1, 16)  # (cell, seed)
        se = np.sqrt(a.var(1, ddof=1) / 16 + b.var(1, ddof=1) / 16)
        assert np.all(np.abs(a.mean(1) - b.mean(1)) < 4 * se), (j, a.mean(1), b.mean(1), se)
