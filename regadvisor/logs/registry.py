"""The registry of log formats, and the one builder every reader fills.

A reader is a :class:`LogFormat`: a ``sniff`` that scores how likely a path is in its format
(0 = no, 1 = certainly) from its name and first bytes, and a ``read`` that returns a
:class:`~regadvisor.model.Run`. Readers never name canonical metrics themselves: they hand
raw names to :class:`RunBuilder`, which resolves them through :mod:`.aliases`, so one table
decides what ``val_loss`` means for every format.
"""

from __future__ import annotations

import math
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..model import Run, Series
from .aliases import CANONICAL, MetricName, canonical_name
from .appended import Segments, split


@dataclass(frozen=True)
class ReadOptions:
    """What the user told us about their log: their own metric spellings, and how many reads a
    store of many runs may have in flight (``None``: the format's own choice)."""

    metric_map: dict[str, str] = field(default_factory=dict)
    workers: int | None = None


@dataclass(frozen=True)
class LogFormat:
    """A log format regadvisor can read."""

    name: str
    description: str
    sniff: Callable[[Path, bytes], float]
    read: Callable[[Path, ReadOptions], Run]
    directory: bool = False  # True when the format is a folder (TensorBoard run, mlruns, ...)
    find_runs: Callable[[Path], list[Path]] | None = None  # a store holding several runs lists them
    read_all: Callable[[Any, ReadOptions], list[Run]] | None = None
    """A target that names several runs read together (an MLflow experiment on a server)."""
    scheme: str | None = None  # a URI scheme it reads (``mlflow`` for mlflow://host:port/run)


_FORMATS: dict[str, LogFormat] = {}


def register(fmt: LogFormat) -> LogFormat:
    """Add a format to the registry (called once per reader module at import)."""
    _FORMATS[fmt.name] = fmt
    return fmt


def split_address(path: Path) -> tuple[Path, str | None]:
    """``store#member`` → (``store``, ``member``): one run inside a file that holds several
    (``mlflow.db#<run_id>``, a W&B chart export ``export.csv#<run name>``). A path that exists
    as written is never split, so a file whose name contains ``#`` still reads as itself."""
    text = str(path)
    if "#" in text and not os.path.exists(text):
        base, member = text.rsplit("#", 1)
        return Path(base), member or None
    return Path(path), None


def formats() -> dict[str, LogFormat]:
    """All registered formats by name, importing the built-in reader modules on first use."""
    from . import _builtin  # noqa: F401  (registers the built-in readers)

    return dict(_FORMATS)


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


