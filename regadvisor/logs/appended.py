"""Several runs in one file: where a log starts over, and whether that is a new run.

Keras' ``CSVLogger(append=True)`` restarts its epoch column at 0 on every ``fit()``, fastai's
writes its header again, and a shell loop that appends the stdout of many trainings to one file
restarts the step count for each. A point whose position (epoch, step) falls back to where its
metric's current segment began, or before, opens a new *segment*; a reader that sees a boundary
itself (a repeated header) opens one directly.

A segment is a **new run** when its first loss gives back more than half of what the run so far
had learned: a fresh model starts near where the old one started. Otherwise it **continues** the
run (a resumed ``fit``, a loop of one-epoch fits whose epoch stays 0) and its epochs and steps are
shifted to follow on. Points reach :class:`Segments` in file order, so a metric logged without a
step (a test line) belongs to the segment open when it was logged.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Callable

from ..model import Series

NAN = math.nan
Position = tuple[float, float]  # (epoch, step), NaN where unknown


def before(a: Position, b: Position) -> bool:
    """Whether position ``a`` comes before ``b``: by epoch where both are known and differ, else
    by step; an unknown part is never compared (two positions without either are not ordered)."""
    if a[0] == a[0] and b[0] == b[0] and a[0] != b[0]:
        return a[0] < b[0]
    return a[1] == a[1] and b[1] == b[1] and a[1] < b[1]


def restarts(position: Position, last: Position | None, first: Position | None, *, repeat: bool = False) -> bool:
    """Whether ``position``, after ``last``, starts the count again: it falls back to ``first``
    (where the current segment began) or before it. With ``repeat`` the same epoch again counts
    too: a log with one row per epoch (Keras, fastai) never logs an epoch twice within a run."""
    if last is None or first is None:
        return False
    back = before(position, last) or (repeat and position[0] == last[0])  # NaN == NaN is false
    return back and not before(first, position)


@dataclass
class Segments:
    """Where each metric's points of each segment begin, as points arrive in file order."""

    detect: bool = False  # find restarts from the positions (readers that add point by point)
    starts: list[dict[str, int]] = field(default_factory=lambda: [{}])
    _first: dict[str, Position] = field(default_factory=dict)
    _last: dict[str, Position] = field(default_factory=dict)

    def point(self, name: str, index: int, step: float | None, epoch: float | None) -> None:
        """Point ``index`` of metric ``name`` was added at (``epoch``, ``step``)."""
        opened = self.starts[-1]
        if self.detect:
            position = (NAN if epoch is None else epoch, NAN if step is None else step)
            if name in opened and restarts(position, self._last.get(name), self._first.get(name)):
                self.new_segment()
                opened = self.starts[-1]
            if name not in opened:
                self._first[name] = position
            self._last[name] = position
        if name not in opened:
            opened[name] = index

    def new_segment(self) -> None:
        if self.starts[-1]:
            self.starts.append({})

    @property
    def several(self) -> bool:
        return len(self.starts) > 1


@dataclass
class Split:
    """The runs a file holds: each a mapping raw name → its points, and how many restarts continued."""

    runs: list[dict[str, Series]]
    continued: int


def split(series: dict[str, Series], order: list[str], segments: Segments,
          reference: Callable[[list[str]], tuple[str, bool] | None]) -> Split:
    """Group ``segments`` into runs (see the module docstring) and cut every series to match.

    ``reference(names)`` picks the metric the new-run test reads and whether lower is better
    (training loss first), or None when no metric can tell.
    """
    starts = [s for s in segments.starts if s]
    bounds = _bounds(series, order, starts)
    chosen = reference(order)
    groups: list[list[int]] = [[0]]
    for i in range(1, len(starts)):
        if chosen is not None and _continues(series[chosen[0]], chosen[0], chosen[1], bounds, groups[-1], i):
            groups[-1].append(i)
        else:
            groups.append([i])
    runs = [_cut(series, order, bounds, group) for group in groups]
    return Split(runs, sum(len(g) - 1 for g in groups))


def _bounds(series: dict[str, Series], order: list[str],
            starts: list[dict[str, int]]) -> list[dict[str, tuple[int, int]]]:
    """For each segment, each metric's [begin, end) in its series."""
    out: list[dict[str, tuple[int, int]]] = [{} for _ in starts]
    for name in order:
        present = [(i, s[name]) for i, s in enumerate(starts) if name in s]
        for k, (i, begin) in enumerate(present):
            end = present[k + 1][1] if k + 1 < len(present) else len(series[name])
            if end > begin:
                out[i][name] = (begin, end)
    return out


def _continues(ref: Series, name: str, lower_better: bool, bounds, group: list[int], segment: int) -> bool:
    """Whether ``segment`` carries on the run made of ``group``: the first value of metric ``name``
    (``ref``) has not given back more than half of what the run had learned (start → lowest so far)."""
    sign = 1.0 if lower_better else -1.0
    so_far = [sign * v for i in group if name in bounds[i] for v in _values(ref, bounds[i][name])]
    if not so_far or name not in bounds[segment]:
        return False
    first = sign * ref.values[bounds[segment][name][0]]
    low = min(so_far)
    return math.isfinite(first) and first <= low + 0.5 * (so_far[0] - low)


def _values(s: Series, span: tuple[int, int]) -> list[float]:
    return [v for v in s.values[span[0]:span[1]] if math.isfinite(v)]


def _cut(series: dict[str, Series], order: list[str], bounds, group: list[int]) -> dict[str, Series]:
    """One run's series: its segments' points, each continued one shifted to follow on."""
    out: dict[str, Series] = {}
    for k, i in enumerate(group):
        epoch_shift = _shift(out.values(), series, bounds[i], "epochs") if k else 0.0
        step_shift = _shift(out.values(), series, bounds[i], "steps") if k else 0.0
        for name, (begin, end) in bounds[i].items():
            source = series[name]
            cut = out.get(name)
            if cut is None:
                cut = out[name] = Series(source.name, original_name=source.original_name, part_of=source.part_of)
            cut.values.extend(source.values[begin:end])
            cut.steps.extend(array("d", (s + step_shift for s in source.steps[begin:end])))
            cut.epochs.extend(array("d", (e + epoch_shift for e in source.epochs[begin:end])))
    return {name: out[name] for name in order if name in out}


def _shift(done, series: dict[str, Series], segment: dict[str, tuple[int, int]], attr: str) -> float:
    """What to add to ``segment``'s epochs (or steps) so that it follows what the run holds so far:
    its first epoch one past their last; its first step one spacing (its own first step) past."""
    previous = [x for s in done for x in getattr(s, attr) if x == x]
    new = [x for name, (b, e) in segment.items() for x in getattr(series[name], attr)[b:e] if x == x]
    if not previous or not new:
        return 0.0
    first = min(new)
    spacing = 1.0 if attr == "epochs" or first <= 0 else first
    return max(previous) + spacing - first
