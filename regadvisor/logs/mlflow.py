"""MLflow runs: the file store (``mlruns/``), the SQLite backend (``mlflow.db``) and a server.

MLflow keeps one run in three different places depending on the tracking URI, and regadvisor
reads all three without importing ``mlflow`` (a 100+ MB install with its own pins):

* **File store** (``file:./mlruns``, MLflow's default before 3.0; MLflow ≥ 3 asks for
  ``MLFLOW_ALLOW_FILE_STORE=true``): ``mlruns/<experiment_id>/<run_id>/`` holds ``meta.yaml``
  (run name, numeric status), ``metrics/<key>`` (one ``timestamp value step`` line per logged
  point; a key with ``/`` becomes nested folders), ``params/<key>`` (the value as text) and
  ``tags/mlflow.runName``. Layout as written by ``mlflow/store/tracking/file_store.py``.
* **SQLite backend** (``sqlite:///mlflow.db``, the default since MLflow 3.0): tables
  ``runs`` (``run_uuid``, ``name``, ``status``, ``lifecycle_stage``, ``experiment_id``),
  ``metrics`` (``key``, ``value``, ``timestamp``, ``step``, ``run_uuid``, ``is_nan``),
  ``params`` and ``experiments``, read with :mod:`sqlite3` through a read-only URI so that a
  live server's database is never locked for writing or modified.
* **Tracking server** (``mlflow://host:port/<run-id>``,
  ``mlflow://host:port/<experiment-name>/<run-name>``, or ``mlflow://host:port/<experiment-name>``
  for every run of an experiment): its REST API, read by :mod:`regadvisor.logs.mlflow_server`.

Addressing runs. A run folder is read as it is. A folder holding several runs (an experiment,
an ``mlruns/`` root, or a project folder with ``mlruns/`` or ``mlflow.db`` in it) and a
database holding several runs are listed by :func:`find_runs`; one run inside a database is
addressed as ``path/to/mlflow.db#<run_id>`` (or ``#<run name>`` when that name is unique).

Two MLflow storage conventions matter for the numbers: SQL stores keep NaN as ``value=0,
is_nan=1`` and clamp ±inf to ±``sys.float_info.max`` (``sqlalchemy_store.log_metric``), so both
are turned back into NaN/±inf here, because non-finite losses are evidence of divergence. A
metric named ``epoch`` (logged by Lightning's ``MLFlowLogger`` and HF's ``MLflowCallback``
next to the global step) is not a curve: it maps each step to its epoch.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from ..errors import LogReadError
from ..files import read_capped
from ..model import Run
from ..safe_yaml import read_yaml
from ._io import open_text
from .facts import add_facts
from .registry import LogFormat, ReadOptions, RunBuilder, register, split_address

_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
"""``RunStatus`` enum values as the file store writes them into ``meta.yaml``."""

EPOCH_KEY = "epoch"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MLFLOW_TABLES = ("experiments", "metrics", "params", "runs")
_MAX_TEXT_FILE = 64 << 10
"""A ``params/`` or ``tags/`` file: MLflow caps param values at 6,000 characters and tags at 8,000."""
_MAX_META = 1 << 20


# --------------------------------------------------------------------------- shared pieces


def metric_value(raw: Any, is_nan: bool = False) -> float:
    """A stored metric value as a float, undoing the SQL stores' NaN and ±inf encodings."""
    if is_nan:
        return math.nan
    value = float(raw)  # the REST API sends NaN/Infinity as the strings "NaN"/"Infinity"
    if abs(value) == sys.float_info.max:
        return math.copysign(math.inf, value)
    return value


