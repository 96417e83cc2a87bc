"""``mlflow://`` runs: runs read from a live MLflow tracking server over its REST API.

Three forms, told apart by the path alone (no request is spent guessing):

* ``mlflow://HOST:PORT/<run-id>``: one run. A run id is 32 hex digits: every MLflow store makes
  it with ``uuid.uuid4().hex``.
* ``mlflow://HOST:PORT/<experiment>/<run-name>``: one run, by its name in an experiment.
* ``mlflow://HOST:PORT/<experiment>`` (one path part that is not a run id), or any path ending in
  ``/`` (``mlflow://HOST:PORT/<experiment>/``, needed for an experiment whose name has a ``/``
  or is itself 32 hex digits): every active run of the experiment, read together by
  :func:`read_experiment`, each with the source ``mlflow://HOST:PORT/<run-id>``. Runs that
  have logged no metric yet are left out, as a folder's search leaves out files that are not
  logs; an experiment with none left is an error.

Spoken as plain HTTP to the endpoints documented at
https://mlflow.org/docs/latest/api_reference/rest-api.html (``runs/get``,
``metrics/get-history`` and ``runs/search`` paged with ``page_token``,
``experiments/get-by-name``), and, for an experiment, ``metrics/get-history-bulk``: the
undocumented endpoint MLflow's UI charts several runs with (``/ajax-api/``, in
``mlflow/server/handlers.py`` since MLflow 2.0), one metric of up to 100 runs an answer. A whole
experiment then costs the server a request a metric per 100 runs instead of one a metric per run
plus one a run, the difference that makes it fast (``benchmarks/bench_mlflow_experiment.py``);
a server without it is read run by run. ``mlflow://USER:PASSWORD@HOST:PORT/...`` sends HTTP
Basic credentials (``mlflow server --app-name basic-auth``).

A server is somebody else's machine, so everything it can send is bounded:

* one total deadline per request (connect, send, status, headers and body together:
  ``REQUEST_DEADLINE_S``), checked before every socket read, since a socket timeout alone
  restarts with every byte and a server dripping one byte every 5 s would never trip it; and
  one deadline for the whole run (``READ_DEADLINE_S``; for an experiment, one for its listing
  and one for each share of runs read together);
* an answer larger than ``MAX_ANSWER_BYTES`` is refused, whatever its ``Content-Length`` says;
  a truncated one is an error, not a half-read run;
* a metric's history stops at ``MAX_POINTS`` points and an experiment's listing at
  ``MAX_RUNS`` runs, and a page token the server repeats (it would page forever) is an error;
* redirects are followed only on the same host and port: an API call sent elsewhere would carry
  the run id, and the credentials, to another machine;
* the password is never shown: every message, and the run's source, name the URI with it
  replaced by ``***``.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..errors import LogReadError
from ..model import Run
from .registry import ReadOptions, RunBuilder

REQUEST_DEADLINE_S = 15.0
READ_DEADLINE_S = 600.0
MAX_ANSWER_BYTES = 32 << 20
"""A history page of 10,000 points is about 1 MB of JSON; ``runs/get`` of a run with thousands
of params a few MB."""
HISTORY_PAGE = 10_000
"""Points per ``metrics/get-history`` page: well under the server's 25,000 default cap, so one
page of JSON stays around a megabyte however long the run is."""
MAX_POINTS = 10_000_000
"""Points read of one metric: far beyond any logged curve (MLflow's UI samples long before)."""
SEARCH_PAGE = 1_000
"""Runs per ``runs/search`` page: MLflow's own default (``SEARCH_MAX_RESULTS_DEFAULT``); a page
of 1,000 runs with their params and latest metrics is a few MB of JSON."""
MAX_RUNS = 100_000
"""Runs listed of one experiment: far beyond what anyone compares in one table."""
BULK_RUNS = 100
"""Runs per ``metrics/get-history-bulk`` request: the most the server takes
(``MAX_RUN_IDS_PER_REQUEST`` in ``mlflow/server/handlers.py``)."""
BULK_POINTS = 25_000
"""Points that server puts in one bulk answer at most (its ``MAX_HISTORY_RESULTS``): an answer
of this many has been cut short."""
SERVER_WORKERS = 8
"""Requests in flight to one server when a whole experiment is read. The server does the work
(``mlflow server`` spends ~6 ms of CPU on a 100-point history), so more requests than its
workers (4 by default) only queue there; 8 keeps each busy while the answers travel, and is a
polite load for a team's shared server."""
MAX_REDIRECTS = 3
_READ_SIZE = 64 << 10
_REDIRECTS = (301, 302, 303, 307, 308)
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_AJAX_API = "ajax-api/2.0/mlflow"  # where MLflow serves the endpoints its own UI uses
_USAGE = "write mlflow://HOST:PORT/RUN_ID, mlflow://HOST:PORT/EXPERIMENT/RUN_NAME or mlflow://HOST:PORT/EXPERIMENT/"


@dataclass
class _Server:
    """Where to send requests, what to send with them, and what must never be shown."""

    uri: str  # the URI as shown: the password replaced by ***
    host: str
    port: int
    auth: str | None  # the Authorization header, from credentials in the URI
    secrets: tuple[str, ...]
    deadline: float  # time.monotonic() by which the whole run must have been read

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def error(self, message: str, hint: str | None = None, kind: type[LogReadError] = LogReadError) -> LogReadError:
        return kind(self.redact(message), source=self.uri, hint=self.redact(hint) if hint else None)


class _DeadlineSocket(socket.socket):
    """A socket whose every read waits at most until ``deadline``, not a fresh timeout each time."""

    deadline = math.inf

    @classmethod
    def adopt(cls, sock: socket.socket, deadline: float) -> "_DeadlineSocket":
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.deadline = deadline
        adopted.settimeout(max(0.001, deadline - time.monotonic()))  # for sending the request, too
        return adopted

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # noqa: D102 (socket API)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self.settimeout(left)
        return super().recv_into(buffer, nbytes, flags)


@functools.cache
def _connection_class() -> type:
    import http.client  # here, not at import: diagnosing a file should not pay for it

    class DeadlineConnection(http.client.HTTPConnection):
        """An HTTP connection whose socket reads share one deadline (``self.deadline``)."""

        deadline = math.inf

        def connect(self) -> None:
            super().connect()
            self.sock = _DeadlineSocket.adopt(self.sock, self.deadline)

    return DeadlineConnection


def _split_userinfo(netloc: str) -> tuple[str | None, str | None, str]:
    """``user:pw@host:port`` → (user, pw, ``host:port``); the last ``@`` ends the userinfo (RFC 3986)."""
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return None, None, netloc
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), hostport


