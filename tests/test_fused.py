"""The eigenbasis kernels — the fused CPU kernel (dynax.sim.fused) and the Pallas GPU kernel
(dynax.sim.pallas, in interpret mode on this CPU) — against the XLA kernel they stand in
for: the same runs in float64 to rounding, float32 within the float32 error the XLA kernel
has, the same numbers whatever the batching, divergence recorded, and the kernel named in
the result. The Pallas kernel also lowers to Triton for a CUDA GPU (checked here without one)."""

import numpy as np
import pytest
from conftest import spec_text

from dynax import engine, parse_spec, run_sweep
from dynax.sim import trainers

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


FAST = ["fused", "pallas"]


@pytest.fixture(scope="module")
def reference():
    return run_sweep(_spec("xla"))


@pytest.mark.slow  # 14-28 s each via run_sweep; tests/test_trainers.py checks each trainer in the default run
@pytest.mark.parametrize("kernel", FAST)
def test_fast_kernel_equals_the_xla_kernel_in_float64(reference, kernel):
    spec = _spec(kernel)
    assert {g.trainer for g in engine.plan_sweep(spec).groups} == {kernel}
    ds = run_sweep(spec)
    assert ds.attrs["kernel"] == f"{kernel}: {kernel}" and reference.attrs["kernel"] == "xla: xla"
    scale = float(reference.test_error.max())  # E_t -> 0 when P < N: rounding of a vanishing sum
    for name in ("test_error", "train_error", "best_test_error", "null_space_error"):
        np.testing.assert_allclose(ds[name], reference[name], rtol=1e-10, atol=1e-12 * scale, err_msg=name)
    assert (ds.best_epoch == reference.best_epoch).all() and (ds.diverged == reference.diverged).all()


@pytest.mark.slow  # ~13 s; benchmarks/agreement.py measures the same on the standard workload
@pytest.mark.parametrize("kernel", FAST)
def test_fast_kernel_float32_error_is_the_xla_kernels(reference, kernel):
    """Within max(1e-5, 2x the XLA kernel's own float32 error) of float64 at every recorded
    epoch of noisy runs (noiseless runs approach E_g = 0, where float32 has no relative
    precision left in either kernel)."""
    noisy = dict(snr=[0.5, 4.0])
    ref = reference.test_error.sel(noisy)
    errors = {
        k: float(np.abs(run_sweep(_spec(k, "float32")).test_error.sel(noisy) / ref - 1).max())
        for k in ("xla", kernel)
    }
    assert errors[kernel] <= max(1e-5, 2 * errors["xla"]), errors


# both behind slow (12 s each; Pallas in interpret mode): by default tests/test_engine.py's
# test_batched_equals_loop_of_single_runs checks that batching changes nothing and
# tests/test_trainers.py each kernel's numbers
@pytest.mark.parametrize("kernel", [pytest.param(k, marks=pytest.mark.slow) for k in ("fused", "pallas")])
def test_fast_kernel_results_do_not_depend_on_the_batching(kernel):
    spec = _spec(kernel, "float32")
    one = run_sweep(spec, memory_budget=1 << 40)
    small = run_sweep(spec, memory_budget=int(2.5 * max(engine.plan_sweep(spec).bytes_per_run.values())))
    for name in ("test_error", "train_error", "best_test_error", "best_epoch", "null_space_error"):
        np.testing.assert_array_equal(one[name], small[name], err_msg=name)


# behind slow (8-15 s each): tests/test_engine.py's test_divergence_is_recorded_not_raised by default
@pytest.mark.parametrize("kernel", [pytest.param(k, marks=pytest.mark.slow) for k in FAST])
def test_fast_kernel_records_divergence_as_data(kernel):
    grid = "depth = [2]\nn_over_p = [0.5]\nsnr = [1.0]\nseed = { count = 2 }\nlearning_rate = [0.01, 5.0]"
    ds = {k: run_sweep(_spec(k, grid=grid)) for k in ("xla", kernel)}
    assert (
        ds[kernel].diverged.sel(learning_rate=5.0).all()
        and not ds[kernel].diverged.sel(learning_rate=0.01).any()
    )
    for name in ("best_epoch", "diverged"):
        np.testing.assert_array_equal(ds[kernel][name], ds["xla"][name])
    np.testing.assert_array_equal(ds[kernel].test_error.isnull(), ds["xla"].test_error.isnull())


@pytest.mark.parametrize("kernel", FAST)
def test_what_a_fast_kernel_does_not_support_falls_back_to_xla(kernel):
    grid = "depth = [1, 2]\nn_over_p = [0.5]\nsnr = [1.0]\noptimizer = ['gd', 'adam']\nseed = { count = 1 }"
    labels = sorted(g.label() for g in engine.plan_sweep(_spec(kernel, grid=grid)).groups)
    assert labels == sorted(
        [
            "closed_form depth=1 optimizer=gd",
            "xla depth=1 optimizer=adam",
            "xla depth=2 width=9 optimizer=adam",
            f"{kernel} depth=2 width=9 optimizer=gd",
        ]
    )
    # and a recorded layout keeps the kernel it names (--resume, Dask workers, shards)
    layout = engine.plan_sweep(_spec(kernel, grid=grid)).layout()
    assert trainers.requested_kernel(_spec("auto", grid=grid), layout) == kernel


