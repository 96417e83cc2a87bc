"""Shared helpers for the probe tests: tiny scripts written to tmp_path, one thread."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

TINY_DATA = '''
import torch
from torch import nn

def build_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = (x[:, 0] > 0).long()
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)], [(x[:32], y[:32])]
'''

TINY_MODEL = '''
def build_model():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
'''


@pytest.fixture
def write_script(tmp_path: Path):
    """write_script(body, name="script.py") → path; body is dedented Python."""

    def write(body: str, name: str = "script.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body))
        return path

    return write


@pytest.fixture
def tiny_data() -> str:
    """Python source defining a tiny ``build_data`` (64 examples, 4 batches of 16)."""
    return TINY_DATA


@pytest.fixture
def tiny_script(write_script):
    def make(extra: str = "", model: str = TINY_MODEL) -> Path:
        return write_script(TINY_DATA + textwrap.dedent(model) + textwrap.dedent(extra))

    return make