def _shown(uri: str) -> str:
    """``uri`` with the password of its userinfo replaced by ``***``."""
    scheme, sep, rest = uri.partition("://")
    netloc, slash, path = rest.partition("/")
    user, password, hostport = _split_userinfo(netloc)
    if password is None:
        return uri
    return f"{scheme}{sep}{user}:***@{hostport}{slash}{path}"


def _parse_uri(uri: str) -> tuple[_Server, str | None, str | None]:
    """The server and what the path names: ``(server, None, run id)``, ``(server, experiment,
    run name)``, or ``(server, experiment, None)`` for every run of the experiment (see the
    module docstring for how the forms are told apart).

    The experiment name is everything before the last ``/`` (Databricks-style names such as
    ``/Users/me/exp`` are written ``mlflow://host//Users/me/exp/<run>``, or
    ``mlflow://host//Users/me/exp/`` for all its runs); parts may be percent-encoded.
    """
    shown = _shown(uri)
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "mlflow" or not parts.netloc:
        raise LogReadError("not an mlflow:// URI", source=shown, hint=_USAGE)
    user, password, _ = _split_userinfo(parts.netloc)
    secrets = tuple({password, urllib.parse.unquote(password)}) if password else ()
    try:
        host, port = parts.hostname, parts.port or 80  # urllib checks the port only when asked
    except ValueError:
        raise LogReadError("the URI's port is not a number", source=shown,
                           hint="write mlflow://HOST:PORT/...") from None
    if not host:
        raise LogReadError("the URI names no host", source=shown, hint=_USAGE)
    auth = None
    if user is not None:
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password or '')}"
        token = base64.b64encode(pair.encode()).decode()
        auth = f"Basic {token}"
        secrets += (token,)
    server = _Server(shown, host, port, auth, secrets, time.monotonic() + READ_DEADLINE_S)
    rest = urllib.parse.unquote(parts.path.removeprefix("/"))
    if not rest.strip("/"):
        raise server.error("the URI names no run or experiment", _USAGE)
    if rest.endswith("/"):
        return server, rest[:-1], None
    if "/" not in rest:
        return (server, None, rest) if _RUN_ID.fullmatch(rest) else (server, rest, None)
    experiment, run_name = rest.rsplit("/", 1)
    if not experiment:
        raise server.error("the URI has an empty experiment name", "write mlflow://HOST:PORT/EXPERIMENT/RUN_NAME")
    return server, experiment, run_name


