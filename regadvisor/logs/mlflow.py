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
* **Tracking server** (``mlflow://host:port/<run-id>`` or
  ``mlflow://host:port/<experiment-name>/<run-name>``): the REST API documented at
  https://mlflow.org/docs/latest/api_reference/rest-api.html (``runs/get``,
  ``metrics/get-history`` paged with ``page_token``, ``experiments/get-by-name``,
  ``runs/search``), called with :mod:`urllib` over plain HTTP.

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

import json
import math
import sqlite3
import sys
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml

from ..errors import LogReadError
from ..model import Run
from .facts import add_facts
from .registry import LogFormat, ReadOptions, RunBuilder, register, split_address

_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
"""``RunStatus`` enum values as the file store writes them into ``meta.yaml``."""

_EPOCH_KEY = "epoch"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MLFLOW_TABLES = ("experiments", "metrics", "params", "runs")
_HTTP_TIMEOUT_S = 15.0
_HISTORY_PAGE = 10_000
"""Points per ``metrics/get-history`` page: well under the server's 25,000 default cap, so one
page of JSON stays around a megabyte however long the run is."""


# --------------------------------------------------------------------------- shared pieces


def _metric_value(raw: Any, is_nan: bool = False) -> float:
    """A stored metric value as a float, undoing the SQL stores' NaN and ±inf encodings."""
    if is_nan:
        return math.nan
    value = float(raw)  # the REST API sends NaN/Infinity as the strings "NaN"/"Infinity"
    if abs(value) == sys.float_info.max:
        return math.copysign(math.inf, value)
    return value


def _param_value(text: str) -> Any:
    """MLflow stores every param as a string; give numbers and booleans back their type."""
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


def _add_points(builder: RunBuilder, points: Iterable[tuple[str, float, float | None]],
                epochs: dict[float, float]) -> None:
    """Stream (key, value, step) points into the builder, epoch looked up by step."""
    for key, value, step in points:
        builder.add(key, value, step, epochs.get(step) if step is not None else None)


def _finish(builder: RunBuilder, *, name: str | None, status: str | None, params: dict[str, str],
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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LogReadError(f"cannot read MLflow metadata: {exc.__class__.__name__}: {exc}",
                           source=path, hint="restore the file from the tracking store") from None
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
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    if len(parts) not in (2, 3):
                        raise ValueError
                    value = _metric_value(parts[1])
                    step = float(int(parts[2])) if len(parts) == 3 else None
                except ValueError:
                    bad += 1
                    first_bad = first_bad or lineno
                    continue
                yield key, value, step
    except OSError as exc:
        raise LogReadError(f"cannot read metric file: {exc.strerror or exc}", source=path) from None
    if bad:
        builder.warn(f"{path}: skipped {bad} malformed line(s), first at line {first_bad} "
                     "(expected 'timestamp value step')")


def _metric_files(run_dir: Path) -> dict[str, Path]:
    metrics_dir = run_dir / "metrics"
    if not metrics_dir.is_dir():
        return {}
    return {p.relative_to(metrics_dir).as_posix(): p for p in sorted(metrics_dir.rglob("*")) if p.is_file()}


def _read_text_files(folder: Path) -> dict[str, str]:
    """``params/`` or ``tags/``: one file per key (nested folders for keys with ``/``)."""
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            try:
                out[p.relative_to(folder).as_posix()] = p.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise LogReadError(f"cannot read: {exc.strerror or exc}", source=p) from None
    return out


def _read_file_run(run_dir: Path, options: ReadOptions) -> Run:
    meta = _load_meta(run_dir / "meta.yaml")
    builder = RunBuilder(run_dir, "mlflow", options)
    files = _metric_files(run_dir)
    epochs: dict[float, float] = {}
    if _EPOCH_KEY in files:
        epochs = {step: value for _, value, step in _file_points(files.pop(_EPOCH_KEY), _EPOCH_KEY, builder)
                  if step is not None}
    for key, path in files.items():
        _add_points(builder, _file_points(path, key, builder), epochs)
    tags = _read_text_files(run_dir / "tags")
    name = tags.get("mlflow.runName") or meta.get("run_name") or meta.get("name") or run_dir.name
    if meta.get("lifecycle_stage") == "deleted":
        builder.warn("run is marked deleted in MLflow")
    status = _STATUS.get(meta.get("status")) if isinstance(meta.get("status"), int) else meta.get("status")
    return _finish(builder, name=str(name), status=status, params=_read_text_files(run_dir / "params"),
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
    return conn.execute(
        "SELECT run_uuid, name, status FROM runs WHERE lifecycle_stage != 'deleted' "
        "ORDER BY experiment_id, start_time, run_uuid").fetchall()


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
            epochs = {float(step): _metric_value(value, bool(is_nan)) for value, step, is_nan in conn.execute(
                "SELECT value, step, is_nan FROM metrics WHERE run_uuid = ? AND key = ?", (run_uuid, _EPOCH_KEY))}
            rows = conn.execute(
                "SELECT key, value, step, is_nan FROM metrics WHERE run_uuid = ? AND key != ? "
                "ORDER BY key, step, timestamp", (run_uuid, _EPOCH_KEY))
            _add_points(builder, ((key, _metric_value(value, bool(is_nan)), float(step))
                                  for key, value, step, is_nan in rows), epochs)
            params = dict(conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_uuid,)))
        except (sqlite3.Error, TypeError, ValueError, OverflowError) as exc:
            raise LogReadError(f"cannot read MLflow's tables ({exc.__class__.__name__}: {exc})", source=path,
                               hint="is the file a complete copy of the database?") from None
    return _finish(builder, name=name, status=status, params=params, where=f"{db}#{run_uuid}")


