"""The MLflow reader against stores written by the real ``mlflow`` package.

Every store here is produced by MLflow itself (``MlflowClient`` on a ``file:`` store, on a
``sqlite:`` backend, and on a live ``mlflow server``), so the tests pin regadvisor to what
MLflow actually writes, not to our reading of its docs. Those need the ``mlflow`` package
(test extras) and skip without it; regadvisor itself never imports it. The committed
``mlruns`` fixture, the damaged inputs and the URI errors are tested without it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs import mlflow as reader
from regadvisor.logs import mlflow_server
from regadvisor.logs.registry import formats

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "mlflow" / "mlruns"
EPOCHS = 10
STEPS_PER_EPOCH = 50
PARAMS = {"lr": "0.001", "batch_size": "64", "optimizer": "AdamW", "weight_decay": "0.0", "dropout": "0.1",
          "epochs": str(EPOCHS)}


def curves(shift: float = 0.0) -> dict[str, list[float]]:
    """Train loss keeps falling; validation loss bottoms out at epoch 4 and climbs (overfitting)."""
    return {
        "train_loss": [1.0 / (e + 1) + shift for e in range(EPOCHS)],
        "val_loss": [0.5 + 0.04 * (e - 4) ** 2 + shift for e in range(EPOCHS)],
        "val/acc": [0.9 - 0.01 * abs(e - 4) for e in range(EPOCHS)],
    }


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def log_run(client, experiment: str, name: str, shift: float = 0.0,
            lightning_style: bool = False) -> tuple[str, dict[str, list[float]]]:
    """Log one run; with ``lightning_style`` steps are global steps and ``epoch`` is a metric,
    as Lightning's MLFlowLogger writes them."""
    from mlflow.entities import Metric, Param

    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    run = client.create_run(exp_id, run_name=name)
    now = int(time.time() * 1000)
    values = curves(shift)
    metrics = []
    for e in range(EPOCHS):
        step = (e + 1) * STEPS_PER_EPOCH if lightning_style else e
        metrics += [Metric(key, series[e], now + e, step) for key, series in values.items()]
        if lightning_style:
            metrics.append(Metric("epoch", float(e), now + e, step))
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in PARAMS.items()])
    client.set_terminated(run.info.run_id)
    return run.info.run_id, values


def assert_run(run, values: dict[str, list[float]], steps: list[float]) -> None:
    assert set(run.series) == {"train_loss", "val_loss", "val_acc"}
    for raw, expected in values.items():
        series = run.series[{"val/acc": "val_acc"}.get(raw, raw)]
        assert series.original_name == raw
        assert list(series.values) == expected
        assert list(series.steps) == steps
    assert run.facts["learning_rate"] == 0.001
    assert run.facts["batch_size"] == 64
    assert run.facts["weight_decay"] == 0.0
    assert run.facts["dropout"] == 0.1
    assert run.facts["max_epochs"] == EPOCHS
    assert str(run.facts["optimizer"]).lower() == "adamw"


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory) -> Path:
    """An MLflow database with its schema migrations done, copied by every SQLite user below:
    the migrations are most of the cost of a first MLflow start."""
    pytest.importorskip("mlflow")
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    client_for(f"sqlite:///{db}").search_experiments()
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_process(tmp_path_factory, empty_db):
    """A real ``mlflow server`` (subprocess, own SQLite backend, free local port), started by the
    first MLflow fixture so that it boots while the file-store and SQLite tests run; stopped in
    ``finally``."""
    home = tmp_path_factory.mktemp("server")
    shutil.copy(empty_db, home / "server.db")
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{home / 'server.db'}",
           "--default-artifact-root", (home / "artifacts").as_uri(), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    log = (home / "server.log").open("wb")
    # Own process group: the CLI starts the web server as a child, and both must go at the end.
    # No background job runner (MLflow 3's GenAI jobs): one process fewer to start and to stop.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=home, env=env, start_new_session=True)
    try:
        yield proc, port, home / "server.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def server(server_process):
    proc, port, log = server_process
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"mlflow server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    client = client_for(base)
    run_id, values = log_run(client, "remote demo", "overfit-remote", lightning_style=True)
    return port, run_id, values, client


