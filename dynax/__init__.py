"""dynax: thousands of deep linear networks trained at once, to map how their
generalization error evolves under gradient descent (Advani, Saxe & Sompolinsky 2020).

dynax turns on ``jax_enable_x64`` when imported: float64 sweeps need it, and every
float32 computation in dynax names its dtype, so float32 sweeps stay float32. It also
turns off asynchronous dispatch on CPU (a known XLA hang; it costs dynax nothing).
"""

import jax

jax.config.update("jax_enable_x64", True)
# XLA's CPU client can wedge in a device-to-host transfer when vmapped programs are
# dispatched asynchronously (jax-ml/jax#25861); dynax waits for every chunk anyway.
jax.config.update("jax_cpu_enable_async_dispatch", False)

__version__ = "0.1.0"

from .engine import plan_sweep, run_sweep  # noqa: E402
from .spec import SpecError, SweepSpec, load_spec, parse_spec  # noqa: E402
from .store import write_netcdf  # noqa: E402

__all__ = ["SpecError", "SweepSpec", "load_spec", "parse_spec", "plan_sweep", "run_sweep", "write_netcdf"]
