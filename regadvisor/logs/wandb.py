"""Weights & Biases runs, read from local files without the ``wandb`` package.

Four layouts, all of which a user may have on disk:

* **Run folder** ``wandb/run-<time>-<id>/`` (synced) or ``wandb/offline-run-<time>-<id>/``.
  Since wandb 0.10 the per-step history lives only in ``run-<id>.wandb``, the transaction log
  described below; ``files/config.yaml`` (``{key: {value: ...}}``) and
  ``files/wandb-summary.json`` are written for synced runs. Offline runs keep their config in
  the transaction log too, so it is read from there when ``config.yaml`` is absent.
* **Transaction log** ``run-<id>.wandb``: a 7-byte W&B header (``:W&B``, uint16 magic
  ``0xBEE1``, uint8 version 0, little-endian) followed by the LevelDB log format
  (https://github.com/google/leveldb/blob/main/doc/log_format.md): 32 KiB blocks of records,
  each with a 7-byte header ``checksum (uint32) | length (uint16) | type (uint8)`` where type is
  FULL 1, FIRST 2, MIDDLE 3 or LAST 4 (a record split across blocks), and fewer than 7 bytes
  left in a block are zero padding. Unlike LevelDB, the checksum is the plain CRC-32 (zlib's)
  of the type byte and the data, not a masked CRC-32C — verified against files written by
  wandb 0.31.0's ``wandb-core``. Each record is a protobuf ``wandb_internal.Record``
  (wandb/proto/wandb_internal.proto); the numbers used here were checked against that
  package's ``wandb_internal_pb2`` descriptors: ``Record.history = 2`` (``HistoryRecord``:
  ``item = 1``, ``step = 2`` → ``HistoryStep.num = 1``), ``Record.config = 5``
  (``ConfigRecord``: ``update = 1``, ``remove = 2``), ``Record.run = 17`` (``RunRecord``:
  ``config = 4``, ``display_name = 8``), ``Record.exit = 18`` (``RunExitRecord.exit_code = 1``);
  ``HistoryItem``/``ConfigItem``: ``key = 1``, ``nested_key = 2``, ``value_json = 16``, and
  for ``HistoryItem`` the typed values ``integer = 5`` (sint64), ``number = 6`` (double) and
  ``json = 8`` (0.31.0 still writes ``value_json`` only; the others are read so that a newer
  writer's typed values are not silently lost). Summary, output, stats and other records are
  skipped by their length. The log is decoded with the shared wire-format walker
  :mod:`regadvisor.logs._protobuf`.
* **Legacy history** ``wandb-history.jsonl`` (wandb < 0.10): one JSON object per step.
* **Web-UI CSV export** (a chart's "Export panel → CSV"): an x-axis column (``Step``), then
  per run ``<run name> - <metric>`` with ``__MIN``/``__MAX`` companions (the band of a smoothed
  or sampled line, not data points; they are dropped). One file may hold several runs; one is
  addressed as ``export.csv#<run name>`` and :func:`find_runs` lists them.

Damage. The transaction log is read in 32 KiB blocks, one record at a time (memory is a block
plus the largest record, whatever the file's size). A record whose
checksum fails, or whose length runs past its block, cannot be trusted to say where the next
record starts, so — as LevelDB's own ``log::Reader`` does — the rest of that block is skipped
and reading resumes at the next block boundary; the warning gives the byte offset of the first
bad record and how many were skipped. A file that ends inside a record (a run still writing,
or a copy taken mid-write) keeps every complete record before it and says where it ends. An
empty file or one without the W&B header is a :class:`LogReadError` when it was passed
directly, and a warning when other files of its run folder can stand in.

Steps. A row's step is ``trainer/global_step`` (Lightning's ``WandbLogger``) or
``train/global_step`` (HF) when logged, else the history step ``_step``; ``epoch`` /
``train/epoch`` give the epoch. Those index columns and W&B's own ``_runtime``,
``_timestamp`` are not metrics.
"""