@pytest.fixture(scope="module")
def file_store(tmp_path_factory, server_process):  # server_process: only to start its boot early
    root = tmp_path_factory.mktemp("file_store") / "mlruns"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x keeps the file store behind this flag
        client = client_for(root.as_uri())
        first = log_run(client, "demo", "overfit-a", lightning_style=True)
        time.sleep(0.01)
        second = log_run(client, "demo", "overfit-b", shift=0.1)
    return root, first, second


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory, empty_db):
    db = tmp_path_factory.mktemp("sqlite") / "mlflow.db"
    shutil.copy(empty_db, db)
    client = client_for(f"sqlite:///{db}")
    first = log_run(client, "demo", "overfit-a")
    second = log_run(client, "demo", "overfit-b", shift=0.1)
    nan_run = log_run(client, "other", "diverged")[0]
    from mlflow.entities import Metric

    client.log_batch(nan_run, metrics=[Metric("train_loss", v, 0, 100 + i)
                                       for i, v in enumerate([math.nan, math.inf, -math.inf])])
    return db, first, second, nan_run


# --------------------------------------------------------------------------- file store


def test_file_store_run_reads_value_for_value(file_store):
    root, (run_id, values), _ = file_store
    run_dir = next(root.glob(f"*/{run_id}"))
    run = reader.read(run_dir)
    assert run.name == "overfit-a" and run.format == "mlflow"
    assert_run(run, values, [float((e + 1) * STEPS_PER_EPOCH) for e in range(EPOCHS)])
    # The logged `epoch` metric is the epoch index of each global step, not a curve.
    assert list(run.series["val_loss"].epochs) == [float(e) for e in range(EPOCHS)]
    assert "epoch" not in run.series
    assert run.warnings == []


def test_find_runs_lists_runs_of_root_experiment_and_project(file_store):
    root, (first, _), (second, _) = file_store
    expected = [next(root.glob(f"*/{first}")), next(root.glob(f"*/{second}"))]
    assert reader.find_runs(root) == expected
    assert reader.find_runs(expected[0].parent) == expected
    assert reader.find_runs(root.parent) == expected
    assert reader.find_runs(expected[1]) == [expected[1]]


def test_folder_with_several_runs_asks_which(file_store):
    root, *_ = file_store
    with pytest.raises(LogReadError, match="2 MLflow runs here"):
        reader.read(root)


def test_sniff_claims_run_experiment_and_root(file_store):
    root, (first, _), _ = file_store
    fmt = formats()["mlflow"]
    run_dir = next(root.glob(f"*/{first}"))
    assert fmt.directory
    assert fmt.sniff(run_dir, b"") == 1.0
    assert fmt.sniff(run_dir.parent, b"") > 0.5
    assert fmt.sniff(root, b"") > 0.5
    assert fmt.sniff(run_dir / "metrics", b"") == 0.0


def test_garbage_line_is_skipped_with_its_line_number(file_store, tmp_path):
    root, (first, values), _ = file_store
    run_dir = tmp_path / "run"
    shutil.copytree(next(root.glob(f"*/{first}")), run_dir)
    metric = run_dir / "metrics" / "train_loss"
    lines = metric.read_text().splitlines()
    lines.insert(3, "1700000000000 not-a-number 3")
    lines.insert(5, "\x00\x00garbage")
    metric.write_text("\n".join(lines) + "\n")
    run = reader.read(run_dir)
    assert list(run.series["train_loss"].values) == values["train_loss"]
    assert any("skipped 2 malformed line(s), first at line 4" in w for w in run.warnings)


def test_committed_file_store_without_mlflow_installed():
    run_dir = FIXTURE / "220663336688528422" / "4f8a5ef6d9d440d8b1a1465849fa80db"
    assert reader.find_runs(FIXTURE) == [run_dir] == reader.find_runs(FIXTURE.parent)
    run = reader.read(FIXTURE)  # an mlruns/ root with one run reads as that run
    assert run.name == "mlp-no-reg" and run.source == str(run_dir)
    # The formulas of make_mlruns.py, rounded as it rounds them.
    assert list(run.series["train_loss"].values) == [round(2.0 * 0.7 ** e, 6) for e in range(8)]
    assert list(run.series["val_loss"].values) == [
        round(1.2 - 0.1 * min(e, 3) + 0.08 * max(0, e - 3), 6) for e in range(8)]
    assert list(run.series["val_acc"].steps) == [float((e + 1) * 100 - 1) for e in range(8)]
    assert list(run.series["val_acc"].epochs) == [float(e) for e in range(8)]
    assert run.facts["learning_rate"] == 0.001 and run.facts["batch_size"] == 128
    assert run.facts["weight_decay"] == 0 and run.facts["dropout"] == 0.0 and run.facts["max_epochs"] == 8
    assert run.facts["model/hidden"] == 512
    assert run.warnings == []


