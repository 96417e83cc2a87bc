"""Many runs at once, results in the order the runs were given.

Reading a run is one of two kinds of work. From a tracking server it is mostly waiting: a run
read by its id is five HTTP requests (~7 ms each from a local ``mlflow server``, more across a
network), during which this process is idle, so threads overlap the waits.
From local files it is Python turning bytes into numbers while holding the GIL, so threads only
add switching and local runs go to processes instead.

Processes are started with ``fork``, and only where it is safe: on Linux, from a process running
one thread. ``fork`` copies the caller as it is; ``spawn`` and ``forkserver`` import the caller's
``__main__`` again in every worker, which runs an unguarded user script a second time, and a
``fork`` taken while another thread holds a lock can deadlock the child (Python 3.12 warns of
it). Elsewhere the work runs in this process, one item after another.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError

if TYPE_CHECKING:
    from concurrent.futures import Executor

T = TypeVar("T")
R = TypeVar("R")

_installed: Callable[[Any], Any] | None = None


def _install(work: Callable[[Any], Any]) -> None:
    """Worker start-up: keep the work function, so that tasks carry only their item."""
    global _installed
    _installed = work


def _run_installed(item: Any) -> Any:
    assert _installed is not None, "the pool's initializer installs the work function"
    return _installed(item)


def cpu_count() -> int:
    """Cores this process may use (the affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether worker processes can be started safely here (see the module docstring)."""
    return sys.platform == "linux" and threading.active_count() == 1


def in_order(work: Callable[[T], R], items: Sequence[T], *, workers: int, processes: bool = False) -> list[R]:
    """``[work(item) for item in items]`` on up to ``workers`` threads (or processes).

    The results come in the order of ``items`` and, of several failures, the one raised is the
    first in that order: what the plain loop would raise. Work not yet started is then cancelled.
    ``processes`` needs ``work`` and the results to pickle; where :func:`can_fork` says no, the
    items run here, in order.
    """
    if processes and not can_fork():
        workers = 1
    workers = min(workers, len(items))
    if workers <= 1:
        return [work(item) for item in items]
    # imported here: reading one run, the common case, needs none of it
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    executor: Executor
    if processes:
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_install, initargs=(work,))
        # A few chunks a worker: fewer round trips than one item a task, and a slow chunk is not
        # a worker's whole share.
        results = executor.map(_run_installed, items, chunksize=max(1, math.ceil(len(items) / (4 * workers))))
    else:
        executor = ThreadPoolExecutor(workers, thread_name_prefix="regadvisor-read")
        results = executor.map(work, items)
    try:
        return list(results)
    except BrokenProcessPool:
        raise ConfigError("a worker process reading the runs stopped abruptly (out of memory, or killed)",
                          source="--workers", hint="try again with --workers 1") from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
