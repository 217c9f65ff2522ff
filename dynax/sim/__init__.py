"""One network, in pure JAX: its data, its initial weights and its trainers.

* :mod:`dynax.sim.data`: coordinate-derived keys, examples, teachers, sufficient statistics;
* :mod:`dynax.sim.init`: initial weights (docs/design.md §4 "Initialisations");
* :mod:`dynax.sim.tracker`: the running minimum and divergence every trainer records;
* :mod:`dynax.sim.gd`: full-batch GD on sufficient statistics (the GD kernel);
* :mod:`dynax.sim.closed_form`: exact depth-1 GD in the eigenbasis of Σ_xx;
* :mod:`dynax.sim.eigen`: what the eigenbasis kernels share (which runs, each run's O(N) data);
* :mod:`dynax.sim.fused`: the fused CPU kernel (numba), GD and momentum in that eigenbasis;
* :mod:`dynax.sim.pallas`: the Pallas GPU kernel, the same scheme with one program per network;
* :mod:`dynax.sim.raw`: online SGD, minibatch replay and nonlinear networks on raw data;
* :mod:`dynax.sim.flow`: the exact balanced end-to-end gradient flow (an oracle);
* :mod:`dynax.sim.scope`: the float64 scope dynax's calls run in.

Each trainer is a function of ONE network; :mod:`dynax.engine` vmaps and compiles it.
"""
