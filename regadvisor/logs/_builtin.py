"""Imports the built-in reader modules so that each registers its formats (one line each)."""

# ruff: noqa: F401
from . import csv_formats
from . import hf
from . import tensorboard
from . import jsonl
from . import text
from . import mlflow
from . import wandb
