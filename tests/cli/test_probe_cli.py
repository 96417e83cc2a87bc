"""`regadvisor probe` through the real entry point: a report, and one clear error for a broken script."""

from __future__ import annotations

import json

import jsonschema

from regadvisor.render.json import SCHEMA_PATH
from tests.conftest import ROOT


def test_probe_reports_overfitting_mlp_as_json(cli):
    result = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--epochs", "6", "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["run"]["format"] == "probe"
    assert report["verdict"] == "overfitting"
    knobs = {r["knob"]: r for r in report["recommendations"]}
    assert knobs["dropout"]["current"] == 0 and knobs["dropout"]["value"] > 0
    assert any(note.startswith("probe ran 96 steps (6 epochs) in ") for note in report["notes"])
    ran = next(n for n in report["structured_notes"] if n["kind"] == "probe-ran")
    assert ran["values"]["steps"] == 96 and ran["values"]["stopped_by"] == "epochs"
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))


def test_script_that_raises_shows_its_own_line_and_exits_2(cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\n\ndef build_model():\n    return torch.nn.Linear(4, 2)\n\n"
                      "def build_data():\n    raise ValueError('my data path is wrong')\n")
    result = cli("probe", str(script))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "train.py: build_data raised ValueError: my data path is wrong" in result.stderr
    assert "train.py:7 in build_data" in result.stderr


def test_bad_knob_option_exits_2(cli):
    result = cli("probe", str(ROOT / "examples/models/healthy.py"), "--set", "dropout")
    assert result.returncode == 2 and "KNOB=VALUE" in result.stderr


def test_probe_junit_is_judged_at_the_fail_on_threshold(cli):
    import xml.etree.ElementTree as ET

    result = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--epochs", "6", "-f", "junit",
                 "--fail-on", "warning")
    root = ET.fromstring(result.stdout.encode())
    failed = {c.get("name"): c.find("failure").get("type") for c in root.iter("testcase") if c.find("failure") is not None}
    assert "warning" in failed.values() and "info" not in failed.values(), failed
    assert root.get("failures") == str(len(failed)) and result.returncode == 1
    assert any(name.startswith("ES001 stop-at-best") for name in failed)  # rule names, not titles


def test_probe_help_states_the_real_defaults(cli):
    text = " ".join(cli("probe", "--help").stdout.split())
    assert "--train-epochs" in text and "[default: no limit: the real length, or until validation is clearly past its best]" in text
    assert "[default: 6x, the probe included]" in text
    assert "not reproducible" in text and "DESIGN" not in text
    assert "dropout, weight_decay, optimizer, normalization" in text  # the knob names


def test_a_probe_that_trains_its_real_length_says_so_not_that_a_budget_stopped_it(cli):
    result = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--train-epochs", "2", "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    ran = next(n for n in report["structured_notes"] if n["kind"] == "probe-ran")
    assert ran["values"]["stopped_by"] == "length"
    assert any(note.endswith("its whole training length") for note in report["notes"])


def test_verify_seeds_is_an_option_of_verify(cli):
    alone = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--verify-seeds", "2")
    assert alone.returncode == 2 and "need --verify" in alone.stderr and "Traceback" not in alone.stderr
    one = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--train-epochs", "2", "--verify",
              "--verify-seeds", "1")
    assert one.returncode == 2 and "at least 2 seeds" in one.stderr and "Traceback" not in one.stderr
    zero = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--train-epochs", "2", "--verify",
               "--verify-seeds", "0")
    assert zero.returncode == 2 and "at least 2 seeds" in zero.stderr   # 0 is not "the default"
