"""A spec given as a Python dict, written back as canonical TOML (what a result's
``spec_toml`` attribute keeps, so the run can be repeated from the file alone).

Only what a spec holds: tables of scalars (bool, int, float including ``inf`` and
``nan``, str), lists of scalars, and inline tables such as ``{geomspace = [a, b, n]}``.
"""

from __future__ import annotations

import json
import math

__all__ = ["dumps"]


def _value(v, key: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x, key) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x, f'{key}.{k}')}" for k, x in v.items()) + " }"
    if hasattr(v, "item"):  # a NumPy scalar
        return _value(v.item(), key)
    raise TypeError(f"spec key `{key}`: {type(v).__name__} {v!r} cannot be written as TOML")


def dumps(spec: dict) -> str:
    """``spec`` as TOML text: top-level scalars first, then one ``[table]`` per section."""
    lines = [f"{k} = {_value(v, k)}" for k, v in spec.items() if not isinstance(v, dict)]
    for section, table in spec.items():
        if isinstance(table, dict):
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {_value(v, f'{section}.{k}')}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
