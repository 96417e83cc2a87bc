"""Imports the built-in reader modules so that each registers its formats (one line each)."""

# ruff: noqa: F401
from . import csv_formats, hf, jsonl, mlflow, tensorboard, text, wandb
