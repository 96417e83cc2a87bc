"""Diagnose every run of an MLflow experiment at once against run by run: on a local tracking
server, and in a local ``mlruns/`` folder.

    .venv/bin/python benchmarks/bench_mlflow_experiment.py              # 200 runs, 100 epochs; 1,000 in mlruns/
    .venv/bin/python benchmarks/bench_mlflow_experiment.py --runs 50 --repeat 1 --only server

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

Then a local ``mlruns/`` file store of 1,000 such runs (``--folder-runs``), logged the same way:
``diagnose_runs([mlruns], workers=1)`` (one run after another) against ``workers`` = the usable
cores (forked processes, what the default is given ``api.MIN_CORES_FOR_PROCESSES`` cores), with
the same check that the reports agree. Besides the wall time it prints the CPU time of this
process and of the workers, and the wall time they would take with every core free: a machine
shared with other jobs gives one session's processes no more than its share (Linux autogroup).

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


def generate(runs: int, epochs: int, store: str = "sqlite") -> Path:
    """An MLflow store holding one experiment of ``runs`` runs, ``epochs`` epochs each: a SQLite
    backend (``mlflow.db``) or a file store (``mlruns/``); half the runs overfit (validation loss
    turns up at a third of the way), half do not."""
    folder = DATA / f"mlflow_{runs}x{epochs}" if store == "sqlite" else DATA / f"mlruns_{runs}x{epochs}"
    path = folder / ("mlflow.db" if store == "sqlite" else "mlruns")
    done = folder / ".complete"
    if done.exists():
        return path
    import math
    import shutil

    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps the file store behind this flag
    client = MlflowClient(tracking_uri=f"sqlite:///{path}" if store == "sqlite" else path.as_uri())
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
    return path


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


def timed(ways: dict[str, tuple[list[Any], dict[str, Any]]], repeat: int, runs: int,
          cpu_of: Any = None) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Median wall time, CPU time of this process and CPU time of ``cpu_of()`` (when given) of
    diagnosing each way's targets, the ways taken in turn each round; fails unless every way
    gives the same reports."""
    from regadvisor import api

    wall: dict[str, list[float]] = {way: [] for way in ways}
    own: dict[str, list[float]] = {way: [] for way in ways}
    cpu: dict[str, list[float]] = {way: [] for way in ways}
    said: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):
        for way, (targets, options) in ways.items():
            before, mine, start = cpu_of() if cpu_of else 0.0, time.process_time(), time.perf_counter()
            outcome = api.diagnose_runs(targets, fail_on="never", **options)
            wall[way].append(time.perf_counter() - start)
            own[way].append(time.process_time() - mine)
            cpu[way].append((cpu_of() if cpu_of else 0.0) - before)
            said[way] = advice(outcome)
            if len(outcome.reports) != runs:
                raise SystemExit(f"{way}: {len(outcome.reports)} reports, not {runs}")
    if any(reports != said[next(iter(ways))] for reports in said.values()):
        raise SystemExit("the ways gave different reports")
    return tuple({way: statistics.median(t) for way, t in d.items()} for d in (wall, own, cpu))  # type: ignore[return-value]


def bench_server(args: argparse.Namespace) -> None:
    from regadvisor import api

    db = generate(args.runs, args.epochs)
    with TrackingServer(db, args.server_workers) as server:
        experiment = f"mlflow://127.0.0.1:{server.port}/{EXPERIMENT}"
        run_uris = [r.source for r in api.diagnose_runs([experiment], fail_on="never").reports]  # also a warm-up
        ways: dict[str, tuple[list[Any], dict[str, Any]]] = {
            "run by run": (run_uris, {"workers": 1}), "run URIs, at once": (run_uris, {}), "experiment": ([experiment], {})}
        wall, _, cpu = timed(ways, args.repeat, args.runs, lambda: server_cpu(server.proc.pid))
    print(f"tracking server: {args.runs} runs x {args.epochs} epochs (4 metrics), mlflow server --workers "
          f"{args.server_workers}, {os.cpu_count()} CPUs, median of {args.repeat}")
    print(f"  {'':<18} {'wall':>8} {'runs/s':>8} {'server CPU':>11}")
    for way in ways:
        print(f"  {way:<18} {wall[way]:7.2f}s {args.runs / wall[way]:8.1f} {cpu[way]:10.2f}s")
    print(f"  the experiment at once is {wall['run by run'] / wall['experiment']:.2f}x faster than run by run "
          "(same reports)")


def bench_folder(args: argparse.Namespace) -> None:
    mlruns = generate(args.folder_runs, args.epochs, store="file")
    ways: dict[str, tuple[list[Any], dict[str, Any]]] = {
        "one by one": ([mlruns], {"workers": 1}), "at once": ([mlruns], {"workers": len(os.sched_getaffinity(0))})}
    timed({"warm-up": ([mlruns], {"workers": 1})}, 1, args.folder_runs)  # the page cache, our imports

    def workers_cpu() -> float:
        done = os.times()  # the worker processes, once they have ended
        return done.children_user + done.children_system

    wall, own, workers = timed(ways, args.repeat, args.folder_runs, workers_cpu)
    cores = len(os.sched_getaffinity(0))
    print(f"mlruns/ folder: {args.folder_runs} runs x {args.epochs} epochs, {cores} usable CPUs, "
          f"median of {args.repeat}")
    print(f"  {'':<18} {'wall':>8} {'runs/s':>8} {'this CPU':>9} {'workers CPU':>12} {'idle-machine wall':>18}")
    for way in ways:
        # What the wall time would be with every core free: this process's share, then the
        # workers' CPU spread over the cores. A machine shared with other jobs does not give
        # one session's processes more than its share (Linux autogroup), so there the wall
        # time of "at once" is no shorter than its CPU time.
        ideal = own[way] + workers[way] / cores
        print(f"  {way:<18} {wall[way]:7.2f}s {args.folder_runs / wall[way]:8.1f} {own[way]:8.2f}s "
              f"{workers[way]:11.2f}s {ideal:17.2f}s")
    print(f"  at once is {wall['one by one'] / wall['at once']:.2f}x faster than one by one here, "
          f"{(own['one by one'] + workers['one by one']) / (own['at once'] + workers['at once'] / cores):.2f}x "
          "with every core free (same reports)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs of the experiment on the server")
    parser.add_argument("--folder-runs", type=int, default=1000, help="runs of the mlruns/ folder (0: skip it)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of each way (median shown)")
    parser.add_argument("--server-workers", type=int, default=4, help="mlflow server --workers (its default: 4)")
    parser.add_argument("--only", choices=["server", "folder"], help="run one of the two benchmarks")
    args = parser.parse_args()
    if args.only != "folder":
        bench_server(args)
    if args.only != "server" and args.folder_runs:
        bench_folder(args)


if __name__ == "__main__":
    main()
