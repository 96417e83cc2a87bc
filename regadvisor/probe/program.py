"""``regadvisor probe train.py -- ARGS``: the script a user already has, run as the program it is.

A script that defines the probe contract (``build_model``/``build_data``, read from its source
by :func:`~.discover.defines_contract` before anything runs) is probed in this process by
:func:`~.runner.run_probe`. Any other script runs **unmodified**, once, as ``__main__`` with
``sys.argv = [SCRIPT, *ARGS]``, in a child Python process under instrumentation
(:mod:`.child`, :mod:`.capture`): its own data, model, loop, logging and length.

Why a child process: the script is a program, not a library. It parses its arguments, may call
``sys.exit``, start threads and workers, change process-wide torch settings and train at top
level; none of that can be undone in regadvisor's own process, and every ``--verify`` trial must
start as fresh as a run of its own. The child reports back as JSON over an authenticated local
connection (:class:`Channel`, ``multiprocessing.connection``: a Unix socket, a named pipe on
Windows): measurements, curves and facts as data, never pickled objects. This process never
imports torch for it (the script's process does), so the probe costs little beyond the
script's own run time (``benchmarks/bench_probe_overhead.py --program``).

Output: the script's stdout and stderr pass through on this process's **stderr**, so that
stdout carries only the report (``--format json > report.json`` stays valid JSON); with
``output`` they go to that file instead (``--quiet``). A failing script shows its own
traceback there and becomes a :class:`~regadvisor.errors.ScriptError` (exit 2); so does a
``sys.exit`` with a non-zero code, and ``sys.exit(0)`` before any optimizer step: never a
silent pass.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ScriptError
from ..model import Run, Series
from .discover import check_file, defines_contract
from .results import PAST_BEST_FRACTION, EvaluationPoint, ProbeProgress, ProbeResult, check_lengths

KEY_ENV = "REGADVISOR_PROBE_KEY"
"""Environment variable that hands the child the connection's key (removed from its environment
before the script runs)."""
BOOT = "import sys; sys.path[0:1] = [sys.argv[1]]; from regadvisor.probe.child import main; main()"
"""The child's first line: import this regadvisor (the folder that holds it replaces ``-c``'s
working-directory entry on ``sys.path``; the child then puts the script's folder there, as
``python SCRIPT`` does)."""
EXIT_GRACE_SECONDS = 60.0
"""How long the child may take to exit after its result (the script's atexit handlers and
threads) before it is stopped."""


class Channel:
    """JSON messages over a :class:`multiprocessing.connection.Connection`: ``send`` one way,
    ``ask`` for a reply. Bytes only (``send_bytes``): nothing is pickled in either direction."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send_bytes(json.dumps(message).encode())

    def receive(self) -> dict[str, Any]:
        return json.loads(self.conn.recv_bytes())

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(message)
        return self.receive()


def connect(address: str) -> Channel:
    """The child's end: connect to the parent with the key from :data:`KEY_ENV`."""
    key = bytes.fromhex(os.environ.pop(KEY_ENV))
    return Channel(Client(address, authkey=key))


# ---------------------------------------------------------------------------------------------
# runs as data


def run_to_data(run: Run) -> dict[str, Any]:
    """A :class:`Run` as JSON data (NaN stays NaN: Python's JSON writes and reads it)."""
    return {"source": run.source, "name": run.name, "facts": run.facts, "warnings": list(run.warnings),
            "series": {k: {"values": list(s.values), "steps": list(s.steps), "epochs": list(s.epochs),
                           "original_name": s.original_name} for k, s in run.series.items()}}


def run_from_data(data: dict[str, Any]) -> Run:
    """The :class:`Run` that :func:`run_to_data` wrote."""
    series = {k: Series.from_points(k, s["values"], s["steps"], s["epochs"], s.get("original_name"))
              for k, s in data["series"].items()}
    return Run(source=data["source"], format="probe", name=data.get("name"), series=series,
               facts=data.get("facts") or {}, warnings=list(data.get("warnings") or []))


# ---------------------------------------------------------------------------------------------
# the parent's side


@dataclass(frozen=True)
class Program:
    """A script to run as a program: its path, the arguments after ``--``, where its output goes
    (``None``: this process's stderr)."""

    path: Path
    args: tuple[str, ...] = ()
    output: Path | None = None


