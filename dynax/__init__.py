"""dynax: thousands of deep linear networks trained at once, to map how their
generalization error evolves under gradient descent (Advani, Saxe & Sompolinsky 2020).

The package is layered; each layer imports only the ones before it:
``spec`` (what a sweep is) → ``theory`` (closed forms) → ``sim`` (one network, JAX) →
``store`` (labelled results) → ``engine`` (many networks) → ``predict`` (theory on a
spec's grid) → ``analysis`` → ``plot`` → ``gallery``, ``bench`` → ``cli``.

Importing dynax changes no global JAX setting: its own calls run in a scoped float64 mode
(:mod:`dynax.sim.scope`). Nor does it import JAX: the names below are loaded when first
used, so reading and analysing results (``dynax analyze``, ``dynax merge``) starts without it.
"""

import importlib

from ._version import __version__ as __version__

# each public name and the module it lives in, imported on first use (PEP 562)
_LAZY = {
    "SpecError": "spec",
    "SweepSpec": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "analyze": "api",
    "run": "api",
    "plan_sweep": "engine",
    "run_sweep": "engine",
    "write_netcdf": "store",
}
# dynax.predict is a callable module: dynax.predict(spec) is the theory on a spec's grid
_SUBMODULES = ("predict",)

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY, *_SUBMODULES])
