"""`regadvisor explain`: prose from the reference module, values from the rules, the real source."""

from __future__ import annotations

import pytest

from regadvisor.explain import REFERENCE_DIR, TOPICS, explain, topic_name


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
    bad = cli("explain", "dropconnect")
    assert bad.returncode == 2 and "choose one of dropout, weight-decay" in bad.stderr


@pytest.mark.parametrize("spelling,topic", [
    ("weight_decay", "weight-decay"), ("Weight-Decay", "weight-decay"), ("early_stopping_patience", "early-stopping"),
    ("grad_clip_norm", "gradient-clipping"), ("batch-norm", "batchnorm"), ("optimizer", "adamw"),
    ("label_smoothing", "label-smoothing"),
])
def test_knob_names_and_spellings_find_their_topic(spelling, topic):
    assert topic_name(spelling) == topic


def test_bare_explain_lists_the_topics(cli):
    result = cli("explain")
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert listed == list(TOPICS)


def test_explain_prose_has_no_sphinx_roles(cli):
    for topic in TOPICS:
        prose = cli("explain", topic).stdout.split("What regadvisor's rules recommend")[0]  # before the code
        assert len(prose) > 200, topic
        assert ":func:" not in prose and ":class:" not in prose and ":mod:" not in prose, topic


def test_rules_show_forgives_letter_case(cli):
    assert cli("rules", "show", "of003").stdout.startswith("OF003 acc-gap-heavy")
    assert cli("rules", "show", "ACC-GAP-HEAVY").stdout.startswith("OF003 acc-gap-heavy")
    assert cli("rules", "show", "XX999").returncode == 2


def test_explain_does_not_import_torch(cli):
    import subprocess
    import sys

    code = ("import sys; from regadvisor.explain import explain; explain('dropout'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