def _exchange(server: _Server, method: str, target: str, data: bytes | None, endpoint: str) -> tuple[int, Any, bytes]:
    """One HTTP request within the deadline: (status, headers, body of at most MAX_ANSWER_BYTES)."""
    import http.client

    deadline = min(server.deadline, time.monotonic() + REQUEST_DEADLINE_S)
    conn = _connection_class()(server.host, server.port, timeout=max(0.001, deadline - time.monotonic()))
    conn.deadline = deadline
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if server.auth:
        headers["Authorization"] = server.auth
    too_large = f"the tracking server's answer to {endpoint} is larger than {MAX_ANSWER_BYTES >> 20} MiB"
    try:
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        declared = response.getheader("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise server.error(too_large, "is this an MLflow tracking server?")
        chunks, total = [], 0
        while chunk := response.read(_READ_SIZE):
            total += len(chunk)
            if total > MAX_ANSWER_BYTES:
                raise server.error(too_large, "is this an MLflow tracking server?")
            chunks.append(chunk)
        if response.length:  # Content-Length promised more than arrived
            raise http.client.IncompleteRead(b"", response.length)
        return response.status, response.headers, b"".join(chunks)
    except TimeoutError:
        raise server.error(f"the tracking server at {server.address} did not answer {endpoint} within "
                           f"{REQUEST_DEADLINE_S:g} s",
                           "is the server overloaded, or is this another service?") from None
    except http.client.HTTPException as exc:
        raise server.error(f"the tracking server at {server.address} broke off its answer to {endpoint} "
                           f"({exc.__class__.__name__})", "try again; if it persists, check the server's log") from None
    except OSError as exc:
        raise server.error(f"cannot reach the MLflow tracking server at {server.address} ({exc.strerror or exc})",
                           "is `mlflow server` running on that host and port?") from None
    finally:
        conn.close()


def _redirected(server: _Server, target: str, location: str, endpoint: str) -> str:
    """The request target a redirect points to, when it stays on the same host and port."""
    where = urllib.parse.urlsplit(urllib.parse.urljoin(f"http://{server.address}{target}", location))
    try:
        same = where.scheme == "http" and where.hostname == server.host and (where.port or 80) == server.port
    except ValueError:
        same = False
    if not same:
        raise server.error(f"the tracking server redirects {endpoint} to another address ({location[:200]}); "
                           "regadvisor follows redirects only on the same host and port",
                           "pass the address of the tracking server itself")
    return urllib.parse.urlunsplit(("", "", where.path or "/", where.query, ""))


class _NoEndpoint(LogReadError):
    """A 404 that is not MLflow's own "does not exist": the server has no such endpoint."""


def call(server: _Server, endpoint: str, *, query: dict[str, Any] | list[tuple[str, Any]] | None = None,
         body: dict[str, Any] | None = None, missing: str | None = None, api: str = "api/2.0/mlflow") -> dict[str, Any]:
    """One REST call, answered as a JSON object; every failure becomes a LogReadError naming the
    URI (``missing`` says what a 404 means, when the caller knows)."""
    target = f"/{api}/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if data is not None else "GET"
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, payload = _exchange(server, method, target, data, endpoint)
        if status not in _REDIRECTS:
            break
        target = _redirected(server, target, headers.get("Location", ""), endpoint)
        if status == 303 or (status in (301, 302) and method == "POST"):
            method, data = "GET", None  # what browsers and urllib do
    else:
        raise server.error(f"the tracking server redirected {endpoint} more than {MAX_REDIRECTS} times")
    try:
        answer = json.loads(payload) if payload.strip() else {}
    except (ValueError, RecursionError):
        answer = None
    if status >= 400:
        info = answer if isinstance(answer, dict) else {}
        message = str(info.get("message") or f"HTTP {status}")[:500]
        if status == 404 or info.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            raise server.error(f"{missing or 'not found'} on the tracking server: {message}",
                               "check the run id, or the experiment and run names, in the MLflow UI",
                               LogReadError if "error_code" in info else _NoEndpoint)
        hint = "check the user name and password in the URI" if status in (401, 403) else None
        raise server.error(f"the tracking server answered HTTP {status} to {endpoint}: {message}", hint)
    if not isinstance(answer, dict) or not 200 <= status < 300:
        raise server.error(f"{endpoint} did not answer JSON: is {server.address} an MLflow tracking server?")
    return answer


def _pages(server: _Server, endpoint: str, items: str, what: str, limit: int, page_size: int, *, noun: str,
           query: dict[str, Any] | None = None, body: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a paged answer (``next_page_token`` until absent), at most ``limit`` of them
    (``what`` has more than ``limit`` ``noun`` is the error).

    A token seen before would page forever, and so would fresh tokens on empty pages: both end
    after the pages ``limit`` items need (``limit // page_size``)."""
    request = dict(query if query is not None else body or {})
    seen: set[int] = set()
    count = 0
    while True:
        page = call(server, endpoint, query=request if query is not None else None,
                    body=request if query is None else None)
        for item in page.get(items, []):
            count += 1
            if count > limit:
                raise server.error(f"{what} has more than {limit:,} {noun}")
            yield item
        token = page.get("next_page_token")
        if not token:
            return
        token = str(token)
        if hash(token) in seen or len(seen) > limit // page_size:
            raise server.error(f"the tracking server keeps paging {what} (page token repeated)",
                               "is this an MLflow tracking server?")
        seen.add(hash(token))
        request["page_token"] = token


def _experiment_id(server: _Server, experiment: str) -> str:
    exp = call(server, "experiments/get-by-name", query={"experiment_name": experiment},
               missing=f"no experiment named {experiment!r}")
    return str(exp["experiment"]["experiment_id"])


def _find_run_id(server: _Server, experiment: str, run_name: str) -> str:
    exp_id = _experiment_id(server, experiment)
    quote = "'" if "'" not in run_name else '"'
    found = call(server, "runs/search", body={
        "experiment_ids": [exp_id], "filter": f"attributes.run_name = {quote}{run_name}{quote}",
        "run_view_type": "ACTIVE_ONLY", "max_results": 10})
    ids = [str(r["info"]["run_id"]) for r in found.get("runs", [])]
    if not ids:
        raise server.error(f"experiment {experiment!r} has no run named {run_name!r}",
                           "check the run name in the MLflow UI")
    if len(ids) > 1:
        raise server.error(f"{len(ids)} runs in {experiment!r} are named {run_name!r} ({', '.join(ids)})",
                           f"address one by id: mlflow://{server.address}/<run-id>")
    return ids[0]


def _experiment_runs(server: _Server, experiment: str) -> list[dict[str, Any]]:
    """The experiment's active runs that logged a metric, as ``runs/search`` gives them (info,
    params, latest metrics), oldest first: start time, then id, the order a folder of runs is
    listed in, whatever order the server pages in."""
    exp_id = _experiment_id(server, experiment)
    body = {"experiment_ids": [exp_id], "run_view_type": "ACTIVE_ONLY", "max_results": SEARCH_PAGE}
    listed = _pages(server, "runs/search", "runs", f"experiment {experiment!r}", MAX_RUNS, SEARCH_PAGE, noun="runs",
                    body=body)
    found, silent = [], 0
    for run in listed:
        if not run.get("data", {}).get("metrics"):  # latest values: none means nothing was logged
            silent += 1
            continue
        start = run["info"].get("start_time")
        found.append((int(start) if str(start).isdigit() else 0, str(run["info"]["run_id"]), run))
    if not found:
        said = f"{silent} run(s), none with a metric logged yet" if silent else "no active runs"
        raise server.error(f"experiment {experiment!r} has {said}",
                           "log metrics with mlflow.log_metric(s), or check the experiment name in the MLflow UI")
    return [run for _, _, run in sorted(found, key=lambda item: item[:2])]


def _point(key: str, m: dict[str, Any]) -> tuple[str, float, float]:
    from .mlflow import metric_value

    # proto3 JSON leaves out fields at their default: a missing step or value is 0.
    return key, metric_value(m.get("value", 0.0)), float(m.get("step", 0))


def _history(server: _Server, run_id: str, key: str) -> Iterator[tuple[str, float, float]]:
    """All points of one metric, a page at a time."""
    query = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
    for m in _pages(server, "metrics/get-history", "metrics", f"the history of {key!r}", MAX_POINTS, HISTORY_PAGE,
                    noun="points", query=query):
        yield _point(key, m)


def _bulk_answer(server: _Server, run_ids: list[str], key: str) -> list[dict[str, Any]] | None:
    """The points of ``key`` the server sends for ``run_ids`` in one answer; None without the endpoint."""
    query = [*(("run_id", run_id) for run_id in run_ids), ("metric_key", key), ("max_results", BULK_POINTS)]
    try:
        return list(call(server, "metrics/get-history-bulk", query=query, api=_AJAX_API).get("metrics", []))
    except _NoEndpoint:
        return None


def _bulk_history(server: _Server, run_ids: list[str], key: str,
                  no_bulk: threading.Event) -> dict[str, list[tuple[str, float, float]]]:
    """One metric's points for many runs, in as few ``get-history-bulk`` answers as they fit.

    The server sorts the points by run id and cuts the answer at ``BULK_POINTS``: an answer that
    long may have cut its last run short, so the runs before that one are kept and the rest asked
    again; a run that alone fills an answer is read page by page. So is every run on a server
    without the endpoint (older than MLflow 2.0, or a proxy that passes only ``/api/``), which
    ``no_bulk`` remembers for the rest of the experiment.
    """
    points: dict[str, list[tuple[str, float, float]]] = {}
    pending = sorted(run_ids)
    while pending:
        got = None if no_bulk.is_set() else _bulk_answer(server, pending, key)
        if got is None:
            no_bulk.set()
            points.update((run_id, list(_history(server, run_id, key))) for run_id in pending)
            return points
        cut = str(got[-1]["run_id"]) if len(got) >= BULK_POINTS else None
        wanted = set(pending) - {cut}
        for m in got:
            if (run_id := str(m["run_id"])) in wanted:
                points.setdefault(run_id, []).append(_point(key, m))
        if cut is None:
            return points
        if cut not in pending:
            raise server.error(f"the tracking server's bulk history of {key!r} names a run not asked for",
                               "is this an MLflow tracking server?")
        if cut == pending[0]:  # no run before it: it fills an answer alone
            points[cut] = list(_history(server, cut, key))
        pending = [run_id for run_id in pending if run_id > cut or (run_id == cut and cut not in points)]
    return points


def _build(source: str, data: dict[str, Any], history: Callable[[str], Iterable[tuple[str, float, float | None]]],
           options: ReadOptions) -> Run:
    """A run from its ``runs/get`` or ``runs/search`` entry and the history of each of its metrics."""
    from .mlflow import EPOCH_KEY, add_points, finish_run

    info, content = data.get("info", {}), data.get("data", {})
    keys = sorted({str(m["key"]) for m in content.get("metrics", [])})
    params = {str(p["key"]): p.get("value", "") for p in content.get("params", [])}
    builder = RunBuilder(source, "mlflow", options)
    epochs: dict[float, float] = {}
    if EPOCH_KEY in keys:
        keys.remove(EPOCH_KEY)
        epochs = {step: value for _, value, step in history(EPOCH_KEY) if step is not None}
    for key in keys:
        add_points(builder, history(key), epochs)
    if info.get("lifecycle_stage") == "deleted":
        builder.warn("run is marked deleted in MLflow")
    return finish_run(builder, name=info.get("run_name") or info.get("run_id"), status=info.get("status"),
                      params=params, where=source)


def _read_share(server: _Server, netloc: str, runs: list[dict[str, Any]], options: ReadOptions,
                no_bulk: threading.Event) -> list[Run]:
    """Some runs of an experiment: each metric's history for all of them at once, then each run."""
    server = replace(server, deadline=time.monotonic() + READ_DEADLINE_S)
    keys = sorted({str(m["key"]) for run in runs for m in run["data"]["metrics"]})
    histories = {}
    for key in keys:
        having = [str(run["info"]["run_id"]) for run in runs if any(m["key"] == key for m in run["data"]["metrics"])]
        histories[key] = _bulk_history(server, having, key, no_bulk)
    built = []
    for run in runs:
        run_id = str(run["info"]["run_id"])
        of_run = {key: history.get(run_id, []) for key, history in histories.items()}
        built.append(_build(_shown(f"mlflow://{netloc}/{run_id}"), run, of_run.__getitem__, options))
    return built


def read_experiment(uri: str, options: ReadOptions | None = None) -> list[Run]:
    """Every active run of the experiment ``uri`` names that has logged a metric, oldest first.

    The listing (``runs/search``) already holds each run's params and latest metrics, so no run
    is asked for again; the histories are asked per metric for up to ``BULK_RUNS`` runs at once,
    ``options.workers`` shares of the runs at a time (default ``SERVER_WORKERS``). Each run's
    source is ``mlflow://HOST:PORT/<run-id>``, which reads it alone (the password shown as ***).
    A ``uri`` that names one run reads that run.
    """
    from ..pool import in_order

    options = options or ReadOptions()
    server, experiment, run_ref = _parse_uri(uri)
    if run_ref is not None:
        return [read_uri(uri, options)]
    assert experiment is not None  # a URI without a run names an experiment
    workers = options.workers or SERVER_WORKERS
    try:
        runs = _experiment_runs(server, experiment)
        size = max(1, min(BULK_RUNS, math.ceil(len(runs) / workers)))
        shares = [runs[i:i + size] for i in range(0, len(runs), size)]
        read_share = functools.partial(_read_share, server, urllib.parse.urlsplit(uri).netloc,
                                       options=options, no_bulk=threading.Event())
        read = in_order(read_share, shares, workers=workers)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        raise _unexpected(server, exc) from None
    return [run for share in read for run in share]


def _unexpected(server: _Server, exc: Exception) -> LogReadError:
    """JSON of an unexpected shape: a proxy, another service, or an API change."""
    return server.error(f"unexpected answer from {server.address} ({exc.__class__.__name__}: {exc})",
                        "is this an MLflow tracking server?")


def read_uri(uri: str, options: ReadOptions | None = None) -> Run:
    """Read a run from a running MLflow tracking server.

    ``uri`` is ``mlflow://HOST:PORT/<run-id>`` or ``mlflow://HOST:PORT/<experiment>/<run
    name>`` (plain HTTP), or an experiment that holds one run with metrics; one of several is an
    error that says how to diagnose them all, as a folder of several runs is. Run names are not
    unique in MLflow: when several runs share one, the error lists their ids to address instead.
    """
    options = options or ReadOptions()
    server, experiment, run_ref = _parse_uri(uri)
    try:
        if run_ref is not None:
            run_id = run_ref if experiment is None else _find_run_id(server, experiment, run_ref)
            data = call(server, "runs/get", query={"run_id": run_id}, missing=f"no run with id {run_id!r}")["run"]
            return _build(server.uri, data, lambda key: _history(server, run_id, key), options)
        assert experiment is not None  # a URI without a run names an experiment
        runs = _experiment_runs(server, experiment)
        if len(runs) > 1:
            raise server.error(f"experiment {experiment!r} holds {len(runs)} runs",
                               "diagnose the URI to report on each, or address one as mlflow://HOST:PORT/<run-id>")
        return _build(server.uri, runs[0], lambda key: _history(server, str(runs[0]["info"]["run_id"]), key), options)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        raise _unexpected(server, exc) from None