# --------------------------------------------------------------------------- tracking server


def _server_call(uri: str, base: str, endpoint: str, *, query: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One REST call; every failure becomes a LogReadError naming ``uri``."""
    import urllib.error  # here, not at import: urllib.request costs ~35 ms of every diagnose's start
    import urllib.request

    url = f"{base}/api/2.0/mlflow/{endpoint}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read() or b"{}")
        except ValueError:
            answer = {}
        message = answer.get("message") or exc.reason
        if exc.code == 404 or answer.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            raise LogReadError(f"not found on the tracking server: {message}", source=uri,
                               hint="check the run id, or the experiment and run names, in the MLflow UI") from None
        raise LogReadError(f"the tracking server answered HTTP {exc.code} to {endpoint}: {message}",
                           source=uri) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LogReadError(f"cannot reach the MLflow tracking server at {base} ({reason})", source=uri,
                           hint="is `mlflow server` running on that host and port?") from None
    except ValueError:
        raise LogReadError(f"{endpoint} did not answer JSON: is {base} an MLflow tracking server?",
                           source=uri) from None


def _parse_uri(uri: str) -> tuple[str, str | None, str]:
    """``mlflow://host:port/<run-id>`` → (base URL, None, run id);
    ``mlflow://host:port/<experiment>/<run name>`` → (base URL, experiment, run name).

    The experiment name is everything before the last ``/`` (Databricks-style names such as
    ``/Users/me/exp`` are written ``mlflow://host//Users/me/exp/<run>``); parts may be
    percent-encoded.
    """
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "mlflow" or not parts.netloc:
        raise LogReadError("not an mlflow:// URI", source=uri,
                           hint="write mlflow://HOST:PORT/RUN_ID or mlflow://HOST:PORT/EXPERIMENT/RUN_NAME")
    rest = urllib.parse.unquote(parts.path.removeprefix("/"))
    if not rest.strip("/"):
        raise LogReadError("the URI names no run", source=uri,
                           hint="write mlflow://HOST:PORT/RUN_ID or mlflow://HOST:PORT/EXPERIMENT/RUN_NAME")
    try:
        _ = parts.port  # urllib checks the port only when asked
    except ValueError:
        raise LogReadError("the URI's port is not a number", source=uri, hint="write mlflow://HOST:PORT/...") from None
    base = f"http://{parts.netloc}"
    if "/" not in rest:
        return base, None, rest
    experiment, run_name = rest.rsplit("/", 1)
    if not experiment or not run_name:
        raise LogReadError("the URI has an empty experiment or run name", source=uri,
                           hint="write mlflow://HOST:PORT/EXPERIMENT/RUN_NAME")
    return base, experiment, run_name


def _find_run_id(uri: str, base: str, experiment: str, run_name: str) -> str:
    exp = _server_call(uri, base, "experiments/get-by-name", query={"experiment_name": experiment})
    exp_id = exp.get("experiment", {}).get("experiment_id")
    quote = "'" if "'" not in run_name else '"'
    found = _server_call(uri, base, "runs/search", body={
        "experiment_ids": [exp_id], "filter": f"attributes.run_name = {quote}{run_name}{quote}",
        "run_view_type": "ACTIVE_ONLY", "max_results": 10})
    ids = [r["info"]["run_id"] for r in found.get("runs", [])]
    if not ids:
        raise LogReadError(f"experiment {experiment!r} has no run named {run_name!r}", source=uri,
                           hint="check the run name in the MLflow UI")
    if len(ids) > 1:
        raise LogReadError(f"{len(ids)} runs in {experiment!r} are named {run_name!r} ({', '.join(ids)})",
                           source=uri, hint=f"address one by id: mlflow://{urllib.parse.urlsplit(uri).netloc}/<run-id>")
    return ids[0]


def _history(uri: str, base: str, run_id: str, key: str) -> Iterator[tuple[str, float, float | None]]:
    """All points of one metric, a page at a time (``next_page_token`` until absent)."""
    token = None
    while True:
        query = {"run_id": run_id, "metric_key": key, "max_results": _HISTORY_PAGE}
        if token:
            query["page_token"] = token
        page = _server_call(uri, base, "metrics/get-history", query=query)
        for m in page.get("metrics", []):
            # proto3 JSON leaves out fields at their default: a missing step or value is 0.
            yield key, _metric_value(m.get("value", 0.0)), float(m.get("step", 0))
        token = page.get("next_page_token")
        if not token:
            return


def read_uri(uri: str, options: ReadOptions | None = None) -> Run:
    """Read a run from a running MLflow tracking server.

    ``uri`` is ``mlflow://HOST:PORT/<run-id>`` or ``mlflow://HOST:PORT/<experiment>/<run
    name>`` (plain HTTP). Run names are not unique in MLflow: when several runs share one, the
    error lists their ids to address instead.
    """
    base, experiment, run_ref = _parse_uri(uri)
    try:
        return _read_server_run(uri, base, experiment, run_ref, options or ReadOptions())
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        # JSON of an unexpected shape: a proxy, another service, or an API change.
        raise LogReadError(f"unexpected answer from {base} ({exc.__class__.__name__}: {exc})", source=uri,
                           hint="is this an MLflow tracking server?") from None


def _read_server_run(uri: str, base: str, experiment: str | None, run_ref: str, options: ReadOptions) -> Run:
    run_id = run_ref if experiment is None else _find_run_id(uri, base, experiment, run_ref)
    data = _server_call(uri, base, "runs/get", query={"run_id": run_id})["run"]
    info, content = data.get("info", {}), data.get("data", {})
    keys = sorted({m["key"] for m in content.get("metrics", [])})
    params = {p["key"]: p.get("value", "") for p in content.get("params", [])}
    builder = RunBuilder(uri, "mlflow", options)
    epochs: dict[float, float] = {}
    if _EPOCH_KEY in keys:
        keys.remove(_EPOCH_KEY)
        epochs = {step: value for _, value, step in _history(uri, base, run_id, _EPOCH_KEY) if step is not None}
    for key in keys:
        _add_points(builder, _history(uri, base, run_id, key), epochs)
    if info.get("lifecycle_stage") == "deleted":
        builder.warn("run is marked deleted in MLflow")
    return _finish(builder, name=info.get("run_name") or run_id, status=info.get("status"), params=params,
                   where=uri)


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
    description="MLflow tracking server: mlflow://host:port/<run_id> or mlflow://host:port/<experiment>/<run name>",
    sniff=lambda path, head: 0.0,  # reached by its URI scheme, never by sniffing a file
    read=lambda uri, options: read_uri(str(uri), options),
    scheme="mlflow",
))
