"""Trials on several worker processes give the advice one process gives (issue: verification
on every core): the same curves, the same pruning, the same pairs, and a dead worker is an error,
not a hang."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from regadvisor import api
from regadvisor.errors import ScriptError
from regadvisor.probe.parallel import Job, TrialPool
from regadvisor.probe.trials import TrialRunner
from regadvisor.probe.verify import verify

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "examples" / "models"
TINY = '''
import torch
from torch import nn
EPOCHS = 4

def build_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = (x[:, 0] > 0).long()
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)], [(x[:32], y[:32])]

def build_model(dropout: float = 0.0):
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))
'''


def test_map_returns_the_curves_one_process_gives_in_order(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(TINY)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    jobs = [Job({"dropout": 0.3}, 1), Job({}, 0), Job({"dropout": 0.1}, 2, patience=1, stop_past_best=False)]
    with TrialPool(runner, 1) as here:
        expected = here.map(jobs)
    with TrialPool(runner, 2) as pool:
        got = pool.map(jobs)
    assert [(c.config, c.seed, c.val_loss, c.score, c.steps) for c in got] == \
        [(c.config, c.seed, c.val_loss, c.score, c.steps) for c in expected]


def test_workers_started_before_the_runner_is_known_run_it_once_bound(tmp_path):
    """probe --verify starts its workers before the probe (so their torch import overlaps it);
    the runner, known only from the probe's report, comes with every job."""
    script = tmp_path / "tiny.py"
    script.write_text(TINY)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    jobs = [Job({"dropout": 0.3}, 1), Job({}, 0)]
    with TrialPool(runner, 1) as here:
        expected = here.map(jobs)
    with TrialPool(None, 2, device="cpu") as pool:
        with pytest.raises(RuntimeError, match="bind"):
            pool.map(jobs)
        pool.bind(runner)
        got = pool.map(jobs)
    assert [(c.config, c.val_loss, c.steps) for c in got] == [(c.config, c.val_loss, c.steps) for c in expected]


def test_a_dead_worker_is_an_error_not_a_hang(tmp_path):
    script = tmp_path / "dies.py"
    script.write_text(TINY + textwrap.dedent('''
        import os
        def build_optimizer(params):
            os._exit(3)   # the process dies mid-trial, as when it is killed for memory
    '''))
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    with TrialPool(runner, 2) as pool, pytest.raises(ScriptError, match="worker process exited"):
        pool.map([Job({}, 0), Job({}, 1)])


@pytest.fixture(scope="module")
def both():
    script = MODELS / "overfit_mlp.py"
    out = {}
    for workers in (1, 2):
        report = api.probe(script, seed=0, device="cpu", train_epochs=8)
        out[workers] = (report, verify(script, report, device="cpu", budget="4x", workers=workers))
    return out


def test_the_advice_is_the_same_on_one_and_on_two_workers(both):
    (_, one), (_, two) = both[1], both[2]
    assert one.kept == two.kept and one.kept
    assert [(s.config, s.value, s.patience, s.pruned, s.curve.steps) for s in one.screened] == \
        [(s.config, s.value, s.patience, s.pruned, s.curve.steps) for s in two.screened]
    assert (one.effect.baseline, one.effect.with_change) == (two.effect.baseline, two.effect.with_change)
    assert one.trainings == two.trainings <= 4.0          # the budget counts what decides, not speculation
    assert (one.workers, two.workers) == (1, 2) and one.speculative_trainings == 0.0


def test_the_report_says_how_many_workers_ran(both):
    from regadvisor.render.notes import note_text

    report, _ = both[2]
    assert any(" s on 2 workers; " in note_text(n) for n in report.notes)


