"""Golden files for every report format, on real logs: byte-exact comparisons.

After an intended change, rewrite them with ``REGADVISOR_UPDATE_GOLDEN=1 pytest tests/render``
(each rewritten file then fails once, so an update run can never pass), read the diff, and run
the tests again. Terminal reports are pinned at 80 columns, the width a report must fit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regadvisor import api
from regadvisor.config import Settings
from regadvisor.render import formats, github, junit, markdown, sarif, terminal
from regadvisor.render import json as render_json
from regadvisor.render.compare import render as compare
from tests.render.conftest import HF, LIGHTNING, LOG_RULES, PINNED_TOOL, make_report

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("REGADVISOR_UPDATE_GOLDEN") == "1"

CASES = {"hf-overfitting": [HF], "lightning-healthy": [LIGHTNING], "two-runs": [HF, LIGHTNING]}


def _terminal(reports):
    text = "".join(terminal.render(r, color=False, width=80) for r in reports)
    return text + (compare(reports, color=False, width=80) if len(reports) > 1 else "")


def _one_or_many(reports):
    return reports[0] if len(reports) == 1 else reports


FORMATS = {
    "terminal.txt": _terminal,
    "json": lambda rs: render_json.render(_one_or_many(rs)),
    "md": lambda rs: markdown.render(_one_or_many(rs)),
    "sarif": lambda rs: sarif.render(rs),
    "github.txt": lambda rs: github.render(rs),
    "junit.xml": lambda rs: junit.render(rs, fail_on="error"),
}


@pytest.fixture(scope="module")
def reports():
    cache = {}
    for case, sources in CASES.items():
        cache[case] = [make_report(s) for s in sources]
    return cache


def _matches_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if UPDATE and text != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        pytest.fail(f"rewrote {path.name}: read the diff, then run the tests without REGADVISOR_UPDATE_GOLDEN")
    assert old is not None, f"missing golden file {path.name}: run with REGADVISOR_UPDATE_GOLDEN=1"
    assert text == old, f"{path.name} differs; if intended, rerun with REGADVISOR_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("ext", sorted(FORMATS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden_file(case, ext, reports):
    _matches_golden(f"{case}.{ext}", FORMATS[ext](reports[case]))


def test_check_terminal_summary_matches_golden_file():
    outcome = api.check([HF], select_rules=LOG_RULES, settings=Settings(), require=True,
                        gates={"max-val-loss-rise": 0.5, "max-acc-gap": 0.05, "no-divergence": True})
    for report in outcome.reports:
        report.tool = dict(PINNED_TOOL)
    _matches_golden("hf-check.terminal.txt", formats.render(outcome, "terminal", width=80, gate_summary=True))


def test_golden_outputs_do_not_mention_the_checkout_path():
    root = str(Path(__file__).resolve().parents[2])
    for path in GOLDEN.iterdir():
        assert root not in path.read_text(encoding="utf-8"), path.name


def test_renderers_are_deterministic(reports):
    for ext, fn in FORMATS.items():
        assert fn(reports["two-runs"]) == fn(reports["two-runs"]), ext


def test_terminal_reports_fit_80_columns(reports):
    for case, rs in reports.items():
        for line in _terminal(rs).splitlines():
            assert len(line) <= 80, (case, line)
