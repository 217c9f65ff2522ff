"""Theory on a spec's grid, as Datasets beside a result (``dynax theory SPEC``).

* ``dynax.predict(spec)``: the module is callable: the theory on the grid of a spec in any
  form (a path, TOML text, a dict, a SweepSpec, or a result Dataset: its recorded spec);
* :func:`theory_dataset`: what the theory predicts at every grid point (was
  ``dynax.theory.theory_dataset``);
* :func:`decomposition_dataset`: the closed-form random-feature trajectory and its error
  decomposition on every run (was ``dynax.features.decomposition_dataset``).
"""

import sys
import types

from .features import decomposition_dataset
from .grid import theory_dataset

__all__ = ["decomposition_dataset", "predict", "theory_dataset"]


def predict(spec, *, overrides=()):
    """The theory's predictions on a spec's grid (``dynax theory``); ``spec`` in any form
    :func:`dynax.store.specs.spec_from` takes, ``overrides`` as ``--set``."""
    from ..store.specs import spec_from

    return theory_dataset(spec_from(spec, overrides))


class _CallableModule(types.ModuleType):
    """``dynax.predict(spec)`` calls :func:`predict`; the module's names stay reachable."""

    def __call__(self, spec, *, overrides=()):
        return predict(spec, overrides=overrides)


sys.modules[__name__].__class__ = _CallableModule
