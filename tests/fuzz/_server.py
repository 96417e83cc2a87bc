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
        request = Request(method, parts.path, dict(urllib.parse.parse_qsl(parts.query)), headers, body)
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


def mlflow_answers(run_id: str = "r1", metrics: dict[str, list[float]] | None = None,
                   params: dict[str, str] | None = None, page: int = 3) -> Callable[[Request], Answer]:
    """Answers as an MLflow tracking server gives them (REST API 2.0), ``page`` points a page."""
    metrics = metrics if metrics is not None else {
        "train_loss": [1.0 / (s + 1) for s in range(8)], "val_loss": [1.1 / (s + 1) + 0.01 * s for s in range(8)]}
    params = params if params is not None else {"lr": "0.001"}

    def respond(request: Request) -> Answer:
        endpoint = request.path.removeprefix("/api/2.0/mlflow/")
        if endpoint == "runs/get":
            if request.query.get("run_id") != run_id:
                return Answer(404, json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no run"}).encode())
            run = {"info": {"run_id": run_id, "run_name": "demo", "status": "FINISHED", "lifecycle_stage": "active"},
                   "data": {"metrics": [{"key": k, "value": v[-1], "step": len(v) - 1} for k, v in metrics.items()],
                            "params": [{"key": k, "value": v} for k, v in params.items()]}}
            return Answer(body=json.dumps({"run": run}).encode())
        if endpoint == "metrics/get-history":
            values = metrics[request.query["metric_key"]]
            start = int(request.query.get("page_token") or 0)
            points = [{"key": request.query["metric_key"], "value": v, "step": s, "timestamp": 0}
                      for s, v in enumerate(values)][start:start + page]
            answer = {"metrics": points}
            if start + page < len(values):
                answer["next_page_token"] = str(start + page)
            return Answer(body=json.dumps(answer).encode())
        if endpoint == "experiments/get-by-name":
            return Answer(body=json.dumps({"experiment": {"experiment_id": "0"}}).encode())
        if endpoint == "runs/search":
            return Answer(body=json.dumps({"runs": [{"info": {"run_id": run_id}}]}).encode())
        return Answer(404, b'{"message": "no such endpoint"}')

    return respond
