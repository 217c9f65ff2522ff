"""Part files: one finished chunk each, written atomically with a completion mark, the
spec's hash and the layout's hash, so ``--resume`` reuses exactly what is valid and
recomputes the rest (docs/design.md §3 "Reliability").

A plan here is anything with ``spec``, ``layout()``, ``chunks`` and ``groups`` (see
:class:`dynax.engine.plan.Plan`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..spec import SpecError
from ..spec.variables import computed
from .dataset import Chunk
from .netcdf import write_netcdf

__all__ = ["layout_sha", "part_path", "prepare_parts", "read_part", "recorded_layout", "write_part"]

PART_FORMAT = 2


def part_path(parts: Path, k: int) -> Path:
    return Path(parts) / f"chunk-{k:06d}.nc"


def layout_sha(layout: dict) -> str:
    return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()


def write_part(parts: Path, plan, k: int, res: Chunk) -> Path:
    """One finished chunk, atomically, with its completion mark and the plan's hash."""
    spec = plan.spec
    data_vars = {"run": ("run", res.runs)}
    for v in computed(spec):
        data_vars[v.name] = (("run", *v.extra, *(("epoch",) if v.curve else ())), res.values[v.name])
    ds = xr.Dataset(
        data_vars,
        attrs={
            "dynax_part_format": PART_FORMAT,
            "chunk": int(k),
            "spec_sha256": spec.sha256,
            "layout_sha256": layout_sha(plan.layout()),
            "complete": 1,  # written last of all: the rename makes the file appear whole
        },
    )
    return write_netcdf(ds, part_path(parts, k))


def read_part(parts: Path, plan, k: int) -> Chunk | None:
    """A finished chunk, or None if its part is missing, truncated, unmarked or from
    another spec or layout (it will be recomputed)."""
    path = part_path(parts, k)
    if not path.exists():
        return None
    try:
        with xr.open_dataset(path) as ds:
            ok = (
                ds.attrs.get("complete") == 1
                and ds.attrs.get("chunk") == k
                and ds.attrs.get("spec_sha256") == plan.spec.sha256
                and ds.attrs.get("layout_sha256") == layout_sha(plan.layout())
            )
            if not ok:
                return None
            ds = ds.load()
    except Exception:  # a truncated or corrupt file: recompute the chunk
        return None
    gi, ci = plan.chunks[k]
    expected = plan.groups[gi].chunk(ci, plan.devices)[: plan.groups[gi].n_real(ci)]
    if not np.array_equal(ds.run.values, expected):
        return None
    spec = plan.spec
    return Chunk(
        ds.run.values, {v.name: ds[v.name].values.astype(v.numpy_dtype(spec)) for v in computed(spec)}
    )


def prepare_parts(parts: Path, plan, resume: bool) -> None:
    """Create the parts folder and its layout record, or check them on ``--resume``.

    Raises:
        SpecError: parts of another spec (never mixed), or parts left behind by an
            earlier run when ``resume`` is not asked for (never overwritten silently).
    """
    parts = Path(parts)
    record = parts / "layout.json"
    if record.exists():
        old = json.loads(record.read_text())
        if old.get("spec_sha256") != plan.spec.sha256:
            raise SpecError(
                f"{plan.spec.path}: {parts} holds parts of a different spec "
                f"(sha256 {old.get('spec_sha256', '?')[:12]}, this spec {plan.spec.sha256[:12]}); "
                "the spec changed since that run. Delete the folder, or write to another -o"
            )
        done = len(list(parts.glob("chunk-*.nc")))
        if not resume and done:
            raise SpecError(
                f"{plan.spec.path}: {parts} already holds {done} finished chunk(s) of this spec; "
                "add --resume to reuse them, or delete the folder to start over"
            )
        if done:
            return
    parts.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(plan.layout(), indent=1))
    os.replace(tmp, record)


def recorded_layout(parts: Path) -> dict | None:
    record = Path(parts) / "layout.json"
    return json.loads(record.read_text()) if record.exists() else None
