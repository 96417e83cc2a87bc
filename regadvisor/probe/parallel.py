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
  the ones a single process would give. A decision hook that can tell sooner (:class:`EarlyStop`:
  the screen's, once the head has passed the rung) stops the first trial after the head still
  training where one process would certainly have stopped it, instead of letting it train on to
  its turn (the trials between must have been stopped so too: what they would tell the study is
  then known). On ``overfit_mlp`` that took the waste from 0.9 to 0.03 full trainings; should it
  ever disagree with the decisions made in turn, the sequence raises rather than keep a cut curve.

Jobs known to be needed later whatever the decisions (the decision's baseline seeds) can be
run *ahead* (:meth:`TrialPool.ahead`), and :meth:`TrialPool.map` later takes their curves
instead of training them again. They are charged only when taken, so that too leaves the cost
and the advice as one process gives them. Which goes first on a free worker is a matter of time
only: the sequence's next trial while the budget may still admit it (the sequence is the
critical path), else a job run ahead, else a guessed one (:meth:`TrialPool.guess`: the
decision's trials of the screen's current leader, stopped if the leader changes). Measured on
``cnn_digits`` (three long screening trials, then the decision): ahead jobs first left the
screen's last trial to start late, and the next trial first, with no forecast, filled the end
of the screen with a trial the budget then refused.

Workers are long-lived ``spawn`` processes (torch is imported once per worker, not per trial);
a trial ships the script's path, its knobs and seed, never a pickled model.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, ScriptError
from ..pool import cpu_count
from .results import EvaluationPoint
from .trials import Curve, TrialRunner

THREADS_ENV = "REGADVISOR_TRIAL_THREADS"
AHEAD_STOP_SECONDS = 5.0
"""How long closing waits for a job run ahead, and not taken, to reach its next evaluation."""
WORKER_EXIT_SECONDS = 10.0
"""How long closing waits, in all, for idle workers to exit before it kills them."""


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
class Predecessor:
    """The trial before a speculative one in :meth:`TrialPool.sequence`, still training: its
    configuration and how far its decisions have gone."""

    config: dict[str, Any]
    step: int       # the step of its last decided evaluation
    stopped: bool   # its decisions have stopped it: it reports nothing more
    settled: tuple[Any, ...] = ()   # what the trials between it and this one, stopped early, said


@runtime_checkable
class EarlyStop(Protocol):
    """A decision hook that can also tell, before its trial's turn, that one process would
    certainly have stopped the trial by now (the trial then stops at once, not at its turn).

    ``stopped_by`` returns ``None`` when it cannot tell, else what the trials after this one
    need to know of it (given back to them in :attr:`Predecessor.settled`)."""

    def __call__(self, point: EvaluationPoint) -> bool: ...

    def stopped_by(self, points: list[EvaluationPoint], before: Predecessor) -> Any | None: ...


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


def warm_up() -> None:
    """Pay a fresh process's one-off costs of training before its first trial does.

    The first optimizer a process builds imports ``torch._dynamo`` (torch 2.13): 0.85 s measured
    on this project's 2-core machine, against 0.31 s for a whole 80-step trial of
    ``overfit_mlp`` after it. A worker warmed while the probe trains spends its first trial
    training, where the parent (warmed by the probe) would.
    """
    import torch

    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.1)
    (2 * weight).sum().backward()
    optimizer.step()


def _worker(device: str | None, jobs: Any, events: Any, replies: Any, slot: int) -> None:
    """A worker process: warms up (:func:`warm_up`), then runs jobs from ``jobs`` (each with its
    runner: a worker can start before the probe has told what to run); after every evaluation it
    reports the point and waits for the parent's word (True: stop)."""
    warm_up()
    while True:
        item = jobs.get()
        if item is None:
            return
        key, runner, job = item
        if device is not None:
            runner = replace(runner, device=device)

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
    early: bool = False         # stop_at was set before its turn (EarlyStop)
    settlement: Any = None      # what EarlyStop.stopped_by said then


