"""The CSV family: Lightning ``metrics.csv``, Keras CSVLogger/history, fastai, YOLO, generic CSV.

They share one streaming core (:func:`_read_csv`): each format only decides, from the header,
a :class:`_Plan` (which column is the step, which the epoch, which columns are metrics and under
what raw name, which are summed, and, for Lightning, which are training and which validation).
Rows are streamed with the ``csv`` module, values appended to one array per metric and handed to
the :class:`RunBuilder` with one ``extend`` each; no per-row dict is built, so a million-row
Lightning log reads in about a second (``benchmarks/bench_diagnose.py``).
"""

from __future__ import annotations

import csv
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LogReadError
from ..model import NAN, Run
from ._io import (
    BOOKKEEPING_NAMES,
    EPOCH_NAMES,
    STEP_NAMES,
    check_text,
    head_text,
    open_text,
    require_metrics,
)
from .aliases import _SPLIT_WORDS, canonical_name, normalise
from .appended import restarts
from .facts import add_sidecar_facts
from .registry import LogFormat, ReadOptions, RunBuilder, register

# Cells frameworks write for "no value this row" (fastai writes #na# before the first validation).
_MISSING = {"#na#", "na", "n/a", "none", "null", "-"}

_PLAIN, _TRAIN, _EVAL = 0, 1, 2


@dataclass
class _Plan:
    """How one CSV layout becomes points: decided from the header, applied to every row."""

    metrics: list[tuple[int, str, int]]  # (column, raw metric name, role)
    step: int | None = None
    epoch: int | None = None
    epoch_is_row: bool = False  # Keras history without a usable epoch column: row i is epoch i
    restarts: str | None = None  # runs appended one after another: "back" (a count falls back) or
    # "repeat" (one row per epoch, so the same epoch again starts over too); None: one run a file
    sums: list[tuple[str, list[int]]] = field(default_factory=list)  # YOLO: name ← sum of columns
    parts: dict[str, str] = field(default_factory=dict)  # YOLO: column → the loss it is a component of


def _key(cell: str) -> str:
    return cell.strip().lower()


def _split_header(header: list[str], options: ReadOptions) -> tuple[int | None, int | None, list[int]]:
    """Find the step and epoch columns; the remaining non-bookkeeping columns are metrics."""
    mapped = set(options.metric_map.values())
    step = epoch = None
    metrics = []
    for i, cell in enumerate(header):
        key = _key(cell)
        if cell in mapped:
            metrics.append(i)
        elif key in STEP_NAMES and step is None:
            step = i
        elif key in EPOCH_NAMES and epoch is None:
            epoch = i
        elif key and key not in BOOKKEEPING_NAMES:
            metrics.append(i)
    return step, epoch, metrics


def _generic_plan(header: list[str], options: ReadOptions) -> _Plan:
    step, epoch, metrics = _split_header(header, options)
    return _Plan([(i, header[i], _PLAIN) for i in metrics], step=step, epoch=epoch, restarts="back")


def _lightning_plan(header: list[str], options: ReadOptions) -> _Plan:
    """Training columns and validation columns get roles: validation values wait until the next
    training value proves training went on after them (see :func:`_finish_held`)."""
    plan = _generic_plan(header, options)
    plan.restarts = None  # each run writes its own version_N/metrics.csv
    roles = []
    for i, name, _ in plan.metrics:
        canonical = canonical_name(name, options.metric_map).canonical
        role = _TRAIN if canonical.startswith("train_") else _EVAL if canonical.startswith("val_") else _PLAIN
        roles.append((i, name, role))
    plan.metrics = roles
    return plan


def _keras_plan(header: list[str], options: ReadOptions) -> _Plan:
    plan = _generic_plan(header, options)
    if plan.epoch is None and not header[0]:
        # pandas.DataFrame(history.history).to_csv(): an unnamed index column, 0..n-1.
        plan.epoch = 0
    if plan.epoch is None:
        plan.epoch_is_row = True
    plan.restarts = "repeat"  # CSVLogger(append=True) starts the epoch again at 0 on every fit()
    return plan


