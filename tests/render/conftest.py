"""Reports for the renderer tests, built from the real fixture logs with stable paths.

Sources are passed relative to the repository root (and the tests run from there) so that no
output depends on where the checkout lives. The rule selection is the log rules only (the probe
rules never apply to a log), and the tool version and rules digest are pinned, so a golden file
changes when a renderer or the analysis of these logs changes, not when an unrelated rule does.
"""

from __future__ import annotations

import os

import pytest

from regadvisor import api
from regadvisor.config import Settings
from regadvisor.model import Report
from tests.conftest import ROOT

HF = "tests/fixtures/real-logs/hf/trainer_state_multi_eval.json"
LIGHTNING = "tests/fixtures/real-logs/lightning/mnist_cnn_metrics.csv"
TENSORBOARD = "tests/fixtures/real-logs/tensorboard/mnist_cnn_version_0"
LOG_RULES = ("data", "early-stopping", "not-learning", "overfitting", "stability", "underfitting")
PINNED_TOOL = {"name": "regadvisor", "version": "0.0.0+golden", "rules_digest": "sha256:golden"}


def make_report(source: str) -> Report:
    """``api.diagnose`` on a fixture, run from the repository root, with the tool pinned."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        report = api.diagnose(source, select_rules=LOG_RULES, settings=Settings())
    finally:
        os.chdir(cwd)
    report.tool = dict(PINNED_TOOL)
    return report


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def hf_report() -> Report:
    return make_report(HF)


@pytest.fixture(scope="session")
def lightning_report() -> Report:
    return make_report(LIGHTNING)


@pytest.fixture(scope="session")
def tb_report() -> Report:
    return make_report(TENSORBOARD)
