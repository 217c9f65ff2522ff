"""dynax's version (one place; the package metadata and the result attributes read it)."""

__version__ = "0.1.0"