def _fastai_plan(header: list[str], options: ReadOptions) -> _Plan:
    """fastai's Recorder writes metrics (``accuracy``, ``error_rate``) without a split word, but
    computes them on the validation set, so they are read as ``valid_<name>``."""
    plan = _generic_plan(header, options)
    plan.restarts = "repeat"  # CSVLogger(append=True) writes its header again and restarts the epoch
    mapped = set(options.metric_map.values())
    renamed = []
    for i, name, role in plan.metrics:
        words = normalise(name).split("_")
        if words[0] not in _SPLIT_WORDS and words[-1] not in _SPLIT_WORDS and name not in mapped:
            name = f"valid_{name.strip()}"
        renamed.append((i, name, role))
    plan.metrics = renamed
    return plan


# YOLOv10 trains two heads and logs each one's parts: ``box_om`` (one-to-many, the training
# head) and ``box_oo`` (one-to-one, the NMS-free head it deploys) (Wang et al. 2024, YOLOv10,
# arXiv:2405.14458, §3.1). The one-to-one head is the model that is used, so it is judged.
_YOLO_PART_SUFFIXES = ("_loss", "_oo")


def _yolo_plan(header: list[str], options: ReadOptions) -> _Plan:
    """Ultralytics logs box, class and DFL (and seg/pose) losses separately. Their training sum is
    the objective it minimises, so it becomes ``train/loss``; on validation they are judged one
    by one, since they can move in opposite directions (box +13%, dfl +11%, cls −24% in one run),
    and the run is monitored by mAP50-95, by which Ultralytics itself picks its best checkpoint."""
    plan = _generic_plan(header, options)
    plan.restarts = None  # a resumed training continues its epochs; a new one writes train2/
    for split in ("train", "val"):
        parts = [(i, name) for i, name, _ in plan.metrics
                 if _key(name).startswith(f"{split}/") and _key(name).endswith(_YOLO_PART_SUFFIXES)]
        plan.parts.update({name: f"{split}_loss" for _, name in parts})
        if parts and split == "train":
            plan.sums.append((f"{split}/loss", [i for i, _ in parts]))
    return plan


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _read_csv(path: Path, fmt: str, options: ReadOptions, make_plan) -> RunBuilder:
    """Stream ``path`` into a RunBuilder according to the plan ``make_plan`` draws from its header."""
    check_text(path)
    builder = RunBuilder(path, fmt, options)
    with open_text(path) as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(reader, None)
            if header is None:
                raise LogReadError("is empty", source=path, hint="pass a log that has data")
            header = [c.strip() for c in header]
            plan = make_plan(header, options)
            require_metrics(path, [name for _, name, _ in plan.metrics] + [name for name, _ in plan.sums],
                            options.metric_map, columns=header, counted=plan.step is not None or plan.epoch is not None)
            _stream(reader, header, plan, builder, path)
            builder.parts.update(plan.parts)
        except csv.Error as exc:
            raise LogReadError(f"is not a well-formed CSV file (line {reader.line_num}: {exc})", source=path,
                               hint="check the file, or pass --log-format for another format") from None
    return builder


class _Columns:
    """Points gathered per metric in local arrays and handed to the builder with one ``extend``
    each: a bound ``array.append`` per value instead of a method call per point."""

    def __init__(self) -> None:
        self.arrays: dict[str, tuple[array, array, array]] = {}

    def appenders(self, name: str):
        values, steps, epochs = self.arrays.setdefault(name, (array("d"), array("d"), array("d")))
        return values.append, steps.append, epochs.append

    def add(self, name: str, value: float, step: float, epoch: float) -> None:
        put_value, put_step, put_epoch = self.appenders(name)
        put_value(value)
        put_step(step)
        put_epoch(epoch)

    def hand_to(self, builder: RunBuilder) -> None:
        for name, (values, steps, epochs) in self.arrays.items():
            if values:
                builder.extend(name, values, steps, epochs)


def _bind(plan: _Plan):
    """Fresh columns and the bound appenders of every metric and sum the plan reads."""
    columns = _Columns()
    cols = [(i, role, name, *columns.appenders(name)) for i, name, role in plan.metrics]
    sums = [(name, parts, columns.appenders(name)) for name, parts in plan.sums]
    return columns, cols, sums