def _text(value: Any) -> str | None:
    """A stored name or value as text: SQLite hands back what a column holds (TEXT, but also an
    INTEGER, a BLOB or NULL in a damaged or hand-made store)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _param_value(raw: Any) -> Any:
    """MLflow stores every param as a string; give numbers and booleans back their type."""
    text = _text(raw)
    if text is None:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


def add_points(builder: RunBuilder, points: Iterable[tuple[str, float, float | None]],
                epochs: dict[float, float]) -> None:
    """Stream (key, value, step) points into the builder, epoch looked up by step."""
    for key, value, step in points:
        builder.add(key, value, step, epochs.get(step) if step is not None else None)


def finish_run(builder: RunBuilder, *, name: str | None, status: str | None, params: dict[str, str],
               where: str) -> Run:
    """Turn params into facts, report an unfinished run, and refuse a run with no metrics."""
    add_facts(builder.facts, {key: _param_value(value) for key, value in params.items()})
    if status in ("RUNNING", "SCHEDULED"):
        builder.warn(f"run status is {status}: its curves may still grow")
    elif status in ("FAILED", "KILLED"):
        builder.warn(f"run status is {status}: training stopped early")
    run = builder.build(name=name)
    if not run.series:
        raise LogReadError(f"the MLflow run {name!r} has no metrics",
                           source=where, hint="log metrics with mlflow.log_metric(s), or pick another run")
    return run


# --------------------------------------------------------------------------- file store


def _load_meta(path: Path) -> dict[str, Any]:
    """``meta.yaml`` as a mapping (empty when missing); a broken one is a read error."""
    if not path.is_file():
        return {}
    data = read_yaml(path, LogReadError, limit=_MAX_META)
    return data if isinstance(data, dict) else {}


def _is_run_dir(path: Path) -> bool:
    return (path / "meta.yaml").is_file() and any((path / sub).is_dir() for sub in ("metrics", "params", "tags"))


def _file_points(path: Path, key: str, builder: RunBuilder) -> Iterator[tuple[str, float, float | None]]:
    """The points of one ``metrics/<key>`` file, line by line.

    Each line is ``<timestamp ms> <value> <step>`` (MLflow < 1.0 wrote no step). A line that
    does not parse is skipped and reported once per file with its line number, because one
    torn write should not cost the whole curve.
    """
    bad, first_bad = 0, 0
    with open_text(path, errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) not in (2, 3):
                    raise ValueError
                value = metric_value(parts[1])
                step = float(int(parts[2])) if len(parts) == 3 else None
            except (ValueError, OverflowError):
                bad += 1
                first_bad = first_bad or lineno
                continue
            yield key, value, step
    if bad:
        builder.warn(f"{path}: skipped {bad} malformed line(s), first at line {first_bad} "
                     "(expected 'timestamp value step')")


def _metric_files(run_dir: Path) -> dict[str, Path]:
    metrics_dir = run_dir / "metrics"
    if not metrics_dir.is_dir():
        return {}
    return {p.relative_to(metrics_dir).as_posix(): p for p in sorted(metrics_dir.rglob("*")) if p.is_file()}


def _read_text_files(folder: Path, builder: RunBuilder) -> dict[str, str]:
    """``params/`` or ``tags/``: one file per key (nested folders for keys with ``/``); one
    too large to be MLflow's costs that key, with a warning."""
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            try:
                raw = read_capped(p, _MAX_TEXT_FILE, f"an MLflow {folder.name[:-1]}")
            except LogReadError as exc:
                builder.warn(f"{p.relative_to(folder.parent)} ignored: {exc.detail}")
                continue
            out[p.relative_to(folder).as_posix()] = raw.decode("utf-8", "replace")
    return out


def _read_file_run(run_dir: Path, options: ReadOptions) -> Run:
    meta = _load_meta(run_dir / "meta.yaml")
    builder = RunBuilder(run_dir, "mlflow", options)
    files = _metric_files(run_dir)
    epochs: dict[float, float] = {}
    if EPOCH_KEY in files:
        epochs = {step: value for _, value, step in _file_points(files.pop(EPOCH_KEY), EPOCH_KEY, builder)
                  if step is not None}
    for key, path in files.items():
        add_points(builder, _file_points(path, key, builder), epochs)
    tags = _read_text_files(run_dir / "tags", builder)
    name = tags.get("mlflow.runName") or meta.get("run_name") or meta.get("name") or run_dir.name
    if meta.get("lifecycle_stage") == "deleted":
        builder.warn("run is marked deleted in MLflow")
    raw_status = meta.get("status")
    status = _STATUS.get(raw_status) if isinstance(raw_status, int) else raw_status
    return finish_run(builder, name=str(name), status=status, params=_read_text_files(run_dir / "params", builder),
                   where=str(run_dir))


def _file_store_runs(folder: Path) -> list[Path]:
    """Active runs under a run, experiment or ``mlruns/`` folder, oldest first per experiment."""
    if _is_run_dir(folder):
        return [folder]
    experiments = [folder] if (folder / "meta.yaml").is_file() else sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    out: list[Path] = []
    for exp in experiments:
        runs = []
        for run_dir in exp.iterdir():
            if run_dir.is_dir() and _is_run_dir(run_dir):
                meta = _load_meta(run_dir / "meta.yaml")
                # A registered model (mlruns/models/<name>/) also has meta.yaml and tags/: no run id.
                if (meta.get("run_id") or meta.get("run_uuid")) and meta.get("lifecycle_stage") != "deleted":
                    start = meta.get("start_time")
                    runs.append((start if isinstance(start, (int, float)) else 0, run_dir.name, run_dir))
        out.extend(run for *_, run in sorted(runs, key=lambda r: (r[0], r[1])))
    return out


