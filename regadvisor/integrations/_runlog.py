"""What the trainer callbacks share: the log they write, the gradient norm, the closing report.

The log is two files in the run's own folder:

``metrics.jsonl``
    JSON Lines, one object per line, appended while training runs and flushed every
    ``flush_every`` optimizer steps and after every evaluation, so a run killed mid-way leaves
    a file :func:`regadvisor.logs.read.read_log` reads (the JSONL reader skips a last line cut
    off mid-write). Each line has ``step`` (optimizer steps so far) and ``epoch`` and the metrics
    under the names the framework logged them (``train_loss``, ``grad_norm``, ``lr``,
    ``val_loss``, ``eval_accuracy``, ...): regadvisor's alias table maps them, as it does for
    every other format. Non-finite values are written as ``NaN``/``Infinity`` (Python's JSON
    reads them back) because they are the evidence of divergence.
``hparams.yaml``
    The run's hyperparameters as facts (optimizer, weight decay, dropout, batch size, ...), the
    name and shape Lightning's loggers use for the same thing. It is rewritten atomically
    whenever a fact is added.

Values that are tensors are kept as tensors until a flush and then moved to the CPU together,
so the callbacks cost one device synchronisation every ``flush_every`` steps, not one a step.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..model import FAIL_ON, Report
from ..numbers import is_number
from ..output import write_atomic

LOG_NAME = "metrics.jsonl"
FACTS_NAME = "hparams.yaml"


class RegadvisorCheckFailed(RuntimeError):
    """Raised at the end of training when ``fail_on`` is set and a finding at or above it fired."""

    def __init__(self, report: Report, fail_on: str):
        fired = [f.rule_id for f in report.findings if f.fails(fail_on)]
        super().__init__(f"regadvisor: verdict {report.verdict}; {len(fired)} finding(s) at or above "
                         f"{fail_on!r}: {', '.join(fired)}")
        self.report = report
        self.fail_on = fail_on


def check_fail_on(fail_on: str | None) -> str | None:
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)} or None, got {fail_on!r}")
    return None if fail_on == "never" else fail_on


def dataset_size(dataset: Any) -> int | None:
    """``len(dataset)``, or None for no dataset or an iterable one without a length (streaming)."""
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:
        return None


def next_version_dir(root: Path) -> Path:
    """``root/version_N`` with N one past the highest present, as Lightning's loggers number runs."""
    versions = [int(p.name[8:]) for p in root.glob("version_*") if p.name[8:].isdigit()] if root.is_dir() else []
    return root / f"version_{max(versions, default=-1) + 1}"


def scalar_facts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Plain YAML-safe scalars only (numbers, strings, booleans); tensors and numpy scalars unwrapped."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
            try:
                value = value.item()
            except (RuntimeError, ValueError):
                continue
        if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
            out[str(key)] = value
        elif isinstance(value, float):
            out[str(key)] = value if math.isfinite(value) else str(value)
    return out


def global_grad_norm(parameters) -> Any:
    """The L2 norm of all gradients together, as a 0-d tensor (None when no parameter has one).

    ``torch.nn.utils.get_total_norm`` (torch >= 2.6) is the norm ``clip_grad_norm_`` computes:
    one fused ``_foreach_norm`` per device and dtype, then the norm of those norms. No ``.item()``
    here: the value is synchronised at the next flush.
    """
    import torch

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    grads = [g.coalesce().values() if g.is_sparse else g for g in grads]
    total = getattr(torch.nn.utils, "get_total_norm", None)
    if total is not None:
        return total(grads, 2.0).detach()
    norms = torch._foreach_norm(grads)
    device = norms[0].device
    return torch.linalg.vector_norm(torch.stack([n.to(device, torch.float32) for n in norms])).detach()


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


