"""Merge the full-shape outputs of ``--shard`` runs into one result (``dynax merge``): NumPy
and xarray only (no JAX, no plan: the shards say where they ran)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import xarray as xr

from ..spec import SpecError
from ..spec.runs import run_table
from .dataset import MACHINE_ATTRS, FlatResult, build_dataset, spec_of

__all__ = ["merge_shards"]


def merge_shards(paths, history: str = "") -> xr.Dataset:
    """The result of the shards in ``paths``: one spec, every run in exactly one shard.

    Raises:
        SpecError: an unreadable file, shards of different specs, a run in two shards or
            in none (a missing shard).
    """
    dss = []
    for p in paths:
        try:
            dss.append(xr.open_dataset(p).load())
        except (OSError, ValueError) as e:
            raise SpecError(f"{p}: not a readable result ({e})") from None
    shas = {ds.attrs.get("spec_sha256") for ds in dss}
    if len(shas) != 1:
        listing = ", ".join(
            f"{p}: {ds.attrs.get('spec_sha256', '?')[:12]}" for p, ds in zip(paths, dss, strict=True)
        )
        raise SpecError(f"merge: the parts come from different specs ({listing})")
    kernels = {ds.attrs.get("kernel", "") for ds in dss}
    if len(kernels) != 1:
        listing = ", ".join(f"{p}: {ds.attrs.get('kernel', '?')}" for p, ds in zip(paths, dss, strict=True))
        raise SpecError(
            f"merge: the parts ran different kernels ({listing}); run every shard with the same "
            "train.kernel (e.g. --set train.kernel=xla)"
        )
    spec = spec_of(dss[0], dss[0].attrs.get("spec_path", str(paths[0])))
    present = [
        (ds.present if "present" in ds else xr.ones_like(ds.diverged)).transpose(*spec.dims).values.ravel()
        == 1
        for ds in dss
    ]
    count = np.sum(present, axis=0)
    if (count > 1).any():
        both = [str(p) for p, m in zip(paths, present, strict=True) if (m & (count > 1)).any()]
        raise SpecError(
            f"merge: {int((count > 1).sum())} run(s) are in more than one part ({', '.join(both)})"
        )
    if (count == 0).any():
        raise SpecError(f"merge: {int((count == 0).sum())} run(s) are in no part: a shard is missing")
    res = FlatResult.empty(spec)
    for ds, mask in zip(dss, present, strict=True):
        res.fill(ds, mask)
    if "learning_rate_used" not in dss[0]:  # a fixed rate: the same in every part
        res["learning_rate_used"][:] = run_table(spec).lr
    machine = {k: dss[0].attrs[k] for k in MACHINE_ATTRS if k in dss[0].attrs}  # where the shards ran
    return build_dataset(SimpleNamespace(spec=spec), res, history=history, machine=machine)
