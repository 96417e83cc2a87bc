"""Load, validate and select rule files.

Bundled rules live in the top-level ``rules/`` folder of a source checkout, installed as
``regadvisor/rules`` inside the wheel. Users add folders with ``--rules DIR``. Every file is
checked against the schema and then for references the schema cannot see (a ``param`` or
evidence key that does not exist, a signal nobody computes, a duplicate id). All problems are
:class:`~regadvisor.errors.RuleError` naming the file and the field.

Rules cite their sources by key from one bibliography: ``rules/bibliography.yaml``, plus any
``bibliography.yaml`` inside a user's rules folder (a key defined twice is an error). A loaded
:class:`Rule` carries the entries it cites in :attr:`Rule.evidence`, so that reports print the
citations without reading the bibliography again.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import RuleError
from ..numbers import is_number
from ..safe_yaml import read_yaml
from . import schema

BIBLIOGRAPHY = "bibliography.yaml"
SIGNALS = "signals"  # the override namespace of signal parameters: --param signals.spike_ratio=4
Sources = dict[str, dict[str, str]]


def bundled_rules_dir() -> Path:
    """The folder of rules shipped with regadvisor (wheel layout first, then a source checkout)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "rules", here.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise RuleError("the bundled rules folder is missing", source=str(here / "rules"),
                    hint="reinstall regadvisor")


@dataclass(frozen=True)
class Rule:
    """One validated rule; ``spec`` is the YAML document as loaded, ``evidence`` the sources it
    cites (key → bibliography entry), in the order the rule lists them."""

    id: str
    name: str
    path: Path
    spec: dict[str, Any]
    evidence: Sources = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.spec["category"]

    @property
    def requires(self) -> list[str]:
        return list(self.spec.get("requires", []))

    def param_defaults(self) -> dict[str, Any]:
        return {k: p["default"] for k, p in self.spec.get("params", {}).items()}

    def signals(self) -> set[str]:
        """Every signal the rule reads: requirements, conditions and recommendation values."""
        found = set(self.requires)
        for key in ("applies_if", "when"):
            if key in self.spec:
                found.update(leaf["signal"] for leaf in iter_leaves(self.spec[key]))
        for rec in self.spec.get("recommend", []):
            for ref in _value_refs(rec):
                if isinstance(ref, dict) and "signal" in ref:
                    found.add(ref["signal"])
        params = set(self.spec.get("params", {}))
        found.update(name for name in message_fields(self.spec["message"]) if name not in params)
        return found


@dataclass
class RuleSet:
    """The rules selected for one analysis, with parameter overrides applied."""

    rules: list[Rule]
    digest: str
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def params_for(self, rule: Rule) -> dict[str, Any]:
        """The rule's parameters: defaults, then user overrides."""
        params = rule.param_defaults()
        params.update(self.overrides.get(rule.id, {}))
        return params

    def signal_params(self) -> dict[str, Any]:
        """The signal parameters the user overrode (``signals.NAME``), by name."""
        return dict(self.overrides.get(SIGNALS, {}))

    def get(self, key: str) -> Rule | None:
        for rule in self.rules:
            if key in (rule.id, rule.name):
                return rule
        return None