from __future__ import annotations

import csv
import json
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import LogReadError
from ..files import open_regular
from ..model import Run
from ..numbers import is_number
from ..safe_yaml import read_yaml
from ._io import load_json, open_text, read_head
from ._protobuf import DecodeError, fields
from .facts import add_facts
from .registry import LogFormat, ReadOptions, RunBuilder, register, split_address

_FILE_HEADER = struct.Struct("<4sHB")
_IDENT, _MAGIC, _VERSION = b":W&B", 0xBEE1, 0
_BLOCK = 32 * 1024
_RECORD_HEADER = struct.Struct("<IHB")
_MAX_RECORD = 64 << 20
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}
_DOUBLE = struct.Struct("<d")

# Field numbers, from wandb_internal_pb2 (wandb 0.31.0).
_REC_HISTORY, _REC_CONFIG, _REC_RUN, _REC_EXIT = 2, 5, 17, 18
_HIST_ITEM, _HIST_STEP = 1, 2
_ITEM_KEY, _ITEM_NESTED, _ITEM_INTEGER, _ITEM_NUMBER, _ITEM_JSON, _ITEM_VALUE_JSON = 1, 2, 5, 6, 8, 16
_CFG_UPDATE, _CFG_REMOVE = 1, 2
_RUN_CONFIG, _RUN_DISPLAY_NAME = 4, 8

_STEP_KEYS = ("trainer/global_step", "train/global_step", "global_step")
_EPOCH_KEYS = ("epoch", "train/epoch", "trainer/epoch")
_CSV_X_STEP = {"step", "_step", "trainer/global_step", "train/global_step", "global_step"}
_CSV_X_EPOCH = {"epoch", "train/epoch", "trainer/epoch"}
_CSV_BAND = ("__MIN", "__MAX")
_CONFIG_SKIP = ("_wandb", "wandb_version")


# --------------------------------------------------------------------------- rows → builder


def _add_row(builder: RunBuilder, row: Mapping[str, float], history_step: float | None) -> None:
    step = next((row[k] for k in _STEP_KEYS if k in row), None)
    if step is None:
        step = row.get("_step", history_step)
    epoch = next((row[k] for k in _EPOCH_KEYS if k in row), None)
    for name, value in row.items():
        if not name.startswith("_") and name not in _STEP_KEYS and name not in _EPOCH_KEYS:
            builder.add(name, value, step, epoch)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested dicts (``wandb.log({"val": {"loss": ...}})``) as W&B names them: ``val.loss``."""
    for key, value in data.items():
        if isinstance(value, Mapping) and "_type" not in value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _numeric_row(data: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of a history row, as floats (NaN/inf kept: they are evidence of divergence);
    media, tables and text are left out."""
    return {name: float(value) for name, value in _flatten(data) if is_number(value)}


# --------------------------------------------------------------------------- transaction log


