"""Each trainer of the registry on the same small batch, called through the protocol
(``Trainer.train(cfg, inputs)``), not through ``run_sweep``: in float64 the trainers of
full-batch GD agree with the XLA kernel to rounding, at every record and in their tracking.

The inputs are the engine's own for a batch (``dynax.engine.chunk.BUILDERS``), so each
trainer sees what it sees in a sweep; the raw-data trainer gets its config from its own
``config`` (it trains the examples themselves).
"""

import functools

import numpy as np
import pytest
from conftest import spec_text

from dynax import parse_spec, plan_sweep
from dynax.engine.chunk import BUILDERS
from dynax.engine.inputs import stats_cache
from dynax.engine.plan import Group
from dynax.sim import trainers

SPEC = spec_text(
    "depth = [1, 2]\nn_over_p = [0.5, 1.5]\nsnr = [2.0, inf]\nseed = { count = 2 }",
    "n_in = 6",
    "width = 5\ninit_scale = 0.3",
    "epochs = 120\nlearning_rate = { auto = 0.5 }\ndtype = 'float64'\nrecord = { every = 30 }\n"
    "null_space_error = true",
)
FIELDS = ("train_error", "test_error", "best_test_error", "null_space_error")
EXACT = ("best_epoch", "diverged", "rise_epoch")


@functools.cache
def _batch(depth: int, opt: str):
    """The spec, the XLA kernel's plan group, its runs, a stats cache and the XLA kernel's
    outputs for one (depth, optimizer); built once per process, only where a test asks."""
    overrides = [f"grid.depth=[{depth}]", f"train.optimizer={opt}", "train.kernel=xla", "train.method=gd"]
    spec = parse_spec(SPEC, overrides=overrides)
    plan = plan_sweep(spec)
    (group,) = plan.groups
    assert group.trainer == "xla"
    cache = stats_cache(plan)
    cache.eigen = True  # the closed form's and the eigenbasis kernels' inputs too
    idx = np.arange(spec.n_runs)
    inputs, _ = BUILDERS["sufficient_statistics"](plan, group, idx, cache)
    reference, _ = trainers.trainer("xla").train(group.config, inputs)
    return spec, plan, group, idx, cache, reference


@pytest.fixture(scope="module")
def batches():
    return _Batches()


class _Batches:
    def __getitem__(self, key):
        return _batch(*key)


def _agree(out, reference, rtol=1e-9, fields=FIELDS):
    scale = float(np.max(reference.test_error))  # E_t -> 0 when P < N: rounding of a vanishing sum
    for name in fields:
        want = getattr(reference, name)
        np.testing.assert_allclose(getattr(out, name), want, rtol=rtol, atol=1e-12 * scale, err_msg=name)
    for name in EXACT:
        np.testing.assert_array_equal(getattr(out, name), getattr(reference, name), err_msg=name)


def _as(name, plan, group, idx):
    return Group(name, group.config, idx, len(idx), len(idx))


# depth 2 behind slow (6 s each): depth 3 with momentum covers both kernels by default
@pytest.mark.parametrize(
    "key",
    [pytest.param((2, "gd"), marks=pytest.mark.slow), (3, "momentum")],
    ids=["depth2-gd", "depth3-momentum"],
)
@pytest.mark.parametrize("name", ["fused", "pallas"])
def test_eigenbasis_kernels_equal_the_xla_kernel(batches, name, key):
    _, plan, group, idx, cache, reference = batches[key]
    tr = trainers.trainer(name)
    inputs, _ = BUILDERS[tr.inputs](plan, _as(name, plan, group, idx), idx, cache)
    out, _ = tr.train(group.config, inputs)
    _agree(out, reference)


def test_closed_form_equals_the_xla_kernel(batches):
    spec, plan, group, idx, cache, reference = batches[1, "gd"]
    tr = trainers.trainer("closed_form")
    inputs, _ = BUILDERS[tr.inputs](plan, _as("closed_form", plan, group, idx), idx, cache)
    assert inputs.eigvecs.shape[-1] == spec.problem.n_in  # it was given the eigendecompositions
    out, _ = tr.train(group.config, inputs)
    _agree(out, reference)


def test_raw_data_trainer_equals_the_xla_kernel(batches):
    """Full-batch replay on the examples themselves against the sufficient statistics."""
    spec, plan, group, idx, cache, reference = batches[2, "gd"]
    tr = trainers.trainer("raw")
    facts = trainers.GroupFacts(depth=2, width=5, optimizer="gd", raw=True, p_bucket=cache.p_bucket)
    cfg = tr.config(spec, facts, group.config.inits)
    inputs, _ = BUILDERS[tr.inputs](plan, Group("raw", cfg, idx, len(idx), len(idx)), idx, cache)
    out, _ = tr.train(cfg, inputs)
    _agree(out, reference, fields=FIELDS[:3])  # it has no null-space error (the examples' trainer)


def test_every_registered_trainer_is_tried_and_unknown_names_are_refused():
    assert set(trainers.PRIORITY) == set(trainers.TRAINERS)
    with pytest.raises(ValueError, match="unknown trainer 'gd'; registered: raw, closed_form"):
        trainers.trainer("gd")