class _LocalWorkers:
    """Worker processes on this machine (``spawn``: no state inherited but what is sent)."""

    def __init__(self, device: str, workers: int):
        ctx = mp.get_context("spawn")
        self.jobs, self.events = ctx.Queue(), ctx.Queue()
        self.replies = [ctx.Queue() for _ in range(workers)]
        devices = _devices(device, workers)
        self.procs = [ctx.Process(target=_worker, daemon=True,
                                  args=(devices[i], self.jobs, self.events, self.replies[i], i))
                      for i in range(workers)]
        with _main_module_hidden():
            for p in self.procs:
                p.start()

    def get(self) -> tuple[str, int, Any, Any] | None:
        try:
            return self.events.get(timeout=1.0)
        except queue.Empty:
            return None

    def dead(self) -> str | None:
        gone = [p for p in self.procs if not p.is_alive()]
        return f"a --verify worker process exited (exit code {gone[0].exitcode})" if gone else None

    def close(self, wait: float) -> None:
        """Ask the workers to exit, give them ``wait`` seconds in all, then kill what is left."""
        for _ in self.procs:
            self.jobs.put(None)
        deadline = time.monotonic() + wait
        for p in self.procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()


class _RayWorkers:
    """Workers as Ray tasks on the cluster at ``RAY_ADDRESS`` (a local one when unset).

    Each task runs the same worker loop as a local process, over Ray's queues, and asks Ray for
    :func:`trial_threads` CPUs. The script is sent by path: on a cluster it must be at the same
    path on every node (a shared filesystem, or Ray's ``runtime_env`` working_dir).
    """

    def __init__(self, workers: int | None):
        import ray
        from ray.util.queue import Queue

        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS") or None, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
        self.ray = ray
        if workers is None:  # the cluster's CPUs, shared as locally
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // trial_threads())
        self.jobs, self.events = Queue(), Queue()
        self.replies = [Queue() for _ in range(workers)]
        task = ray.remote(num_cpus=trial_threads(), max_retries=0)(_worker)
        self.refs = [task.remote(None, self.jobs, self.events, self.replies[i], i) for i in range(workers)]

    def get(self) -> tuple[str, int, Any, Any] | None:
        from ray.util.queue import Empty

        try:
            return self.events.get(timeout=1.0)
        except Empty:
            return None

    def dead(self) -> str | None:
        finished, _ = self.ray.wait(self.refs, timeout=0)
        if not finished:
            return None
        try:
            self.ray.get(finished[0])
        except Exception as exc:  # noqa: BLE001 - Ray wraps the task's failure; its words go to the user
            return f"a --verify Ray worker failed: {type(exc).__name__}"
        return "a --verify Ray worker ended early"

    def close(self, wait: float) -> None:
        """Ask the tasks to end; wait for them at most ``wait`` seconds (a task still training
        ends on the cluster when its job does)."""
        for _ in self.refs:
            self.jobs.put(None)
        self.ray.wait(self.refs, num_returns=len(self.refs), timeout=wait)


EXECUTORS = ("local", "ray")