def test_run_without_metrics_is_a_read_error(tmp_path):
    run_dir = tmp_path / "0" / "abc"
    (run_dir / "params").mkdir(parents=True)
    (run_dir / "meta.yaml").write_text("run_id: abc\nrun_name: empty\nstatus: 1\n")
    with pytest.raises(LogReadError, match="has no metrics"):
        reader.read(run_dir)


# --------------------------------------------------------------------------- SQLite backend


def test_sqlite_run_by_id_and_by_name(sqlite_store):
    db, (first, values), (_, values_b), _ = sqlite_store
    run = reader.read(Path(f"{db}#{first}"))
    assert run.source == f"{db}#{first}" and run.name == "overfit-a"
    assert_run(run, values, [float(e) for e in range(EPOCHS)])
    by_name = reader.read(Path(f"{db}#overfit-b"))
    assert list(by_name.series["val_loss"].values) == values_b["val_loss"]


def test_sqlite_find_runs_and_ambiguity(sqlite_store):
    db, (first, _), (second, _), nan_run = sqlite_store
    assert reader.find_runs(db) == [Path(f"{db}#{r}") for r in (first, second, nan_run)]
    assert reader.find_runs(db.parent)[-3:] == [Path(f"{db}#{r}") for r in (first, second, nan_run)]
    with pytest.raises(LogReadError, match="3 runs match; choose one"):
        reader.read(db)
    with pytest.raises(LogReadError, match="no run with id or name 'nope'"):
        reader.read(Path(f"{db}#nope"))
    assert formats()["mlflow-sqlite"].sniff(db, db.read_bytes()[:100]) == 0.95


def test_sqlite_keeps_nan_and_inf(sqlite_store):
    db, *_, nan_run = sqlite_store
    loss = reader.read(Path(f"{db}#{nan_run}")).series["train_loss"]
    tail = list(loss.values)[-3:]
    assert math.isnan(tail[0]) and tail[1:] == [math.inf, -math.inf]


def test_damaged_database_is_a_read_error_never_a_traceback(sqlite_store, tmp_path):
    import random

    db, (first, _), *_ = sqlite_store
    original = db.read_bytes()
    rng = random.Random(7)
    for i in range(40):
        data = bytearray(original)
        if i % 2:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 50)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        damaged = tmp_path / f"damaged{i}.db"
        damaged.write_bytes(bytes(data))
        for address in (damaged, Path(f"{damaged}#{first}")):
            try:
                reader.read(address)
            except LogReadError as exc:
                assert str(damaged) in str(exc)


def test_non_mlflow_sqlite_is_explained(tmp_path):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    assert 0 < formats()["mlflow-sqlite"].sniff(db, db.read_bytes()[:100]) < 0.5
    with pytest.raises(LogReadError, match="without MLflow's tracking tables") as err:
        reader.read(db)
    assert str(db) in str(err.value)


