"""The recorded norms against a NumPy GD loop, at every record, from the closed form (depth 1)
and the XLA kernel (depths 2, 3: the fused kernel records none, so the groups go to it)."""

import numpy as np
import pytest
from conftest import initial_weights, numpy_gd, spec_text

from dynax import parse_spec, plan_sweep, run_sweep
from dynax.sim import data
from dynax.spec import SpecError


def _spec(flags: str, depths=(1, 3)):
    return spec_text(
        f"depth = {list(depths)}\nn_over_p = [2.0, 0.5]\nsnr = 2.0\nseed = [0, 5]",
        "n_in = 8",
        "width = 6\ninit_scale = 0.4",
        f"epochs = 60\nlearning_rate = 0.05\ndtype = 'float64'\nrecord = {{ every = 10, {flags} }}",
    )


def _loops(spec, depth):
    """(seed, N/P) -> the NumPy loop's layers at each recorded epoch."""
    out = {}
    for seed in (0, 5):
        w0 = initial_weights(spec, depth, seed)
        for r, p in zip(spec.axis("n_over_p").values, spec.n_train, strict=True):
            x, y, _, _ = data.raw_data(0, seed, p, 8, 1, 1.0, 2.0)
            saved, _ = numpy_gd(x, y, w0, 0.05, 60, spec.record_epochs)
            out[seed, r] = [saved[e] for e in spec.record_epochs]
    return out


def _product(ws):
    eff = ws[-1]
    for w in reversed(ws[:-1]):
        eff = eff @ w
    return eff


def test_norms_equal_a_numpy_loop_layers_nan_past_the_depth():
    """The three curves from one sweep (depths 1 and 3 in one grid: the layer dim is 3 long, depth
    1's layers 2 and 3 NaN, and its hidden units, which it has none of, NaN)."""
    spec = parse_spec(_spec("end_to_end_norm = true, layer_frobenius_norm = true, hidden_units = true"))
    assert {g.trainer for g in plan_sweep(spec).groups} == {"closed_form", "xla"}
    ds = run_sweep(spec)
    assert ds.end_to_end_norm.dims[-2:] == ("seed", "epoch")
    assert ds.layer_frobenius_norm.dims[-3:] == ("seed", "layer", "epoch")
    np.testing.assert_array_equal(ds.layer, [1, 2, 3])  # W_1 is the input layer
    for depth in (1, 3):
        for (seed, r), layers in _loops(spec, depth).items():
            run = ds.sel(depth=depth, n_over_p=r, seed=seed).squeeze()
            want = [np.linalg.norm(_product(ws)) for ws in layers]
            np.testing.assert_allclose(run.end_to_end_norm, want, rtol=1e-10)
            want = np.full((3, len(layers)), np.nan)
            want[:depth] = np.array([[np.linalg.norm(w) for w in ws] for ws in layers]).T
            np.testing.assert_allclose(run.layer_frobenius_norm, want, rtol=1e-10)  # NaN exactly where NaN
            want = np.full((6, len(layers)), np.nan)  # unit i: ‖(W_3 W_2)[:, i]‖ ‖W_1[i, :]‖
            if depth > 1:
                want[:] = np.array(
                    [
                        np.linalg.norm(_product(ws[1:]), axis=0) * np.linalg.norm(ws[0], axis=1)
                        for ws in layers
                    ]
                ).T
            np.testing.assert_allclose(run.hidden_unit_product, want, rtol=1e-10)


@pytest.mark.parametrize("flag", ["end_to_end_norm", "layer_frobenius_norm"])
def test_norms_need_a_linear_student(flag):
    text = _spec(f"{flag} = true", depths=(2,)).replace("[model]\n", "[model]\nactivation = 'tanh'\n")
    with pytest.raises(SpecError, match=f"train.record.{flag}.*needs a linear student"):
        parse_spec(text)
