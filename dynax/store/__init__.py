"""Labelled results: ONE schema of the result's variables, the coordinates, flat results
and the Dataset made from them, atomic netCDF writes and part files (docs/design.md §4).

* :mod:`dynax.store.schema`: :data:`VARIABLES`, each variable's dims, dtype, long_name, units;
* :mod:`dynax.store.coords`: the coordinates of a spec's result;
* :mod:`dynax.store.dataset`: :class:`FlatResult` and :func:`build_dataset`;
* :mod:`dynax.store.netcdf`: :func:`write_netcdf`;
* :mod:`dynax.store.parts`: part files for ``--resume``, shards and Dask.
"""

from ..spec.variables import VARIABLES
from .coords import coordinates
from .dataset import Chunk, FlatResult, build_dataset, spec_of
from .netcdf import write_netcdf

__all__ = ["VARIABLES", "Chunk", "FlatResult", "build_dataset", "coordinates", "spec_of", "write_netcdf"]
