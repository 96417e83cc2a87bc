"""The data that flows through regadvisor: Run → Signals → Findings → Report.

A :class:`Run` is the only thing analysis sees, whichever entrance produced it (a log reader or
the probe). Series are columnar ``array('d')`` buffers rather than lists of objects so that a
million-row log costs 24 bytes a point, not a few hundred.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any, Iterable

from .sanitise import sanitise, sanitise_value

NAN = float("nan")

SEVERITIES: tuple[str, ...] = ("info", "warning", "error")
CONFIDENCES: tuple[str, ...] = ("low", "medium", "high")
FAIL_ON: tuple[str, ...] = (*SEVERITIES, "never")
GATE_CATEGORY = "gate"  # the category of the CI gates of ``regadvisor check`` (regadvisor.gates)


def at_or_above(severity: str, threshold: str) -> bool:
    """Whether ``severity`` reaches ``threshold`` (``info`` … ``error``; nothing reaches ``never``):
    the one severity comparison behind ``--fail-on``, JUnit failures and the callbacks' ``fail_on``."""
    return threshold != "never" and SEVERITIES.index(severity) >= SEVERITIES.index(threshold)

KNOBS: tuple[str, ...] = (
    "dropout",
    "weight_decay",
    "optimizer",
    "normalization",
    "residual",
    "early_stopping_patience",
    "grad_clip_norm",
    "label_smoothing",
    "learning_rate",
    "data_augmentation",
)
"""The recommendation knob names (listed with their meaning in README.md); users rely on them, so
they are only ever added to, never renamed."""


@dataclass
class Series:
    """One metric over time: parallel columns of value, step and epoch (NaN where unknown)."""

    name: str
    values: array = field(default_factory=lambda: array("d"))
    steps: array = field(default_factory=lambda: array("d"))
    epochs: array = field(default_factory=lambda: array("d"))
    original_name: str | None = None
    part_of: str | None = None  # a component of a summed loss (YOLO's box/cls/dfl): the canonical whole

    def append(self, value: float, step: float | None = None, epoch: float | None = None) -> None:
        self.values.append(value)
        self.steps.append(NAN if step is None else step)
        self.epochs.append(NAN if epoch is None else epoch)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def has_steps(self) -> bool:
        return any(not math.isnan(s) for s in self.steps)

    @property
    def has_epochs(self) -> bool:
        return any(not math.isnan(e) for e in self.epochs)

    def finite(self) -> "Series":
        """A copy without NaN/inf values (those are counted by the divergence signals)."""
        out = Series(self.name, original_name=self.original_name)
        for v, s, e in zip(self.values, self.steps, self.epochs):
            if math.isfinite(v):
                out.append(v, s, e)
        return out

    @classmethod
    def from_points(
        cls, name: str, values: Iterable[float], steps: Iterable[float | None] | None = None,
        epochs: Iterable[float | None] | None = None, original_name: str | None = None,
    ) -> "Series":
        """Build a series from plain sequences (``None`` steps/epochs become NaN)."""
        values = list(values)
        steps = list(steps) if steps is not None else [None] * len(values)
        epochs = list(epochs) if epochs is not None else [None] * len(values)
        out = cls(name, original_name=original_name)
        for v, s, e in zip(values, steps, epochs):
            out.append(float(v), s, e)
        return out


ACCURACIES: tuple[str, ...] = ("train_acc", "val_acc", "test_acc")
"""The canonical accuracy metrics: a :class:`Run` holds them as fractions in [0, 1]."""


def is_accuracy(name: str) -> bool:
    """An accuracy series' name: a canonical one, or its other granularity (``val_acc_epoch``)."""
    return any(name == acc or name.startswith(acc + "_") for acc in ACCURACIES)


def _as_fraction(series: Series) -> None:
    """Scale an accuracy logged in percent (93.2) to a fraction: any finite value above 1 says percent."""
    finite = [v for v in series.values if math.isfinite(v)]
    if finite and max(finite) > 1.0:
        series.values = array("d", (v / 100.0 for v in series.values))


