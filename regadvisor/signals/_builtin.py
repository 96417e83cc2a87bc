"""Imports the built-in signal providers so that each registers its signals (one line each)."""

# ruff: noqa: F401
from . import curves, gap, learning, parts, probe_signals, stability
