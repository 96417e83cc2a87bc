"""Progress off a terminal: plain periodic lines on stderr, none for a short run."""

from __future__ import annotations

import io

from regadvisor.probe import ProbeProgress
from regadvisor.probe.verify import VerifyProgress
from regadvisor.render.progress import EVERY, PlainLines, describe_probe, describe_verify
from tests.conftest import ROOT


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _probe(step, seconds):
    return ProbeProgress(step, step / 32, seconds, 0.5 / step, "train", None, 10, 45.0)


def test_a_line_every_period_and_none_before():
    clock, out = Clock(), io.StringIO()
    lines = PlainLines("probe", describe_probe, stream=out, every=15.0, clock=clock)
    for step in range(1, 301):  # 300 steps, 0.1 s each: 30 s
        clock.now = 100.0 + step * 0.1
        lines(_probe(step, step * 0.1))
    written = out.getvalue().splitlines()
    assert written == ["regadvisor probe: training, epoch 4.7 of 10, step 150, loss 0.003333 (15 s)",
                       "regadvisor probe: training, epoch 9.4 of 10, step 300, loss 0.001667 (30 s)"]


def test_a_short_run_prints_nothing():
    clock, out = Clock(), io.StringIO()
    lines = PlainLines("probe", describe_probe, stream=out, clock=clock)
    clock.now += EVERY - 1
    lines(_probe(10, EVERY - 1))
    assert out.getvalue() == ""


def test_verify_lines_say_which_trial():
    p = VerifyProgress(3, 30, 40.0, 120.0, None, "dropout=0.3 seed 1")
    assert describe_verify(p) == "trial 4 of 30: dropout=0.3 seed 1; budget 120 s"
    assert describe_verify(VerifyProgress(9, 12, 40.0, None, 9, "done")) == "done"


def test_probe_cli_off_a_terminal_keeps_stderr_quiet_for_a_short_run(cli):
    result = cli("probe", str(ROOT / "examples/models/healthy.py"), "--steps", "3", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_probe_cli_off_a_terminal_writes_progress_lines(cli):
    result = cli("probe", str(ROOT / "examples/models/overfit_mlp.py"), "--epochs", "6", "-f", "json",
                 env={"REGADVISOR_PROGRESS_EVERY": "0.01"})
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("regadvisor probe: ") and line.endswith(" s)") for line in lines), lines
    assert "\x1b" not in result.stderr and "\r" not in result.stderr  # plain lines, no redraws
    bad = cli("probe", str(ROOT / "examples/models/healthy.py"), env={"REGADVISOR_PROGRESS_EVERY": "often"})
    assert bad.returncode == 2 and "REGADVISOR_PROGRESS_EVERY: must be a positive number" in bad.stderr
