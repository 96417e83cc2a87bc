"""regadvisor.pool.in_order: many runs at once, results and failures as the plain loop gives them."""

from __future__ import annotations

import os
import threading

import pytest

from regadvisor import api, pool
from regadvisor.errors import ConfigError
from regadvisor.render.json import report_to_dict
from tests.conftest import ROOT

REAL_LOGS = ROOT / "tests" / "fixtures" / "real-logs"


def _square_unless_negative(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * x


def _pid(_: int) -> int:
    return os.getpid()


@pytest.mark.parametrize("processes", [False, True])
def test_results_come_in_the_order_given(processes):
    items = list(range(40, 0, -1))
    assert pool.in_order(_square_unless_negative, items, workers=3, processes=processes) == [x * x for x in items]


@pytest.mark.parametrize("processes", [False, True])
def test_of_several_failures_the_first_in_order_is_raised(processes):
    with pytest.raises(ValueError, match="negative -1"):
        pool.in_order(_square_unless_negative, [1, -1, 2, -2, -3], workers=4, processes=processes)


def test_processes_run_elsewhere_and_one_worker_runs_here():
    if not pool.can_fork():
        pytest.skip("another thread runs in this test process: processes are not started then")
    here = os.getpid()
    assert here not in pool.in_order(_pid, list(range(8)), workers=2, processes=True)
    assert set(pool.in_order(_pid, list(range(8)), workers=1, processes=True)) == {here}


def test_threads_share_the_work():
    seen, lock = set(), threading.Lock()
    barrier = threading.Barrier(3, timeout=10)

    def work(x: int) -> int:
        barrier.wait()  # only passes when three items run at once
        with lock:
            seen.add(threading.get_ident())
        return x

    assert pool.in_order(work, [1, 2, 3], workers=3) == [1, 2, 3] and len(seen) == 3


def test_no_fork_while_other_threads_run():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not pool.can_fork()
        assert set(pool.in_order(_pid, [1, 2, 3], workers=2, processes=True)) == {os.getpid()}
    finally:
        stop.set()
        thread.join()


def _die(_: int) -> int:
    os._exit(9)


def test_a_worker_that_dies_is_one_clear_error():
    with pytest.raises(ConfigError, match="stopped abruptly .*--workers 1"):
        pool.in_order(_die, [1, 2, 3, 4], workers=2, processes=True)


def test_a_folder_of_runs_judged_in_processes_gives_the_reports_of_one_by_one():
    one_by_one = api.diagnose_runs([REAL_LOGS], workers=1, fail_on="never")
    at_once = api.diagnose_runs([REAL_LOGS], workers=2, fail_on="never")
    assert len(one_by_one.reports) > 50
    assert [report_to_dict(r) for r in at_once.reports] == [report_to_dict(r) for r in one_by_one.reports]


@pytest.mark.parametrize("cores, runs, expected", [(2, 1000, 1), (4, 1000, 4), (16, 1000, 15), (8, 100, 1)])
def test_local_runs_go_to_processes_by_default_only_given_cores_and_runs(monkeypatch, cores, runs, expected):
    monkeypatch.setattr(pool, "cpu_count", lambda: cores)
    assert api._local_workers(runs) == expected  # 2 cores: the reports' trip back eats the gain (api.py)