def test_an_unguarded_script_calling_the_api_is_not_run_again_by_the_workers(tmp_path):
    marker = tmp_path / "runs.txt"
    user = tmp_path / "tune.py"  # no `if __name__ == "__main__":` guard, as in many notebooks turned scripts
    user.write_text(textwrap.dedent(f'''
        from regadvisor import api
        with open({str(marker)!r}, "a") as f:
            f.write("ran\\n")
        api.probe({str(MODELS / "overfit_mlp.py")!r}, device="cpu", train_epochs=2, verify=True, budget="2x",
                  workers=2)
    '''))
    r = subprocess.run([sys.executable, str(user)], capture_output=True, text=True, timeout=600,
                       env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert marker.read_text() == "ran\n"


def test_a_sequence_finishes_every_job_once_the_jobs_run_out(tmp_path):
    """More workers than jobs left: the last jobs are still decided and finished in order."""
    script = tmp_path / "tiny.py"
    script.write_text(TINY)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    finished, seen = [], []

    def stop_at_second(point):
        seen.append(point.step)
        return len(seen) % 4 == 2

    jobs = ((i, Job({"dropout": 0.1 * i}, 0), stop_at_second if i == 1 else None) for i in range(3))
    with TrialPool(runner, 2) as pool:
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: finished.append((key, c.steps)) or True,
                      drop=lambda key: pytest.fail(f"dropped {key}"))
    assert [k for k, _ in finished] == [0, 1, 2]
    assert dict(finished)[1] == 8 and dict(finished)[0] == dict(finished)[2] == 16   # job 1 stopped at its 2nd evaluation


def _counting(tmp_path, base=TINY):
    """``base`` (TINY), writing one line per model built with the dropout it was given (in any
    process)."""
    marker = tmp_path / "built.txt"
    script = tmp_path / "counting.py"
    script.write_text(base + textwrap.dedent(f'''
        _uncounted = build_model
        def build_model(dropout=0.0):
            with open({str(marker)!r}, "a") as f:
                f.write(f"{{dropout}}\\n")
            return _uncounted(dropout)
    '''))
    return TrialRunner(script, {}, {"epochs": 4}, "cpu", True), marker


def test_a_job_run_ahead_is_taken_by_map_not_trained_again(tmp_path):
    runner, marker = _counting(tmp_path)
    ahead, other = Job({"dropout": 0.05}, 5), Job({"dropout": 0.3}, 1)
    with TrialPool(runner, 1) as here:
        expected = here.map([ahead, other])
    once = marker.read_text().splitlines().count("0.05")
    marker.unlink()
    jobs = iter([(0, Job({"dropout": 0.1}, 0), None), (1, Job({"dropout": 0.2}, 0), None)])
    with TrialPool(runner, 2) as pool:
        pool.ahead([ahead])
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: True, drop=lambda key: None)
        got = pool.map([ahead, other])
        assert pool.speculative_steps == 0
    assert [(c.config, c.seed, c.val_loss, c.steps) for c in got] == \
        [(c.config, c.seed, c.val_loss, c.steps) for c in expected]
    assert marker.read_text().splitlines().count("0.05") == once      # trained ahead, once


def test_jobs_run_ahead_that_nothing_takes_are_speculative_work(tmp_path):
    runner, marker = _counting(tmp_path)
    with TrialPool(runner, 2) as pool:
        pool.ahead([Job({"dropout": 0.05}, 5), Job({"dropout": 0.06}, 6)])
        pool.sequence(iter([(0, Job({"dropout": 0.1}, 0), None)]), admit=lambda key: True,
                      finish=lambda key, c: True, drop=lambda key: None)
        assert pool.map([Job({"dropout": 0.06}, 6)])[0].config == {"dropout": 0.06}
    assert pool.speculative_steps > 0                     # the first ran ahead and nobody took it
    assert "0.05" in marker.read_text().splitlines()


def test_closing_does_not_wait_long_for_a_job_run_ahead_in_a_long_epoch(tmp_path, monkeypatch):
    import time

    from regadvisor.probe import parallel

    script = tmp_path / "slow.py"
    script.write_text(TINY + textwrap.dedent('''
        import time
        _build = build_model
        def build_model(dropout=0.0):
            model = _build(dropout)
            if dropout == 0.05:          # the job run ahead: its first batch takes a minute
                model.register_forward_pre_hook(lambda module, args: time.sleep(60))
            return model
    '''))
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    monkeypatch.setattr(parallel, "AHEAD_STOP_SECONDS", 0.5)
    with TrialPool(runner, 2) as pool:
        pool.ahead([Job({"dropout": 0.05}, 5)])
        pool.sequence(iter([(0, Job({"dropout": 0.1}, 0), None)]), admit=lambda key: True,
                      finish=lambda key, c: True, drop=lambda key: None)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 30          # killed, not waited for the minute


