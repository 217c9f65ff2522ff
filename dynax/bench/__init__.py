"""``dynax bench``: dynax against the obvious ways to do the same job, side by side in one
process, and against this machine's own peaks.

Contenders, on the identical workload (the same data, initial weights and learning
rates, those dynax chose with ``learning_rate = {auto = 0.5}``):

1. ``numpy_loop``: a per-network NumPy loop of full-batch GD on the raw data matrix;
2. ``jax_vmap_raw``: ``jax.vmap`` of a per-network trainer on the raw data, padded to the
   largest P with a mask, ``lax.scan`` over epochs, E_g at every epoch;
3. ``dynax_gd``: dynax's XLA GD kernel on sufficient statistics (``train.kernel = "xla"``);
4. ``dynax_fused``: dynax's fused CPU kernel, one network per thread in the eigenbasis of
   Σ_xx (``train.kernel = "fused"``, depth ≥ 2; its FLOP count is the useful work,
   6·N·N_h per network-epoch at depth 2); on a GPU ``dynax_pallas`` in its place, the
   Pallas kernel (``train.kernel = "pallas"``: the same scheme, one program per network);
5. ``closed_form``: dynax's depth-1 closed form.

And a whole sweep end to end (:mod:`dynax.bench.end_to_end`): ``dynax run`` of 256 depth-2
networks from the spec to the netCDF file against one plain ``jit(vmap)`` program that
draws, trains and evaluates the same sweep.

dynax's contenders are timed as the best of two runs of the whole workload (a shared
machine's speed drifts between runs); the headline is dynax's fastest path.

The slow contenders train a measured subset of the networks and epochs; their rates are
per network-epoch, and they are checked to produce the same curves as dynax on that
subset (a fast wrong answer does not count). FLOP and byte counts are analytic (per
network-epoch, stated in the JSON); peaks are measured in the same run (a large float32
matmul, a large copy).
"""

from .contenders import dynax_group, fused_costs, gd_costs, jax_vmap_raw, numpy_loop, raw_costs, subset
from .machine import cache_sizes, machine_peaks, peak_rss_bytes
from .suite import STANDARD, plot_scaling, run_bench, scaling, standard, table

__all__ = [
    "STANDARD",
    "cache_sizes",
    "dynax_group",
    "fused_costs",
    "gd_costs",
    "jax_vmap_raw",
    "machine_peaks",
    "numpy_loop",
    "peak_rss_bytes",
    "plot_scaling",
    "raw_costs",
    "run_bench",
    "scaling",
    "standard",
    "subset",
    "table",
]
