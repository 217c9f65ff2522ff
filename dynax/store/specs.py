"""A sweep spec from any form a user holds: a path (a ``Path``, or a string ending in
``.toml``), TOML text, a dict (kept as canonical TOML), a :class:`~dynax.spec.SweepSpec`, or
a result (a path ending in ``.nc`` or an ``xarray.Dataset``: its recorded spec and
overrides, which reproduce it bit for bit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import xarray as xr

from ..spec import SpecError, SweepSpec, load_spec, parse_spec
from ..spec.toml import dumps
from .dataset import spec_of

__all__ = ["spec_from"]


def spec_from(spec, overrides: Sequence[str] | str = ()) -> SweepSpec:
    """A validated spec from any of the forms the module docstring lists."""
    overrides = (overrides,) if isinstance(overrides, str) else tuple(overrides)
    if isinstance(spec, SweepSpec):
        return parse_spec(spec.text, spec.path, (*spec.overrides, *overrides)) if overrides else spec
    if isinstance(spec, xr.Dataset):
        return spec_of(spec, overrides=overrides)
    if isinstance(spec, Mapping):
        try:
            text = dumps(dict(spec))
        except TypeError as e:
            raise SpecError(f"<dict>: {e}") from None
        return parse_spec(text, "<dict>", overrides)
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.strip().endswith((".toml", ".nc"))):
        path = Path(spec)
        if path.suffix == ".nc":
            return _spec_of_result(path, overrides)
        return load_spec(path, overrides)
    if isinstance(spec, str):
        return parse_spec(spec, "<text>", overrides)
    raise SpecError(f"spec: got a {type(spec).__name__}; expected a path, TOML text, a dict or a SweepSpec")


def _spec_of_result(path: Path, overrides) -> SweepSpec:
    """The spec (and overrides) a result file was made with, plus ``overrides``."""
    if not path.exists():
        raise SpecError(f"{path}: no such result file")
    try:
        with xr.open_dataset(path) as ds:
            if "spec_toml" not in ds.attrs:
                raise SpecError(f"{path}: not a dynax result (no spec_toml attribute)")
            return spec_of(ds, str(path), overrides=overrides)
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}: not a readable netCDF result ({e})") from None