FAILS_WITH_DROPOUT = TINY + textwrap.dedent('''
    _build = build_model
    def build_model(dropout=0.0):
        if dropout > 0.4:
            raise RuntimeError("this configuration cannot be built")
        return _build()
''')


def test_a_speculative_trial_that_fails_is_no_error_when_one_process_would_not_have_run_it(tmp_path):
    """The sequence ends at its first job; the second, already running on the other worker,
    raises. One process would never have started it: no error, no hang, it is dropped."""
    script = tmp_path / "fails.py"
    script.write_text(FAILS_WITH_DROPOUT)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    dropped = []
    jobs = iter([(0, Job({}, 0), None), (1, Job({"dropout": 0.5}, 0), None)])
    with TrialPool(runner, 2) as pool:
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: False, drop=dropped.append)
    assert dropped == [1]


def test_a_failing_trial_one_process_would_run_is_raised_at_its_turn(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text(FAILS_WITH_DROPOUT)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    finished = []
    jobs = iter([(0, Job({}, 0), None), (1, Job({"dropout": 0.5}, 0), None)])
    with TrialPool(runner, 2) as pool, pytest.raises(ScriptError, match="cannot be built"):
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: finished.append(key) or True,
                      drop=lambda key: None)
    assert finished == [0]   # the first was finished in order before the second's failure


def test_the_cli_knows_the_executors_without_importing_torch():
    from regadvisor import cli
    from regadvisor.probe import parallel

    assert cli.EXECUTORS == parallel.EXECUTORS


ray = pytest.importorskip("ray", reason="the regadvisor[ray] extra is not installed")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A real local Ray head on 127.0.0.1, as a team's cluster would be reached: by RAY_ADDRESS."""
    import os

    tmp = tmp_path_factory.mktemp("ray")
    # token authentication (on by default in recent Ray) is for shared clusters: a throw-away head
    # on 127.0.0.1 needs none, and a token left in ~/.ray by another head would not match it
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    ray_cli = str(Path(sys.executable).with_name("ray"))   # the venv's, whatever PATH says
    start = subprocess.run([ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", "--port=0", "--num-cpus=2",
                            "--include-dashboard=false", f"--temp-dir={tmp}"], capture_output=True, text=True,
                           env=env, timeout=180)
    assert start.returncode == 0, start.stderr[-2000:]
    address = next(line.split("'")[1] for line in start.stdout.splitlines() if "ray start --address=" in line)
    yield address
    subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_ray_executor_gives_the_single_process_advice(both, ray_head, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    script = MODELS / "overfit_mlp.py"
    report = api.probe(script, seed=0, device="cpu", train_epochs=8)
    try:
        on_ray = verify(script, report, device="cpu", budget="4x", executor="ray", workers=2)
    finally:
        ray.shutdown()
    _, one = both[1]
    assert on_ray.kept == one.kept and on_ray.workers == 2
    assert [(s.config, s.value) for s in on_ray.screened] == [(s.config, s.value) for s in one.screened]


def test_a_warmed_worker_imports_nothing_more_when_its_first_trial_trains():
    """The first optimizer a process builds imports most of torch's compiler (0.85 s measured);
    a worker pays that before its first trial, while the probe trains in the parent."""
    probe = textwrap.dedent('''
        import sys
        from regadvisor.probe.parallel import warm_up
        import torch
        warm_up()
        before = set(sys.modules)
        model = torch.nn.Linear(3, 2)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
        print(sorted(set(sys.modules) - before))
    ''')
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


SLOW_HEAD = TINY + textwrap.dedent('''
    import itertools, time
    _build = build_model
    def build_model(dropout=0.0):
        model = _build(dropout)
        calls = itertools.count(1)
        if dropout == 0.2:               # the head: 0.15 s a batch after its first evaluation
            model.register_forward_pre_hook(lambda module, args: time.sleep(0.15 if next(calls) > 5 else 0))
        elif dropout == 0.1:             # the trial after it: a tenth of a second a batch
            model.register_forward_pre_hook(lambda module, args: time.sleep(0.1))
        return model
''')


class _PrunedAtFirst:
    """A decision that stops its trial at its first evaluation, and says so before its turn
    once the trial before it has passed step 4 (``claims``: what it says then)."""

    def __init__(self, claims=True, stops=True):
        self.claims, self.stops = claims, stops

    def __call__(self, point):
        return self.stops

    def stopped_by(self, points, before):
        return "stopped at its first evaluation" if self.claims and before.step >= 4 else None


def test_a_trial_one_process_would_stop_stops_before_its_turn(tmp_path):
    """The head trains slowly after its first evaluation; the trial after it is stopped at its
    first evaluation one by one. Its worker stops it then (within one evaluation), not when the
    head is done; its curve is the one-process curve."""
    script = tmp_path / "slow_head.py"
    script.write_text(SLOW_HEAD)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    finished = {}
    jobs = iter([(0, Job({"dropout": 0.2}, 0), None), (1, Job({"dropout": 0.1}, 0), _PrunedAtFirst())])
    with TrialPool(runner, 2) as pool:
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: finished.update({key: c}) or True,
                      drop=lambda key: pytest.fail(f"dropped {key}"))
        assert pool.speculative_steps <= 4     # 12 steps trained past its stop, without the early stop
    assert finished[1].steps == 4 and len(finished[1].val_loss) == 1 and finished[0].steps == 16


