"""What the CF conventions ask of dynax's netCDF files (CF-1.10): valid ``cell_methods``,
units UDUNITS can parse, global attributes, and the encoding of coordinates and chunks.

A reduction CF has no method for (a standard error, a count, a ratio to theory) is said
in a ``comment`` instead of an invalid ``cell_methods``.
"""

from __future__ import annotations

import math
import re

__all__ = ["CONVENTIONS", "METHODS", "REFERENCES", "cell_methods_attrs", "chunk_sizes", "valid_cell_methods"]

CONVENTIONS = "CF-1.10"
METHODS = (
    "point",
    "sum",
    "maximum",
    "maximum_absolute_value",
    "median",
    "mid_range",
    "minimum",
    "minimum_absolute_value",
    "mean",
    "mean_absolute_value",
    "mean_of_upper_decile",
    "mode",
    "range",
    "root_mean_square",
    "standard_deviation",
    "sum_of_squares",
    "variance",
)
REFERENCES = (
    "Advani, Saxe & Sompolinsky (2020), High-dimensional dynamics of generalization error in neural "
    "networks, Neural Networks 132; Saxe, McClelland & Ganguli (2014), Exact solutions to the nonlinear "
    "dynamics of learning in deep linear neural networks, ICLR; Saxe, McClelland & Ganguli (2019), A "
    "mathematical theory of semantic development in deep neural networks, PNAS 116"
)
_ENTRY = re.compile(
    r"\s*(?:[A-Za-z_][A-Za-z0-9_]*:\s*)+(?P<method>[a-z_]+)"
    r"(?:\s+(?:where|over|within)\s+[A-Za-z_][A-Za-z0-9_]*)*(?:\s*\([^()]*\))?\s*"
)


def valid_cell_methods(text: str) -> bool:
    """Whether ``text`` is a sequence of CF entries ``name: [name: ...] method [(comment)]``."""
    pos = 0
    while pos < len(text):
        m = _ENTRY.match(text, pos)
        if m is None or m.end() == pos or m.group("method") not in METHODS:
            return False
        pos = m.end()
    return pos > 0


def cell_methods_attrs(text: str) -> dict:
    """``{"cell_methods": text}`` if CF can say it, else ``{"comment": "reduction: " + text}``."""
    return {"cell_methods": text} if valid_cell_methods(text) else {"comment": f"reduction: {text}"}


def chunk_sizes(shape: tuple[int, ...], itemsize: int, target_bytes: int = 1 << 20) -> tuple[int, ...]:
    """netCDF chunk sizes for a variable whose last axes are read together: whole axes
    from the end while the chunk stays under ``target_bytes``, part of the next, 1 before
    (a lazy read of a few runs of a huge result then touches a few small chunks)."""
    out = [1] * len(shape)
    size = itemsize
    for i in range(len(shape) - 1, -1, -1):
        n = max(1, int(shape[i]))
        if size * n <= target_bytes:
            out[i] = n
            size *= n
        else:
            out[i] = max(1, min(n, math.floor(target_bytes / size)))
            break
    return tuple(out)