@dataclass
class _Session:
    """One child process and its connection, as the parent sees them."""

    proc: subprocess.Popen[bytes]
    channel: Channel
    progress: Callable[[ProbeProgress], None] | None
    on_evaluation: Callable[[EvaluationPoint], bool] | None
    totals: tuple[int | None, int | None, float | None]
    interrupted: bool = field(default=False)

    def serve(self) -> dict[str, Any] | None:
        """Answer the child until its result arrives (``None`` when it ended without one).

        Ctrl-C reaches the child too (same process group): it stops training and reports what it
        measured, so the first one here waits for that report; a second one stops the child.
        """
        while True:
            try:
                if not self.channel.conn.poll(0.25):
                    if self.proc.poll() is not None and not self.channel.conn.poll(0):
                        return None
                    continue
                try:
                    message = self.channel.receive()
                except (EOFError, OSError):
                    return None
                if message["type"] == "result":
                    return message
                self._answer(message)
            except KeyboardInterrupt:
                if self.interrupted:
                    self.proc.kill()
                    raise
                self.interrupted = True

    def _answer(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "progress" and self.progress is not None:
            steps, epochs, seconds = self.totals
            self.progress(ProbeProgress(message["step"], message["epoch"], message["seconds"], message["loss"],
                                        "train", steps, epochs, seconds))
        elif kind == "evaluation":
            point = EvaluationPoint(message["step"], message["epoch"], message["val_loss"], message["val_acc"])
            stop = bool(self.on_evaluation(point)) if self.on_evaluation is not None else False
            self.channel.send({"stop": stop})


def _device_env(device: str) -> dict[str, str]:
    """``--device`` for a program, by the standard means: which GPUs the script can see."""
    if device == "auto":
        return {}
    if device == "cpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    head, _, index = device.partition(":")
    if head == "cuda" and (not index or index.isdigit()):
        return {"CUDA_VISIBLE_DEVICES": index} if index else {}
    raise ConfigError(f"unknown device {device!r}", source="device", hint="use auto, cpu or cuda[:N]")


def _start(program: Program, env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], Channel, Listener]:
    key = secrets.token_bytes(32)
    listener = Listener(authkey=key)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, **env_extra, KEY_ENV: key.hex()}
    out = open(program.output, "ab") if program.output is not None else None  # noqa: SIM115 - closed below
    try:
        target = out if out is not None else 2  # fd 2: stdout stays the report's
        proc = subprocess.Popen([sys.executable, "-c", BOOT, root, str(listener.address)],
                                stdout=target, stderr=target, env=env)
    except OSError:
        listener.close()
        raise
    finally:
        if out is not None:
            out.close()
    accepted: list[Connection] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        if thread.is_alive() and proc.poll() is not None:  # it ended before connecting: unblock accept()
            Client(listener.address, authkey=key).close()
            thread.join()
            listener.close()
            raise ScriptError(f"regadvisor could not start the script's process (exit code {proc.returncode})",
                              source=program.path, hint="its own error, if any, is above")
    if not accepted:
        proc.kill()
        listener.close()
        raise ScriptError("regadvisor could not connect to the script's process", source=program.path)
    return proc, Channel(accepted[0]), listener


def _where(program: Program) -> str:
    return f"in {program.output}" if program.output is not None else "above"


def _ended_without_result(program: Program, code: int) -> ScriptError:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = f"was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    else:
        why = f"ended with exit code {code}"
    return ScriptError(f"the script's process {why} before regadvisor got its measurements", source=program.path,
                       hint=f"its own output is {_where(program)}")


