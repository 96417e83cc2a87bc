"""Imports the built-in signal providers so that each registers its signals (one line each)."""

from . import (  # noqa: F401
)
