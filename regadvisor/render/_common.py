"""What every renderer says the same way: numbers, counts, the key numbers of a report, paths.

The terminal, Markdown, GitHub and comparison views style these differently but word them
once, here, so that a unit or a plural cannot differ between two formats of the same report.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

from ..files import is_uri
from ..model import Report

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def fmt(value: Any) -> str:
    """A number for people: 4 significant digits, no scientific notation for ordinary sizes."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if value.is_integer() and abs(value) < 1e5:
            return f"{value:.1f}"
        if 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3g}"  # 0.0003, 1e-05, 1.23e+05
    return str(value)


def plural(n: int, word: str) -> str:
    """``1 evaluation``, ``3 evaluations``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def gap_text(signals: dict[str, Any], *, short: bool = False) -> str:
    """The generalization gap at the end: accuracy points when both accuracies are logged (the
    unit of the rules' thresholds), else the validation/training loss ratio."""
    if signals.get("acc_gap_end") is not None:
        points = f"{signals['acc_gap_end'] * 100:.1f} points"
        if short:
            return points
        return (f"{points} at the end (train {signals['train_acc_end']:.1%}, "
                f"val {signals['val_acc_end']:.1%})")
    if signals.get("loss_gap_ratio_end") is not None:
        ratio = signals["loss_gap_ratio_end"]
        return f"loss ×{ratio:.2f}" if short else f"val/train loss ×{ratio:.2f} at the end (no train accuracy logged)"
    return "—"


def summary_rows(report: Report) -> list[tuple[str, str]]:
    """The key numbers of a report as (label, text) rows, in the order every view shows them."""
    s = report.signals
    rows: list[tuple[str, str]] = []
    monitor = s.get("monitor")
    if monitor:
        rows.append((f"best {monitor}", f"{fmt(s.get('best_value'))} at {s.get('best_position', '?')}"))
        after = int(s.get("evals_since_best") or 0)
        rows.append((f"final {monitor}",
                     f"{fmt(s.get('final_value'))}  ({plural(after, 'evaluation')} after the best)"))
        if s.get("val_worsening_rel") is not None:
            worse = f"{s['val_worsening_rel']:+.1%} vs best"
            if s.get("val_noise_rel") is not None:
                worse += f"  (noise ±{s['val_noise_rel']:.1%})"
            rows.append(("end vs best", worse))
    gap = gap_text(s)
    if gap != "—":
        rows.append(("accuracy gap" if s.get("acc_gap_end") is not None else "loss gap", gap))
    n = int(s.get("n_evaluations") or 0)
    rows.append(("evaluations", f"{n}, one per epoch" if s.get("evaluation_unit") == "epochs" else str(n)))
    return rows


def changes(report: Report) -> str:
    """The recommended settings in one line (``weight_decay=0.05, dropout=0.3``); advisory-only
    knobs without a number to set are left out."""
    return ", ".join(f"{r.knob}={fmt(r.value)}" for r in report.recommendations if r.knob != "data_augmentation")


def unverified_hint(report: Report) -> str | None:
    """What to say under recommendations no measurement backs: run ``--verify``, or, after it
    ran, that it could not measure them (the notes say why)."""
    if not any(r.verified is None for r in report.recommendations):
        return None
    if any(getattr(n, "kind", None) == "verified" for n in report.notes):
        return ("Unverified: these follow from the rules' evidence; --verify could not measure them on your "
                "model (the notes say why).")
    return ("Unverified: these follow from the rules' evidence, not from a measurement on your model; "
            "`regadvisor probe --verify` measures them.")


def relative_source(source: str, base: str | Path | None = None) -> str:
    """``source`` as a forward-slash path relative to ``base`` (default: the working directory)
    when it lies under it; otherwise as given. Keeps reports independent of the checkout path."""
    if is_uri(source):
        return source
    path = Path(source)
    if path.is_absolute():
        root = Path(base) if base is not None else Path.cwd()
        try:
            path = path.relative_to(root)
        except ValueError:
            try:
                path = path.resolve().relative_to(root.resolve())
            except (ValueError, OSError):
                return path.as_posix()
    text = os.path.normpath(str(path))
    return PurePosixPath(*Path(text).parts).as_posix() if text != "." else "."


def sorted_fired(findings: list[Any]) -> list[Any]:
    """Fired findings, most severe first, then by rule id (the terminal report's order)."""
    fired = [f for f in findings if f.status == "fired"]
    return sorted(fired, key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.rule_id))


def run_labels(reports: list[Report]) -> list[str]:
    """Each run's name, or its source relative to the folder all the sources share."""
    sources = [r.source for r in reports]
    try:
        base = os.path.commonpath([os.path.dirname(s) for s in sources]) if len(sources) > 1 else ""
    except ValueError:  # absolute and relative paths mixed
        base = ""
    return [r.run.name or (os.path.relpath(r.source, base) if base else r.source) for r in reports]
