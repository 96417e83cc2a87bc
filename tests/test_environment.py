"""The test environment has every optional package the suite uses.

Several test modules skip themselves when an optional package is missing, so that a user can
run part of the suite anywhere. In CI (``CI`` set) that would hide lost coverage: this test
fails instead, naming what `pip install -e '.[test]'` did not provide.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

OPTIONAL = ["numpy", "tensorboard", "mlflow", "wandb", "matplotlib", "scipy", "jsonschema", "torch",
            "lightning", "transformers", "accelerate", "hypothesis"]


@pytest.mark.skipif(not os.environ.get("CI"), reason="only enforced in CI")
def test_every_optional_test_dependency_is_installed():
    missing = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]
    assert not missing, f"install the test extra: missing {missing}"