class TrialPool:
    """``workers`` workers running :class:`Job` s for one :class:`TrialRunner`.

    :meth:`map` runs independent jobs; :meth:`sequence` runs jobs whose decisions depend on the
    ones before (see the module docstring). ``executor`` is ``local`` (processes on this machine;
    with one worker everything runs in this process) or ``ray`` (tasks on a Ray cluster).

    The workers start at once. ``runner`` may be left for :meth:`bind` (the workers then start
    while the probe runs, which is how ``probe --verify`` hides their start: about 2 s each to
    import torch); ``device`` is then the one the trials will ask for, to place them on GPUs.
    """

    def __init__(self, runner: TrialRunner | None, workers: int | None = None, executor: str = "local",
                 device: str = "auto"):
        if executor not in EXECUTORS:
            raise ConfigError(f"--executor {executor!r} is not one of {', '.join(EXECUTORS)}", source="--executor")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, not {workers}", source="--workers")
        self.runner, self._wasted = runner, 0
        self._backend: _LocalWorkers | _RayWorkers | None = None
        self.outstanding = 0                          # jobs put and not yet finished
        self._ahead: list[tuple[Any, Job]] = []       # to run ahead, not started
        self._guesses: list[tuple[Any, Job]] = []     # to run ahead if the current guess holds, not started
        self._ahead_keys = 0
        self._guessed: set[Any] = set()               # keys of guessed jobs, started or not
        self._cancelled: set[Any] = set()             # guessed, started, no longer wanted
        self._ahead_running: dict[Any, Job] = {}
        self._ahead_done: dict[Any, tuple[Job, Curve | BaseException]] = {}
        if executor == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ConfigError("--executor ray needs Ray, which is not installed", source="--executor",
                                  hint="pip install 'regadvisor[ray]'") from None
            self._backend = _RayWorkers(workers)
            self.workers = len(self._backend.refs)
            return
        self.workers = workers if workers is not None else default_workers()
        if self.workers > 1:
            self._backend = _LocalWorkers(runner.device if runner is not None else device, self.workers)

    def bind(self, runner: TrialRunner) -> None:
        """The runner of the trials from now on (one verification's script, length and knobs)."""
        self.runner = runner

    def _bound(self) -> TrialRunner:
        if self.runner is None:
            raise RuntimeError("TrialPool.bind(runner) must come before the first trial")
        return self.runner

    @property
    def in_process(self) -> bool:
        return self._backend is None

    @property
    def speculative_steps(self) -> int:
        """Steps trained that one process would not have trained: speculation past a trial's
        stop, and jobs run ahead that nothing took."""
        return self._wasted + sum(c.steps for _, c in self._ahead_done.values() if isinstance(c, Curve))

    def put(self, key: Any, job: Job) -> None:
        assert self._backend is not None
        self._backend.jobs.put((key, self._bound(), job))
        self.outstanding += 1

    def waste(self, steps: int) -> None:
        """Count ``steps`` of speculative work that decided nothing."""
        self._wasted += steps

    def _keyed(self, jobs: list[Job]) -> list[tuple[Any, Job]]:
        self._ahead_keys += len(jobs)
        return [(("ahead", self._ahead_keys - len(jobs) + i), job) for i, job in enumerate(jobs)]

    def ahead(self, jobs: list[Job]) -> None:
        """Jobs :meth:`map` will probably be given later: workers the sequence leaves free run
        them first (see the module docstring). Nothing runs ahead in one process."""
        if not self.in_process:
            self._ahead += self._keyed(jobs)

    def guess(self, jobs: list[Job]) -> None:
        """Jobs :meth:`map` will be given if a guess holds (the decision's trials of the screen's
        current leader): run ahead after those of :meth:`ahead`. A new guess replaces the last;
        its jobs already running that this one does not repeat stop at their next evaluation."""
        if self.in_process:
            return
        for key, job in self._ahead_running.items():
            if key in self._guessed and job not in jobs:
                self._cancelled.add(key)
        started = [job for key, job in self._ahead_running.items() if key not in self._cancelled] + \
            [job for job, curve in self._ahead_done.values()]
        self._guesses = self._keyed([job for job in jobs if job not in started])
        self._guessed.update(key for key, _ in self._guesses)

    def start_ahead(self) -> bool:
        """Start the next job to run ahead (those of :meth:`ahead` first); False when there is none."""
        if not (self._ahead or self._guesses):
            return False
        key, job = (self._ahead or self._guesses).pop(0)
        self._ahead_running[key] = job
        self.put(key, job)
        return True

    def reply(self, slot: int, stop: bool) -> None:
        assert self._backend is not None
        self._backend.replies[slot].put(stop)

    def next_event(self) -> tuple[str, int, Any, Any]:
        """The next message from a worker; a worker that died (killed for memory, say) is an
        error here rather than a wait that never ends. A job run ahead is answered here (it has
        no decisions); its end comes back as kind ``ahead``, a worker free again."""
        assert self._backend is not None
        while True:
            event = self._backend.get()
            if event is None:
                why = self._backend.dead()
                if why:
                    raise ScriptError(why, source=self.runner.script if self.runner else None,
                                      hint="out of memory? try fewer --workers")
                continue
            kind, slot, key, payload = event
            if kind != "eval":
                self.outstanding -= 1
            if key not in self._ahead_running:
                return event
            if kind == "eval":
                self.reply(slot, key in self._cancelled)
                continue
            job = self._ahead_running.pop(key)
            if key in self._cancelled:   # cut short: no curve to take, only waste
                self.waste(_trained(payload))
            else:
                self._ahead_done[key] = (job, payload)
            return "ahead", slot, key, None

    def _take_ahead(self, job: Job) -> Any:
        """The key of a job run ahead equal to ``job`` (started or finished; then not run again),
        or ``None``; one not started is dropped from the plan, and ``job`` runs as given."""
        for key, done in self._ahead_done.items():
            if done[0] == job:
                return key
        for key, other in self._ahead_running.items():
            if other == job and key not in self._cancelled:
                return key
        self._ahead = [(k, j) for k, j in self._ahead if j != job]
        self._guesses = [(k, j) for k, j in self._guesses if j != job]
        return None

    def _stop_ahead(self) -> bool:
        """Stop the jobs run ahead that nothing took, at their next evaluation; False when one
        has not come to it within :data:`AHEAD_STOP_SECONDS` (a long epoch: it is killed)."""
        assert self._backend is not None
        deadline = time.monotonic() + AHEAD_STOP_SECONDS
        while self._ahead_running:
            if time.monotonic() > deadline:
                return False
            event = self._backend.get()
            if event is None:
                if self._backend.dead():
                    return False
                continue
            kind, slot, key, payload = event
            if kind == "eval":
                self.reply(slot, key in self._ahead_running)
            elif key in self._ahead_running:
                del self._ahead_running[key]
                self.waste(_trained(payload))
        return True

    def close(self) -> None:
        if self._backend is not None:
            stopped = self._stop_ahead()
            self._backend.close(wait=WORKER_EXIT_SECONDS if stopped else 0.0)
            self._backend = None

    def __enter__(self) -> TrialPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- independent jobs ----------------------------------------------------------------------
    def map(self, jobs: list[Job]) -> list[Curve]:
        """Run ``jobs`` side by side; their curves in the order given."""
        if self.in_process:
            return [run_job(self._bound(), j) for j in jobs]
        taken: dict[Any, int] = {}
        for i, job in enumerate(jobs):
            key = self._take_ahead(job)
            if key is None:
                self.put(i, job)
            else:
                taken[key] = i
        out: dict[int, Curve] = {}
        while True:
            for key in [k for k in taken if k in self._ahead_done]:
                result = self._ahead_done.pop(key)[1]
                if isinstance(result, BaseException):
                    raise result
                out[taken.pop(key)] = result
            if len(out) == len(jobs):
                return [out[i] for i in range(len(jobs))]
            kind, slot, key, payload = self.next_event()
            if kind == "eval":
                self.reply(slot, False)
            elif kind == "error":
                raise payload
            elif kind == "done":
                out[key] = payload

    # -- jobs decided in order ---------------------------------------------------------------
    def sequence(self, jobs: Iterator[tuple[Any, Job, Callable[[EvaluationPoint], bool] | None]],
                 admit: Callable[[Any], bool], finish: Callable[[Any, Curve], bool],
                 drop: Callable[[Any], None], may_admit: Callable[[list[int | None]], bool] | None = None) -> None:
        """Run ``jobs`` (key, job, decision hook) with the decisions of a one-by-one run.

        ``jobs`` is consumed lazily, as workers free up. Once every earlier job has finished, a
        job is ``admit``-ted (False ends the sequence: it and every later job started are
        ``drop``-ped; jobs not yet taken from ``jobs`` are never asked for),
        its hook is called on its evaluations in order (True stops it there), and
        ``finish(key, curve)`` receives its curve (False ends the sequence too).

        ``may_admit(steps)`` forecasts whether a job started now could still be admitted once
        the jobs before it have finished (``steps``: what each trained, ``None`` for one still
        training); where it says no, a free worker takes a job run ahead before it starts the
        next one. It orders the work only: the decisions are the one-by-one run's whatever it
        says.
        """
        if self.in_process:
            for key, job, decide in jobs:
                if not admit(key):
                    drop(key)
                    return
                if not finish(key, run_job(self._bound(), job, decide)):
                    return
            return
        _Sequencer(self, jobs, admit, finish, drop, may_admit).run()


