"""CI gates: project-set limits on a run, judged by the same engine as the rules.

A gate is configured in ``[tool.regadvisor.check]`` (or ``check:`` in ``.regadvisor.yaml``)::

    [tool.regadvisor.check]
    max-acc-gap = 0.05          # train − validation accuracy at the end, fraction (0.05 = 5 points)
    max-val-loss-rise = 0.10    # validation loss may end at most 10% above its best
    max-loss-gap-ratio = 2.0    # validation / training loss at the end
    min-val-acc = 0.9           # best validation accuracy, fraction
    max-evals-since-best = 10   # evaluations run after the best one
    no-divergence = true        # no NaN/inf loss, no blow-up
    require = ["max-acc-gap"]   # gates that must be judged (or `true` for all); else the job fails

Each gate compiles to an in-memory rule in category ``gate`` with severity ``error``: it
*fires* (fails) when the limit is broken, *passes* when it holds, and is *skipped* — "not
judged" — when the run lacks the data. A gate that was not judged never counts as passed;
``require`` (or ``--require``) turns it into a failure: :func:`enforce_required` marks it fired,
so that every report format (JSON, SARIF, JUnit, GitHub, Markdown) shows it failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine.loader import Rule
from .errors import ConfigError
from .model import GATE_CATEGORY, Report


@dataclass(frozen=True)
class GateKind:
    id: str
    signal: str
    op: str  # the operator under which the gate FAILS
    title: str
    message: str
    spec: str  # how the limit and the measured value are written (a rule-message format spec)


GATE_KINDS: dict[str, GateKind] = {
    "max-acc-gap": GateKind("CI001", "acc_gap_end", "gt", "Accuracy gap above the project limit",
                            "Train−validation accuracy gap {acc_gap_end:.1pt} exceeds the limit {limit:.1pt}.",
                            ".1pt"),
    "max-val-loss-rise": GateKind("CI002", "val_worsening_rel", "gt", "Validation loss rose past the project limit",
                                  "Validation ends {val_worsening_rel:.1%} worse than its best ({best_position}); "
                                  "limit {limit:.1%}.", ".1%"),
    "max-loss-gap-ratio": GateKind("CI003", "loss_gap_ratio_end", "gt", "Loss gap above the project limit",
                                   "Validation/training loss ratio {loss_gap_ratio_end:.2f} exceeds the limit "
                                   "{limit:.2f}.", ".2f"),
    "min-val-acc": GateKind("CI004", "val_acc_best", "lt", "Validation accuracy below the project minimum",
                            "Best validation accuracy {val_acc_best:.1%} is below the minimum {limit:.1%}.", ".1%"),
    "max-evals-since-best": GateKind("CI005", "evals_since_best", "gt", "Trained too long past the best evaluation",
                                     "{evals_since_best:n evaluation} ran after the best one; limit {limit}.",
                                     "n evaluation"),
    "no-divergence": GateKind("CI006", "nonfinite_loss_count", "gt", "Training diverged",
                              "{nonfinite_loss_count:n NaN/inf loss value}.", "n NaN/inf value"),
}

_EVIDENCE = {"project": {"kind": "heuristic", "citation": "project configuration ([tool.regadvisor.check])",
                         "claim": "A limit the project chose for its own runs."}}


def _limit(name: str, value: Any, source: str) -> float:
    if name == "no-divergence":
        if not isinstance(value, bool):
            raise ConfigError(f"check.{name} must be true or false, got {value!r}", source=source)
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"check.{name} must be a number, got {value!r}", source=source)
    return value


def _resolved(condition: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of a rule's condition tree with each ``param`` operand replaced by its value."""
    if "signal" in condition:
        leaf = {k: v for k, v in condition.items() if k != "param"}
        if "param" in condition:
            leaf["value"] = params[condition["param"]]
        return leaf
    return {key: ([_resolved(c, params) for c in value] if isinstance(value, list) else _resolved(value, params))
            for key, value in condition.items()}


def compile_gates(table: dict[str, Any], source: str | Path, require_all: bool = False,
                  blow_up: tuple[Rule, dict[str, Any]] | None = None) -> tuple[list[Rule], set[str]]:
    """Gates as rules, and the ids of the gates that must be judged.

    ``blow_up`` is the rule that judges a loss blow-up (DV002) with its parameters: the
    no-divergence gate fails on its condition as well as on NaN/inf, so that the two agree and a
    user's ``DV002.min_ratio`` override moves both."""
    source = str(source)
    rules: list[Rule] = []
    required: set[str] = set()
    require = table.get("require", [])
    if require is True or require_all:
        require = [k for k in table if k in GATE_KINDS]
    if not isinstance(require, list):
        raise ConfigError("check.require must be a list of gate names or true", source=source)
    unknown = sorted((set(table) - set(GATE_KINDS) - {"require"}) | (set(require) - set(GATE_KINDS)))
    if unknown:
        raise ConfigError(f"unknown check gate(s): {', '.join(unknown)}", source=source,
                          hint=f"known gates: {', '.join(GATE_KINDS)}")
    for name, raw in table.items():
        if name == "require":
            continue
        kind = GATE_KINDS[name]
        limit = _limit(name, raw, source)
        if name == "no-divergence" and raw is False:
            continue
        spec = {
            "id": kind.id, "name": name, "title": kind.title, "category": GATE_CATEGORY,
            "description": f"Project gate {name} = {raw!r}.", "severity": "error", "confidence": "high",
            "requires": [kind.signal],
            "params": {"limit": {"default": limit, "doc": f"{name} from {source}", "evidence": "project"}},
            "when": {"signal": kind.signal, "op": kind.op, "param": "limit"},
            "message": kind.message, "evidence": list(_EVIDENCE), "tests": [],
        }
        if name == "no-divergence" and blow_up is not None:
            rule, params = blow_up
            spec["when"] = {"any": [spec["when"], _resolved(rule.spec["when"], params)]}
        rules.append(Rule(kind.id, name, Path(source), spec, _EVIDENCE))
        if name in require:
            required.add(kind.id)
    return rules, required


def enforce_required(report: Report, required: set[str], verdict_required: bool = False) -> None:
    """Mark the required gates that ``report``'s run could not judge as fired (failed).

    With ``verdict_required`` (``--require``, or ``require = true``) a run too thin to judge at
    all fails too: each rule that made it *insufficient-data* (no validation curve, too few
    evaluations) is raised to an error, so every report format shows why the job failed.
    """
    for finding in report.findings:
        if finding.rule_id in required and finding.status == "skipped":
            finding.status = "fired"
            finding.message = (f"Required gate {finding.name} could not be judged: "
                               f"the run lacks {', '.join(finding.missing)}.")
        elif verdict_required and finding.status == "fired" and finding.verdict == "insufficient-data":
            finding.severity = "error"
            finding.message = f"{finding.message} Required: a run that cannot be judged fails (--require)."
