"""Shared test helpers: paths to fixtures, and a way to run the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REAL_LOGS = TESTS / "fixtures" / "real-logs"
ROOT = TESTS.parent


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m regadvisor ARGS`` as a user would, capturing its output."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", **(env or {})}
    return subprocess.run([sys.executable, "-m", "regadvisor", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=120)


@pytest.fixture
def cli():
    return run_cli
