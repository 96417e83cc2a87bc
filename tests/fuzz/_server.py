"""A local HTTP server that answers exactly as a test scripts it: truthful MLflow answers, or
lies (a wrong Content-Length, a redirect elsewhere, one byte every few seconds, a page token that
never ends). Raw sockets, so that nothing between the script and the client fixes the lie."""

from __future__ import annotations

import json
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None  # what the header claims (default: the true length)
    drip_s: float = 0.0  # pause between bytes
    raw: bytes | None = None  # the whole answer, status line included, sent as it is


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    pairs: list[tuple[str, str]] = field(default_factory=list)  # the query in order, repeated names kept


def _encode(answer: Answer) -> bytes:
    if answer.raw is not None:
        return answer.raw
    length = len(answer.body) if answer.content_length is None else answer.content_length
    head = [f"HTTP/1.1 {answer.status} X", f"Content-Length: {length}", "Connection: close",
            *(f"{k}: {v}" for k, v in answer.headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(65537).decode("latin-1")
        headers = {}
        while (h := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            key, _, value = h.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length") or 0))
        method, target = (line.split(" ") + ["", ""])[:2]
        parts = urllib.parse.urlsplit(target)
        pairs = urllib.parse.parse_qsl(parts.query)
        request = Request(method, parts.path, dict(pairs), headers, body, pairs)
        self.server.requests.append(request)
        answer = self.server.respond(request)
        data = _encode(answer)
        try:
            if answer.drip_s:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(answer.drip_s)
            else:
                self.wfile.write(data)
        except OSError:
            pass  # the client gave up, as it should


class ScriptedServer(socketserver.ThreadingTCPServer):
    """``with ScriptedServer(respond) as server: ... server.port ...``; ``respond(Request) -> Answer``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, respond: Callable[[Request], Answer]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond
        self.requests: list[Request] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


RUN_ID = "0123456789abcdef0123456789abcdef"


def _points(key: str, values: list[float]) -> list[dict]:
    return [{"key": key, "value": v, "step": s, "timestamp": 0} for s, v in enumerate(values)]


def mlflow_answers(run_id: str = RUN_ID, metrics: dict[str, list[float]] | None = None,
                   params: dict[str, str] | None = None, page: int = 3, *,
                   runs: dict[str, dict[str, list[float]]] | None = None, bulk: bool = True,
                   bulk_cap: int = 25_000) -> Callable[[Request], Answer]:
    """Answers as an MLflow tracking server gives them (REST API 2.0), ``page`` points (or runs)
    a page. ``runs`` (id → metrics) makes an experiment of several runs, named ``run-0``, ...;
    by default it holds the one run ``run_id``, named ``demo``. With ``bulk`` the UI's
    ``/ajax-api/.../get-history-bulk`` answers too, cut at ``bulk_cap`` points as MLflow cuts it
    at 25,000; without, it is a 404 as on a server that lacks it."""
    metrics = metrics if metrics is not None else {
        "train_loss": [1.0 / (s + 1) for s in range(8)], "val_loss": [1.1 / (s + 1) + 0.01 * s for s in range(8)]}
    params = params if params is not None else {"lr": "0.001"}
    runs = runs if runs is not None else {run_id: metrics}
    names = {rid: ("demo" if len(runs) == 1 else f"run-{i}") for i, rid in enumerate(runs)}

    def entry(rid: str) -> dict:
        info = {"run_id": rid, "run_name": names[rid], "status": "FINISHED", "lifecycle_stage": "active",
                "start_time": str(1000 + list(runs).index(rid))}
        return {"info": info, "data": {"metrics": [{"key": k, "value": v[-1], "step": len(v) - 1}
                                                   for k, v in runs[rid].items()],
                                       "params": [{"key": k, "value": v} for k, v in params.items()]}}

    def paged(items: list, start: int, name: str) -> Answer:
        answer: dict = {name: items[start:start + page]}
        if start + page < len(items):
            answer["next_page_token"] = str(start + page)
        return Answer(body=json.dumps(answer).encode())

    def respond(request: Request) -> Answer:
        if request.path == "/ajax-api/2.0/mlflow/metrics/get-history-bulk" and bulk:
            key = request.query["metric_key"]
            asked = sorted({v for k, v in request.pairs if k == "run_id"})
            points = [{**p, "run_id": rid} for rid in asked if key in runs.get(rid, {})
                      for p in _points(key, runs[rid][key])]
            return Answer(body=json.dumps({"metrics": points[:min(int(request.query["max_results"]), bulk_cap)]}).encode())
        endpoint = request.path.removeprefix("/api/2.0/mlflow/")
        if endpoint == "runs/get":
            if request.query.get("run_id") not in runs:
                return Answer(404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no run"}).encode())
            return Answer(body=json.dumps({"run": entry(request.query["run_id"])}).encode())
        if endpoint == "metrics/get-history":
            values = runs[request.query["run_id"]][request.query["metric_key"]]
            return paged(_points(request.query["metric_key"], values), int(request.query.get("page_token") or 0),
                         "metrics")
        if endpoint == "experiments/get-by-name":
            return Answer(body=json.dumps({"experiment": {"experiment_id": "0"}}).encode())
        if endpoint == "runs/search":
            query = json.loads(request.body or b"{}")
            listed = [entry(rid) for rid in runs
                      if f"'{names[rid]}'" in query.get("filter", f"'{names[rid]}'")]
            return paged(listed, int(query.get("page_token") or 0), "runs")
        return Answer(404, b'{"message": "no such endpoint"}')

    return respond
