"""Plain stdout logs: whatever a training script printed.

A line is read as a *metric line* when it holds ``name value`` pairs (``key=value``,
``key: value``, ``train loss 1.23``, ``'loss': 0.5``) and at least one name is a metric
regadvisor knows. That covers nanoGPT (``step 100: train loss 4.2, val loss 4.3``), llm.c and
modded-nanogpt (``s:100 trl:4.2``, ``step:100/6200 val_loss:4.3 train_time:...ms``), Keras'
progress lines (``- loss: 0.4 - val_accuracy: 0.95``), PyTorch example scripts and printed
dicts, also with the quoted values transformers 5 prints (``{'eval_loss': '0.6943'}``), and
build-nanogpt's ``log.txt`` (``250 val 3.55``: step, split, loss). Everything else (banners,
``nvidia-smi`` tables, the training script's own source that some loggers print first) is
ignored, and lines that look like Python code never count.

A log whose names regadvisor does not know (a reward-only RL log, names in another language) is
read as it is when its lines count something (``episode 12 reward 200.5``), so the report can say
what is missing; otherwise it is refused with the names it saw and how to map them.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from ..errors import LogReadError
from ..model import Run
from ._io import BOOKKEEPING_NAMES, check_text, head_text, open_text
from .aliases import _SPLIT_WORDS, CANONICAL, canonical_name, normalise
from .hf import SKIP_SUFFIXES, SUMMARY_MARKERS
from .registry import LogFormat, ReadOptions, RunBuilder, register

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# Every pattern here runs on every line of a log, so none may backtrack more than linearly:
# ``\d+\.?\d*`` can split a run of digits k ways (a 100,000-digit run: quadratic), and
# ``[A-Za-z_]\w*\(`` restarted inside a long word (a 200 KB line: 45 s), and ``\s*(?:...|\s+)``
# splits a run of spaces k ways. Hence ``\d+(?:\.\d*)?``, ``\b`` before identifiers and
# ``(?:\s*[:=]\s*|\s+)``, which match the same text; tests/fuzz times hostile lines against them.
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_NAME = r"[^\W\d][\w./\-]*"  # starts with a letter of any alphabet or an underscore
_PAIR = re.compile(
    rf"(?<![\w.\-/])(?P<key>{_NAME}(?: {_NAME}){{0,2}})"  # a name of up to three words
    r"['\"]?(?:\s*[:=：]\s*|\s+)['\"]?"  # a value may be quoted (transformers 5) and follow a full-width colon
    rf"(?P<num>{_NUMBER})(?:/(?P<total>\d+))?(?P<unit>%|[A-Za-z]+(?:/[A-Za-z]+)?)?(?![\w.])",
    re.IGNORECASE,
)
# Python source (a script that logs its own code first) must not yield metrics.
_CODE = re.compile(
    r"^\s*(?:def|class|import|from|return|if|elif|else|for|while|with|assert|try|except|raise|yield|lambda)\b"
    r"|^\s*[@#]|\b[A-Za-z_]\w*\(|\w\s*(?:[-+*/=!]=)\s*\w|\bf['\"]"
    r"|^\s*[\w.]+(?:\s*:\s*\w+)?\s+=\s+\S+\s*(?:#.*)?$"  # a lone `name = value` (or `name: type = value`)
)
# A line that starts by naming its split: "Test set:", "Validation -", "[val]".
_SPLIT_PREFIX = re.compile(
    r"^\W*(?P<split>train(?:ing)?|valid(?:ation)?|val|eval(?:uation)?|test(?:ing)?|dev)(?:\s+set)?\s*[:|\]\-]",
    re.IGNORECASE)
# build-nanogpt's log.txt: "250 val 3.5512", "250 train 3.49", "250 hella 0.29" (step, name, value).
_STEP_NAME_VALUE = re.compile(rf"^\s*(?P<step>\d+)\s+(?P<key>{_NAME})\s+(?P<num>{_NUMBER})\s*$")
# Keras prints "Epoch 3/10" on a line of its own before the epoch's metric line.
_EPOCH_HEADER = re.compile(r"^\s*epoch\s*[:#]?\s*(\d+)\s*(?:/\s*\d+)?\s*$", re.IGNORECASE)
_STEP_WORDS = {"step", "steps", "iter", "iters", "iteration", "it", "s", "global_step", "batch", "batch_idx",
               "episode", "episodes"}
_EPOCH_WORDS = {"epoch", "ep", "epochs"}
MIN_UNKNOWN_LINES = 3
"""Lines with a step or epoch and only unknown names that make a log of unknown metrics (a reward-only
RL log) rather than prose that happens to hold numbers."""


@lru_cache(maxsize=4096)
def _role(key: str) -> str:
    """Whether a printed name is the step, the epoch, bookkeeping or a metric (cached: a log
    repeats a handful of names millions of times)."""
    text = normalise(key)
    words = text.split("_")
    if words[-1] in _EPOCH_WORDS:
        return "epoch"
    if words[-1] in _STEP_WORDS or "_".join(words[-2:]) == "global_step":
        return "step"
    return "skip" if text in BOOKKEEPING_NAMES or text.endswith(SKIP_SUFFIXES) else "metric"


@lru_cache(maxsize=4096)
def _canonical(key: str, metric_map: tuple[tuple[str, str], ...]) -> str:
    return canonical_name(key, dict(metric_map)).canonical


@lru_cache(maxsize=4096)
def _metric_key(key: str, split: str | None, metric_map: tuple[tuple[str, str], ...]) -> str:
    """The name to record for a printed metric, read in the context of its line.

    ``Test set: Average loss: 0.1, Accuracy: 9800/10000`` (PyTorch's MNIST example) is test
    loss and test accuracy: a loss or accuracy printed without a split word takes the split the
    line starts with, and a name of several words that means nothing (``Average loss``) falls
    back to its last word. The user's own spellings are taken as they are.
    """
    if key in dict(metric_map).values():
        return key
    if _canonical(key, metric_map) not in CANONICAL and " " in key:
        last = key.split()[-1]
        if _canonical(last, metric_map) in CANONICAL:
            key = last
    words = normalise(key).split("_")
    explicit = words[0] in _SPLIT_WORDS or words[-1] in _SPLIT_WORDS
    if split and not explicit and _canonical(key, metric_map).endswith(("_loss", "_acc")):
        return f"{split} {key}"
    return key


Pairs = tuple[float | None, float | None, list[tuple[str, float]]]
MetricMap = tuple[tuple[str, str], ...]  # ReadOptions.metric_map, hashable for the caches


def _metric_map(options: ReadOptions) -> MetricMap:
    return tuple(sorted(options.metric_map.items()))


def _pairs(line: str, user_map: MetricMap) -> Pairs | None:
    """The step, epoch and ``name value`` pairs one log line holds (None for code, or for a
    training summary such as transformers' ``{'train_runtime': ..., 'train_loss': <mean of the run>}``).

    Percentages become fractions (``93.2%`` → 0.932, ``9800/10000`` → 0.98); values with a unit
    (``285ms``) are timings, not learning, and are skipped.
    """
    line = _ANSI.sub("", line)
    if _CODE.search(line):
        return None
    bare = _STEP_NAME_VALUE.match(line)
    if bare:
        key = bare.group("key")
        key = f"{key} loss" if normalise(key) in _SPLIT_WORDS else key  # "250 val 3.55" is a validation loss
        return float(bare.group("step")), None, [(_metric_key(key, None, user_map), float(bare.group("num")))]
    prefix = _SPLIT_PREFIX.match(line)
    split = prefix.group("split").lower() if prefix else None
    step = epoch = None
    found = []
    for m in _PAIR.finditer(line):
        key, unit, total = m.group("key"), m.group("unit"), m.group("total")
        if unit and unit != "%":
            continue
        if key in SUMMARY_MARKERS:
            return None
        value = float(m.group("num"))
        role = _role(key)
        if role == "step" and step is None:
            step = value
        elif role == "epoch" and epoch is None:
            epoch = value
        elif role == "metric":
            if unit == "%":
                value /= 100.0
            elif total:
                value /= float(total) or 1.0
            found.append((key, value))
    split = split or _line_split([key for key, _ in found], user_map)
    return step, epoch, [(_metric_key(key, split, user_map), value) for key, value in found]


def _line_split(keys: list[str], metric_map: tuple[tuple[str, str], ...]) -> str | None:
    """The split a line names with its first loss or accuracy: ``Epoch: 3 | Valid. Acc.: 71.9% |
    Loss: 0.99`` is a validation line (rasbt/deeplearning-models prints one such line per split),
    so its bare ``Loss`` is the validation loss. Where the first is bare (Keras' ``loss: 0.4 -
    val_loss: 0.5``) bare names stay training's."""
    for key in keys:
        if _canonical(key, metric_map).endswith(("_loss", "_acc")):
            return _split_word(key)
    return None


@lru_cache(maxsize=4096)
def _split_word(key: str) -> str | None:
    """The split word a name starts or ends with (``Valid. Acc.`` → ``valid``), if any."""
    words = normalise(key).split("_")
    return next((w for w in (words[0], words[-1]) if w in _SPLIT_WORDS and len(words) > 1), None)


def _is_metric_line(step: float | None, epoch: float | None, metrics: list[tuple[str, float]],
                    user_map: MetricMap) -> bool:
    """Why the gate: a line counts only if it names a known metric, and a lone learning rate or
    grad norm (a printed config) needs a step or a second metric beside it."""
    known = [n for n in (_canonical(key, user_map) for key, _ in metrics) if n in CANONICAL]
    if not known:
        return False
    return step is not None or epoch is not None or len(metrics) >= 2 or known[0].endswith(("_loss", "_acc"))


def parse_line(line: str, options: ReadOptions) -> Pairs | None:
    """The step, epoch and metrics one log line holds, or None when it is not a metric line
    (see :func:`_pairs` and :func:`_is_metric_line`)."""
    user_map = _metric_map(options)
    pairs = _pairs(line, user_map)
    return pairs if pairs is not None and _is_metric_line(*pairs, user_map) else None


def read_text(path: Path, options: ReadOptions) -> Run:
    """Read every metric line; a bare ``Epoch 3/10`` header line sets the epoch of the lines after it.

    Progress bars (tqdm, Lightning) reprint their postfix on every update, without a step: the
    last validation loss would otherwise count once per batch of the next epoch. A value that
    repeats the previous one of its metric, at the same epoch and with no step, is that reprint
    and is skipped.
    """
    check_text(path)
    user_map = _metric_map(options)
    builder = RunBuilder(path, "text", options, split_runs=True)
    # lines that count something under names we do not know
    unknown = RunBuilder(path, "text", options, split_runs=True)
    unknown_lines = 0
    names_seen: Counter[str] = Counter()
    current_epoch = None
    last: dict[str, tuple[float, float | None]] = {}
    found = 0
    with open_text(path) as f:
        for raw in f:
            for line in raw.split("\r"):
                pairs = _pairs(line, user_map)
                if pairs is None or not _is_metric_line(*pairs, user_map):
                    current_epoch = _epoch_header(line, current_epoch)
                    if pairs is not None and pairs[2] and not found:
                        names_seen.update(list(dict.fromkeys(key for key, _ in pairs[2])))
                        if pairs[0] is not None or pairs[1] is not None:
                            unknown_lines += 1
                            for key, value in pairs[2]:
                                unknown.add(key, value, pairs[0], pairs[1])
                    continue
                step, epoch, metrics = pairs
                epoch = current_epoch if epoch is None else epoch
                for key, value in metrics:
                    if step is None and last.get(key) == (value, epoch):
                        continue
                    last[key] = (value, epoch)
                    builder.add(key, value, step, epoch)
                found += 1
    if found:
        return builder.build()
    if unknown_lines >= MIN_UNKNOWN_LINES:
        unknown.warn("no loss or accuracy metric regadvisor knows; read as logged: "
                     + ", ".join(repr(n) for n, _ in names_seen.most_common(8))
                     + " (map yours with --metric, e.g. --metric val_loss=NAME)")
        return unknown.build()
    seen = [f"{name!r} ({count} lines)" for name, count in names_seen.most_common(6) if count >= 2]
    raise LogReadError("has no metric lines (looked for 'name: value', 'name=value' or 'name value' "
                       "with a loss or accuracy name)"
                       + (f"; names seen with numbers: {', '.join(seen)}" if seen else ""),
                       source=path,
                       hint="name your metric with --metric, e.g. --metric val_loss=NAME, or pass --log-format")


def _epoch_header(line: str, current: float | None) -> float | None:
    m = _EPOCH_HEADER.match(_ANSI.sub("", line))
    return float(m.group(1)) if m else current


def _sniff(path: Path, head: bytes) -> float:
    text = head_text(head)
    if text is None or not text.strip():
        return 0.0
    options = ReadOptions()
    found = 0
    for line in text.splitlines()[:2000]:
        found += parse_line(line, options) is not None
        if found >= 3:
            return 0.4  # several metric lines: a training log, found even inside a searched folder
    return 0.25 if found else 0.1


register(LogFormat("text", "plain stdout log with 'name: value' metric lines", _sniff, read_text))
