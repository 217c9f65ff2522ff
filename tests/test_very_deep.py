"""Very deep networks (issue 28 item 4): ``learning_rate = {over_depth = eta0}`` is a fixed rate
eta0/D per run, bit for bit the same runs as the fixed rate written out; at large depth the
aligned network follows the exact per-mode GD recursion (docs/theory.md §3.1)."""

import numpy as np
import pytest
from conftest import spec_text

import dynax
from dynax import theory
from dynax.spec import OverDepth

SPECTRUM = [2.0, 1.5, 1.0, 0.5]


def _text(depth: str, rate: str, init: str = "orthogonal", epochs: int = 60) -> str:
    return spec_text(
        f"depth = {depth}\nn_over_p = [1.0]\nsnr = [inf]\nseed = {{ count = 2 }}",
        f"n_in = 8\nn_out = 4\nteacher_singular_values = {SPECTRUM}\ninputs = 'whitened'",
        f"width = 8\ninit = '{init}'\ninit_scale = 1.0",
        f"epochs = {epochs}\nlearning_rate = {rate}\nrecord = {{ log = 10, modes = false }}\n"
        "dtype = 'float64'",
    )


def test_over_depth_is_the_fixed_rate_eta0_over_depth():
    """Each depth's runs equal the same runs at the fixed rate eta0/D, bit for bit; the rate used
    and the time t = eta·epoch are stored per depth; the spec hash records the form."""
    eta0 = 0.06
    spec = dynax.parse_spec(_text("[1, 3]", f"{{ over_depth = {eta0} }}"))
    assert spec.train.learning_rate == OverDepth(eta0)
    ds = dynax.run(spec, progress=False)
    np.testing.assert_array_equal(ds.learning_rate_used.isel(seed=0).squeeze().values, [eta0, eta0 / 3])
    assert ds.attrs["learning_rate"] == f"over_depth {eta0:g}"
    for depth in (3,):  # depth 1's rate is eta0 itself
        fixed = dynax.run(_text(f"[{depth}]", f"{eta0 / depth!r}"), progress=False)
        np.testing.assert_array_equal(ds.test_error.sel(depth=[depth]).values, fixed.test_error.values)
        np.testing.assert_allclose(
            ds.time.sel(depth=depth).squeeze().values, eta0 / depth * ds.epoch.values, rtol=1e-15
        )
    assert spec.sha256 != dynax.parse_spec(_text("[1, 3]", f"{eta0}")).sha256


@pytest.mark.parametrize(
    "rate, match",
    [
        ("{ over_depth = 0.0 }", r"train\.learning_rate\.over_depth"),
        ("{ over_depth = 0.1, auto = 0.5 }", r"over_depth = eta0"),
        ("{ over_depht = 0.1 }", r"over_depht"),
    ],
)
def test_over_depth_refusals(rate, match):
    with pytest.raises(ValueError, match=match):
        dynax.parse_spec(_text("[2]", rate))


@pytest.mark.slow  # a depth-24 program (4 s); its depth-3 sibling runs by default above
def test_deep_aligned_network_follows_the_mode_recursion():
    """Depth 24 from the aligned start at scale 1 (every mode at u0 = 1) at eta0/D, whitened inputs
    at P = N, noiseless: E_g at every recorded epoch equals the per-mode GD recursion's
    Σ(s − u)²/(N N_out) to float64 rounding, and the recursion's learning time (E_g below 10% of
    its start) at depths 24 and 48 differs by under 10% (the large-D limit du/dt = η0 u²(s − u))."""
    eta0, epochs = 0.05, 200
    ds = dynax.run(_text("[24]", f"{{ over_depth = {eta0} }}", "aligned", epochs), progress=False)
    u = theory.saxe_mode_discrete(np.asarray(SPECTRUM), 1.0, ds.epoch.values, eta0 / 24, 24)
    predicted = np.sum((np.asarray(SPECTRUM) - u) ** 2, axis=1) / (8 * 4)
    np.testing.assert_allclose(
        ds.test_error.squeeze().values,
        np.broadcast_to(predicted, (2, len(predicted))),
        rtol=1e-10,
        atol=1e-14,
    )
    times = []
    for depth in (24, 48):
        k = np.arange(2000)
        u = theory.saxe_mode_discrete(np.asarray(SPECTRUM), 1.0, k, eta0 / depth, depth)
        e = np.sum((np.asarray(SPECTRUM) - u) ** 2, axis=1)
        times.append(int(np.argmax(e <= 0.1 * e[0])))
    assert abs(times[1] - times[0]) < 0.1 * times[0]
