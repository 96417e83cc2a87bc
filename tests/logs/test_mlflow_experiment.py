"""A whole MLflow experiment read from a tracking server (``mlflow://HOST:PORT/<experiment>``).

Against a scripted server (tests/fuzz/_server.py), so that the requests can be counted and the
server can cut, refuse or lie; tests/logs/test_mlflow.py reads an experiment from a real
``mlflow server`` too.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs import mlflow_server
from regadvisor.logs.read import find_runs, read_log, read_runs
from regadvisor.logs.registry import ReadOptions
from tests.conftest import run_cli
from tests.fuzz._server import Answer, ScriptedServer, mlflow_answers

RUNS = {f"{i:x}" * 32: {"train_loss": [1.0 / (s + 1) + 0.01 * i for s in range(8)],
                        "val_loss": [1.1 / (s + 1) + 0.02 * s * (i % 2) for s in range(8)]}
        for i in range(1, 6)}


def experiment_uri(server: ScriptedServer, name: str = "exp") -> str:
    return f"mlflow://127.0.0.1:{server.port}/{name}"


def endpoints(server: ScriptedServer) -> list[str]:
    return [r.path.rsplit("/mlflow/", 1)[1] for r in server.requests]


def series(run) -> dict:
    return {name: (list(s.values), list(s.steps)) for name, s in run.series.items()}


def test_every_run_is_read_in_start_order_with_one_request_a_metric_per_share():
    with ScriptedServer(mlflow_answers(runs=RUNS)) as server:
        runs = read_runs(experiment_uri(server), options=ReadOptions(workers=2))
        asked = endpoints(server)
        alone = [read_log(f"mlflow://127.0.0.1:{server.port}/{run_id}") for run_id in RUNS]
    assert [run.name for run in runs] == [f"run-{i}" for i in range(5)]
    assert [run.source for run in runs] == [f"mlflow://127.0.0.1:{server.port}/{run_id}" for run_id in RUNS]
    assert [series(run) for run in runs] == [series(run) for run in alone]
    assert [run.facts for run in runs] == [run.facts for run in alone]
    # 2 shares (3 runs and 2) x 2 metrics; the listing already held params and latest values.
    assert asked.count("metrics/get-history-bulk") == 4
    assert "runs/get" not in asked and "metrics/get-history" not in asked


@pytest.mark.parametrize("name, asked_for", [("exp", "exp"), ("exp/", "exp"), ("team/exp/", "team/exp"),
                                             ("%2Fteam%2Fexp/", "/team/exp")])
def test_a_path_without_a_run_names_an_experiment(name, asked_for):
    with ScriptedServer(mlflow_answers(runs=RUNS)) as server:
        assert len(read_runs(experiment_uri(server, name))) == len(RUNS)
    assert server.requests[0].query == {"experiment_name": asked_for}


def test_a_run_id_or_a_run_name_still_reads_one_run():
    run_id = next(iter(RUNS))
    with ScriptedServer(mlflow_answers(runs=RUNS)) as server:
        assert [r.name for r in read_runs(experiment_uri(server, run_id))] == ["run-0"]
        assert [r.name for r in read_runs(experiment_uri(server, "exp/run-3"))] == ["run-3"]
        assert find_runs(experiment_uri(server)) == [experiment_uri(server)]  # read together, not listed apart


def test_an_answer_cut_short_is_asked_again_from_the_run_it_cut(monkeypatch):
    monkeypatch.setattr(mlflow_server, "BULK_POINTS", 20)  # 8 points a run: every answer holds 2 whole runs and a part
    with ScriptedServer(mlflow_answers(runs=RUNS, bulk_cap=20)) as whole:
        expected = [series(r) for r in read_runs(experiment_uri(whole), options=ReadOptions(workers=1))]
    with ScriptedServer(mlflow_answers(runs=RUNS, bulk_cap=20)) as server:
        runs = read_runs(experiment_uri(server), options=ReadOptions(workers=1))
    assert [series(r) for r in runs] == expected
    assert all(len(s[0]) == 8 for r in runs for s in series(r).values())
    bulk = [r for r in server.requests if r.path.endswith("get-history-bulk")]
    assert [sum(k == "run_id" for k, _ in r.pairs) for r in bulk] == [5, 3, 1] * 2  # per metric: 2 runs kept a time


def test_a_run_that_alone_fills_an_answer_is_read_page_by_page(monkeypatch):
    monkeypatch.setattr(mlflow_server, "BULK_POINTS", 5)
    with ScriptedServer(mlflow_answers(runs=RUNS, bulk_cap=5)) as server:
        runs = read_runs(experiment_uri(server), options=ReadOptions(workers=1))
    assert all(len(s[0]) == 8 for r in runs for s in series(r).values())
    assert endpoints(server).count("metrics/get-history") == 5 * 2 * 3  # 8 points, 3 a page


def test_a_server_without_the_bulk_endpoint_is_read_run_by_run():
    with ScriptedServer(mlflow_answers(runs=RUNS)) as with_bulk:
        expected = [series(r) for r in read_runs(experiment_uri(with_bulk))]
    asked = {}
    for workers in (1, 8):
        with ScriptedServer(mlflow_answers(runs=RUNS, bulk=False)) as server:
            assert [series(r) for r in read_runs(experiment_uri(server), options=ReadOptions(workers=workers))] == expected
        assert endpoints(server).count("metrics/get-history") == 5 * 2 * 3  # 8 points, 3 a page
        asked[workers] = endpoints(server).count("metrics/get-history-bulk")
    # Asked once, then never again; shares in flight together may each have asked before the answer.
    assert asked[1] == 1 and asked[8] <= 5


def test_shares_are_read_concurrently_up_to_workers():
    truthful = mlflow_answers(runs=RUNS)
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def slow(request):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        return truthful(request)

    for workers, expected in ((1, 1), (5, 5)):
        most[0] = 0
        with ScriptedServer(slow) as server:
            assert len(read_runs(experiment_uri(server), options=ReadOptions(workers=workers))) == 5
        assert most[0] == expected


def test_read_log_of_an_experiment_reads_its_only_run_and_refuses_several():
    only = dict(list(RUNS.items())[:1])
    with ScriptedServer(mlflow_answers(runs=only)) as server:
        assert read_log(experiment_uri(server)).name == "demo"
    with (ScriptedServer(mlflow_answers(runs=RUNS)) as server,
          pytest.raises(LogReadError, match="experiment 'exp' holds 5 runs .*diagnose the URI")):
        read_log(experiment_uri(server))


def test_an_unknown_experiment_is_one_error_naming_it():
    missing = json.dumps({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Could not find experiment"}).encode()
    with (ScriptedServer(lambda r: Answer(404, missing)) as server,
          pytest.raises(LogReadError, match="no experiment named 'nope' on the tracking server") as err):
        read_runs(experiment_uri(server, "nope"))
    assert str(err.value).startswith(experiment_uri(server, "nope"))


def test_runs_without_metrics_are_left_out_and_none_left_is_an_error():
    runs = {**RUNS, "f" * 32: {}}
    with ScriptedServer(mlflow_answers(runs=runs)) as server:
        assert len(read_runs(experiment_uri(server))) == len(RUNS)
    with (ScriptedServer(mlflow_answers(runs={"f" * 32: {}})) as server,
          pytest.raises(LogReadError, match="has 1 run.s., none with a metric logged yet")):
        read_runs(experiment_uri(server))
    with (ScriptedServer(mlflow_answers(runs={})) as server,
          pytest.raises(LogReadError, match="has no active runs")):
        read_runs(experiment_uri(server))


def test_a_bulk_answer_that_names_a_run_not_asked_for_is_an_error(monkeypatch):
    monkeypatch.setattr(mlflow_server, "BULK_POINTS", 2)
    truthful = mlflow_answers(runs=RUNS)

    def lying(request):
        if request.path.endswith("get-history-bulk"):
            points = [{"key": "val_loss", "value": 1.0, "step": 0, "run_id": "0" * 32}] * 2
            return Answer(body=json.dumps({"metrics": points}).encode())
        return truthful(request)

    with (ScriptedServer(lying) as server,
          pytest.raises(LogReadError, match="names a run not asked for")):
        read_runs(experiment_uri(server))


def test_the_cli_compares_every_run_and_fails_as_one_line_when_the_server_does():
    with ScriptedServer(mlflow_answers(runs=RUNS)) as server:
        done = run_cli("diagnose", experiment_uri(server), "--fail-on", "never")
        as_json = run_cli("diagnose", experiment_uri(server), "--format", "json", "--fail-on", "never", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "Runs compared" in done.stdout and all(f"run-{i}" in done.stdout for i in range(5))
    assert [r["source"] for r in json.loads(as_json.stdout)] == [f"{experiment_uri(server, run_id)}" for run_id in RUNS]

    truthful = mlflow_answers(runs=RUNS)

    def broken(request):
        return Answer(500, b'{"message": "database is locked"}') if request.path.endswith("bulk") else truthful(request)

    with ScriptedServer(broken) as server:
        failed = run_cli("diagnose", experiment_uri(server))
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "Traceback" not in failed.stderr
    assert experiment_uri(server) in failed.stderr and "HTTP 500 to metrics/get-history-bulk" in failed.stderr


def test_workers_must_be_positive():
    done = run_cli("diagnose", "mlflow://127.0.0.1:1/exp", "--workers", "0")
    assert done.returncode == 2 and "--workers 0 is not a positive number" in done.stderr
