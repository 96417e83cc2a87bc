"""Trials on every core: worker processes that give the same advice as one process would.

``--verify`` runs many trainings; on a machine with several cores (or GPUs) they can run side by
side. Two things must not change with the number of workers:

* **The numbers.** Every trial uses :func:`trial_threads` torch threads whatever the worker
  count (intra-op parallelism changes the order of floating-point sums, and a last-bit
  difference can flip a close decision), and the same seed, so a trial's curve is the same
  bit for bit in a worker or in the parent.
* **The decisions.** Successive halving and the budget decide a trial's fate from the trials
  before it (:mod:`.search`), as if they had run one after another. A :class:`TrialPool` runs
  the next trials *speculatively* while earlier ones are still training, streams each trial's
  evaluations back, and replays them through the same decision hook once every earlier trial
  has finished; a trial the sequential schedule would have stopped at evaluation ``e`` is
  stopped, and its curve cut, at ``e``. Work past that point is waste, counted apart
  (``speculative_steps``) and never charged to the budget, so the report's cost and advice are
  the ones a single process would give.

Workers are long-lived ``spawn`` processes (torch is imported once per worker, not per trial);
a trial ships the script's path, its knobs and seed, never a pickled model.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import ScriptError
from .runner import EvaluationPoint
from .trials import Curve, TrialRunner

THREADS_ENV = "REGADVISOR_TRIAL_THREADS"


def cpu_count() -> int:
    """Cores this process may use (the affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """One worker per core; on CUDA one per GPU (a GPU is shared badly by several trainings)."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() > 1:
            return torch.cuda.device_count()
    except ImportError:  # pragma: no cover - verify needs torch anyway
        pass
    return cpu_count()


def trial_threads() -> int:
    """Torch threads per trial: the machine's cores shared by the default number of workers,
    the same for any ``--workers`` so that results do not depend on it (``REGADVISOR_TRIAL_THREADS``
    overrides)."""
    env = os.environ.get(THREADS_ENV)
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, cpu_count() // default_workers())


@dataclass(frozen=True)
class Job:
    """One trial to run: a configuration on a seed, and how it may end."""

    config: dict[str, Any]
    seed: int
    patience: int | None = None
    stop_past_best: bool = True


def run_job(runner: TrialRunner, job: Job, on_evaluation: Callable[[EvaluationPoint], bool] | None = None) -> Curve:
    """Run ``job`` here, with :func:`trial_threads` torch threads (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(trial_threads())
    try:
        return runner.run(job.config, job.seed, patience=job.patience, on_evaluation=on_evaluation,
                          stop_past_best=job.stop_past_best)
    finally:
        torch.set_num_threads(before)


def _worker(runner: TrialRunner, device: str | None, jobs: Any, events: Any, replies: Any, slot: int) -> None:
    """A worker process: runs jobs from ``jobs``; after every evaluation it reports the point and
    waits for the parent's word (True: stop)."""
    if device is not None:
        runner = TrialRunner(runner.script, runner.base_knobs, runner.length, device, runner.classification)
    while True:
        item = jobs.get()
        if item is None:
            return
        key, job = item

        def hook(point: EvaluationPoint, key: Any = key) -> bool:
            events.put(("eval", slot, key, point))
            return bool(replies.get())

        try:
            curve = run_job(runner, job, hook)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it there
            events.put(("error", slot, key, exc))
            continue
        events.put(("done", slot, key, curve))


@dataclass
class _Running:
    key: Any
    job: Job
    decide: Callable[[EvaluationPoint], bool] | None
    points: list[EvaluationPoint] = field(default_factory=list)
    live: bool = False
    stop_at: int | None = None  # evaluations the sequential schedule allows (None: no limit yet)


class TrialPool:
    """``workers`` worker processes running :class:`Job` s for one :class:`TrialRunner`.

    :meth:`map` runs independent jobs; :meth:`sequence` runs jobs whose decisions depend on the
    ones before (see the module docstring). With one worker everything runs in this process.
    """

    def __init__(self, runner: TrialRunner, workers: int):
        self.runner, self.workers = runner, max(1, workers)
        self.speculative_steps = 0
        self._procs: list[Any] = []
        if self.workers > 1:
            ctx = mp.get_context("spawn")
            self._jobs, self._events = ctx.Queue(), ctx.Queue()
            self._replies = [ctx.Queue() for _ in range(self.workers)]
            devices = _devices(runner.device, self.workers)
            self._procs = [ctx.Process(target=_worker, daemon=True,
                                       args=(runner, devices[i], self._jobs, self._events, self._replies[i], i))
                           for i in range(self.workers)]
            with _main_module_hidden():
                for p in self._procs:
                    p.start()

    def next_event(self) -> tuple[str, int, Any, Any]:
        """The next message from a worker; a worker that died (killed for memory, say) is an
        error here rather than a wait that never ends."""
        while True:
            try:
                return self._events.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in self._procs if not p.is_alive()]
                if dead:
                    raise ScriptError(f"a --verify worker process exited (exit code {dead[0].exitcode})",
                                      source=self.runner.script,
                                      hint="out of memory? try --workers 1, or fewer workers") from None

    def close(self) -> None:
        for _ in self._procs:
            self._jobs.put(None)
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        self._procs = []

    def __enter__(self) -> TrialPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- independent jobs ----------------------------------------------------------------------
    def map(self, jobs: list[Job]) -> list[Curve]:
        """Run ``jobs`` side by side; their curves in the order given."""
        if self.workers == 1:
            return [run_job(self.runner, j) for j in jobs]
        for i, job in enumerate(jobs):
            self._jobs.put((i, job))
        out: dict[int, Curve] = {}
        while len(out) < len(jobs):
            kind, slot, key, payload = self.next_event()
            if kind == "eval":
                self._replies[slot].put(False)
            elif kind == "error":
                raise payload
            else:
                out[key] = payload
        return [out[i] for i in range(len(jobs))]

    # -- jobs decided in order ---------------------------------------------------------------
    def sequence(self, jobs: Iterator[tuple[Any, Job, Callable[[EvaluationPoint], bool] | None]],
                 admit: Callable[[Any], bool], finish: Callable[[Any, Curve], bool],
                 drop: Callable[[Any], None]) -> None:
        """Run ``jobs`` (key, job, decision hook) with the decisions of a one-by-one run.

        ``jobs`` is consumed lazily, as workers free up. Once every earlier job has finished, a
        job is ``admit``-ted (False ends the sequence: it and every later job started are
        ``drop``-ped; jobs not yet taken from ``jobs`` are never asked for),
        its hook is called on its evaluations in order (True stops it there), and
        ``finish(key, curve)`` receives its curve (False ends the sequence too).
        """
        if self.workers == 1:
            for key, job, decide in jobs:
                if not admit(key):
                    drop(key)
                    return
                if not finish(key, run_job(self.runner, job, decide)):
                    return
            return
        _Sequencer(self, jobs, admit, finish, drop).run()


class _Sequencer:
    """The parent's side of :meth:`TrialPool.sequence`: speculative starts, in-order decisions."""

    def __init__(self, pool: TrialPool, jobs: Iterator[tuple[Any, Job, Callable[[EvaluationPoint], bool] | None]],
                 admit: Callable[[Any], bool], finish: Callable[[Any, Curve], bool], drop: Callable[[Any], None]):
        self.pool, self.jobs, self.admit, self.finish, self.drop = pool, jobs, admit, finish, drop
        self.order: list[Any] = []            # keys in start order
        self.running: dict[Any, _Running] = {}
        self.done: dict[Any, Curve] = {}      # finished in the worker, waiting for their turn
        self.exhausted = False                # no more jobs to take
        self.ended = False                    # the sequence was ended: the rest is dropped

    def _start_next(self) -> None:
        if self.ended or self.exhausted:
            return
        try:
            key, job, decide = next(self.jobs)
        except StopIteration:
            self.exhausted = True
            return
        self.order.append(key)
        self.running[key] = _Running(key, job, decide)
        self.pool._jobs.put((key, job))

    def run(self) -> None:
        for _ in range(self.pool.workers):
            self._start_next()
        self._advance()
        while self.order:
            kind, slot, key, payload = self.pool.next_event()
            state = self.running.get(key)
            if kind == "error":
                raise payload
            if kind == "eval":
                self.pool._replies[slot].put(self._on_eval(state, payload) if state else True)
            else:
                if state is not None:
                    self.done[key] = payload
                    self._start_next()
            self._advance()

    def _on_eval(self, state: _Running, point: EvaluationPoint) -> bool:
        """Record a point; True when the worker should stop now."""
        state.points.append(point)
        if state.live and state.stop_at is None and state.decide is not None and state.decide(point):
            state.stop_at = len(state.points)
        return state.stop_at is not None and len(state.points) >= state.stop_at

    def _advance(self) -> None:
        """Give the head of the order its turn: replay its points; finish it when it is done."""
        while self.order and not self.ended:
            head = self.running[self.order[0]]
            if not head.live:
                if not self.admit(head.key):
                    self._end()
                    return
                head.live = True
                for i, point in enumerate(head.points):
                    if head.decide is not None and head.decide(point):
                        head.stop_at = i + 1
                        break
            curve = self.done.get(head.key)
            if curve is None:
                return
            self._finish_head(head, curve)

    def _finish_head(self, head: _Running, curve: Curve) -> None:
        self.order.pop(0)
        del self.running[head.key]
        del self.done[head.key]
        if head.stop_at is not None and head.stop_at < len(curve.val_loss):
            cut = truncate(curve, head.stop_at)
            self.pool.speculative_steps += curve.steps - cut.steps
            curve = cut
        if not self.finish(head.key, curve):
            self._end()  # the head is finished; the ones after it are dropped

    def _end(self) -> None:
        """End the sequence: what was started after this point is stopped and dropped (its work
        is speculative waste), and the jobs not yet started are dropped unstarted."""
        self.ended = True
        for key in self.order:
            self.running[key].stop_at = 0
            self.drop(key)
        for key in [k for k in self.order if k in self.done]:
            self.pool.speculative_steps += self.done.pop(key).steps
            self.order.remove(key)
        while self.order:
            kind, slot, key, payload = self.pool.next_event()
            if kind == "eval":
                self.pool._replies[slot].put(True)
            elif kind == "done" and key in self.order:
                self.pool.speculative_steps += payload.steps
                self.order.remove(key)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start workers without the parent's ``__main__``: multiprocessing's spawn re-imports it in
    every worker (to find functions defined there), and a user's unguarded training script
    would then run again in each. Workers need nothing from it: only regadvisor's functions and
    plain data (script path, knobs, seeds) are sent."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def truncate(curve: Curve, evaluations: int) -> Curve:
    """``curve`` as if its run had been stopped after ``evaluations`` evaluations (``pruned``)."""
    n = max(0, evaluations)
    steps = curve.eval_steps[n - 1] if n else 0
    return Curve(curve.config, curve.seed, curve.val_loss[:n], curve.score[:n], curve.eval_steps[:n], steps,
                 "pruned", dict(curve.not_applied), curve.diverged and n == len(curve.val_loss))


def _devices(device: str, workers: int) -> list[str | None]:
    """One CUDA device per worker when several are visible and the device is not pinned."""
    try:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover
        n = 0
    if device in ("auto", "cuda") and n > 1:
        return [f"cuda:{i % n}" for i in range(workers)]
    return [None] * workers


__all__ = ["Job", "TrialPool", "cpu_count", "default_workers", "run_job", "trial_threads", "truncate"]
