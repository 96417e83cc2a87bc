"""``regadvisor explain TOPIC``: what a technique does, typical values with sources, and its code.

Nothing here is a second copy. The prose is the docstring of the reference module that
implements the technique, the typical values are the recommendations of the bundled rule
tables with their evidence, and the code is the reference implementation's own source, read
with :mod:`ast` so that explaining does not import torch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine.loader import load_rules
from .errors import ConfigError
from .signals.probe_signals import SIGNAL_VALUES

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class Topic:
    """Where a technique's explanation comes from."""

    module: str  # file in regadvisor/reference/, without .py
    symbols: tuple[str, ...]  # functions/classes whose source is shown
    summary: str  # one line for the topic list
    knobs: tuple[str, ...] = ()  # recommendation knobs whose rule values are listed
    knob_value: str | None = None  # only recommendations with this value (e.g. normalization=groupnorm)


TOPICS: dict[str, Topic] = {
    "dropout": Topic("dropout", ("dropout", "Dropout"), "inverted dropout on hidden units", ("dropout",)),
    "weight-decay": Topic("weight_decay", ("l2_penalty", "decoupled_weight_decay_", "param_groups"),
                          "L2 penalty vs decoupled decay; no decay on biases and norms", ("weight_decay",)),
    "adamw": Topic("weight_decay", ("ReferenceAdamW", "compare_l2_and_decoupled"),
                   "Adam with decoupled weight decay, against Adam with L2", ("optimizer", "weight_decay")),
    "batchnorm": Topic("norms", ("BatchNorm",), "batch normalization, and why small batches hurt it",
                       ("normalization",), "batchnorm"),
    "layernorm": Topic("norms", ("LayerNorm",), "per-example normalization (transformers, small batches)",
                       ("normalization",), "layernorm"),
    "rmsnorm": Topic("norms", ("RMSNorm",), "LayerNorm without centring (LLaMA-style)", ("normalization",), "rmsnorm"),
    "groupnorm": Topic("norms", ("GroupNorm",), "normalization over channel groups (feature maps, small batches)",
                       ("normalization",), "groupnorm"),
    "early-stopping": Topic("early_stopping", ("EarlyStopping",), "stop after a patience, restore the best weights",
                            ("early_stopping_patience",)),
    "label-smoothing": Topic("label_smoothing", ("label_smoothed_cross_entropy",),
                             "cross entropy against softened targets", ("label_smoothing",)),
    "mixup": Topic("mixup", ("mixup", "mixup_loss"), "train on convex combinations of examples and labels"),
    "gradient-clipping": Topic("clipping", ("clip_grad_norm",), "clip the global gradient norm", ("grad_clip_norm",)),
}


@dataclass
class SourceBlock:
    """The source of one reference symbol and where it lives."""

    name: str
    path: Path
    line: int
    code: str


@dataclass
class RuleValue:
    """One rule's recommendation for the topic's knob, with the evidence it cites."""

    rule_id: str
    title: str
    knob: str
    value: Any
    range: list[Any] | None
    evidence: list[dict[str, str]]


@dataclass
class Explanation:
    topic: str
    summary: str
    values: list[RuleValue] = field(default_factory=list)
    sources: list[SourceBlock] = field(default_factory=list)


def _module_parts(path: Path, symbols: tuple[str, ...]) -> tuple[str, list[SourceBlock]]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    blocks = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in symbols:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            blocks.append(SourceBlock(node.name, path, start, "\n".join(lines[start - 1: node.end_lineno])))
    blocks.sort(key=lambda b: symbols.index(b.name))
    return ast.get_docstring(tree) or "", blocks


def _values(topic: Topic) -> list[RuleValue]:
    out = []
    for rule in load_rules().rules:
        for rec in rule.spec.get("recommend", []):
            if rec["knob"] not in topic.knobs:
                continue
            value = rec["value"]
            possible = SIGNAL_VALUES.get(str(value.get("signal")), ()) if isinstance(value, dict) else (value,)
            if topic.knob_value is not None and topic.knob_value not in possible:
                continue
            out.append(RuleValue(rule.id, rule.spec["title"], rec["knob"], rec["value"], rec.get("range"),
                                 [rule.evidence[k] for k in rec["evidence"]]))
    return out


# Knob names (as reports print them) whose topic has another name.
KNOB_TOPICS = {"early_stopping_patience": "early-stopping", "grad_clip_norm": "gradient-clipping",
               "optimizer": "adamw"}


def _key(name: str) -> str:
    return "".join(c for c in name.casefold() if c.isalnum())


def topic_name(name: str) -> str:
    """The topic ``name`` means, forgiving case, ``-``/``_`` and knob names (``weight_decay``,
    ``early_stopping_patience``, ``Batch-Norm``)."""
    wanted = _key(name)
    for alias, topic in KNOB_TOPICS.items():
        if wanted == _key(alias):
            return topic
    for topic in TOPICS:
        if wanted == _key(topic):
            return topic
    hint = f"choose one of {', '.join(TOPICS)}"
    if wanted == "normalization":
        hint = "normalization has one topic per layer: batchnorm, layernorm, rmsnorm or groupnorm"
    raise ConfigError(f"no topic {name!r}", source="TOPIC", hint=hint)


def topics() -> dict[str, str]:
    """Every topic with its one-line summary."""
    return {name: spec.summary for name, spec in TOPICS.items()}


def explain(topic: str) -> Explanation:
    """Gather the explanation of ``topic`` (see :func:`topic_name` for the spellings accepted)."""
    name = topic_name(topic)
    spec = TOPICS[name]
    summary, sources = _module_parts(REFERENCE_DIR / f"{spec.module}.py", spec.symbols)
    return Explanation(name, summary, _values(spec), sources)
