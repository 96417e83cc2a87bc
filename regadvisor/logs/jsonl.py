"""Generic JSON logs: JSON Lines (one object per logged step) and JSON dumps.

JSONL is what most hand-written loggers append (``{"step": 10, "loss": 2.3}``); the JSON
shapes are the dumps people save at the end of a run: a Keras ``history.history`` dict of
per-epoch lists, a list of per-step records, or an object holding such a list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import LogReadError
from ..model import Run
from ._io import (
    BOOKKEEPING_NAMES,
    EPOCH_NAMES,
    STEP_NAMES,
    check_text,
    head_text,
    json_number,
    load_json,
    open_text,
)
from .facts import add_sidecar_facts
from .registry import LogFormat, ReadOptions, RunBuilder, register


def _flatten(record: Mapping, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """``{"train": {"loss": 1}}`` is the metric ``train/loss``."""
    for key, value in record.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


def _add_record(builder: RunBuilder, record: Mapping, options: ReadOptions) -> None:
    """One logged step: its step/epoch keys locate the point, its other numbers are metrics."""
    items = list(_flatten(record))
    mapped = set(options.metric_map.values())
    step = epoch = None
    for key, value in items:
        low = key.lower()
        if key not in mapped and low in STEP_NAMES and step is None:
            step = json_number(value)
        elif key not in mapped and low in EPOCH_NAMES and epoch is None:
            epoch = json_number(value)
    for key, value in items:
        low = key.lower()
        number = json_number(value)
        counter = low in STEP_NAMES or low in EPOCH_NAMES or low in BOOKKEEPING_NAMES
        if number is None or (key not in mapped and counter):
            continue
        builder.add(key, number, step, epoch)


def read_jsonl(path: Path, options: ReadOptions) -> Run:
    """One JSON object per line; a last line cut off mid-write is skipped with a warning."""
    check_text(path)
    builder = RunBuilder(path, "jsonl", options, split_runs=True)
    broken = None
    records = 0
    with open_text(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if broken is not None:
                raise LogReadError(f"line {broken} is not valid JSON", source=path,
                                   hint="every line must be one JSON object; repair that line")
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                broken = number
                continue
            except RecursionError:
                raise LogReadError(f"line {number} is nested too deeply", source=path,
                                   hint="every line must be one flat-ish JSON object of metrics") from None
            if not isinstance(record, dict):
                raise LogReadError(f"line {number} is a JSON {type(record).__name__}, not an object", source=path,
                                   hint="JSON Lines logs hold one {\"name\": value, ...} object per line")
            _add_record(builder, record, options)
            records += 1
    if records == 0:
        raise LogReadError("holds no complete JSON record", source=path, hint="pass a log with data")
    if broken is not None:
        builder.warn(f"the last line ({broken}) is not complete JSON and was skipped (the run may still be writing)")
    add_sidecar_facts(builder, path.parent / "hparams.yaml")  # written by regadvisor's trainer callbacks
    return builder.build()


def _records(data: Any) -> list | None:
    """The list of per-step records in a JSON dump, wherever the common shapes keep it."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            return lists[0]
    return None


def read_json(path: Path, options: ReadOptions) -> Run:
    """A JSON dump: a Keras ``history.history`` (name → per-epoch list; entry i is epoch i,
    counted from 0 as Keras' CSVLogger does), or per-step records."""
    data = load_json(path)
    builder = RunBuilder(path, "json", options, split_runs=True)
    columns = {k: v for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}
    if columns and all(json_number(x) is not None for v in columns.values() for x in v):
        for key, values in columns.items():
            for epoch, value in enumerate(values):
                builder.add(key, float(value), None, float(epoch))
        return builder.build()
    records = _records(data)
    if records is None:
        raise LogReadError("holds no per-epoch lists or per-step records", source=path,
                           hint='expected {"loss": [...], "val_loss": [...]} or [{"step": 1, "loss": ...}, ...]')
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise LogReadError(f"record {i} is a JSON {type(record).__name__}, not an object", source=path,
                               hint='expected a list of {"step": ..., "loss": ...} objects')
        _add_record(builder, record, options)
    return builder.build()


def _sniff_jsonl(path: Path, head: bytes) -> float:
    text = head_text(head)
    if text is None:
        return 0.0
    lines = [line.strip() for line in text.splitlines() if line.strip()][:2]
    suffix = path.suffix.lower() in (".jsonl", ".ndjson")
    if len(lines) < (1 if suffix else 2) or not all(line.startswith("{") and line.endswith("}") for line in lines):
        return 0.0
    try:
        json.loads(lines[0])
    except ValueError:
        return 0.0
    return 0.7 if suffix else 0.5


def _sniff_json(path: Path, head: bytes) -> float:
    text = head_text(head)
    if text is None or not text.lstrip().startswith(("{", "[")):
        return 0.0
    if text.lstrip()[1:].lstrip().startswith("'"):
        return 0.0  # a printed Python dict ({'loss': ...}): a stdout log, not JSON
    return 0.35 if path.suffix.lower() == ".json" else 0.3


register(LogFormat("jsonl", "JSON Lines: one {name: value} object per logged step", _sniff_jsonl, read_jsonl))
register(LogFormat("json", "JSON dump: Keras history dict, or a list of per-step records", _sniff_json, read_json))