class RunLog:
    """An append-only JSON Lines metrics log and its ``hparams.yaml``, in one folder."""

    def __init__(self, path: str | Path, flush_every: int = 20):
        self.path = Path(path)
        self.facts_path = self.path.parent / FACTS_NAME
        self.flush_every = max(1, int(flush_every))
        self.facts: dict[str, Any] = {}
        self._pending: list[dict[str, Any]] = []
        self._file: TextIO | None = None
        self.records = 0

    def open(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
        return self

    def add(self, record: Mapping[str, Any], *, flush: bool = False) -> None:
        """Queue one record (values: numbers or 0-d tensors; None values are dropped)."""
        if self._file is None:
            return
        self._pending.append({k: v for k, v in record.items() if v is not None})
        if flush or len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the queued records, moving their tensors to the CPU in one transfer."""
        if self._file is None or not self._pending:
            return
        tensors = [(i, k, v) for i, rec in enumerate(self._pending) for k, v in rec.items() if _is_tensor(v)]
        if tensors:
            values = _to_floats([v for _, _, v in tensors])
            for (i, k, _), value in zip(tensors, values):
                self._pending[i][k] = value
        lines = []
        for rec in self._pending:
            clean = {k: _json_value(v) for k, v in rec.items()}
            lines.append(json.dumps({k: v for k, v in clean.items() if v is not None}) + "\n")
        self._file.write("".join(lines))
        self._file.flush()
        self.records += len(self._pending)
        self._pending.clear()

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self.flush()
        finally:
            self._file.close()
            self._file = None

    def add_facts(self, facts: Mapping[str, Any]) -> None:
        """Merge facts (first value for a name wins) and rewrite ``hparams.yaml`` atomically."""
        changed = False
        for key, value in scalar_facts(facts).items():
            if key not in self.facts:
                self.facts[key] = value
                changed = True
        if changed and self._file is not None:
            self.write_facts()

    def write_facts(self) -> None:
        import yaml

        self.facts_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.facts_path, yaml.safe_dump(dict(sorted(self.facts.items())), sort_keys=True),
                     what="the run's facts")


def _to_floats(tensors: list[Any]) -> list[float]:
    import torch

    flat = [t.detach().reshape(-1)[:1].float() for t in tensors]
    try:
        return torch.cat(flat).cpu().tolist()
    except RuntimeError:  # tensors on several devices: one transfer per tensor
        return [t.cpu().item() for t in flat]


def _json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        try:
            value = value.item()
        except (TypeError, ValueError):
            return None
        return value if is_number(value) else None
    return None


def report_on(log: RunLog, *, print_report: bool = True, fail_on: str | None = None,
              stream: TextIO | None = None) -> Report | None:
    """Read the finished log back the way ``regadvisor diagnose`` does, judge it, print the report.

    The project's settings (``.regadvisor.yaml`` / ``[tool.regadvisor]`` found from the working
    directory) apply as they would on the command line. Facts the callback collected fill in
    what the reader did not find. A log that cannot be judged (nothing logged, a broken
    project config) prints why and returns None: training is never failed for that.
    """
    from ..api import analyze, load_ruleset, read
    from ..config import load_settings
    from ..errors import UserError
    from ..logs.facts import add_facts
    from ..render.terminal import render

    stream = stream if stream is not None else sys.stdout
    try:
        settings = load_settings()
        ruleset = load_ruleset(settings=settings)
        run = read(log.path, metrics=settings.metrics)
    except UserError as exc:
        if print_report:
            stream.write(f"regadvisor: no report for {log.path}: {exc}\n")
            stream.flush()
        return None
    add_facts(run.facts, log.facts)
    report = analyze(run, ruleset)
    if print_report:
        color = bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")
        width = max(80, min(120, shutil.get_terminal_size((100, 24)).columns))
        stream.write(render(report, color=color, width=width))
        stream.write(f"regadvisor: log written to {log.path}; `regadvisor diagnose {log.path}` reads it again\n")
        stream.flush()
    if fail_on is not None and any(f.fails(fail_on) for f in report.findings):
        raise RegadvisorCheckFailed(report, fail_on)
    return report


class LogSession:
    """What both trainer callbacks share: their settings, the log they write, the final report.

    A callback calls :meth:`_configure` from its ``__init__``, :meth:`_start` when training
    begins (main process only) and :meth:`_finish` when it ends.
    """

    def _configure(self, path: str | Path | None, print_report: bool, fail_on: str | None,
                   flush_every: int, stream: TextIO | None) -> None:
        self.path = Path(path) if path is not None else None
        self.print_report = print_report
        self.fail_on = check_fail_on(fail_on)
        self.flush_every = flush_every
        self.stream = stream
        self.report: Report | None = None
        self.log_path: Path | None = None
        self._log: RunLog | None = None

    def _start(self, root: Path, facts: dict[str, Any]) -> None:
        """Open ``self.path`` or ``root/regadvisor_logs/version_N/metrics.jsonl`` and write the facts."""
        path = self.path or next_version_dir(root / "regadvisor_logs") / LOG_NAME
        self._log = RunLog(path, self.flush_every).open()
        self.log_path = path
        self._log.add_facts(facts)
        self._log.write_facts()

    def _finish(self) -> None:
        """Close the log and judge it (prints, or raises :class:`RegadvisorCheckFailed` per ``fail_on``)."""
        if self._log is None:
            return
        log, self._log = self._log, None
        log.close()
        self.report = report_on(log, print_report=self.print_report, fail_on=self.fail_on, stream=self.stream)