class _LogState:
    """What one pass over a ``.wandb`` file learned besides the history rows."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.name: str | None = None
        self.exit_code: int | None = None
        self.rows = 0


def _records(path: Path, fh, builder: RunBuilder) -> Iterator[memoryview]:
    """The complete records of an open ``.wandb`` file, after its header has been checked."""
    corrupt, first_corrupt, skipped = 0, -1, 0
    partial: bytearray | None = None
    partial_at = 0
    block_no = 0
    while block := fh.read(_BLOCK):
        base = block_no * _BLOCK
        view = memoryview(block)
        i = _FILE_HEADER.size if block_no == 0 else 0
        while len(block) - i >= _RECORD_HEADER.size:
            crc, length, rtype = _RECORD_HEADER.unpack_from(block, i)
            end = i + _RECORD_HEADER.size + length
            if rtype == 0 and length == 0 and crc == 0:
                i = len(block)  # zero fill to the end of the block
                break
            if end > len(block) and len(block) < _BLOCK:
                break  # the file ends inside this record: reported below
            data = view[i + _RECORD_HEADER.size:end]
            if end > len(block) or rtype not in _TYPE_CRC or zlib.crc32(data, _TYPE_CRC[rtype]) != crc:
                corrupt += 1
                first_corrupt = base + i if first_corrupt < 0 else first_corrupt
                skipped += len(block) - i
                partial = None
                i = len(block)
                break
            if rtype == _FULL:
                yield data
            elif rtype == _FIRST:
                partial, partial_at = bytearray(data), base + i
            elif partial is not None:  # MIDDLE/LAST of a record whose start was not skipped
                partial += data
                if rtype == _LAST:
                    yield memoryview(bytes(partial))
                    partial = None
                elif len(partial) > _MAX_RECORD:
                    builder.warn(f"{path}: the record that starts at byte {partial_at} runs past "
                                 f"{_MAX_RECORD >> 20} MiB (no history record is that large); skipped it")
                    partial = None
            i = end
        tail = block[i:]
        if len(block) < _BLOCK and tail.strip(b"\x00"):
            builder.warn(f"{path}: the file ends inside a record at byte {base + i} (a run still writing, "
                         "or a copy taken while it wrote); read the complete records before it")
            partial = None
        block_no += 1
    if partial is not None:
        builder.warn(f"{path}: the file ends inside a record that starts at byte {partial_at}; "
                     "read the complete records before it")
    if corrupt:
        builder.warn(f"{path}: {corrupt} damaged record(s) (checksum or length wrong), first at byte "
                     f"{first_corrupt}; skipped {skipped} bytes up to the next 32 KiB block boundary")


def _text(buf, a: int, b: int) -> str:
    return str(buf[a:b], "utf-8", "replace")


def _json_value(text: str) -> Any:
    """``value_json`` of a scalar is a JSON number (or ``NaN``/``Infinity``, which Python's
    ``int``/``float`` read too): trying those first is about 3x cheaper than ``json.loads``."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _item(buf, a: int, b: int) -> tuple[str, Any]:
    """A ``HistoryItem`` or ``ConfigItem``: its dotted name and its decoded value."""
    key, nested, value = "", [], None
    for number, wire, x, y in fields(buf, a, b):
        if number == _ITEM_KEY and wire == 2:
            key = _text(buf, x, y)
        elif number == _ITEM_NESTED and wire == 2:
            nested.append(_text(buf, x, y))
        elif number in (_ITEM_VALUE_JSON, _ITEM_JSON) and wire == 2:
            value = _json_value(_text(buf, x, y))
        elif number == _ITEM_NUMBER and wire == 1:
            value = _DOUBLE.unpack_from(buf, x)[0]
        elif number == _ITEM_INTEGER and wire == 0:
            value = (x >> 1) ^ -(x & 1)  # sint64 zigzag
    return key or ".".join(nested), value


def _history(buf, a: int, b: int) -> tuple[dict[str, float], float | None]:
    row: dict[str, float] = {}
    step = None
    for number, wire, x, y in fields(buf, a, b):
        if number == _HIST_ITEM and wire == 2:
            name, value = _item(buf, x, y)
            if isinstance(value, Mapping):
                row.update(_numeric_row({name: value}))
            elif is_number(value):
                row[name] = float(value)
        elif number == _HIST_STEP and wire == 2:
            for n, w, v, _ in fields(buf, x, y):
                if n == 1 and w == 0:
                    step = float(v)
    return row, step


def _config(buf, a: int, b: int, config: dict[str, Any]) -> None:
    for number, wire, x, y in fields(buf, a, b):
        if number in (_CFG_UPDATE, _CFG_REMOVE) and wire == 2:
            name, value = _item(buf, x, y)
            if number == _CFG_UPDATE:
                config[name] = value
            else:
                config.pop(name, None)


