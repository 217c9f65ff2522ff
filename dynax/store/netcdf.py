"""Atomic netCDF writes (a crash leaves the old file or the new one, never half of one)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import xarray as xr

from .cf import chunk_sizes

__all__ = ["write_netcdf"]


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file beside it, then rename.

    A crash leaves either the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
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
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