def _raise_for(program: Program, result: dict[str, Any]) -> None:
    """The child's outcome as the error it is, if it is one (see the module docstring)."""
    outcome = result["outcome"]
    kind = outcome["kind"]
    if kind == "config-error":
        raise ConfigError(outcome["message"], source=outcome.get("source") or "knobs", hint=outcome.get("hint"))
    if kind == "internal":
        raise RuntimeError(f"regadvisor's instruments failed inside the script's process: {outcome['error']}")
    if kind == "error":
        frames = "\n".join("  " + line for line in outcome.get("frames") or [])
        raise ScriptError(f"the script raised {outcome['error']}" + (f"\n{frames}" if frames else ""),
                          source=program.path, hint=f"its traceback is {_where(program)}")
    if kind == "exit" and outcome.get("code") not in (0, None):
        raise ScriptError(f"the script exited with sys.exit({outcome['code']!r})", source=program.path,
                          hint=f"its own message is {_where(program)}; arguments for the script go after `--`: "
                               "regadvisor probe SCRIPT [OPTIONS] -- ARGS")
    if result["steps"] == 0 and kind != "interrupted":
        how = "called sys.exit(0)" if kind == "exit" else "ran to its end"
        raise ScriptError(f"the script {how} without an optimizer step: no training to probe", source=program.path,
                          hint="regadvisor finds the training through the torch.optim optimizer the script steps; "
                               f"the script's own output is {_where(program)}")


def run_program(
    program: Program, *, steps: int | None = None, epochs: int | None = None, seconds: float | None = None,
    train_epochs: int | None = None, train_steps: int | None = None, stop_past_best: bool = True,
    past_best_fraction: float = PAST_BEST_FRACTION, depth: str = "default", device: str = "auto", seed: int = 0,
    knobs: dict[str, Any] | None = None,
    progress: Callable[[ProbeProgress], None] | None = None,
    on_evaluation: Callable[[EvaluationPoint], bool] | None = None, sample_every: int | None = None,
) -> ProbeResult:
    """Run ``program`` once, unmodified, under instrumentation; what it measured as a :class:`ProbeResult`.

    The options mean what they mean for :func:`~.runner.run_probe`; the training length is the
    script's own (its epochs, ``max_epochs``, ``num_train_epochs``) unless ``train_epochs``/
    ``train_steps`` say otherwise, and ``steps``/``epochs``/``seconds`` shorten it only when
    given (see :mod:`.capture` for how each is applied).
    """
    check_lengths(steps=steps, epochs=epochs, seconds=seconds, train_epochs=train_epochs, train_steps=train_steps)
    path = check_file(program.path)
    spec = {"script": str(path), "argv0": str(program.path), "args": list(program.args), "seed": seed,
            "knobs": dict(knobs or {}), "depth": depth, "sample_every": sample_every,
            "budget": {"steps": steps, "epochs": epochs, "seconds": seconds},
            "train_length": ({"steps": train_steps} if train_steps else {"epochs": train_epochs} if train_epochs
                             else None),
            "length_source": "--train-steps" if train_steps else "--train-epochs" if train_epochs else None,
            "stop_past_best": stop_past_best, "past_best_fraction": past_best_fraction,
            "progress": progress is not None, "prune": on_evaluation is not None}
    proc, channel, listener = _start(program, _device_env(device))
    try:
        channel.send(spec)
        result = _Session(proc, channel, progress, on_evaluation, (steps, epochs, seconds)).serve()
    finally:
        listener.close()
        try:
            proc.wait(timeout=EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        channel.conn.close()
    if result is None:
        raise _ended_without_result(program, proc.returncode)
    _raise_for(program, result)
    run = run_from_data(result["run"])
    return ProbeResult(run=run, interrupted=result["interrupted"], diverged=result["diverged"],
                       seconds=result["seconds"], steps=result["steps"], epochs=result["epochs"],
                       stop_reason=result["stop_reason"], device=result["device"])


def run_script(script: str | Path, *, args: Sequence[str] | None = None, output: Path | None = None,
               **options: Any) -> ProbeResult:
    """Probe ``script`` the way it is written: the contract in this process
    (:func:`~.runner.run_probe`), any other script as a program (:func:`run_program`).

    ``args`` (the words after ``--``) and ``output`` are for programs; a contract script is
    imported, not run, so it takes no arguments.
    """
    if defines_contract(script):
        if args:
            raise ConfigError("arguments after -- are for scripts run as programs", source=str(script),
                              hint="this script defines build_model() and build_data(), so regadvisor imports it "
                                   "and calls them; drop the arguments, or probe your training script itself")
        from .runner import run_probe

        return run_probe(script, **options)
    return run_program(Program(Path(script), tuple(args or ()), output), **options)