def _scan_log(path: Path, builder: RunBuilder) -> _LogState:
    """Stream one ``.wandb`` file into ``builder``; the header must already have been checked."""
    state = _LogState()
    undecodable = 0
    with open_regular(path) as fh:
        for rec in _records(path, fh, builder):
            try:
                for number, wire, a, b in fields(rec, 0, len(rec)):
                    if wire != 2:
                        continue
                    if number == _REC_HISTORY:
                        row, step = _history(rec, a, b)
                        _add_row(builder, row, step)
                        state.rows += 1
                    elif number == _REC_CONFIG:
                        _config(rec, a, b, state.config)
                    elif number == _REC_RUN:
                        for n, w, x, y in fields(rec, a, b):
                            if n == _RUN_CONFIG and w == 2:
                                _config(rec, x, y, state.config)
                            elif n == _RUN_DISPLAY_NAME and w == 2:
                                state.name = _text(rec, x, y) or state.name
                    elif number == _REC_EXIT:
                        state.exit_code = 0
                        for n, w, v, _ in fields(rec, a, b):
                            if n == 1 and w == 0:
                                state.exit_code = v - (1 << 64) if v >= 1 << 63 else v
            except (DecodeError, struct.error):
                undecodable += 1
    if undecodable:
        builder.warn(f"{path}: {undecodable} record(s) with valid checksums did not decode as "
                     "wandb_internal.Record and were skipped")
    return state


def _check_header(path: Path) -> str | None:
    """None when ``path`` starts with the W&B header, else why not (for an error or a warning)."""
    head = read_head(path, _FILE_HEADER.size)
    if not head:
        return "is empty (the run wrote nothing, or was copied before its first write)"
    if len(head) < _FILE_HEADER.size or head[:4] != _IDENT:
        return f"is not a W&B transaction log (starts {head[:4]!r}, expected {_IDENT!r})"
    _, magic, version = _FILE_HEADER.unpack(head)
    if magic != _MAGIC or version != _VERSION:
        return f"has an unsupported W&B log header (magic {magic:#06x}, version {version})"
    return None


# --------------------------------------------------------------------------- side files


def _config_yaml(path: Path) -> dict[str, Any]:
    """``config.yaml``: every key maps to ``{value: ..., desc: ...}``; W&B's own keys dropped."""
    data = read_yaml(path, LogReadError)
    if not isinstance(data, Mapping):
        return {}
    return {key: (entry["value"] if isinstance(entry, Mapping) and "value" in entry else entry)
            for key, entry in data.items() if key not in _CONFIG_SKIP}


def _history_jsonl(path: Path, builder: RunBuilder) -> int:
    """Legacy ``wandb-history.jsonl``, streamed; a broken line is skipped and reported."""
    rows, bad, first_bad = 0, 0, 0
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):
                data = None
            if not isinstance(data, dict):
                bad, first_bad = bad + 1, first_bad or lineno
                continue
            _add_row(builder, _numeric_row(data), None)
            rows += 1
    if bad:
        builder.warn(f"{path}: skipped {bad} line(s) that are not JSON objects, first at line {first_bad}")
    return rows


def _summary(path: Path, builder: RunBuilder) -> int:
    """Final values only: one point per metric, used when no history survives."""
    data = load_json(path)
    if not isinstance(data, dict):
        return 0
    row = _numeric_row(data)
    _add_row(builder, row, None)
    builder.warn(f"{path}: no per-step history found; read the final values from the run summary only")
    return 1 if row else 0


def _first(folder: Path, name: str) -> Path | None:
    for candidate in (folder / "files" / name, folder / name):
        if candidate.is_file():
            return candidate
    return None


def _folder_config(folder: Path, builder: RunBuilder) -> dict[str, Any]:
    """The run's ``config.yaml`` (in ``files/`` since wandb 0.10, at the run folder before), or {};
    a broken one costs the facts, with a warning, not the run."""
    found = _first(folder, "config.yaml")
    try:
        return _config_yaml(found) if found else {}
    except LogReadError as exc:
        builder.warn(f"{found} ignored: {exc.detail}")
        return {}


