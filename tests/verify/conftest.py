"""Shared helpers for the verify tests: one torch thread (the trials are tiny; threads only contend)."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
