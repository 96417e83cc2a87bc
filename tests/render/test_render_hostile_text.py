"""Text from a log is escaped once, where it enters a Run, for every renderer (issue 15).

A metric name or an MLflow param holding ``ESC [`` / ``ESC ]`` sequences recoloured and retitled
the terminal, a control character made the JUnit report ill-formed XML, and a lone surrogate
could not be written to stdout at all. Each renderer's output is checked by
tests/fuzz/_render.py; the fuzz suite does the same for generated runs.
"""

from __future__ import annotations

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs.read import read_log
from regadvisor.model import Run, Series
from regadvisor.sanitise import sanitise
from tests.fuzz import _seeds as seeds
from tests.fuzz._render import analyze, assert_well_formed, render_all

HOSTILE = "loss\x1b[31m\x1b]0;pwned\x07\r\x00\x08\u202e\ud800\ufffe\x85[bold]</x>&"


def hostile_run() -> Run:
    series = {}
    for name, shift in ((f"train_loss{HOSTILE}", 0.0), (f"val_loss{HOSTILE}", 0.1), ("train_loss", 0.0),
                        ("val_loss", 0.2), ("train_acc", 0.0), ("val_acc", 0.0)):
        values = [1.0 / (i + 1) + shift * i for i in range(12)] if "loss" in name else [0.5 + 0.04 * i for i in range(12)]
        series[name] = Series.from_points(name, values, steps=[float(i) for i in range(12)],
                                          epochs=[float(i) for i in range(12)], original_name=name)
    return Run(source=f"runs/{HOSTILE}/metrics.csv", format="csv", series=series,
               facts={"optimizer": HOSTILE, HOSTILE: [HOSTILE, {HOSTILE: 1e308}], "lr": 1e-3},
               warnings=[f"column {HOSTILE}: 3 non-numeric cell(s) ignored"], name=HOSTILE)


def test_sanitise_escapes_control_surrogate_and_bidi_characters():
    assert sanitise(HOSTILE) == ("loss\\x1b[31m\\x1b]0;pwned\\x07\\r\\x00\\x08\\u202e\\ud800\\ufffe\\x85"
                                 "[bold]</x>&")
    assert sanitise("a\tb\nc") == "a\tb\\nc" and sanitise("a\tb\nc", keep_newlines=True) == "a\tb\nc"
    assert sanitise(sanitise(HOSTILE)) == sanitise(HOSTILE)
    assert sanitise("plain ünïcode ✓ 🙂") == "plain ünïcode ✓ 🙂"


def test_a_run_holds_only_escaped_text():
    run = hostile_run()
    texts = [run.source, run.name, *run.warnings, *run.series, *(s.original_name for s in run.series.values()),
             *run.facts, run.facts["optimizer"], *run.facts[sanitise(HOSTILE)][:1]]
    assert all("\x1b" not in t and "\ud800" not in t for t in texts)
    assert run.facts[sanitise(HOSTILE)][1] == {sanitise(HOSTILE): 1e308}  # numbers are left alone


def test_every_renderer_shows_hostile_names_escaped():
    reports = analyze([hostile_run(), hostile_run()])
    outputs = render_all(reports)
    assert_well_formed(outputs)
    assert "\\x1b]0;pwned\\x07" in outputs["terminal"] and "[bold]" in outputs["terminal"]


def test_the_plot_renders_hostile_names():
    pytest.importorskip("matplotlib")
    from regadvisor.render.plot import render

    assert render(analyze([hostile_run()])[0]).png.startswith(b"\x89PNG")


def test_escape_sequences_in_csv_columns_and_mlflow_params_reach_no_renderer(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(seeds.LIGHTNING_CSV.replace("val_acc", "val_acc\x1b]0;pwned\x07", 1))
    run_dir = seeds.mlflow_run_dir(tmp_path / "mlflow", params={"optimizer": "adam\x1b[2J\x1b[31m", "lr": "0.1"})
    reports = analyze([read_log(csv), read_log(run_dir)])
    assert reports[1].run.facts["optimizer"] == "adam\\x1b[2j\\x1b[31m"  # the family is lower-cased
    assert_well_formed(render_all(reports))


def test_an_error_line_never_carries_escape_sequences(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("width,\x1b]0;pwned\x07speed\x1b[31m\n1,2\n")  # no counter column: not a log, refused
    with pytest.raises(LogReadError) as err:
        read_log(path, "csv")
    assert "\x1b" not in str(err.value) and "pwned" in str(err.value)


def test_the_cli_error_line_is_one_escaped_line(tmp_path, cli):
    path = tmp_path / "log\x1b[31m.csv"
    path.write_text("width,\x1b]0;pwned\x07speed\n1,2\n")
    result = cli("diagnose", str(path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "\x1b" not in result.stderr, result.stderr


def extreme_run(values: list[float], facts: dict) -> Run:
    steps = [float(i) for i in range(len(values))]
    series = {name: Series.from_points(name, values, steps, steps, original_name=name)
              for name in ("train_loss", "val_loss", "train_acc", "val_acc")}
    return Run(source="runs/[/]extreme[bold]/metrics.csv", format="csv", series=series, facts=facts)


@pytest.mark.parametrize("values, facts", [
    ([1e308, -1e308] * 6, {}),  # every mean and span of these overflows unless computed with care
    ([1e308] * 12, {"learning_rate": 10**4000, "num_classes": 10**4000}),
    ([1.0 / (i + 1) for i in range(12)], {"num_classes": float("inf"), "learning_rate": float("nan")}),
    ([1.0 / (i + 1) for i in range(12)], {"weight_decay": 10**4000, "dropout": -(10**4000)}),  # found by the long fuzz
])
def test_values_and_facts_at_the_ends_of_the_float_range_judge_and_render(values, facts):
    pytest.importorskip("matplotlib")
    from regadvisor.render.plot import render

    reports = analyze([extreme_run(values, facts)])
    assert_well_formed(render_all(reports))  # the gate summary's title holds the source as text, not markup
    assert render(reports[0]).png.startswith(b"\x89PNG")
