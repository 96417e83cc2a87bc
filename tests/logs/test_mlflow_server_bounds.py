"""The ``mlflow://`` reader against servers that lie (issue 15): it is bounded and private.

One total deadline per request, no redirects to another host or port, a cap on each answer and
on the pages of a history, and the password in the URI never shown. The servers are scripted
(tests/fuzz/_server.py); tests/logs/test_mlflow.py reads a real ``mlflow server``.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs import mlflow_server
from regadvisor.logs.read import read_log
from tests.fuzz._server import RUN_ID, Answer, ScriptedServer, mlflow_answers


LEAK, AWAY = "a" * 32, "b" * 32  # run ids whose answers the credentials test scripts


def uri(server: ScriptedServer, run: str = RUN_ID, userinfo: str = "") -> str:
    return f"mlflow://{userinfo}127.0.0.1:{server.port}/{run}"


def test_a_truthful_server_reads_page_by_page():
    with ScriptedServer(mlflow_answers(page=3)) as server:
        run = read_log(uri(server))
    assert list(run.series["val_loss"].steps) == [float(s) for s in range(8)] and run.facts["lr"] == 0.001
    assert sum(r.path.endswith("get-history") for r in server.requests) == 6  # 8 points, 3 a page, 2 metrics


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_port_is_refused_and_nothing_is_sent_there(status):
    with ScriptedServer(mlflow_answers()) as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.port}/api/2.0/mlflow/runs/get?run_id={RUN_ID}"
        with ScriptedServer(lambda r: Answer(status, b"", {"Location": target})) as server:
            with pytest.raises(LogReadError, match="redirects runs/get to another address"):
                read_log(uri(server))
        assert elsewhere.requests == []


def test_a_redirect_on_the_same_host_and_port_is_followed():
    truthful = mlflow_answers()

    def moved(request):  # the API lives under /moved/; every call is sent there first
        if request.path.startswith("/moved/"):
            request.path = request.path.removeprefix("/moved")
            return truthful(request)
        query = "&".join(f"{k}={v}" for k, v in request.query.items())
        return Answer(307, b"", {"Location": f"/moved{request.path}?{query}"})

    with ScriptedServer(moved) as server:
        assert "val_loss" in read_log(uri(server)).series
    with ScriptedServer(lambda r: Answer(302, b"", {"Location": r.path})) as server:
        with pytest.raises(LogReadError, match="redirected runs/get more than 3 times"):
            read_log(uri(server))


def test_a_truncated_answer_is_a_read_error():
    body = json.dumps({"run": {"info": {}, "data": {}}}).encode()
    with ScriptedServer(lambda r: Answer(body=body[:10], content_length=len(body))) as server:
        with pytest.raises(LogReadError, match="broke off its answer to runs/get"):
            read_log(uri(server))


def test_a_server_dripping_bytes_meets_one_deadline_for_the_whole_answer(monkeypatch):
    monkeypatch.setattr(mlflow_server, "REQUEST_DEADLINE_S", 1.0)
    start = time.monotonic()
    with ScriptedServer(lambda r: Answer(body=b" " * 200 + b"{}", drip_s=0.2)) as server:
        with pytest.raises(LogReadError, match="did not answer runs/get within 1 s"):
            read_log(uri(server))
    assert time.monotonic() - start < 20  # a timeout per read would wait 0.2 s a byte for 40 s and more


@pytest.mark.parametrize("declared", [None, 10**12])
def test_an_answer_larger_than_the_cap_is_refused(monkeypatch, declared):
    monkeypatch.setattr(mlflow_server, "MAX_ANSWER_BYTES", 1000)
    with ScriptedServer(lambda r: Answer(body=b" " * 5000 + b"{}", content_length=declared)) as server:
        with pytest.raises(LogReadError, match="larger than 0 MiB"):
            read_log(uri(server))


def test_a_page_token_that_repeats_stops_the_history():
    truthful = mlflow_answers()

    def respond(request):
        if request.path.endswith("get-history"):
            return Answer(body=b'{"metrics": [{"value": 1.0, "step": 1}], "next_page_token": "again"}')
        return truthful(request)

    with ScriptedServer(respond) as server:
        with pytest.raises(LogReadError, match="keeps paging the history"):
            read_log(uri(server))


def test_endless_fresh_page_tokens_stop_at_the_page_cap(monkeypatch):
    monkeypatch.setattr(mlflow_server, "HISTORY_PAGE", 1)
    monkeypatch.setattr(mlflow_server, "MAX_POINTS", 20)
    truthful = mlflow_answers()
    pages = []

    def respond(request):
        if request.path.endswith("get-history"):
            pages.append(1)
            return Answer(body=json.dumps({"metrics": [], "next_page_token": f"t{len(pages)}"}).encode())
        return truthful(request)

    with ScriptedServer(respond) as server:
        with pytest.raises(LogReadError, match="keeps paging"):
            read_log(uri(server))
    assert len(pages) <= 22


def test_more_points_than_the_cap_is_a_read_error(monkeypatch):
    monkeypatch.setattr(mlflow_server, "MAX_POINTS", 5)
    with ScriptedServer(mlflow_answers(page=3)) as server:
        with pytest.raises(LogReadError, match="more than 5 points"):
            read_log(uri(server))


def test_credentials_are_sent_and_never_shown():
    truthful = mlflow_answers()

    def respond(request):
        if request.path.endswith("runs/get") and request.query.get("run_id") == LEAK:
            return Answer(500, json.dumps({"message": f"bad auth {request.headers.get('authorization')} "
                                                      "for alice:s3cr@t and s3cr%40t"}).encode())
        if request.path.endswith("runs/get") and request.query.get("run_id") == AWAY:
            return Answer(302, b"", {"Location": "http://alice:s3cr%40t@127.0.0.2:1/x"})
        return truthful(request)

    with ScriptedServer(respond) as server:
        run = read_log(uri(server, userinfo="alice:s3cr%40t@"))
        assert server.requests[0].headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()
        assert run.source == f"mlflow://alice:***@127.0.0.1:{server.port}/{RUN_ID}"
        for run_id in (LEAK, AWAY, "c" * 32):
            with pytest.raises(LogReadError) as err:
                read_log(uri(server, run_id, userinfo="alice:s3cr%40t@"))
            message = str(err.value)
            assert "s3cr" not in message and "YWxpY2U6czNjckB0" not in message and "***" in message, message


def test_a_dead_server_names_the_uri_without_its_password():
    with ScriptedServer(mlflow_answers()) as server:
        port = server.port
    with pytest.raises(LogReadError, match="cannot reach") as err:
        read_log(f"mlflow://bob:hunter2@127.0.0.1:{port}/{RUN_ID}")
    assert "hunter2" not in str(err.value) and "bob:***@" in str(err.value)
