"""The JSON report (``--format json``), following ``report.schema.json``.

Floats that JSON cannot carry (NaN, ±inf) become ``null``; key order is fixed so that two runs
over the same log produce byte-identical output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..model import Report
from .notes import note_data, note_text

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON takes it: NaN/inf become null, keys text, unknown objects their str()."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    return json_ready({
        "schema_version": SCHEMA_VERSION,
        "tool": report.tool,
        "source": report.source,
        "run": report.run.summary(),
        "verdict": report.verdict,
        "verdict_confidence": report.verdict_confidence,
        "signals": report.signals,
        "findings": [f.to_dict() for f in report.findings],
        "recommendations": [r.to_dict() for r in report.recommendations],
        "notes": [note_text(n) for n in report.notes],
        "structured_notes": [note_data(n) for n in report.notes],
    })


def render(reports: Report | list[Report]) -> str:
    """One report as a JSON object; several (a folder of runs) as a JSON array of them."""
    if isinstance(reports, Report):
        data: Any = report_to_dict(reports)
    else:
        data = [report_to_dict(r) for r in reports]
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
