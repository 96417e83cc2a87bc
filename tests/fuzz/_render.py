"""Every report renderer on one list of reports, and what each output must be whatever the log held.

Shared by the renderer fuzz test and the hostile-text tests in tests/render: a renderer may
format, but its output must stay well-formed (JSON parses, JUnit XML parses), encodable as UTF-8,
and free of the control characters :mod:`regadvisor.sanitise` escapes (a coloured terminal
report may carry only rich's own SGR colour codes).
"""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET

from regadvisor import api
from regadvisor.engine.loader import RuleSet
from regadvisor.gates import compile_gates
from regadvisor.model import Outcome, Report, Run
from regadvisor.render import formats, github

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


@functools.cache
def ruleset_with_gates() -> RuleSet:
    """Every bundled rule and two CI gates, as ``regadvisor check`` would judge a run."""
    rules = api.load_ruleset()
    gates, _ = compile_gates({"max-acc-gap": 0.05, "max-loss-gap-ratio": 1.5}, "fuzz")
    return RuleSet(gates + rules.rules, rules.digest)


def analyze(runs: list[Run]) -> list[Report]:
    return [api.analyze(run, ruleset_with_gates()) for run in runs]


def render_all(reports: list[Report]) -> dict[str, str]:
    """Each ``--format``'s output for ``reports``, the coloured terminal view with the gate summary,
    and the GitHub job summary (the PNG plot is checked on its own: it is slow)."""
    outcome = Outcome(reports)
    outputs = {fmt: formats.render(outcome, fmt) for fmt in formats.FORMATS}
    outputs["terminal-color"] = formats.render(outcome, "terminal", color=True, gate_summary=True)
    outputs["step-summary"] = github.step_summary(reports)
    return outputs


def assert_well_formed(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        assert isinstance(text, str), name
        text.encode("utf-8")
        shown = _SGR.sub("", text) if name == "terminal-color" else text
        bad = UNSAFE.search(shown)
        assert bad is None, f"{name}: {bad.group()!r} at {bad.start()}: {shown[max(0, bad.start() - 40):bad.start() + 40]!r}"
    json.loads(outputs["json"])
    json.loads(outputs["sarif"])
    ET.fromstring(outputs["junit"].encode("utf-8"))
