"""The Markdown report: structure, and escaping of text that comes from logs."""

from __future__ import annotations

import copy

from regadvisor.render import markdown


def table_rows(text: str, header_start: str) -> list[str]:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row: str) -> int:
    """Columns of a GFM table row: unescaped pipes, minus the two borders."""
    count, i = 0, 0
    while i < len(row):
        if row[i] == "\\":
            i += 2
            continue
        count += row[i] == "|"
        i += 1
    return count - 1


def test_overfitting_report_sections(hf_report):
    text = markdown.render(hf_report)
    assert "**Verdict: OVERFITTING** (confidence high)" in text
    assert "| best val\\_loss | 1.114 at epoch 1 (step 401) |" in text
    assert "| end vs best | +128.9% vs best (noise ±10.7%) |" in text
    findings = table_rows(text, "| rule | severity |")
    assert [r.split("|")[1].strip() for r in findings] == ["`OF002`", "`ES001`", "`OF001`"]
    recs = table_rows(text, "| knob | current → suggested |")
    assert len(recs) == len(hf_report.recommendations)
    dropout = next(r for r in recs if r.startswith("| `dropout`"))
    assert "— → **0.3**" in dropout and "0.3–0.6" in dropout and "not verified" in dropout and "high" in dropout
    assert "<details><summary>" in text and "(missing: `acc_gap_end`)" in text
    assert text.count("<details>") == text.count("</details>") == 1


def test_several_reports_get_a_comparison_and_a_section_each(hf_report, lightning_report):
    text = markdown.render([hf_report, lightning_report])
    assert text.startswith("## regadvisor · 2 runs\n")
    comparison = table_rows(text, "| run | verdict |")
    assert len(comparison) == 2 and "**overfitting** (high)" in comparison[0] and "**healthy**" in comparison[1]
    assert text.count("### regadvisor · ") == 2 and text.count("#### Findings") == 2


def test_text_from_logs_is_escaped(hf_report):
    report = copy.deepcopy(hf_report)
    report.source = "runs/a|b`c<d>.json"
    finding = next(f for f in report.findings if f.rule_id == "OF002")
    finding.message = "pipe | tick ` tag <script>alert(1)</script> star *x* \\ back\nnext line"
    report.run.warnings.append("column `val|loss` <b>")
    report.recommendations[0].reason = "reason with | pipe"
    text = markdown.render(report)
    assert "<script>" not in text and "<b>" not in text
    assert "\\<script\\>" in text
    row = next(r for r in table_rows(text, "| rule | severity |") if "`OF002`" in r)
    assert cells(row) == 4, row
    assert "pipe \\| tick \\` tag" in row and "<br>next line" in row
    for row in table_rows(text, "| knob | current → suggested |"):
        assert cells(row) == 7, row
    heading = text.splitlines()[0]
    assert heading == "## regadvisor · `` runs/a|b`c<d>.json `` (hf)"
    assert "- column \\`val\\|loss\\` \\<b\\>" in text


def test_code_spans_survive_backticks_and_pipes():
    assert markdown.code("plain") == "`plain`"
    assert markdown.code("a`b") == "`` a`b ``"
    assert markdown.code("x|y") == "`x\\|y`"
    assert markdown.code("``two``") == "``` ``two`` ```"
    assert markdown.code("x|y", in_table=False) == "`x|y`"