def iter_leaves(condition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``{signal, op, value|param}`` leaves of a condition tree."""
    if "signal" in condition:
        yield condition
    for child in condition.get("all", []) + condition.get("any", []):
        yield from iter_leaves(child)
    if "not" in condition:
        yield from iter_leaves(condition["not"])


def message_fields(template: str) -> set[str]:
    """The ``{name}`` placeholders of a message template."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(template) if field}


def _value_refs(rec: dict[str, Any]) -> list[Any]:
    return [rec.get("value"), rec.get("unit"), *(rec.get("range") or [])]


def _validated(path: Path, what: str, document_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = read_yaml(path, RuleError)
    if not isinstance(doc, dict):
        raise RuleError(f"a {what} must hold one YAML mapping", source=path)
    errors = schema.validate(doc, document_schema)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise RuleError(errors[0] + more, source=path, hint="see `regadvisor rules check` and rules/README.md")
    return doc


def load_bibliography(path: Path) -> Sources:
    """Parse and validate one bibliography file: source key → kind, citation, locator, claim."""
    return _validated(path, "bibliography file", schema.bibliography_schema())


@lru_cache(maxsize=1)
def _bundled_sources() -> tuple[Path, Sources]:
    path = bundled_rules_dir() / BIBLIOGRAPHY
    return path, load_bibliography(path)


def bibliography(folders: Iterable[Path] = ()) -> Sources:
    """The bundled bibliography merged with every ``bibliography.yaml`` inside ``folders``."""
    bundled_path, bundled = _bundled_sources()
    sources = dict(bundled)
    origin = dict.fromkeys(bundled, bundled_path)
    for folder in folders:
        for path in sorted(Path(folder).rglob(BIBLIOGRAPHY)):
            if path.resolve() == bundled_path.resolve():
                continue
            for key, entry in load_bibliography(path).items():
                if key in origin:
                    raise RuleError(f"source {key!r} is defined twice (also in {origin[key]})", source=path,
                                    hint="cite the existing entry, or give yours another key")
                sources[key], origin[key] = entry, path
    return sources


def load_rule_file(path: Path, known_signals: Iterable[str] | None = None, sources: Sources | None = None) -> Rule:
    """Parse and validate one rule file; ``sources`` is the bibliography (default: the bundled one)."""
    doc = _validated(path, "rule file")
    sources = bibliography() if sources is None else sources
    _check_message(doc["message"], path)
    _check_references(doc, path, known_signals, sources)
    return Rule(doc["id"], doc["name"], path, doc, {key: sources[key] for key in doc["evidence"]})


# What a placeholder may ask of str.format: a plain name, !r/!s/!a, and a format spec without
# nested fields whose width and precision are small (``{x:>300000000}`` would build a 300 MB
# string; ``{x.__class__}`` reaches attributes no message needs).
_FIELD = re.compile(r"[A-Za-z_]\w*")
_STANDARD = r"(?:[^{}]?[<>=^])?[-+ ]?z?#?0?\d{0,3}[,_]?(?:\.\d{1,2})?"
# ...and the evaluator's own two: percentage points (``.1pt``) and counted words (``n evaluation``).
_SPEC = re.compile(rf"{_STANDARD}[bcdeEfFgGnosxX%]?|{_STANDARD}pt|n [A-Za-z][A-Za-z ]{{0,40}}")


def _check_message(template: str, path: Path) -> None:
    """Refuse a message template that ``str.format`` would fail on, or that asks too much of it."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise RuleError(f"message: {exc}", source=path, hint="write {{ and }} for literal braces") from None
    for name, spec, conv in fields:
        if not _FIELD.fullmatch(name):
            raise RuleError(f"message: placeholder {{{name}}} must be a signal or param name", source=path,
                            hint="e.g. {val_loss_gap} or {min_gap:.1%}")
        if conv not in (None, "r", "s", "a"):
            raise RuleError(f"message: placeholder {{{name}!{conv}}} has an unknown conversion", source=path,
                            hint="use !r, !s or !a, or none")
        if not _SPEC.fullmatch(spec or ""):
            raise RuleError(f"message: placeholder {{{name}:{spec}}} has an unsupported format", source=path,
                            hint="a standard format of at most 3 digits of width ({x:.3g}, {x:>8.1%}), "
                                 "points ({x:.1pt}) or a count ({x:n evaluation})")


def _check_evidence(doc: dict[str, Any], path: Path, sources: Sources) -> None:
    """Every key the rule lists is in the bibliography, once; everything it cites is listed."""
    listed = doc["evidence"]
    for i, key in enumerate(listed):
        if key not in sources:
            raise RuleError(f"evidence[{i}]: no source {key!r} in the bibliography", source=path,
                            hint=f"cite a key of regadvisor's rules/{BIBLIOGRAPHY}, or add the source to "
                                 f"a {BIBLIOGRAPHY} in your rules folder")
        if key in listed[:i]:
            raise RuleError(f"evidence[{i}]: {key!r} is listed twice", source=path)
    for name, spec in doc.get("params", {}).items():
        if spec["evidence"] not in listed:
            raise RuleError(f"params.{name}.evidence: {spec['evidence']!r} is not in the rule's evidence list",
                            source=path)
    for i, rec in enumerate(doc.get("recommend", [])):
        for key in rec["evidence"]:
            if key not in listed:
                raise RuleError(f"recommend[{i}].evidence: {key!r} is not in the rule's evidence list", source=path)


def _check_references(doc: dict[str, Any], path: Path, known_signals: Iterable[str] | None,
                      sources: Sources) -> None:
    _check_evidence(doc, path, sources)
    params = doc.get("params", {})
    for i, rec in enumerate(doc.get("recommend", [])):
        for ref in _value_refs(rec):
            if isinstance(ref, dict) and "param" in ref and ref["param"] not in params:
                raise RuleError(f"recommend[{i}]: unknown param {ref['param']!r}", source=path)
    for key in ("applies_if", "when"):
        for leaf in iter_leaves(doc.get(key, {})):
            if "param" in leaf and leaf["param"] not in params:
                raise RuleError(f"{key}: unknown param {leaf['param']!r}", source=path)
            needs_operand = leaf["op"] not in ("present", "absent")
            if needs_operand and ("value" in leaf) == ("param" in leaf):
                raise RuleError(f"{key}: condition on {leaf['signal']!r} needs exactly one of value or param",
                                source=path)
    if known_signals is not None:
        known = set(known_signals)
        rule = Rule(doc["id"], doc["name"], path, doc)
        unknown = sorted(rule.signals() - known)
        if unknown:
            raise RuleError(f"unknown signal(s) {', '.join(unknown)}", source=path,
                            hint="`regadvisor rules signals` lists the signals regadvisor computes")
    _check_cases(doc, path)


def _check_cases(doc: dict[str, Any], path: Path) -> None:
    """A case overrides only the rule's params and pins messages and values only where it fires."""
    params = doc.get("params", {})
    knobs = {rec["knob"] for rec in doc.get("recommend", [])}
    for i, case in enumerate(doc["tests"]):
        for pname in case.get("params", {}):
            if pname not in params:
                raise RuleError(f"tests[{i}].params: unknown param {pname!r}", source=path)
        pinned = [key for key in ("message", "recommend") if key in case]
        if pinned and case["expect"] != "fired":
            raise RuleError(f"tests[{i}].{pinned[0]}: only a case that expects fired has a message and "
                            f"recommendations", source=path)
        for knob in case.get("recommend", {}):
            if knob not in knobs:
                raise RuleError(f"tests[{i}].recommend: the rule recommends no {knob!r}", source=path,
                                hint=f"it recommends: {', '.join(sorted(knobs)) or 'nothing'}")


def load_rules(extra_dirs: Iterable[Path] = (), *, include_bundled: bool = True,
               known_signals: Iterable[str] | None = None) -> RuleSet:
    """Load bundled rules and any extra folders into a :class:`RuleSet` (all rules selected)."""
    dirs = ([bundled_rules_dir()] if include_bundled else []) + [Path(d) for d in extra_dirs]
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    digest = hashlib.sha256()
    known = set(known_signals) if known_signals is not None else None
    for folder in dirs:
        if not folder.is_dir():
            raise RuleError("not a folder of rule files", source=folder, hint="pass a folder to --rules")
    sources = bibliography(dirs)
    digest.update(repr(sorted(sources.items())).encode())
    for folder in dirs:
        files = sorted(p for p in folder.rglob("*.y*ml")
                       if p.suffix in (".yaml", ".yml") and p.is_file() and p.name != BIBLIOGRAPHY)
        if not files and folder != dirs[0]:
            raise RuleError("no rule files (*.yaml) in this folder", source=folder)
        for path in files:
            rule = load_rule_file(path, known, sources)
            if rule.name == SIGNALS:
                raise RuleError(f"name: {SIGNALS!r} is reserved for signal parameters", source=path)
            for key in (rule.id, rule.name):
                if key in seen:
                    raise RuleError(f"rule {key} is defined twice (also in {seen[key]})", source=path)
                seen[key] = path
            rules.append(rule)
            digest.update(path.read_bytes())
    rules.sort(key=lambda r: r.id)
    return RuleSet(rules, "sha256:" + digest.hexdigest()[:16])


def select(ruleset: RuleSet, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> RuleSet:
    """Keep the rules named (by id, name or category) in ``select`` and drop those in ``ignore``."""
    select, ignore = list(select), list(ignore)
    known = {k for r in ruleset.rules for k in (r.id, r.name, r.category)}
    for key in select + ignore:
        if key not in known:
            raise RuleError(f"no rule or category called {key!r}", source="--select/--ignore",
                            hint="`regadvisor rules list` shows them")

    def matches(rule: Rule, keys: list[str]) -> bool:
        return any(k in (rule.id, rule.name, rule.category) for k in keys)

    kept = [r for r in ruleset.rules if (not select or matches(r, select)) and not matches(r, ignore)]
    return RuleSet(kept, ruleset.digest, dict(ruleset.overrides))


def _number_like(default: Any, value: Any, name: str, source: str) -> Any:
    """``value`` as the type of a numeric ``default`` (command-line values arrive as strings)."""
    if not is_number(default):
        return value
    try:
        text = str(value)
        return float(value) if isinstance(default, float) or "." in text or "e" in text.lower() else int(value)
    except (TypeError, ValueError):
        raise RuleError(f"{name} must be a number, got {value!r}", source=source) from None


def apply_overrides(ruleset: RuleSet, overrides: dict[str, Any], source: str,
                    signal_params: dict[str, Any] | None = None) -> RuleSet:
    """Apply ``{"OF001.max_gap": 0.1}`` or ``{"OF001": {"max_gap": 0.1}}`` parameter overrides.

    ``signals.NAME`` overrides a signal parameter; ``signal_params`` are their defaults."""
    merged = {k: dict(v) for k, v in ruleset.overrides.items()}
    flat: list[tuple[str, str, Any]] = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            flat.extend((key, p, v) for p, v in value.items())
        elif "." in key:
            rule_key, param = key.split(".", 1)
            flat.append((rule_key, param, value))
        else:
            raise RuleError(f"parameter override {key!r} must be RULE.PARAM", source=source)
    for rule_key, param, value in flat:
        owner, defaults = _override_target(ruleset, rule_key, signal_params, source)
        if param not in defaults:
            names = ", ".join(defaults) or "none"
            what = "signals have" if owner == SIGNALS else f"rule {owner} has"
            raise RuleError(f"{what} no parameter {param!r} (it has: {names})", source=source,
                            hint="`regadvisor rules signals` lists the signal parameters" if owner == SIGNALS else None)
        merged.setdefault(owner, {})[param] = _number_like(defaults[param], value, f"{owner}.{param}", source)
    return RuleSet(list(ruleset.rules), ruleset.digest, merged)


def _override_target(ruleset: RuleSet, key: str, signal_params: dict[str, Any] | None,
                     source: str) -> tuple[str, dict[str, Any]]:
    """Whose parameters ``key`` names (a rule's id, or the signals), and their defaults."""
    if key == SIGNALS:
        return SIGNALS, dict(signal_params or {})
    rule = ruleset.get(key)
    if rule is None:
        raise RuleError(f"no rule called {key!r}", source=source, hint="`regadvisor rules list` shows them")
    return rule.id, rule.param_defaults()