# --------------------------------------------------------------------------- readers


def _finish(builder: RunBuilder, where: Path | str, config: dict[str, Any], name: str | None,
            state: _LogState | None) -> Run:
    add_facts(builder.facts, {k: v for k, v in config.items() if k not in _CONFIG_SKIP})
    if state is not None:
        if state.exit_code is None:
            builder.warn("no exit record: the run was still running, or was killed before it finished")
        elif state.exit_code != 0:
            builder.warn(f"the run exited with code {state.exit_code}")
    run = builder.build(name=name)
    if not run.series:
        reasons = "; ".join(builder.warnings)
        raise LogReadError("no metrics found in this W&B run" + (f" ({reasons})" if reasons else ""),
                           source=where, hint="log scalars with wandb.log({...}), or pass another run")
    return run


def _read_log_file(path: Path, options: ReadOptions) -> Run:
    problem = _check_header(path)
    if problem:
        raise LogReadError(problem, source=path, hint="pass the run-<id>.wandb file of a W&B run folder")
    builder = RunBuilder(path, "wandb", options)
    state = _scan_log(path, builder)
    # A synced run's final config sits beside the log (files/config.yaml) and wins over the log's.
    config = _folder_config(path.parent, builder)
    for key, value in state.config.items():
        config.setdefault(key, value)
    return _finish(builder, path, config, state.name, state)


def _read_run_dir(folder: Path, options: ReadOptions) -> Run:
    builder = RunBuilder(folder, "wandb", options)
    config = _folder_config(folder, builder)
    state = None
    name = None
    for log in sorted(folder.glob("*.wandb")):
        problem = _check_header(log)
        if problem:
            builder.warn(f"{log}: {problem}; skipped")
            continue
        state = _scan_log(log, builder)
        name = state.name or name
        for key, value in state.config.items():
            config.setdefault(key, value)
    if state is None or not state.rows:
        history = _first(folder, "wandb-history.jsonl")
        summary = _first(folder, "wandb-summary.json")
        if history and _history_jsonl(history, builder):
            state = None  # legacy runs have no exit record to miss
        elif summary:
            _summary(summary, builder)
            state = None
    return _finish(builder, folder, config, name or _run_id(folder), state)


def _run_id(folder: Path) -> str:
    """``offline-run-20250101_120000-abc123`` → ``abc123``."""
    return folder.name.rsplit("-", 1)[-1] if folder.name.count("-") >= 2 else folder.name


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and (any(path.glob("run-*.wandb"))
                              or _first(path, "wandb-history.jsonl") is not None
                              or _first(path, "wandb-summary.json") is not None)


def _run_dirs(path: Path) -> list[Path]:
    """Run folders under a ``wandb/`` folder (or a project folder holding one), oldest first.

    ``latest-run`` is a symlink to one of them and is not listed twice.
    """
    root = path / "wandb" if (path / "wandb").is_dir() and not _is_run_dir(path) else path
    return sorted((p for p in root.iterdir() if p.name != "latest-run" and not p.is_symlink()
                   and p.name.startswith(("run-", "offline-run-")) and _is_run_dir(p)),
                  key=lambda p: p.name.split("run-", 1)[-1])


# --------------------------------------------------------------------------- web-UI CSV export