# --------------------------------------------------------------------------- SQLite backend


def _connect(db: Path) -> sqlite3.Connection:
    """Open an MLflow database read-only, or explain why it is not one."""
    uri = f"{db.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")  # a damaged page is not a crash
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except (sqlite3.Error, ValueError) as exc:  # ValueError: a damaged file's error text is not UTF-8
        raise LogReadError(f"cannot open as an SQLite database ({exc.__class__.__name__}: {exc})", source=db,
                           hint="pass the file named in the sqlite:/// tracking URI") from None
    missing = [t for t in _MLFLOW_TABLES if t not in tables]
    if missing:
        conn.close()
        raise LogReadError(f"SQLite database without MLflow's tracking tables (no {', '.join(missing)} table)",
                           source=db, hint="pass the database named in MLflow's sqlite:/// tracking URI "
                           "(--backend-store-uri), not another application's")
    return conn


def _sqlite_runs(conn: sqlite3.Connection) -> list[tuple[str, str | None, str | None]]:
    """Active runs as (run_uuid, name, status), by experiment then start time."""
    rows = conn.execute(
        "SELECT run_uuid, name, status FROM runs WHERE lifecycle_stage != 'deleted' "
        "ORDER BY experiment_id, start_time, run_uuid")
    return [(_text(run_uuid) or "", _text(name), _text(status)) for run_uuid, name, status in rows]


def _sqlite_addresses(db: Path) -> list[Path]:
    with closing(_connect(db)) as conn:
        try:
            return [Path(f"{db}#{run_uuid}") for run_uuid, _, _ in _sqlite_runs(conn)]
        except (sqlite3.Error, ValueError) as exc:
            raise LogReadError(f"cannot list runs ({exc.__class__.__name__}: {exc})", source=db) from None


def _pick_sqlite_run(conn: sqlite3.Connection, db: Path, wanted: str | None) -> tuple[str, str | None, str | None]:
    runs = _sqlite_runs(conn)
    if wanted is not None:
        runs = [r for r in runs if r[0] == wanted] or [r for r in runs if r[1] == wanted]
        if not runs:
            raise LogReadError(f"no run with id or name {wanted!r}", source=db,
                               hint="list the runs with `regadvisor diagnose` on the database itself")
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise LogReadError("the MLflow database holds no runs", source=db)
    shown = ", ".join(f"{db}#{run_uuid} ({name})" for run_uuid, name, _ in runs[:5])
    raise LogReadError(f"{len(runs)} runs match; choose one: {shown}" + (", ..." if len(runs) > 5 else ""),
                       source=f"{db}#{wanted}" if wanted else db, hint="address a run as mlflow.db#<run_id>")


def _read_sqlite(path: Path, options: ReadOptions) -> Run:
    db, wanted = split_address(path)
    if not db.is_file():
        raise LogReadError("no such file", source=db)
    with closing(_connect(db)) as conn:
        try:
            run_uuid, name, status = _pick_sqlite_run(conn, db, wanted)
            builder = RunBuilder(f"{db}#{run_uuid}", "mlflow", options)
            epochs = {float(step): metric_value(value, bool(is_nan)) for value, step, is_nan in conn.execute(
                "SELECT value, step, is_nan FROM metrics WHERE run_uuid = ? AND key = ?", (run_uuid, EPOCH_KEY))}
            rows = conn.execute(
                "SELECT key, value, step, is_nan FROM metrics WHERE run_uuid = ? AND key != ? "
                "ORDER BY key, step, timestamp", (run_uuid, EPOCH_KEY))
            add_points(builder, ((_text(key) or "", metric_value(value, bool(is_nan)), float(step))
                                  for key, value, step, is_nan in rows if key is not None), epochs)
            params = {_text(key) or "": value for key, value in
                      conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_uuid,)) if key is not None}
        except (sqlite3.Error, TypeError, ValueError, OverflowError) as exc:
            raise LogReadError(f"cannot read MLflow's tables ({exc.__class__.__name__}: {exc})", source=path,
                               hint="is the file a complete copy of the database?") from None
    return finish_run(builder, name=name, status=status, params=params, where=f"{db}#{run_uuid}")


# --------------------------------------------------------------------------- discovery and registration