def test_an_early_stop_the_decisions_do_not_make_is_an_error_not_a_wrong_curve(tmp_path):
    script = tmp_path / "slow_head.py"
    script.write_text(SLOW_HEAD)
    runner = TrialRunner(script, {}, {"epochs": 4}, "cpu", True)
    jobs = iter([(0, Job({"dropout": 0.2}, 0), None), (1, Job({"dropout": 0.1}, 0), _PrunedAtFirst(stops=False))])
    with TrialPool(runner, 2) as pool, pytest.raises(RuntimeError, match="stopped early"):
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: True, drop=lambda key: None)


@pytest.mark.parametrize(("admissible", "second"), [(True, "0.1"), (False, "0.05")])
def test_a_free_worker_runs_ahead_when_the_next_trial_may_not_be_admitted(tmp_path, admissible, second):
    """While the next trial may still be admitted it goes first (the sequence is the critical
    path); where the forecast says it may not, the job run ahead does."""
    runner, marker = _counting(tmp_path, SLOW_HEAD)
    forecasts = []

    def may_admit(before):
        forecasts.append(before)
        return admissible

    jobs = iter([(0, Job({"dropout": 0.2}, 0), None), (1, Job({"dropout": 0.1}, 0), None)])
    with TrialPool(runner, 2) as pool:
        pool.ahead([Job({"dropout": 0.05}, 5)])
        pool.sequence(jobs, admit=lambda key: True, finish=lambda key, c: True, drop=lambda key: None,
                      may_admit=may_admit)
    assert set(marker.read_text().splitlines()[:2]) == {"0.2", second}   # the two started first
    assert forecasts[0] == [None]              # the head, still training


def test_a_guessed_job_is_taken_by_map_and_a_replaced_guess_is_not(tmp_path):
    """The leader's decision trials are guessed ahead; when the leader changes, the old guess's
    running trial is stopped and never handed out as if it had run in full."""
    runner, marker = _counting(tmp_path)
    old, new = Job({"dropout": 0.05}, 1, patience=3, stop_past_best=False), Job({"dropout": 0.06}, 1)
    with TrialPool(runner, 1) as here:
        expected = here.map([old, new])
    marker.unlink()
    with TrialPool(runner, 2) as pool:
        pool.guess([old])
        assert pool.start_ahead()
        pool.guess([new])                       # the leader changed: the old guess is cancelled
        assert pool.start_ahead()
        got = pool.map([new, old])
    assert [(c.config, c.val_loss, c.steps) for c in got] == \
        [(c.config, c.val_loss, c.steps) for c in reversed(expected)]
    built = marker.read_text().splitlines()
    assert built.count("0.06") == 1           # guessed, then taken
    assert built.count("0.05") == 2           # cancelled, so trained again when map asked for it