class RunBuilder:
    """Collects raw (name, value, step, epoch) points and builds a :class:`Run`.

    It resolves names through the alias table, counts non-finite values (kept: they are
    evidence of divergence), prefers the finer-grained of ``train_loss_step`` and
    ``train_loss_epoch`` for the canonical name while keeping the other under its own, and
    promotes the first of several named evaluation sets (``eval_g0_loss``) to ``val_loss``
    when no plain validation loss was logged (or a test set evaluated through training). A
    reader that adds points in file order (``split_runs``) or says where its log starts over
    (:meth:`new_segment`) gets one run per run the file holds (:mod:`.appended`).
    """

    def __init__(self, source: Path | str, fmt: str, options: ReadOptions | None = None, *, split_runs: bool = False):
        self.source = str(source)
        self.format = fmt
        self.options = options or ReadOptions()
        self._series: dict[str, Series] = {}
        self._order: list[str] = []
        self.facts: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.parts: dict[str, str] = {}  # raw name → the canonical loss it is a component of
        self._split = split_runs  # points arrive in file order: find where the count restarts
        self._segments = Segments(detect=split_runs)

    def add(self, raw_name: str, value: float, step: float | None = None, epoch: float | None = None) -> None:
        """Add one point of the metric spelled ``raw_name``."""
        series = self._series.get(raw_name)
        if series is None:
            series = self._new_series(raw_name)
        if self._split:
            self._segments.point(series.name, len(series), step, epoch)
        series.append(value, step, epoch)

    def _new_series(self, raw_name: Any) -> Series:
        """The series for a name not seen yet. A name that is not text (an INTEGER or BLOB key in
        a damaged MLflow database) is turned into text once here, so nothing after has to care."""
        name = raw_name if isinstance(raw_name, str) else (
            raw_name.decode("utf-8", "replace") if isinstance(raw_name, bytes) else str(raw_name))
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = Series(name, original_name=name)
            self._order.append(name)
        self._series[raw_name] = series
        return series

    def extend(self, raw_name: str, values: Any, steps: Any = None, epochs: Any = None) -> None:
        """Add many points of ``raw_name`` at once (columnar readers; NaN where steps/epochs unknown).

        One C-level array operation instead of a Python call per point: 3 M points cost ~1 s
        of CPU through :meth:`add` and ~0.05 s here. ``array('d')`` columns for a name not
        seen yet are adopted, not copied (a third less peak memory on a big log): the caller
        hands them over and must not change them afterwards.
        """
        series = self._series.get(raw_name)
        n = len(values)
        if series is None:
            series = self._new_series(raw_name)
        self._segments.point(series.name, len(series), None, None)
        if not series:
            columns = (values, steps, epochs)
            if all(isinstance(c, array) and c.typecode == "d" and len(c) == n for c in columns if c is not None):
                series.values = values
                series.steps = steps if steps is not None else array("d", [math.nan]) * n
                series.epochs = epochs if epochs is not None else array("d", [math.nan]) * n
                return
        series.values.extend(values)
        series.steps.extend(steps if steps is not None else array("d", [math.nan]) * n)
        series.epochs.extend(epochs if epochs is not None else array("d", [math.nan]) * n)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def new_segment(self) -> None:
        """The log starts over here (a reader saw its header again, or its count restart)."""
        self._segments.new_segment()

    def build(self, name: str | None = None) -> Run:
        """Resolve names and return the run; of a file holding several runs one after another
        (see :mod:`.appended`), the last, with the others as its ``earlier``."""
        series = {raw: self._series[raw] for raw in self._order}
        if not self._segments.several:
            return self._build(series, self.source, list(self.warnings), name)
        found = split(series, self._order, self._segments, self._reference)
        notes = list(self.warnings)
        if found.continued:
            notes.append(f"the epoch or step count starts again {_times(found.continued)} where the loss carries on: "
                         "read as one run resumed, its counts shifted to follow on")
        if len(found.runs) == 1:
            return self._build(found.runs[0], self.source, notes, name)
        n = len(found.runs)
        placed = [f"run {k} of {n} in {self.source}, one after another (the epoch or step count starts again "
                  "where each begins)" for k in range(1, n)]
        placed.append(f"{self.source} holds {n} runs one after another (the epoch or step count starts again); "
                      f"this is the last, #{n}: diagnosing the file judges each, {self.source}#K one of them")
        runs = [self._build(cut, f"{self.source}#{k}", notes + [placed[k - 1]], name)
                for k, cut in enumerate(found.runs, 1)]
        runs[-1].earlier = runs[:-1]
        return runs[-1]

    def _reference(self, order: list[str]) -> tuple[str, bool] | None:
        """The metric that tells a new run from a resumed one, and whether lower is better:
        the training loss, else the validation loss, else an accuracy."""
        names: dict[str, list[tuple[bool, str]]] = {}
        for raw in order:
            m = canonical_name(raw, self.options.metric_map)
            names.setdefault(m.canonical, []).append((m.stand_in, raw))
        for canonical, lower in (("train_loss", True), ("val_loss", True), ("train_acc", False), ("val_acc", False)):
            if canonical in names:
                return min(names[canonical])[1], lower
        return None

    def _build(self, series_by_raw: dict[str, Series], source: str, warnings: list[str], name: str | None) -> Run:
        """Resolve the names of one run's series and return it (``warnings`` is the run's own list)."""
        def note(message: str) -> None:
            if message not in warnings:
                warnings.append(message)

        resolved: dict[str, list[tuple[str, MetricName, Series]]] = {}
        for raw, series in series_by_raw.items():
            m = canonical_name(raw, self.options.metric_map)
            resolved.setdefault(m.canonical, []).append((raw, m, series))
        out: dict[str, Series] = {}
        for canonical, candidates in resolved.items():
            # Finer granularity first: step-level curves carry the noise and spikes we measure;
            # a name that says loss before a regression error standing in for it.
            rank = {"step": 0, None: 1, "epoch": 2}
            candidates.sort(key=lambda c: (c[1].stand_in, rank.get(c[1].granularity, 1), -len(c[2])))
            raw, _, series = candidates[0]
            series.name = canonical
            series.part_of = self.parts.get(raw)
            out[canonical] = series
            for other_raw, m, other in candidates[1:]:
                alt = f"{canonical}_{m.granularity}" if m.granularity else f"{canonical}_{other_raw}"
                other.name = alt
                out.setdefault(alt, other)
        self._mark_parts(out)
        for split_word in ("val", "test"):
            self._promote_named_set(out, split_word, note)
        self._promote_test_to_validation(out, note)
        for canonical, series in out.items():
            # sum() is one C loop (4x cheaper than the generator); only a non-finite total (a
            # NaN/inf, or an overflow) pays for counting point by point.
            bad = 0 if math.isfinite(sum(series.values)) else sum(1 for v in series.values if not math.isfinite(v))
            if bad:
                note(f"{series.original_name}: {bad} NaN/inf value(s)")
        return Run(source, self.format, out, dict(self.facts), warnings, name=name)

    def _first_logged(self, out: dict[str, Series], keys: list[str]) -> str:
        order = {raw: i for i, raw in enumerate(self._order)}
        return min(keys, key=lambda k: order.get(out[k].original_name or k, 0))

    def _mark_parts(self, out: dict[str, Series]) -> None:
        """Without a whole validation loss, ``val/box_loss`` beside ``train/box_loss`` is a part of
        a summed loss (YOLO's box/cls/dfl read from TensorBoard), judged as a part, not an
        evaluation set: a set is evaluated, never trained on."""
        if "val_loss" in out:
            return
        for key, series in out.items():
            if key.startswith("val_") and key.endswith("_loss") and f"train_{key[len('val_'):]}" in out:
                series.part_of = series.part_of or "val_loss"

    def _promote_named_set(self, out: dict[str, Series], split: str, note: Callable[[str], None]) -> None:
        """``eval_g0_loss`` is ``val_loss`` when no plain one was logged, and ``eval_g0_accuracy``,
        from the same set, ``val_acc``: the loss and accuracy judged must come from one set."""
        if f"{split}_loss" in out:
            return
        named = [k for k in out if k.startswith(f"{split}_") and k.endswith("_loss") and k != f"{split}_loss"
                 and out[k].part_of is None]
        if not named:
            return
        first = self._first_logged(out, named)
        out[f"{split}_loss"] = out[first]
        others = ", ".join(out[k].original_name or k for k in sorted(named) if k != first)
        said = (f"several {split} sets logged; using {out[first].original_name} as {split}_loss"
                + (f" (others: {others})" if others else ""))
        prefix = first[: -len("loss")]
        same_set = [k for k in out if k.startswith(prefix)
                    and canonical_name(f"{split}_{k[len(prefix):]}").canonical == f"{split}_acc"]
        if same_set and f"{split}_acc" not in out:
            out[f"{split}_acc"] = out[same_set[0]]
            said += f" and {out[same_set[0]].original_name} as {split}_acc"
        note(said + f"; pick another with --metric {split}_loss=NAME")

    def _promote_test_to_validation(self, out: dict[str, Series], note: Callable[[str], None]) -> None:
        """A test metric evaluated through training is the run's validation when none was logged.

        PyTorch's MNIST example prints ``Test set: Average loss: ...`` after every epoch, and
        DeiT/DETR-style JSON logs write ``test_loss`` per epoch: a held-out set evaluated as
        training goes, which is what validation is. One final test point is not a curve and
        stays a test result.
        """
        if any(k.startswith("val_") for k in out if k in CANONICAL):
            return
        promoted = [k for k in ("test_loss", "test_acc") if k in out and len(out[k]) >= 2]
        for key in promoted:
            out[f"val_{key[len('test_'):]}"] = out[key]
        if promoted:
            names = " and ".join(out[k].original_name or k for k in promoted)
            note(f"no validation metric logged; {names}, evaluated {len(out[promoted[0]])} times during "
                 f"training, {'are' if len(promoted) > 1 else 'is'} judged as validation "
                 "(name another with --metric val_loss=NAME)")