@dataclass
class Run:
    """Everything a reader or the probe learned about one training run.

    ``series`` maps canonical metric names (``train_loss``, ``val_loss``, ``val_acc``, ...; see
    :mod:`regadvisor.logs.aliases`) to their curves; metrics without a canonical name keep their
    own. Accuracies are fractions whatever the log wrote (Keras writes 0.932, many scripts 93.2):
    they are converted once, here, so that signals and renderers never have to. ``facts`` holds
    hyperparameters and inspected properties (``batch_size``, ``optimizer``, ``weight_decay``,
    ``dropout``, ``num_classes``, ...).
    """

    source: str
    format: str
    series: dict[str, Series] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    name: str | None = None
    earlier: list["Run"] = field(default_factory=list, repr=False, compare=False)
    """Runs logged before this one in the same file (an appended log), oldest first."""

    def __post_init__(self) -> None:
        """Sanitise the text a reader (or the probe) hands over: this is where log text enters,
        so every renderer and error line downstream gets it escaped (see :mod:`regadvisor.sanitise`).
        Names and facts are few; the values are numbers and are not touched."""
        self.source = sanitise(str(self.source))
        self.name = None if self.name is None else sanitise(str(self.name))
        self.warnings = [sanitise(str(w)) for w in self.warnings]
        self.facts = sanitise_value(self.facts)
        if any(sanitise(k) != k for k in self.series):
            self.series = {sanitise(k): s for k, s in self.series.items()}
        for s in self.series.values():
            s.name = sanitise(s.name)
            s.original_name = None if s.original_name is None else sanitise(s.original_name)
        # One series may sit under two names (a promoted evaluation set): scale it once.
        for s in {id(s): s for name, s in self.series.items() if is_accuracy(name)}.values():
            _as_fraction(s)

    def get(self, name: str) -> Series | None:
        s = self.series.get(name)
        return s if s is not None and len(s) else None

    def summary(self) -> dict[str, Any]:
        """A small JSON-ready description of what was read."""
        return {
            "name": self.name,
            "format": self.format,
            "metrics": {
                k: {"points": len(s), "original_name": s.original_name or k}
                for k, s in sorted(self.series.items())
            },
            "facts": {k: self.facts[k] for k in sorted(self.facts)},
            "warnings": list(self.warnings),
        }


@dataclass
class Recommendation:
    """One concrete setting to change, merged per knob across the rules that asked for it."""

    knob: str
    value: Any
    reason: str
    rules: list[str]
    evidence: list[str]
    range: list[Any] | None = None
    current: Any = None
    unit: str | None = None
    note: str | None = None
    snippet: str | None = None
    severity: str = "info"
    confidence: str = "medium"
    verified: dict[str, Any] | None = None
    snippet_template: str | None = field(default=None, repr=False, compare=False)  # the rule's, with {value}

    def set_value(self, value: Any) -> None:
        """Recommend ``value`` instead (``probe --verify`` measured it), with the snippet to match."""
        self.value = value
        if self.snippet_template:
            self.snippet = self.snippet_template.replace("{value}", repr(value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "knob": self.knob,
            "value": self.value,
            "range": self.range,
            "current": self.current,
            "unit": self.unit,
            "rules": list(self.rules),
            "reason": self.reason,
            "note": self.note,
            "snippet": self.snippet,
            "evidence": list(self.evidence),
            "severity": self.severity,
            "confidence": self.confidence,
            "verified": self.verified,
        }


@dataclass
class Finding:
    """The outcome of one selected rule on one run."""

    rule_id: str
    title: str
    category: str
    severity: str
    confidence: str
    status: str  # fired, passed, skipped or not-applicable
    message: str | None = None
    missing: list[str] = field(default_factory=list)
    evidence: dict[str, dict[str, str]] = field(default_factory=dict)
    recommendations: list[Recommendation] = field(default_factory=list)
    verdict: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the signals and params it was judged on
    name: str = ""         # the rule's name (``val-loss-severe``): SARIF rule names, JUnit test names
    description: str = ""  # the rule's description: SARIF's full description and help

    def fails(self, fail_on: str) -> bool:
        """Whether this finding fails a run judged at ``fail_on`` (``info`` … ``error``, or ``never``).

        A project gate (category ``gate``) that fired always fails: it is a limit the project set
        for itself, not advice whose severity the threshold weighs.
        """
        if self.status != "fired":
            return False
        return self.category == GATE_CATEGORY or at_or_above(self.severity, fail_on)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "name": self.name,
            "title": self.title,
            "category": self.category,
            "severity": self.severity,
            "confidence": self.confidence,
            "status": self.status,
            "message": self.message,
            "missing": list(self.missing),
            "verdict": self.verdict,
            "evidence": self.evidence,
        }


