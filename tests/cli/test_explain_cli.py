"""`regadvisor explain`: prose from the reference module, values from the rules, the real source."""

from __future__ import annotations

import pytest

from regadvisor.explain import REFERENCE_DIR, TOPICS, explain


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_topic_has_prose_and_source(topic):
    exp = explain(topic)
    assert len(exp.summary) > 200
    assert exp.sources, topic
    for block in exp.sources:
        text = (REFERENCE_DIR / block.path.name).read_text()
        assert block.code in text  # the real source, not a copy
        assert block.code.lstrip().startswith(("def ", "class ", "@"))


def test_values_come_from_the_rule_tables():
    exp = explain("weight-decay")
    ids = {v.rule_id for v in exp.values}
    assert {"OF002", "OF003"} <= ids
    heavy = next(v for v in exp.values if v.rule_id == "OF003")
    assert heavy.value == 0.05 and heavy.range == [0.01, 0.1]
    assert any("Loshchilov" in e["citation"] for v in exp.values for e in v.evidence)
    assert {v.rule_id for v in explain("groupnorm").values} == {"NM001", "NM002"}
    assert {"NM001", "NM002"} <= {v.rule_id for v in explain("layernorm").values}
    assert not explain("rmsnorm").values


def test_cli_explain_and_unknown_topic(cli):
    result = cli("explain", "rmsnorm")
    assert result.returncode == 0 and "class RMSNorm" in result.stdout
    bad = cli("explain", "batch-norm")
    assert bad.returncode == 2 and "choose one of" in bad.stderr


def test_explain_does_not_import_torch(cli):
    import subprocess
    import sys

    code = ("import sys; from regadvisor.explain import explain; explain('dropout'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