def test_the_pallas_kernel_holds_networks_up_to_256_wide():
    """One program per network: N and N_h up to 256 (padded to powers of two) and its
    weight matrices (and velocities) within an SM's 64K-word register file; larger networks
    take the XLA kernel."""
    grid = "depth = [2]\nn_over_p = [0.5]\nsnr = [1.0]\nseed = { count = 1 }"

    def methods(n, width, *more):
        text = spec_text(grid, f"n_in = {n}", f"width = {width}", "epochs = 10")
        spec = parse_spec(text, "<t>", ["train.kernel=pallas", *more])
        return {g.trainer for g in engine.plan_sweep(spec).groups}

    assert methods(256, 200) == {"pallas"} and methods(257, 8) == {"xla"} and methods(8, 300) == {"xla"}
    assert methods(256, 256, "train.optimizer=momentum") == {"xla"}  # W_1 and its velocity: 128K words
    assert methods(256, 256, "train.dtype=float64") == {"xla"} and methods(128, 128, "grid.depth=[3]") == {
        "pallas"
    }
    assert methods(256, 256, "grid.depth=[3]") == {"xla"}


@pytest.mark.parametrize("depth", [2, 3])
def test_the_pallas_kernel_lowers_to_triton_for_a_cuda_gpu(depth):
    """Every operation of the kernel has a Triton lowering and its block shapes are valid
    (what can be checked without a GPU; compiling and timing it needs one)."""
    from dynax.sim.pallas import PallasShape, pallas_trainer
    from dynax.sim.scope import x64

    n_runs, side = 4, 128
    for momentum, decay, dtype in ((False, False, "float32"), (True, True, "float64")):
        shape = PallasShape(100, side, side, depth - 2, 50, 64, momentum, decay, dtype)
        arrays = [np.zeros(64, np.int32), np.zeros((n_runs, side, side), dtype)]
        arrays += [np.zeros((n_runs, depth - 2, side, side), dtype)] if depth > 2 else []
        arrays += [
            np.zeros((n_runs, side), dtype),
            np.zeros((n_runs, 8, side), dtype),
            np.zeros((n_runs, 8), dtype),
        ]
        with x64():
            lowered = pallas_trainer(shape, n_runs, False).trace(*arrays).lower(lowering_platforms=("cuda",))
        assert "__gpu$xla.gpu.triton" in lowered.as_text()


@pytest.mark.slow  # 12 runs x 3 inits x 2 kernels against XLA (~10 s)
@pytest.mark.parametrize("kernel", FAST)
def test_fast_kernel_shares_initial_draws_without_changing_them(kernel):
    """The fast paths draw each (seed, init) once and rotate it once per (seed, P); the
    runs' scales and the per-run aligned init must give the XLA kernel's numbers."""
    grid = (
        "depth = [2]\nn_over_p = [2.0, 0.5]\nsnr = [1.0, 8.0]\nseed = { count = 2 }\n"
        "init = ['gaussian', 'orthogonal', 'aligned']\ninit_scale = [0.3, 1.0]"
    )
    model = "width = 9  # init and init_scale on the grid"
    ds = {k: run_sweep(_spec(k, grid=grid, model=model)) for k in ("xla", kernel)}
    scale = float(ds["xla"].test_error.max())
    for name in ("test_error", "train_error", "best_test_error"):
        np.testing.assert_allclose(
            ds[kernel][name], ds["xla"][name], rtol=1e-10, atol=1e-12 * scale, err_msg=name
        )
    assert (ds[kernel].best_epoch == ds["xla"].best_epoch).all()


def test_auto_takes_the_fused_kernel_only_where_it_is_faster():
    """auto: fused on a CPU backend for epochs >= N and N * N_h <= 256^2 (measured crossover)."""
    grid = "depth = [2]\nn_over_p = [0.5]\nsnr = [1.0]\nseed = { count = 1 }"

    def methods(n, width, epochs):
        text = spec_text(grid, f"n_in = {n}", f"width = {width}", f"epochs = {epochs}")
        return {g.trainer for g in engine.plan_sweep(parse_spec(text, "<t>")).groups}

    assert methods(100, 100, 100) == {"fused"}
    assert methods(100, 100, 99) == {"xla"}
    assert methods(256, 256, 300) == {"fused"}
    assert methods(300, 300, 300) == {"xla"}


def test_first_call_compiles_are_reported_as_compile_not_training():
    """The eigenbasis kernels compile (numba, or Triton on a GPU) before they train, and say
    how long that took: a signature this process has not seen takes > 0 s, then 0.0."""
    import numba

    from dynax.sim.fused import compile_seconds

    @numba.njit
    def add(x, y):
        return x + y

    x = np.ones(3, np.float32)
    assert compile_seconds(add, x, x) > 0
    assert compile_seconds(add, x, x) == 0.0
    assert compile_seconds(add, x.astype(np.float64), x) > 0  # a new signature compiles
    np.testing.assert_array_equal(add(x, x), 2 * x)
    assert len(add.overloads) == 2  # the call used what was compiled: nothing new