def _next_segment(columns: _Columns, builder: RunBuilder, plan: _Plan):
    """The log starts over: what was gathered goes to the builder as one segment (see .appended)."""
    columns.hand_to(builder)
    builder.new_segment()
    return _bind(plan)


def _value(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return NAN


def _ragged_row(row: list[str], line: int, width: int, short: tuple[int, int] | None,
                path: Path) -> tuple[int, int] | None:
    """A row whose cell count differs from the header's, or any row after one: a blank row is
    skipped; the last line of a log still being written is skipped too (returned, to warn
    about); a row after such a line is an error."""
    if not any(c.strip() for c in row):
        return short
    if short is not None:
        raise LogReadError(f"line {short[0]} has {short[1]} cells but the header has {width}, and rows follow it",
                           source=path, hint="repair the file, or pass the log of a single run")
    return (line, len(row))


class _Segments:
    """Where an appended log starts over (see .appended): the header written again (fastai), or
    an epoch or step count that falls back to where the current segment began."""

    def __init__(self, plan: _Plan, header: list[str]) -> None:
        self.header, self.repeat = header, plan.restarts == "repeat"
        self.counts = (plan.step is not None, plan.epoch is not None)
        self.first: tuple[float, float] | None = None  # (epoch, step) where the current segment began
        self.last_epoch = self.last_step = NAN

    def starts(self, row: list[str], step: float, epoch: float) -> str | None:
        """``"header"`` (a header row: skip it), ``"restart"`` (this row begins a new run) or None."""
        unreadable = (self.counts[0] and step != step) or (self.counts[1] and epoch != epoch)
        if unreadable and [c.strip() for c in row] == self.header:
            self.first, self.last_epoch, self.last_step = None, NAN, NAN
            return "header"
        restart = None
        if (epoch < self.last_epoch or step < self.last_step or (self.repeat and epoch == self.last_epoch)) \
                and restarts((epoch, step), (self.last_epoch, self.last_step), self.first, repeat=self.repeat):
            restart, self.first = "restart", None
        if self.first is None:
            self.first = (epoch, step)
        self.last_epoch, self.last_step = epoch, step
        return restart


def _stream(reader, header: list[str], plan: _Plan, builder: RunBuilder, path: Path) -> None:
    """The hot loop: one pass, one ``float()`` per non-empty cell, values appended to arrays."""
    width = len(header)
    columns, cols, sums = _bind(plan)
    si, ei, epoch_is_row = plan.step, plan.epoch, plan.epoch_is_row
    segments = _Segments(plan, header) if plan.restarts is not None else None
    pending: list[tuple[str, float, float, float]] = []
    last_train_epoch = last_eval_step = NAN
    non_numeric: dict[int, int] = {}
    short = None
    rows = 0
    step = epoch = NAN
    epoch_cell = None
    for row in reader:
        if len(row) != width or short is not None:
            short = _ragged_row(row, reader.line_num, width, short, path)
            continue
        if si is not None:
            step = _value(row[si])
        if epoch_is_row:
            epoch = float(rows)
        elif ei is not None and row[ei] != epoch_cell:
            # Epoch cells repeat for thousands of rows: convert each distinct one once.
            epoch_cell = row[ei]
            epoch = _value(epoch_cell)
        if segments is not None and (starts := segments.starts(row, step, epoch)):
            columns, cols, sums = _next_segment(columns, builder, plan)
            if starts == "header":
                continue
        rows += 1
        for i, role, name, put_value, put_step, put_epoch in cols:
            cell = row[i]
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError:
                _count_non_numeric(cell, i, non_numeric)
                continue
            if role == _EVAL:
                pending.append((name, value, step, epoch))
                continue
            if role == _TRAIN:
                if pending:  # training went on: the validation values held back were part of it
                    last_eval_step = _release(pending, columns)
                last_train_epoch = epoch
            put_value(value)
            put_step(step)
            put_epoch(epoch)
        if sums:
            _add_sums(sums, row, step, epoch)
    _finish(_Ending(rows, short, pending, last_train_epoch, last_eval_step, non_numeric), header, plan,
            columns, builder, path)


def _count_non_numeric(cell: str, column: int, counts: dict[int, int]) -> None:
    """A cell that is neither a number nor a missing-value marker ('nan', 'None', ...) is counted."""
    if cell.strip().lower() not in _MISSING:
        counts[column] = counts.get(column, 0) + 1


def _release(pending: list[tuple[str, float, float, float]], columns: _Columns) -> float:
    """Validation values held back until training went on: they are points of the run. Returns
    the step of the last one."""
    for point in pending:
        columns.add(*point)
    step = pending[-1][2]
    pending.clear()
    return step


def _add_sums(sums, row: list[str], step: float, epoch: float) -> None:
    """Loss parts summed into a whole loss where every part is a number on this row."""
    for _, parts, (put_value, put_step, put_epoch) in sums:
        values = [v for v in (_number(row[i]) for i in parts) if v is not None]
        if len(values) == len(parts):
            put_value(sum(values))
            put_step(step)
            put_epoch(epoch)


@dataclass
class _Ending:
    """What the hot loop leaves to be reported once it ends."""

    rows: int
    short: tuple[int, int] | None
    pending: list[tuple[str, float, float, float]]
    last_train_epoch: float
    last_eval_step: float
    non_numeric: dict[int, int]


def _finish(end: _Ending, header: list[str], plan: _Plan, columns: _Columns, builder: RunBuilder,
            path: Path) -> None:
    """The log's end: an empty or cut-off log said so, held validation values judged, the
    columns handed to the builder, non-numeric cells counted."""
    if end.rows == 0 and end.short is not None:
        raise LogReadError(f"has a header but no data rows, only an incomplete line {end.short[0]}", source=path,
                           hint="the run may still be writing it; pass a log with data")
    if end.rows == 0:
        # The run has started and named its metrics, but logged nothing yet: a report can say so.
        builder.warn("has a header but no data rows yet: the run has not logged a value")
        for _, name, _ in plan.metrics:
            builder.extend(name, array("d"))
    if end.short is not None:
        builder.warn(f"the last row (line {end.short[0]}) has {end.short[1]} of {len(header)} cells and was skipped "
                     "(the run may still be writing)")
    if end.pending:
        _finish_held(end.pending, end.last_train_epoch, end.last_eval_step, columns, builder)
    columns.hand_to(builder)
    for i, count in sorted(end.non_numeric.items()):
        builder.warn(f"column {header[i]!r}: {count} non-numeric cell(s) ignored")


def _finish_held(pending, last_train_epoch: float, last_eval_step: float, columns: _Columns,
                 builder: RunBuilder) -> None:
    """Validation logged after training ended (``trainer.validate()`` after ``fit``) is not a
    point of the training curve: Lightning logs it one epoch past the last trained epoch, or at
    a step already evaluated (when ``max_steps`` ended training mid-epoch). Those points are set
    aside with a warning; the rest are kept. (Comparisons with NaN, an unknown step or epoch,
    are false: nothing is set aside on a guess.)"""
    aside = []
    kept_step: dict[str, float] = {}
    for point in pending:
        name, _, step, epoch = point
        if epoch > last_train_epoch or step <= last_eval_step or step <= kept_step.get(name, NAN):
            aside.append(point)
        else:
            columns.add(*point)
            kept_step[name] = step
    if aside:
        shown = ", ".join(f"{name}={value:.4g}" for name, value, _, _ in aside)
        builder.warn(f"set aside {len(aside)} validation value(s) logged after training ended ({shown}): "
                     "a post-fit validate()/test(), not training progress")


def _header(head: bytes) -> tuple[list[str], list[str] | None] | None:
    """The header and first data row of a CSV, when ``head`` looks like one."""
    text = head_text(head)
    if text is None:
        return None
    lines = [line for line in text.splitlines() if line.strip()][:2]
    if not lines:
        return None
    rows = list(csv.reader(lines))
    header = [c.strip() for c in rows[0]]
    if len(header) < 2 or any(c.replace(".", "", 1).isdigit() for c in header if c):
        return None
    if len(rows) > 1:
        first = rows[1]
        numeric = sum(1 for c in first
                      if not c.strip() or _number(c.strip()) is not None or c.strip().lower() in _MISSING)
        if len(first) != len(header) or numeric * 2 < len(first):
            return None
        return header, first
    return header, None


def _keys(head: bytes) -> set[str] | None:
    parsed = _header(head)
    return None if parsed is None else {_key(c) for c in parsed[0]}


def _sniff_lightning(path: Path, head: bytes) -> float:
    keys = _keys(head)
    if not keys or not {"step", "epoch"} <= keys:
        return 0.0
    return 0.95 if path.name == "metrics.csv" else 0.7


def _sniff_keras(path: Path, head: bytes) -> float:
    parsed = _header(head)
    if parsed is None:
        return 0.0
    header = parsed[0]
    keys = {_key(c) for c in header}
    if "step" in keys or not keys & {"loss", "val_loss"}:
        return 0.0
    return 0.8 if _key(header[0]) in ("epoch", "") else 0.6


def _sniff_fastai(path: Path, head: bytes) -> float:
    parsed = _header(head)
    if parsed is None:
        return 0.0
    keys = [_key(c) for c in parsed[0]]
    # fastai's Recorder ends every row with the epoch's wall time; without that column the same
    # names are just as likely a pandas DataFrame.to_csv(index=False), left to the generic reader
    fastai = keys[0] == "epoch" and "train_loss" in keys and "valid_loss" in keys and keys[-1] == "time"
    return 0.9 if fastai else 0.0


def _sniff_yolo(path: Path, head: bytes) -> float:
    keys = _keys(head)
    if not keys or "epoch" not in keys or not any(k.startswith("train/") and k.endswith(_YOLO_PART_SUFFIXES)
                                                  for k in keys):
        return 0.0
    return 0.95 if path.name == "results.csv" else 0.85


def _sniff_csv(path: Path, head: bytes) -> float:
    return 0.3 if _header(head) is not None else 0.0


def read_lightning(path: Path, options: ReadOptions) -> Run:
    """Lightning CSVLogger: step/epoch columns, one row per ``log`` call, empty cells elsewhere;
    ``hparams.yaml`` beside it gives the facts."""
    builder = _read_csv(path, "lightning", options, _lightning_plan)
    add_sidecar_facts(builder, path.parent / "hparams.yaml")
    return builder.build()


def read_keras(path: Path, options: ReadOptions) -> Run:
    """Keras CSVLogger, or a ``history.history`` saved as CSV (unprefixed metrics are training)."""
    return _read_csv(path, "keras", options, _keras_plan).build()


def read_fastai(path: Path, options: ReadOptions) -> Run:
    """fastai CSVLogger: ``epoch,train_loss,valid_loss,<metrics...>,time``."""
    return _read_csv(path, "fastai", options, _fastai_plan).build()


def read_yolo(path: Path, options: ReadOptions) -> Run:
    """Ultralytics ``results.csv`` (padded column names); ``args.yaml`` beside it gives the facts."""
    builder = _read_csv(path, "yolo", options, _yolo_plan)
    add_sidecar_facts(builder, path.parent / "args.yaml")
    return builder.build()


def read_generic_csv(path: Path, options: ReadOptions) -> Run:
    """Any CSV with a header: ``step``/``epoch`` columns if present, every other column a metric."""
    return _read_csv(path, "csv", options, _generic_plan).build()


register(LogFormat("lightning", "PyTorch Lightning CSVLogger metrics.csv", _sniff_lightning, read_lightning))
register(LogFormat("keras", "Keras CSVLogger or history saved as CSV", _sniff_keras, read_keras))
register(LogFormat("fastai", "fastai CSVLogger history.csv", _sniff_fastai, read_fastai))
register(LogFormat("yolo", "Ultralytics YOLO results.csv", _sniff_yolo, read_yolo))
register(LogFormat("csv", "any CSV with a header row of metric names", _sniff_csv, read_generic_csv))