def _csv_columns(header: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Run name → [(column index, metric)], without the ``__MIN``/``__MAX`` band columns."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for index, column in enumerate(header[1:], 1):
        if " - " not in column or column.endswith(_CSV_BAND):
            continue
        run, metric = column.rsplit(" - ", 1)
        runs.setdefault(run, []).append((index, metric))
    return runs


def _csv_header(path: Path) -> list[str]:
    with open_text(path) as fh:
        try:
            return next(csv.reader(fh), [])
        except csv.Error as exc:
            raise LogReadError(f"is not CSV ({exc})", source=path) from None


def _read_csv(path: Path, options: ReadOptions) -> Run:
    csv_path, wanted = split_address(path)
    header = _csv_header(csv_path)
    runs = _csv_columns(header)
    if not runs:
        raise LogReadError("no '<run name> - <metric>' columns: not a W&B chart export", source=csv_path,
                           hint="export a line chart from the W&B UI with 'Export panel → CSV'")
    if wanted is not None and wanted not in runs:
        raise LogReadError(f"no run named {wanted!r} in this export (runs: {', '.join(sorted(runs))})",
                           source=csv_path)
    if wanted is None and len(runs) > 1:
        shown = ", ".join(f"{csv_path}#{r}" for r in sorted(runs))
        raise LogReadError(f"the export holds {len(runs)} runs; choose one: {shown}", source=csv_path)
    run_name = wanted or next(iter(runs))
    x_name = header[0].strip()
    x_kind = "step" if x_name.lower() in _CSV_X_STEP else "epoch" if x_name.lower() in _CSV_X_EPOCH else None
    builder = RunBuilder(f"{csv_path}#{run_name}" if len(runs) > 1 else csv_path, "wandb-csv", options)
    if x_kind is None:
        builder.warn(f"x-axis column {x_name!r} is neither a step nor an epoch; kept the row order only")
    bad = 0
    with open_text(csv_path) as fh:
        reader = csv.reader(fh)
        next(reader, None)
        try:
            for row in reader:
                try:
                    x = float(row[0]) if row and row[0].strip() else None
                except ValueError:
                    x = None
                for index, metric in runs[run_name]:
                    cell = row[index].strip() if index < len(row) else ""
                    if not cell:
                        continue
                    try:
                        value = float(cell)
                    except ValueError:
                        bad += 1
                        continue
                    builder.add(metric, value, x if x_kind == "step" else None, x if x_kind == "epoch" else None)
        except csv.Error as exc:
            raise LogReadError(f"broken CSV at line {reader.line_num} ({exc})", source=csv_path) from None
    if bad:
        builder.warn(f"{csv_path}: skipped {bad} cell(s) that are not numbers")
    run = builder.build(name=run_name)
    if not run.series:
        raise LogReadError(f"no values for run {run_name!r} in this export", source=csv_path)
    return run


# --------------------------------------------------------------------------- public entry points


def find_runs(path: Path) -> list[Path]:
    """Every W&B run reachable from ``path``, each as a path :func:`read` or the CSV reader accepts.

    A run folder or ``.wandb`` file is itself; a ``wandb/`` folder (or a project folder with
    one) lists its ``run-*``/``offline-run-*`` folders by start time; a chart export holding
    several runs lists ``export.csv#<run name>`` for each.
    """
    path = Path(path)
    csv_path, fragment = split_address(path)
    try:
        if csv_path.is_file() and csv_path.suffix.lower() == ".csv":
            if fragment:
                return [path]
            runs = sorted(_csv_columns(_csv_header(csv_path)))
            return [csv_path] if len(runs) <= 1 else [Path(f"{csv_path}#{r}") for r in runs]
        if path.is_file() or _is_run_dir(path):
            return [path]
        if not path.is_dir():
            raise LogReadError("no such file or folder", source=path)
        return _run_dirs(path)
    except OSError as exc:
        raise LogReadError(f"cannot list runs: {exc.strerror or exc}", source=path) from None


def read(path: Path, options: ReadOptions | None = None) -> Run:
    """Read one W&B run from a run folder, a ``wandb/`` folder holding one run, or a ``.wandb`` file."""
    options = options or ReadOptions()
    path = Path(path)
    try:
        if path.is_file():
            return _read_log_file(path, options)
        if _is_run_dir(path):
            return _read_run_dir(path, options)
        runs = _run_dirs(path) if path.is_dir() else []
        if len(runs) == 1:
            return _read_run_dir(runs[0], options)
        if not runs:
            raise LogReadError("no W&B run found here", source=path,
                               hint="pass a wandb/run-*/ or wandb/offline-run-*/ folder, or its run-<id>.wandb")
        shown = ", ".join(str(r) for r in runs[:5]) + (", ..." if len(runs) > 5 else "")
        raise LogReadError(f"{len(runs)} W&B runs here; pass one of them or all of them ({shown}); "
                           "wandb/latest-run is the newest", source=path)
    except OSError as exc:
        raise LogReadError(f"cannot read: {exc.strerror or exc}", source=path) from None


def read_history_jsonl(path: Path, options: ReadOptions | None = None) -> Run:
    """Read a legacy (wandb < 0.10) ``wandb-history.jsonl``, with the ``config.yaml`` beside it."""
    path = Path(path)
    builder = RunBuilder(path, "wandb", options)
    _history_jsonl(path, builder)
    return _finish(builder, path, _folder_config(path.parent, builder), _run_id(path.parent), None)


def read_csv_export(path: Path, options: ReadOptions | None = None) -> Run:
    """Read one run of a W&B chart export (``export.csv`` or ``export.csv#<run name>``)."""
    try:
        return _read_csv(Path(path), options or ReadOptions())
    except OSError as exc:
        raise LogReadError(f"cannot read: {exc.strerror or exc}", source=path) from None


def _sniff_folder(path: Path, head: bytes) -> float:
    try:
        if _is_run_dir(path):
            return 1.0 if any(path.glob("run-*.wandb")) else 0.9
        if not path.is_dir() or not _run_dirs(path):
            return 0.0
        # A wandb/ folder is surely ours; a project folder holding one may have other logs too.
        return 0.5 if (path / "wandb").is_dir() else 0.9
    except OSError:
        return 0.0


def _sniff_log(path: Path, head: bytes) -> float:
    if head.startswith(_IDENT):
        return 1.0
    # A damaged or empty run-<id>.wandb still deserves this reader's explanation.
    return 0.6 if path.suffix == ".wandb" else 0.0


def _sniff_history(path: Path, head: bytes) -> float:
    return 0.95 if path.name == "wandb-history.jsonl" else 0.0


def _sniff_csv(path: Path, head: bytes) -> float:
    csv_path, _ = split_address(path)
    if csv_path.suffix.lower() != ".csv":
        return 0.0
    if not head:
        try:
            head = read_head(csv_path, 8192)
        except LogReadError:
            return 0.0
    first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        return 0.0
    if not header or not _csv_columns(header):
        return 0.0
    banded = any(c.endswith(_CSV_BAND) for c in header)
    known_x = header[0].strip().lower() in _CSV_X_STEP | _CSV_X_EPOCH
    return 0.95 if banded else 0.7 if known_x else 0.4


register(LogFormat(
    name="wandb",
    description="Weights & Biases run folder (wandb/run-*/ or wandb/offline-run-*/) or a wandb/ folder",
    sniff=_sniff_folder,
    read=read,
    directory=True,
    find_runs=find_runs,
))
register(LogFormat(
    name="wandb-log",
    description="Weights & Biases transaction log run-<id>.wandb (LevelDB-style records of protobufs)",
    sniff=_sniff_log,
    read=read,
))
register(LogFormat(
    name="wandb-history",
    description="Weights & Biases legacy wandb-history.jsonl (wandb < 0.10)",
    sniff=_sniff_history,
    read=read_history_jsonl,
))
register(LogFormat(
    name="wandb-csv",
    description="Weights & Biases chart export CSV (Step, '<run> - <metric>', __MIN/__MAX columns)",
    sniff=_sniff_csv,
    read=read_csv_export,
    find_runs=find_runs,
))
