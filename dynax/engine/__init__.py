"""Many networks: plan a sweep into compile groups, batches and chunks, train them on one
device, several local devices or Dask workers, and label the results.

* :mod:`dynax.engine.rates`: where each run's learning rate is decided;
* :mod:`dynax.engine.plan`: compile groups, batches, chunks and the memory model;
* :mod:`dynax.engine.inputs`: per-seed statistics and each chunk's inputs;
* :mod:`dynax.engine.chunk`: compile and run one chunk (the one vmap + jit site);
* :mod:`dynax.engine.execute`: execute a plan, :func:`run_sweep`;
* :mod:`dynax.engine.distributed`: chunks as Dask tasks;
* :func:`merge_shards` (:mod:`dynax.store.merge`): shard outputs merged into one result.
"""

from ..store.merge import merge_shards
from .execute import execute, parse_shard, run_sweep
from .plan import Group, Plan, plan_sweep

__all__ = ["Group", "Plan", "execute", "merge_shards", "parse_shard", "plan_sweep", "run_sweep"]
