"""Atomic netCDF writes (a crash leaves the old file or the new one, never half of one)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import xarray as xr
from xarray.backends import NetCDF4DataStore

from .. import interrupt
from .cf import chunk_sizes

__all__ = ["write_netcdf"]

# the netCDF-C library is not thread-safe: one write at a time in this process. Given
# explicitly, it also keeps xarray from asking dask which scheduler is active, which imports
# dask.distributed (half a second, on every process's first write)
_LOCK = threading.Lock()


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file beside it, then rename.

    A crash leaves either the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    with interrupt.cleanup(lambda: os.path.exists(tmp) and os.unlink(tmp)):  # a hard exit on a signal
        _write(ds, tmp, path)
    return path


def _write(ds: xr.Dataset, tmp: str, path: Path) -> None:
    """Write ``ds`` to ``tmp``, then rename it to ``path`` (``tmp`` removed on any error)."""
    try:
        # lossless compression: curves of noisy floats shrink to about half or less; chunks
        # along the run dimensions keep lazy reads of a huge result small; coordinates have
        # no _FillValue (CF)
        encoding = {
            v: {
                "zlib": True,
                "complevel": 4,
                "shuffle": True,
                **({"chunksizes": chunk_sizes(ds[v].shape, ds[v].dtype.itemsize)} if ds[v].ndim else {}),
            }
            for v in ds.data_vars
        }
        encoding.update({c: {"_FillValue": None} for c in ds.coords if ds[c].dtype.kind == "f"})
        store = NetCDF4DataStore.open(tmp, mode="w", format="NETCDF4", lock=_LOCK)
        try:
            ds.dump_to_store(store, encoding=encoding)  # what ds.to_netcdf does, its lock given
        finally:
            store.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
