"""A crash never exits 1, the code CI reads as "findings fired" (issue 15).

An exception nobody expected, inside a command or outside one, and a stray ``sys.exit()``
become exit code 2 with one line that says how to report it; broken YAML is one line too.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.fuzz import _seeds as seeds


def run_patched(patch: str, *args: str) -> subprocess.CompletedProcess:
    """The real entry point (``regadvisor.cli.main``) after ``patch`` made something inside it fail."""
    code = f"import sys\n{patch}\nfrom regadvisor.cli import main\nsys.argv = ['regadvisor', *{list(args)!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("patch, args", [
    ("import regadvisor.api as a\ndef boom(*_, **__): raise RuntimeError('boom\\x1b[31m\\nsecond line')\n"
     "a.diagnose_runs = boom", ["diagnose", "x.csv"]),
    ("import regadvisor.logs.registry as r\ndef boom(): raise MemoryError()\nr.formats = boom", ["formats"]),
    ("import regadvisor.render.terminal as t\ndef boom(*_, **__): raise RecursionError('deep')\nt.render = boom",
     ["diagnose", "tests/fixtures/real-logs/lightning/mnist_cnn_metrics.csv"]),
])
def test_an_unexpected_exception_exits_2_with_one_line_saying_how_to_report_it(patch, args):
    result = run_patched(patch, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("regadvisor: internal error:"), result.stderr
    assert "report it at https://" in lines[0] and "REGADVISOR_DEBUG=1" in lines[0] and "\x1b" not in lines[0]


def test_debug_shows_the_traceback_and_still_exits_2():
    patch = "import regadvisor.api as a\ndef boom(*_, **__): raise RuntimeError('boom')\na.diagnose_runs = boom"
    code = f"import os\nos.environ['REGADVISOR_DEBUG'] = '1'\n{patch}"
    result = run_patched(code, "diagnose", "x.csv")
    assert result.returncode == 2 and "Traceback" in result.stderr and "internal error" in result.stderr


def test_a_stray_sys_exit_1_inside_a_command_exits_2():
    result = run_patched("import regadvisor.api as a\ndef stop(*_, **__): sys.exit(1)\na.diagnose_runs = stop",
                         "diagnose", "x.csv")
    assert result.returncode == 2 and "sys.exit(1)" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["fail-on: !!timestamp 'nope'\n", "fail-on: [warning\n", "a: &a [*a]\n"])
def test_a_broken_regadvisor_yaml_is_one_line_and_exit_2(cli, tmp_path, text):
    (tmp_path / ".regadvisor.yaml").write_text(text)
    (tmp_path / "metrics.csv").write_text(seeds.LIGHTNING_CSV)
    result = cli("diagnose", "metrics.csv", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert ".regadvisor.yaml" in result.stderr


def test_hostile_inputs_through_the_cli_exit_2_never_1(cli, tmp_path):
    (tmp_path / "nested.jsonl").write_text('{"a": ' * 3000 + "1" + "}" * 3000 + "\n")
    (tmp_path / "events.out.tfevents.1.x").write_bytes(seeds.tb_record(b"\x2a" + b"\0" * 75, length=1 << 40)[:88])
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    for name in ("nested.jsonl", "events.out.tfevents.1.x", "deep.json"):
        result = cli("diagnose", str(tmp_path / name))
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)


@pytest.mark.parametrize("value", ["[unclosed", "!!timestamp 'nope'", "&a [*a]"])
def test_a_set_value_that_is_not_yaml_is_one_line_and_exit_2(cli, value):
    result = cli("probe", "examples/models/adam_l2.py", "--set", f"dropout={value}")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--set dropout" in result.stderr
