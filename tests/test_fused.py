"""The fused CPU kernel (dynax.sim.fused) against the XLA kernel it stands in for: the same
runs in float64 to rounding, float32 within the float32 error the XLA kernel has, the same
numbers whatever the batching, divergence recorded, and the kernel named in the result."""

import numpy as np
import pytest
from conftest import spec_text

from dynax import engine, parse_spec, run_sweep

GRID = (
    "depth = [2, 3]\nn_over_p = [2.0, 0.5]\nsnr = [0.5, 4.0, inf]\n"
    "optimizer = ['gd', 'momentum']\nseed = { count = 2 }"
)


def _spec(kernel, dtype="float64", grid=GRID, train="", model="width = 9"):
    text = spec_text(
        grid,
        "n_in = 14",
        model if "init" in model else f"{model}\ninit = 'gaussian_fan_in'\ninit_scale = 0.5",
        f"epochs = 120\nrecord = {{ log = 20 }}\nnull_space_error = true\n{train}",
    )
    return parse_spec(text, "<t>", [f"train.kernel={kernel}", f"train.dtype={dtype}"])


@pytest.fixture(scope="module")
def reference():
    return run_sweep(_spec("xla"))


def test_fused_equals_the_xla_kernel_in_float64(reference):
    spec = _spec("fused")
    assert {g.method for g in engine.plan_sweep(spec).groups} == {"fused"}
    ds = run_sweep(spec)
    assert ds.attrs["kernel"] == "fused: fused" and reference.attrs["kernel"] == "xla: gd"
    scale = float(reference.test_error.max())  # E_t -> 0 when P < N: rounding of a vanishing sum
    for name in ("test_error", "train_error", "best_test_error", "null_space_error"):
        np.testing.assert_allclose(ds[name], reference[name], rtol=1e-10, atol=1e-12 * scale, err_msg=name)
    assert (ds.best_epoch == reference.best_epoch).all() and (ds.diverged == reference.diverged).all()


def test_fused_float32_error_is_the_xla_kernels(reference):
    """Within max(1e-5, 2x the XLA kernel's own float32 error) of float64 at every recorded
    epoch of noisy runs (noiseless runs approach E_g = 0, where float32 has no relative
    precision left in either kernel)."""
    noisy = dict(snr=[0.5, 4.0])
    ref = reference.test_error.sel(noisy)
    errors = {
        k: float(np.abs(run_sweep(_spec(k, "float32")).test_error.sel(noisy) / ref - 1).max())
        for k in ("xla", "fused")
    }
    assert errors["fused"] <= max(1e-5, 2 * errors["xla"]), errors


def test_fused_results_do_not_depend_on_the_batching():
    spec = _spec("fused", "float32")
    one = run_sweep(spec, memory_budget=1 << 40)
    small = run_sweep(spec, memory_budget=int(2.5 * max(engine.plan_sweep(spec).bytes_per_run.values())))
    for name in ("test_error", "train_error", "best_test_error", "best_epoch", "null_space_error"):
        np.testing.assert_array_equal(one[name], small[name], err_msg=name)


def test_fused_records_divergence_as_data():
    grid = "depth = [2]\nn_over_p = [0.5]\nsnr = [1.0]\nseed = { count = 2 }\nlearning_rate = [0.01, 5.0]"
    ds = {k: run_sweep(_spec(k, grid=grid)) for k in ("xla", "fused")}
    assert (
        ds["fused"].diverged.sel(learning_rate=5.0).all()
        and not ds["fused"].diverged.sel(learning_rate=0.01).any()
    )
    for name in ("best_epoch", "diverged"):
        np.testing.assert_array_equal(ds["fused"][name], ds["xla"][name])
    np.testing.assert_array_equal(ds["fused"].test_error.isnull(), ds["xla"].test_error.isnull())


def test_what_the_fused_kernel_does_not_support_falls_back_to_xla():
    grid = "depth = [1, 2]\nn_over_p = [0.5]\nsnr = [1.0]\noptimizer = ['gd', 'adam']\nseed = { count = 1 }"
    labels = sorted(g.label() for g in engine.plan_sweep(_spec("fused", grid=grid)).groups)
    assert labels == [
        "closed_form depth=1 optimizer=gd",
        "fused depth=2 width=9 optimizer=gd",
        "gd depth=1 optimizer=adam",
        "gd depth=2 width=9 optimizer=adam",
    ]


def test_fused_shares_initial_draws_without_changing_them():
    """The fused path draws each (seed, init) once and rotates it once per (seed, P); the
    runs' scales and the per-run aligned init must give the XLA kernel's numbers."""
    grid = (
        "depth = [2]\nn_over_p = [2.0, 0.5]\nsnr = [1.0, 8.0]\nseed = { count = 2 }\n"
        "init = ['gaussian', 'orthogonal', 'aligned']\ninit_scale = [0.3, 1.0]"
    )
    model = "width = 9  # init and init_scale on the grid"
    ds = {k: run_sweep(_spec(k, grid=grid, model=model)) for k in ("xla", "fused")}
    scale = float(ds["xla"].test_error.max())
    for name in ("test_error", "train_error", "best_test_error"):
        np.testing.assert_allclose(
            ds["fused"][name], ds["xla"][name], rtol=1e-10, atol=1e-12 * scale, err_msg=name
        )
    assert (ds["fused"].best_epoch == ds["xla"].best_epoch).all()


def test_auto_takes_the_fused_kernel_only_where_it_is_faster():
    """auto: fused on a CPU backend for epochs >= N and N * N_h <= 256^2 (measured crossover)."""
    grid = "depth = [2]\nn_over_p = [0.5]\nsnr = [1.0]\nseed = { count = 1 }"

    def methods(n, width, epochs):
        text = spec_text(grid, f"n_in = {n}", f"width = {width}", f"epochs = {epochs}")
        return {g.method for g in engine.plan_sweep(parse_spec(text, "<t>")).groups}

    assert methods(100, 100, 100) == {"fused"}
    assert methods(100, 100, 99) == {"gd"}
    assert methods(256, 256, 300) == {"fused"}
    assert methods(300, 300, 300) == {"gd"}