def find_runs(path: Path) -> list[Path]:
    """Every run reachable from ``path``, each as a path that :func:`read` accepts.

    ``path`` may be a run folder, an experiment folder, an ``mlruns/`` root, a project folder
    holding ``mlruns/`` and/or ``mlflow.db``, or an ``mlflow.db`` (whose runs come back as
    ``mlflow.db#<run_id>``). Deleted runs are left out; the order is by experiment, then by
    start time, so a comparison table reads in the order the runs were made.
    """
    path = Path(path)
    try:
        db, fragment = split_address(path)
        if db.is_file():
            return [path] if fragment else _sqlite_addresses(db)
        if not path.is_dir():
            raise LogReadError("no such file or folder", source=path)
        out = _file_store_runs(path / "mlruns" if (path / "mlruns").is_dir() else path)
        if (path / "mlflow.db").is_file():
            out.extend(_sqlite_addresses(path / "mlflow.db"))
        return out
    except OSError as exc:
        raise LogReadError(f"cannot list runs: {exc.strerror or exc}", source=path) from None


def _read_folder(path: Path, options: ReadOptions) -> Run:
    if _is_run_dir(path):
        return _read_file_run(path, options)
    runs = find_runs(path)
    if len(runs) == 1:
        return read(runs[0], options)
    if not runs:
        raise LogReadError("no MLflow runs found here", source=path,
                           hint="pass a run folder mlruns/<experiment_id>/<run_id>, an mlruns/ folder or mlflow.db")
    shown = ", ".join(str(r) for r in runs[:5]) + (", ..." if len(runs) > 5 else "")
    raise LogReadError(f"{len(runs)} MLflow runs here; pass one of them or all of them ({shown})", source=path)


def read(path: Path, options: ReadOptions | None = None) -> Run:
    """Read one MLflow run from a run folder, a folder with one run, or ``mlflow.db[#run]``."""
    options = options or ReadOptions()
    path = Path(path)
    try:
        return _read_folder(path, options) if path.is_dir() else _read_sqlite(path, options)
    except OSError as exc:
        raise LogReadError(f"cannot read: {exc.strerror or exc}", source=path) from None


def _read_server(uri: str, options: ReadOptions) -> Run:
    from .mlflow_server import read_uri  # http.client only for a run on a server

    return read_uri(uri, options)


def _server_experiment(uri: str, options: ReadOptions) -> list[Run]:
    from .mlflow_server import read_experiment

    return read_experiment(uri, options)


def _sniff_folder(path: Path, head: bytes) -> float:
    try:
        return _folder_score(path)
    except OSError:
        return 0.0


def _folder_score(path: Path) -> float:
    if not path.is_dir():
        return 0.0
    if _is_run_dir(path):
        return 1.0
    if (path / "mlruns").is_dir() or (path / "mlflow.db").is_file():
        return 0.5  # a project folder: other logs in it may be the better answer
    children = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if (path / "meta.yaml").is_file() and any(_is_run_dir(c) for c in children):
        return 0.95  # an experiment folder
    if any((c / "meta.yaml").is_file() and any(_is_run_dir(r) for r in c.iterdir() if r.is_dir())
           for c in children):
        return 0.9  # an mlruns/ root
    return 0.0


def _sniff_sqlite(path: Path, head: bytes) -> float:
    db, _ = split_address(path)
    try:
        if not head and db.is_file():
            with db.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        if not head.startswith(_SQLITE_MAGIC):
            return 0.0
        with closing(_connect(db)):
            return 0.95
    except OSError:
        return 0.0
    except LogReadError:
        # Still ours to explain: no other reader takes SQLite, and "not MLflow's" beats "unknown".
        return 0.2


register(LogFormat(
    name="mlflow",
    description="MLflow file store: a run folder mlruns/<experiment_id>/<run_id>/, an experiment or mlruns/ root",
    sniff=_sniff_folder,
    read=read,
    directory=True,
    find_runs=find_runs,
))
register(LogFormat(
    name="mlflow-sqlite",
    description="MLflow SQLite backend (mlflow.db, the default since MLflow 3); one run as mlflow.db#<run_id>",
    sniff=_sniff_sqlite,
    read=read,
    find_runs=find_runs,
))
register(LogFormat(
    name="mlflow-server",
    description="MLflow tracking server: mlflow://host:port/<run_id>, mlflow://host:port/<experiment>/<run name>, "
                "or every run of an experiment: mlflow://host:port/<experiment>",
    sniff=lambda path, head: 0.0,  # reached by its URI scheme, never by sniffing a file
    read=lambda uri, options: _read_server(str(uri), options),
    read_all=lambda uri, options: _server_experiment(str(uri), options),
    scheme="mlflow",
))