def test_non_sqlite_file_with_db_name_is_a_read_error(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(LogReadError, match="cannot open as an SQLite database"):
        reader.read(db)


# --------------------------------------------------------------------------- tracking server


def test_server_run_by_id_with_paging(server, monkeypatch):
    port, run_id, values, _ = server
    monkeypatch.setattr(mlflow_server, "HISTORY_PAGE", 3)  # 10 points per metric → 4 pages each
    run = mlflow_server.read_uri(f"mlflow://127.0.0.1:{port}/{run_id}")
    assert run.name == "overfit-remote" and run.source == f"mlflow://127.0.0.1:{port}/{run_id}"
    assert_run(run, values, [float((e + 1) * STEPS_PER_EPOCH) for e in range(EPOCHS)])
    assert list(run.series["train_loss"].epochs) == [float(e) for e in range(EPOCHS)]


def test_server_run_by_experiment_and_name(server):
    port, _, values, _ = server
    run = mlflow_server.read_uri(f"mlflow://127.0.0.1:{port}/remote%20demo/overfit-remote")
    assert list(run.series["val_loss"].values) == values["val_loss"]


def test_server_ambiguous_name_lists_ids(server):
    port, _, _, client = server
    other, _ = log_run(client, "remote demo", "twin")
    log_run(client, "remote demo", "twin")
    with pytest.raises(LogReadError, match="2 runs in 'remote demo' are named 'twin'") as err:
        mlflow_server.read_uri(f"mlflow://127.0.0.1:{port}/remote demo/twin")
    assert other in str(err.value)


@pytest.mark.parametrize("path, message", [
    ("0123456789abcdef0123456789abcdef", "no run with id '0123456789abcdef0123456789abcdef' on the tracking server"),
    ("no such experiment/run", "no experiment named 'no such experiment' on the tracking server"),
    ("no such experiment", "no experiment named 'no such experiment' on the tracking server"),
    ("remote demo/no such run", "has no run named 'no such run'"),
])
def test_server_unknown_run_names_the_uri(server, path, message):
    port, *_ = server
    uri = f"mlflow://127.0.0.1:{port}/{path}"
    with pytest.raises(LogReadError, match=message) as err:
        mlflow_server.read_uri(uri)
    assert uri in str(err.value)


def test_dead_port_is_a_read_error_naming_the_uri():
    uri = f"mlflow://127.0.0.1:{free_port()}/0123456789abcdef0123456789abcdef"
    with pytest.raises(LogReadError, match="cannot reach the MLflow tracking server") as err:
        mlflow_server.read_uri(uri)
    assert uri in str(err.value) and "mlflow server" in str(err.value)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000/abc", "mlflow://127.0.0.1:5000/", "mlflow://host/exp/"])
def test_malformed_uri(uri):
    with pytest.raises(LogReadError):
        mlflow_server.read_uri(uri)


@pytest.mark.parametrize("body, message", [
    (b'{"hello": "world"}', "unexpected answer from"),
    (b"<html>a login page</html>", "did not answer JSON"),
])
def test_server_that_is_not_mlflow(body, message):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"mlflow://127.0.0.1:{httpd.server_address[1]}/0123456789abcdef0123456789abcdef"
        with pytest.raises(LogReadError, match=message) as err:
            mlflow_server.read_uri(uri)
        assert uri in str(err.value)
    finally:
        httpd.shutdown()
        httpd.server_close()


# --------------------------------------------------------------------------- through the CLI


def test_cli_diagnoses_a_server_run_by_uri(server):
    from tests.conftest import run_cli

    port, run_id, _, _ = server
    result = run_cli("diagnose", f"mlflow://127.0.0.1:{port}/{run_id}", "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == f"mlflow://127.0.0.1:{port}/{run_id}"
    assert report["verdict"] == "overfitting"  # val_loss bottoms out at epoch 4 and climbs
    assert report["signals"]["best_epoch"] == 4


def test_a_whole_experiment_reads_as_each_run_alone_does(server, monkeypatch):
    """The UI's bulk endpoint on a real server: cut at a few points, so that every answer is cut
    short and asked again, it still gives each run exactly as reading it by its id does."""
    port, _, _, client = server
    ids = [log_run(client, "whole experiment", f"run-{i}", shift=0.1 * i, lightning_style=i % 2 == 0)[0]
           for i in range(3)]
    client.create_run(client.get_experiment_by_name("whole experiment").experiment_id, run_name="no metrics yet")
    monkeypatch.setattr(mlflow_server, "BULK_POINTS", 15)  # 10 points a metric a run
    from regadvisor.logs.read import read_runs
    from regadvisor.logs.registry import ReadOptions

    runs = read_runs(f"mlflow://127.0.0.1:{port}/whole%20experiment", options=ReadOptions(workers=2))
    alone = [mlflow_server.read_uri(f"mlflow://127.0.0.1:{port}/{run_id}") for run_id in ids]
    assert [r.name for r in runs] == ["run-0", "run-1", "run-2"]
    assert [r.source for r in runs] == [r.source for r in alone]
    for run, single in zip(runs, alone):
        assert {k: repr((s.values, s.steps, s.epochs)) for k, s in run.series.items()} == \
               {k: repr((s.values, s.steps, s.epochs)) for k, s in single.series.items()}  # repr: NaN epochs equal
        assert run.facts == single.facts


def test_cli_diagnoses_every_run_of_a_database_and_compares_them(sqlite_store):
    from tests.conftest import run_cli

    db, (first_id, _), (second_id, _), _ = sqlite_store
    result = run_cli("diagnose", str(db), "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    assert "Runs compared" in result.stdout
    assert "overfit-a" in result.stdout and "overfit-b" in result.stdout
    one = run_cli("diagnose", f"{db}#{second_id}", "--format", "json", "--fail-on", "never")
    assert json.loads(one.stdout)["run"]["name"] == "overfit-b"


def test_cli_unknown_uri_scheme_exits_2():
    from tests.conftest import run_cli

    result = run_cli("diagnose", "wandb://entity/project/run")
    assert result.returncode == 2 and "unknown URI scheme 'wandb'" in result.stderr
