"""dynax: thousands of deep linear networks trained at once, to map how their
generalization error evolves under gradient descent (Advani, Saxe & Sompolinsky 2020).

The package is layered; each layer imports only the ones before it:
``spec`` (what a sweep is) → ``theory`` (closed forms) → ``sim`` (one network, JAX) →
``store`` (labelled results) → ``engine`` (many networks) → ``predict`` (theory on a
spec's grid) → ``analysis`` → ``plot`` → ``gallery``, ``bench`` → ``cli``.

Importing dynax changes no global JAX setting: its own calls run in a scoped float64 mode
(:mod:`dynax.sim.scope`).
"""

from . import predict  # a callable module: dynax.predict(spec) is the theory on a spec's grid
from ._version import __version__
from .api import analyze, run
from .engine import plan_sweep, run_sweep
from .spec import SpecError, SweepSpec, load_spec, parse_spec
from .store import write_netcdf

__all__ = [
    "SpecError",
    "SweepSpec",
    "__version__",
    "analyze",
    "load_spec",
    "parse_spec",
    "plan_sweep",
    "predict",
    "run",
    "run_sweep",
    "write_netcdf",
]
