"""``mlflow://`` runs: one run read from a live MLflow tracking server over its REST API.

``mlflow://HOST:PORT/<run-id>`` or ``mlflow://HOST:PORT/<experiment-name>/<run-name>``, spoken
as plain HTTP to the endpoints documented at
https://mlflow.org/docs/latest/api_reference/rest-api.html (``runs/get``,
``metrics/get-history`` paged with ``page_token``, ``experiments/get-by-name``, ``runs/search``).
``mlflow://USER:PASSWORD@HOST:PORT/...`` sends HTTP Basic credentials (``mlflow server
--app-name basic-auth``).

A server is somebody else's machine, so everything it can send is bounded:

* one total deadline per request (connect, send, status, headers and body together:
  ``REQUEST_DEADLINE_S``), checked before every socket read, since a socket timeout alone
  restarts with every byte and a server dripping one byte every 5 s would never trip it; and
  one deadline for the whole run (``READ_DEADLINE_S``);
* an answer larger than ``MAX_ANSWER_BYTES`` is refused, whatever its ``Content-Length`` says;
  a truncated one is an error, not a half-read run;
* a metric's history stops at ``MAX_POINTS`` points, and a page token the server repeats (it
  would page forever) is an error;
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
import socket
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
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
MAX_REDIRECTS = 3
_READ_SIZE = 64 << 10
_REDIRECTS = (301, 302, 303, 307, 308)
_USAGE = "write mlflow://HOST:PORT/RUN_ID or mlflow://HOST:PORT/EXPERIMENT/RUN_NAME"


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

    def error(self, message: str, hint: str | None = None) -> LogReadError:
        return LogReadError(self.redact(message), source=self.uri, hint=self.redact(hint) if hint else None)


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


def _parse_uri(uri: str) -> tuple[_Server, str | None, str]:
    """``mlflow://host:port/<run-id>`` → (server, None, run id);
    ``mlflow://host:port/<experiment>/<run name>`` → (server, experiment, run name).

    The experiment name is everything before the last ``/`` (Databricks-style names such as
    ``/Users/me/exp`` are written ``mlflow://host//Users/me/exp/<run>``); parts may be
    percent-encoded.
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
        raise server.error("the URI names no run", _USAGE)
    if "/" not in rest:
        return server, None, rest
    experiment, run_name = rest.rsplit("/", 1)
    if not experiment or not run_name:
        raise server.error("the URI has an empty experiment or run name", "write mlflow://HOST:PORT/EXPERIMENT/RUN_NAME")
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


def call(server: _Server, endpoint: str, *, query: dict[str, Any] | None = None,
         body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One REST call, answered as a JSON object; every failure becomes a LogReadError naming the URI."""
    target = f"/api/2.0/mlflow/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
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
            raise server.error(f"not found on the tracking server: {message}",
                               "check the run id, or the experiment and run names, in the MLflow UI")
        hint = "check the user name and password in the URI" if status in (401, 403) else None
        raise server.error(f"the tracking server answered HTTP {status} to {endpoint}: {message}", hint)
    if not isinstance(answer, dict) or not 200 <= status < 300:
        raise server.error(f"{endpoint} did not answer JSON: is {server.address} an MLflow tracking server?")
    return answer


def _find_run_id(server: _Server, experiment: str, run_name: str) -> str:
    exp = call(server, "experiments/get-by-name", query={"experiment_name": experiment})
    exp_id = exp.get("experiment", {}).get("experiment_id")
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


def _history(server: _Server, run_id: str, key: str) -> Iterator[tuple[str, float, float | None]]:
    """All points of one metric, a page at a time (``next_page_token`` until absent)."""
    from .mlflow import metric_value

    token = None
    seen: set[int] = set()
    points = 0
    while True:
        query = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
        if token:
            query["page_token"] = token
        page = call(server, "metrics/get-history", query=query)
        for m in page.get("metrics", []):
            points += 1
            if points > MAX_POINTS:
                raise server.error(f"metric {key!r} has more than {MAX_POINTS:,} points")
            # proto3 JSON leaves out fields at their default: a missing step or value is 0.
            yield key, metric_value(m.get("value", 0.0)), float(m.get("step", 0))
        token = page.get("next_page_token")
        if not token:
            return
        token = str(token)
        if hash(token) in seen or len(seen) > MAX_POINTS // HISTORY_PAGE:
            raise server.error(f"the tracking server keeps paging the history of {key!r} (page token repeated)",
                               "is this an MLflow tracking server?")
        seen.add(hash(token))


def read_uri(uri: str, options: ReadOptions | None = None) -> Run:
    """Read a run from a running MLflow tracking server.

    ``uri`` is ``mlflow://HOST:PORT/<run-id>`` or ``mlflow://HOST:PORT/<experiment>/<run
    name>`` (plain HTTP). Run names are not unique in MLflow: when several runs share one, the
    error lists their ids to address instead.
    """
    server, experiment, run_ref = _parse_uri(uri)
    try:
        return _read_run(server, experiment, run_ref, options or ReadOptions())
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        # JSON of an unexpected shape: a proxy, another service, or an API change.
        raise server.error(f"unexpected answer from {server.address} ({exc.__class__.__name__}: {exc})",
                           "is this an MLflow tracking server?") from None


def _read_run(server: _Server, experiment: str | None, run_ref: str, options: ReadOptions) -> Run:
    from .mlflow import EPOCH_KEY, add_points, finish_run

    run_id = run_ref if experiment is None else _find_run_id(server, experiment, run_ref)
    data = call(server, "runs/get", query={"run_id": run_id})["run"]
    info, content = data.get("info", {}), data.get("data", {})
    keys = sorted({str(m["key"]) for m in content.get("metrics", [])})
    params = {str(p["key"]): p.get("value", "") for p in content.get("params", [])}
    builder = RunBuilder(server.uri, "mlflow", options)
    epochs: dict[float, float] = {}
    if EPOCH_KEY in keys:
        keys.remove(EPOCH_KEY)
        epochs = {step: value for _, value, step in _history(server, run_id, EPOCH_KEY) if step is not None}
    for key in keys:
        add_points(builder, _history(server, run_id, key), epochs)
    if info.get("lifecycle_stage") == "deleted":
        builder.warn("run is marked deleted in MLflow")
    return finish_run(builder, name=info.get("run_name") or run_id, status=info.get("status"), params=params,
                  where=server.uri)