class _Sequencer:
    """The parent's side of :meth:`TrialPool.sequence`: speculative starts, in-order decisions."""

    def __init__(self, pool: TrialPool, jobs: Iterator[tuple[Any, Job, Callable[[EvaluationPoint], bool] | None]],
                 admit: Callable[[Any], bool], finish: Callable[[Any, Curve], bool], drop: Callable[[Any], None],
                 may_admit: Callable[[list[int | None]], bool] | None = None):
        self.pool, self.jobs, self.admit, self.finish, self.drop = pool, jobs, admit, finish, drop
        self.may_admit = may_admit
        self.order: list[Any] = []            # keys in start order
        self.running: dict[Any, _Running] = {}
        self.done: dict[Any, Curve] = {}      # finished in the worker, waiting for their turn
        self.failed: dict[Any, BaseException] = {}  # raised in the worker: raised here at their turn
        self.exhausted = False                # no more jobs to take
        self.ended = False                    # the sequence was ended: the rest is dropped

    def _start_next(self) -> bool:
        if self.ended or self.exhausted:
            return False
        try:
            key, job, decide = next(self.jobs)
        except StopIteration:
            self.exhausted = True
            return False
        self.order.append(key)
        self.running[key] = _Running(key, job, decide)
        self.pool.put(key, job)
        return True

    def _fill(self) -> None:
        """Keep every worker busy: the sequence's next trial while it may still be admitted (the
        sequence is the critical path, and with early stops its speculation is seldom wasted) or
        when none of its trials is training (its turn, and so its admission, comes at once); else
        a job to run ahead; else the next trial all the same."""
        while self.pool.outstanding < self.pool.workers and not self.ended:
            training = any(k not in self.done and k not in self.failed for k in self.running)
            if training and not self._promising() and self.pool.start_ahead():
                continue
            if not self._start_next() and not self.pool.start_ahead():
                return

    def _promising(self) -> bool:
        """Whether a trial started now may still be admitted (``may_admit``; yes without one)."""
        if self.may_admit is None:
            return True
        return self.may_admit([self.done[k].steps if k in self.done else None for k in self.running])

    def run(self) -> None:
        self._step()
        while self.order:
            kind, slot, key, payload = self.pool.next_event()
            state = self.running.get(key)
            if kind == "eval":
                self.pool.reply(slot, self._on_eval(state, payload) if state else True)
            elif state is not None:
                # a speculative trial's failure counts only if one process would have run it
                (self.failed if kind == "error" else self.done)[key] = payload
            self._step()

    def _step(self) -> None:
        """Finish what is due first (so that the budget and the leader a forecast reads are
        up to date), then fill the free workers, then give a new head its turn."""
        self._advance()
        self._fill()
        self._advance()

    def _on_eval(self, state: _Running, point: EvaluationPoint) -> bool:
        """Record a point; True when the worker should stop now."""
        state.points.append(point)
        if state.live and state.stop_at is None and state.decide is not None and state.decide(point):
            state.stop_at = len(state.points)
        self._settle_next()
        return state.stop_at is not None and len(state.points) >= state.stop_at

    def _settle_next(self) -> None:
        """Stop the first trial after the head still training at once where one process would
        certainly have stopped it already (:class:`EarlyStop`), so that its worker moves on
        instead of training it on to its turn. The trials between must have been stopped so
        too: what they would tell the study is then known."""
        head = self.running[self.order[0]] if self.order else None
        if head is None or not head.live:
            return
        settled = []
        for key in self.order[1:]:
            state = self.running[key]
            if key not in self.done and key not in self.failed:
                break
            if state.settlement is None:
                return
            settled.append(state.settlement)
        else:
            return
        if state.stop_at is not None or not state.points or not isinstance(state.decide, EarlyStop):
            return
        before = Predecessor(head.job.config, head.points[-1].step if head.points else 0, head.stop_at is not None,
                             tuple(settled))
        settlement = state.decide.stopped_by(state.points, before)
        if settlement is not None:
            state.stop_at, state.early, state.settlement = len(state.points), True, settlement

    def _advance(self) -> None:
        """Give the head of the order its turn: replay its points; finish it when it is done."""
        while self.order and not self.ended:
            head = self.running[self.order[0]]
            if not head.live:
                if not self.admit(head.key):
                    self._end()
                    return
                head.live = True
                stopped_early_at, head.stop_at = head.stop_at, None
                for i, point in enumerate(head.points):
                    if head.decide is not None and head.decide(point):
                        head.stop_at = i + 1
                        break
                if head.early and (head.stop_at is None or stopped_early_at is None
                                   or head.stop_at > stopped_early_at):
                    raise RuntimeError(f"trial {head.key!r} was stopped early at evaluation {stopped_early_at}, "
                                       f"but its decisions stop it at {head.stop_at}")
            if head.key in self.failed:
                raise self.failed.pop(head.key)
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
            self.pool.waste(curve.steps - cut.steps)
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
        for key in [k for k in self.order if k in self.done or k in self.failed]:
            if key in self.done:
                self.pool.waste(self.done.pop(key).steps)
            self.failed.pop(key, None)  # a job one process would never have run: not the report's
            self.order.remove(key)
        while self.order:
            kind, slot, key, payload = self.pool.next_event()
            if kind == "eval":
                self.pool.reply(slot, True)
            elif key in self.order:
                self.pool.waste(_trained(payload))
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


def _trained(payload: Any) -> int:
    """Steps a job that came back trained: a curve's, none for a failure."""
    return payload.steps if isinstance(payload, Curve) else 0


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


__all__ = ["EarlyStop", "Job", "Predecessor", "TrialPool", "cpu_count", "default_workers", "run_job", "trial_threads",
           "truncate"]
