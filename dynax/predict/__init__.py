"""Theory on a spec's grid, as Datasets beside a result (``dynax theory SPEC``).

* :func:`theory_dataset`: what the theory predicts at every grid point (was
  ``dynax.theory.theory_dataset``);
* :func:`decomposition_dataset`: the closed-form random-feature trajectory and its error
  decomposition on every run (was ``dynax.features.decomposition_dataset``).
"""

from .features import decomposition_dataset
from .grid import theory_dataset

__all__ = ["decomposition_dataset", "theory_dataset"]
