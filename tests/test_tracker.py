"""One definition of a run's best epoch and divergence: every trainer's tracking, fed the same
E_g sequences, equals the NumPy reference (:func:`dynax.sim.tracker.reference`).

The trainers track in four places: :func:`tracker.start`/:func:`tracker.update` (the XLA
kernel and the raw-data trainer), :func:`tracker.update_block` (the closed form, a block of
epochs at a time), the fused kernel's ``_track`` (numba) and the Pallas kernel's
``track_epoch``. Each is fed epoch by epoch here, as its trainer feeds it.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from dynax.sim import fused, pallas, tracker

NAN, INF = float("nan"), float("inf")
SEQUENCES = {
    "descends then rises": [3.0, 2.0, 1.0, 1.5, 2.0],
    "ties keep the first": [3.0, 1.0, 2.0, 1.0, 1.0],
    "flat": [1.0, 1.0, 1.0],
    "minimum at epoch 0": [1.0, 2.0, 1.0, 3.0],
    "one epoch": [2.0],
    "NaN at epoch 0": [NAN, 1.0, 0.5],
    "inf at epoch 0": [INF, 1.0],
    "inf later": [3.0, 2.0, INF, 0.1],
    "NaN later": [2.0, 1.0, NAN, 0.5],
    "above the divergence limit": [1.0, 0.5, 2e6, 0.1],
    "at the limit is not above it": [1.0, 0.5, 1e6, 0.25],
    "diverges at the last epoch": [4.0, 3.0, 2.0, INF],
}


def _xla(t):
    """tracker.start and tracker.update, epoch by epoch (the XLA kernel, the raw-data trainer)."""
    t = jnp.asarray(t, jnp.float64)
    tr = tracker.start(t[0], t.dtype, len(t))
    for k in range(1, len(t)):
        tr = tracker.update(tr, t[k], k, tracker.DIVERGENCE_FACTOR * t[0])
    return float(tracker.best_error(tr, t.dtype)), int(tr.best_epoch), bool(tr.diverged), int(tr.bad_epoch)


def _closed_form(t, block=2):
    """tracker.update_block over blocks of ``block`` epochs, the last one padded (the closed form)."""
    n = len(t)
    padded = jnp.asarray(np.concatenate([t, np.full(-n % block, NAN)]), jnp.float64)
    best, best_epoch, bad_epoch = jnp.float64(INF), jnp.int64(-1), jnp.int64(n)
    for b in range(0, len(padded), block):
        ks = jnp.arange(b, b + block, dtype=jnp.int64)
        limit = tracker.DIVERGENCE_FACTOR * padded[0]
        best, best_epoch, bad_epoch, _ = tracker.update_block(
            best, best_epoch, bad_epoch, padded[b : b + block], ks, ks < n, limit, jnp.int64(n)
        )
    best_epoch = int(best_epoch) if np.isfinite(t[0]) else -1
    return (NAN if best_epoch < 0 else float(best)), best_epoch, int(bad_epoch) < n, int(bad_epoch)


def _fused(t):
    """The fused kernel's numba _track, epoch by epoch until the first divergence."""
    bad, best, best_epoch, bad_epoch = False, np.float64(INF), -1, len(t)
    limit = tracker.DIVERGENCE_FACTOR * np.float64(t[0])
    for e, test in enumerate(np.asarray(t, np.float64)):
        if not bad:
            bad, best, best_epoch = fused._track(test, e, limit, best, best_epoch)
            bad_epoch = e if bad else bad_epoch
    return (NAN if best_epoch < 0 else float(best)), int(best_epoch), bool(bad), bad_epoch


def _pallas(t):
    """The Pallas kernel's track_epoch, at every epoch as the kernel calls it."""
    inf = jnp.float64(INF)
    best, best_e, bad, limit, bad_epoch = inf, jnp.int32(-1), jnp.asarray(False), inf, len(t)
    for e, test in enumerate(np.asarray(t, np.float64)):
        was = bool(bad)
        best, best_e, bad, limit = pallas.track_epoch(
            e == 0, jnp.int32(e), jnp.float64(test), best, best_e, bad, limit
        )
        bad_epoch = e if bool(bad) and not was else bad_epoch
    best_e = int(best_e)
    return (NAN if best_e < 0 else float(best)), best_e, bool(bad), bad_epoch


@pytest.mark.parametrize("name", list(SEQUENCES))
@pytest.mark.parametrize(
    "track", [_xla, _closed_form, _fused, _pallas], ids=["xla", "closed_form", "fused", "pallas"]
)
def test_every_trainers_tracking_equals_the_numpy_reference(track, name):
    t = SEQUENCES[name]
    want = tracker.reference(t)
    got = track(t)
    np.testing.assert_equal(got, want)


def test_the_reference_itself():
    """What the definition says, spelt out on three sequences."""
    assert tracker.reference([3.0, 1.0, 2.0, 1.0]) == (1.0, 1, False, 4)  # a tie keeps the first
    assert tracker.reference([3.0, 2.0, INF, 0.1]) == (2.0, 1, True, 2)  # nothing counts after divergence
    best, epoch, diverged, bad = tracker.reference([NAN, 1.0])
    assert np.isnan(best) and (epoch, diverged, bad) == (-1, True, 0)  # never finite at epoch 0
