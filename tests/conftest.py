"""Shared test helpers: paths to fixtures, and a way to run the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The suite's trainings are tiny: on a 2-core CI machine torch's intra-op threads cost more in
# contention than they save (a probe of examples/models/adam_l2.py: ~3.5 s with one thread,
# 35-49 s with two on a loaded machine). Set before anything imports torch; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

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