@dataclass
class Note:
    """Something a report says beside its findings, as data: renderers write the words
    (:func:`regadvisor.render.notes.note_text`), JSON keeps the data.

    ``kind`` says what happened, ``knob`` the setting it is about (when it is about one) and
    ``values`` the numbers and names the words need. The kinds and their values:

    - ``probe-ran`` / ``probe-interrupted``: ``steps``, ``epochs`` (float), ``seconds``,
      ``device``, ``stopped_by`` (``steps``, ``epochs``, ``seconds``, ``past-best``,
      ``early-stopping``, ``pruned``, ``diverged`` or ``interrupted``)
    - ``probe-length-unknown``: ``epochs`` (the length probed)
    - ``probe-past-best``: ``unit``, ``length`` (the real length), ``done``, ``improved_at``,
      ``improved_unit`` (``epoch`` or ``step``)
    - ``probe-cut-short``: ``unit``, ``length``, ``done``, ``budget`` (the option that cut it)
    - ``verify-skipped``: ``reason``
    - ``search-space-written``: ``path``
    - ``verified``: ``length``, ``unit``, ``length_known``, ``trainings``, ``trials``, ``seconds``,
      ``screened``, ``pruned``, ``seeds``, ``metric``, ``workers``
    - ``verify-effect``: ``changes`` (knob → value), ``current`` (knob → setting before),
      ``effect`` (``difference``, ``uncertainty``, ``metric``, ``trials``), ``kept`` (bool)
    - ``verify-over-stopping``: ``changes``, ``current``, ``effect`` as in ``verify-effect``, but
      against early stopping alone on the same seeds; ``beyond`` (whether the knobs bought enough
      over it to be preferred)
    - ``not-verified`` (``knob``): ``reason``
    - ``not-kept`` (``knob``): ``value``, ``current``, ``measured`` (whether a configuration
      was kept at all)
    - ``text``: ``text``, a sentence of its own (:meth:`text`), for what has no kind yet
    """

    kind: str
    knob: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def text(cls, sentence: str) -> "Note":
        return cls("text", values={"text": sentence})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "knob": self.knob, "values": dict(self.values)}


@dataclass
class Report:
    """What one analysis concluded; renderers turn it into text, never the other way round."""

    source: str
    run: Run
    signals: dict[str, Any]
    findings: list[Finding]
    recommendations: list[Recommendation]
    verdict: str
    verdict_confidence: str
    tool: dict[str, str]
    notes: list[Note] = field(default_factory=list)

    def fired(self, at_least: str = "info") -> list[Finding]:
        """Fired findings whose severity is at or above ``at_least``."""
        return [f for f in self.findings if f.status == "fired" and at_or_above(f.severity, at_least)]


@dataclass
class Outcome:
    """What one command concluded: a report per run, and the ``fail_on`` threshold they were
    judged at (chosen once, by :func:`regadvisor.api.judge`); the exit code follows from it."""

    reports: list[Report]
    fail_on: str = "error"

    def failures(self, report: Report) -> list[Finding]:
        """The findings of ``report`` that fail the run (see :meth:`Finding.fails`)."""
        return [f for f in report.findings if f.fails(self.fail_on)]

    @property
    def passed(self) -> bool:
        return not any(self.failures(r) for r in self.reports)

    @property
    def exit_code(self) -> int:
        """0 when nothing fails, 1 when a finding at or above ``fail_on`` (or a gate) fired."""
        return 0 if self.passed else 1
