"""Diagnose every run of an MLflow experiment on a local tracking server: all at once against
run by run.

    .venv/bin/python benchmarks/bench_mlflow_experiment.py              # 200 runs, 100 epochs
    .venv/bin/python benchmarks/bench_mlflow_experiment.py --runs 50 --repeat 1

The experiment is logged by MLflow itself (``MlflowClient.log_batch`` into a SQLite backend in
``benchmarks/_data/``, git-ignored, reused by later runs): per run ``train_loss``, ``val_loss``,
``val_acc`` and ``epoch`` at every epoch and six params, as Lightning's ``MLFlowLogger`` logs an
epoch-level run. A real ``mlflow server`` (its default 4 workers, the SQLite backend) serves it
on a free local port; it is stopped at the end.

Three ways to diagnose the same experiment, all in this process, timed in turn each round:

* **run by run**: ``diagnose_runs([URI_1, ..., URI_N], workers=1)`` with each run's
  ``mlflow://HOST:PORT/<run-id>``: what ``regadvisor diagnose URI_1 ... URI_N`` did before an
  experiment could be named, five requests a run one after another (``runs/get`` and a
  ``metrics/get-history`` a metric);
* **run URIs, at once**: the same URIs with the default ``workers`` (threads);
* **experiment**: ``diagnose_runs([mlflow://HOST:PORT/EXPERIMENT])``, the default: the runs
  listed once, their histories asked a metric per share of runs (``get-history-bulk``).

All three must give the same reports (the whole JSON report of every run), or the benchmark
fails. Printed: the median wall time of each, the CPU time the server spent on it (its
processes' utime + stime from ``/proc``; it is the bottleneck), and the ratio of the medians in
one run. The machine this was written on is shared, so the wall times move with its
neighbours, and the ratio less so.

Needs: ``pip install mlflow`` (the test extra).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
EXPERIMENT = "bench experiment"
PARAMS = {"lr": "0.001", "batch_size": "64", "optimizer": "AdamW", "weight_decay": "0.0", "dropout": "0.1"}


def generate(runs: int, epochs: int) -> Path:
    """A SQLite MLflow backend holding one experiment of ``runs`` runs, ``epochs`` epochs each;
    half overfit (validation loss turns up at a third of the way), half do not."""
    db = DATA / f"mlflow_{runs}x{epochs}" / "mlflow.db"
    done = db.with_name(".complete")
    if done.exists():
        return db
    import math

    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp_id = client.create_experiment(EXPERIMENT)
    for i in range(runs):
        run = client.create_run(exp_id, run_name=f"run-{i:04d}")
        now = int(time.time() * 1000)
        turn = epochs / 3 if i % 2 else math.inf
        metrics = []
        for e in range(epochs):
            shift = 0.001 * i
            train = 1.5 * math.exp(-e / (epochs / 5)) + 0.05 + shift
            val = train + 0.1 + (0.004 * (e - turn) ** 2 / epochs if e > turn else 0.0)
            metrics += [Metric("train_loss", train, now + e, e), Metric("val_loss", val, now + e, e),
                        Metric("val_acc", 1 - val / 2, now + e, e), Metric("epoch", float(e), now + e, e)]
        params = [Param(k, v) for k, v in {**PARAMS, "epochs": str(epochs)}.items()]
        for start in range(0, len(metrics), 1000):  # log_batch takes at most 1,000 metrics
            client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000], params=params if not start else [])
        client.set_terminated(run.info.run_id)
    done.write_text(json.dumps({"runs": runs, "epochs": epochs}))
    print(f"  logged {runs} runs of {epochs} epochs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TrackingServer:
    """``mlflow server`` on the database, in its own process group, until the ``with`` ends."""

    def __init__(self, db: Path, workers: int):
        self.db, self.workers, self.port = db, workers, free_port()

    def __enter__(self) -> Self:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.db}",
               "--default-artifact-root", (self.db.parent / "artifacts").as_uri(), "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(self.workers)]
        self.log = (self.db.parent / "server.log").open("wb")
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"mlflow server did not start; see {self.log.name}")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def server_cpu(pgid: int) -> float:
    """CPU seconds spent so far by the processes of the server's group (Linux ``/proc``)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...; utime, stime at 11, 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def advice(outcome: Any) -> list[dict[str, Any]]:
    """What the user is told, run by run: every report as JSON."""
    from regadvisor.render.json import report_to_dict

    return [report_to_dict(report) for report in outcome.reports]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of each way (median shown)")
    parser.add_argument("--server-workers", type=int, default=4, help="mlflow server --workers (its default: 4)")
    args = parser.parse_args()

    from regadvisor import api

    db = generate(args.runs, args.epochs)
    with TrackingServer(db, args.server_workers) as server:
        experiment = f"mlflow://127.0.0.1:{server.port}/{EXPERIMENT}"
        run_uris = [r.source for r in api.diagnose_runs([experiment], fail_on="never").reports]  # also a warm-up
        ways: dict[str, tuple[list[str], dict[str, Any]]] = {
            "run by run": (run_uris, {"workers": 1}), "run URIs, at once": (run_uris, {}), "experiment": ([experiment], {})}
        wall: dict[str, list[float]] = {way: [] for way in ways}
        cpu: dict[str, list[float]] = {way: [] for way in ways}
        said: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.repeat):
            for way, (targets, options) in ways.items():
                served, start = server_cpu(server.proc.pid), time.perf_counter()
                outcome = api.diagnose_runs(targets, fail_on="never", **options)
                wall[way].append(time.perf_counter() - start)
                cpu[way].append(server_cpu(server.proc.pid) - served)
                said[way] = advice(outcome)
                assert len(outcome.reports) == args.runs, (way, len(outcome.reports))
    if not said["run by run"] == said["run URIs, at once"] == said["experiment"]:
        raise SystemExit("the ways gave different reports")
    print(f"{args.runs} runs x {args.epochs} epochs (4 metrics), mlflow server --workers {args.server_workers}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat}")
    print(f"  {'':<18} {'wall':>8} {'runs/s':>8} {'server CPU':>11}")
    for way in ways:
        took = statistics.median(wall[way])
        print(f"  {way:<18} {took:7.2f}s {args.runs / took:8.1f} {statistics.median(cpu[way]):10.2f}s")
    ratio = statistics.median(wall["run by run"]) / statistics.median(wall["experiment"])
    print(f"  the experiment at once is {ratio:.2f}x faster than run by run (same reports)")


if __name__ == "__main__":
    main()
