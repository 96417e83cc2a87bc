"""The learning-curve PNG: marks where the report's signals say, deterministic bytes, and a
clear error when the optional matplotlib is missing."""

from __future__ import annotations

import copy
import importlib.abc
import struct
import sys
import zlib

import pytest

from regadvisor import api
from regadvisor.errors import ConfigError
from regadvisor.model import Run, Series
from regadvisor.render import plot
from tests.render.conftest import LOG_RULES

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chunks(png: bytes):
    """(type, data) of every PNG chunk, checking each CRC."""
    assert png.startswith(PNG_MAGIC)
    i = len(PNG_MAGIC)
    while i < len(png):
        (length,) = struct.unpack(">I", png[i:i + 4])
        kind, data = png[i + 4:i + 8], png[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", png[i + 8 + length:i + 12 + length])
        assert zlib.crc32(kind + data) == crc
        yield kind.decode("ascii"), data
        i += 12 + length


def size(png: bytes) -> tuple[int, int]:
    kind, data = next(chunks(png))
    assert kind == "IHDR"
    return struct.unpack(">II", data[:8])


def test_overfitting_run_marks_best_onset_and_shades_to_the_end(hf_report):
    result = plot.render(hf_report)
    s = hf_report.signals
    marks = result.marks
    assert marks.axis == "step" and marks.panels == ("loss", "accuracy")  # eval_g0_accuracy beside eval_g0_loss
    assert (marks.best_x, marks.best_y) == (s["best_step"], s["best_value"]) == (401.0, pytest.approx(1.11375, 1e-4))
    assert marks.onset_x == s["onset_step"] == 802.0
    last_step = max(max(hf_report.run.get(n).steps) for n in ("train_loss", "val_loss"))
    assert marks.shaded == (802.0, last_step)
    assert size(result.png) == (900, 750)  # two panels


def test_healthy_run_has_best_but_no_onset_or_shading(lightning_report):
    marks = plot.render(lightning_report).marks
    s = lightning_report.signals
    assert (marks.best_x, marks.best_y) == (s["best_step"], s["best_value"])
    assert marks.onset_x is None and marks.shaded is None
    assert marks.panels == ("loss", "accuracy")  # val_acc is logged


def test_low_confidence_overfitting_run(tb_report):
    marks = plot.render(tb_report).marks
    s = tb_report.signals
    assert tb_report.verdict == "overfitting"
    assert marks.best_x == s["best_step"] and marks.onset_x == s["onset_step"]
    assert marks.shaded[0] == s["onset_step"]


def test_png_is_deterministic_and_carries_no_version_or_time(hf_report):
    a, b = plot.render(hf_report).png, plot.render(hf_report).png
    assert a == b
    kinds = [k for k, _ in chunks(a)]
    assert "tIME" not in kinds
    text = b"".join(d for k, d in chunks(a) if k in ("tEXt", "iTXt", "zTXt"))
    assert b"Software" not in text and b"matplotlib" not in text.lower()


def _report(values, *, steps=None, epochs=None, train=None):
    run = Run("synthetic.csv", "csv")
    run.series["val_loss"] = Series.from_points("val_loss", values, steps, epochs)
    if train is not None:
        run.series["train_loss"] = Series.from_points("train_loss", *train)
    return api.analyze(run, api.load_ruleset(select_rules=LOG_RULES))


VAL = [1.0, 0.7, 0.5, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]


def test_epoch_axis_when_there_are_no_steps():
    epochs = list(range(1, len(VAL) + 1))
    report = _report(VAL, epochs=epochs, train=([1.0 - 0.08 * i for i in range(12)], None, epochs))
    assert report.verdict == "overfitting"
    marks = plot.render(report).marks
    assert marks.axis == "epoch"
    assert marks.best_x == report.signals["best_epoch"] == 4.0
    assert marks.onset_x == report.signals["onset_epoch"]
    assert marks.shaded == (report.signals["onset_epoch"], 12.0)


def test_evaluation_index_when_neither_steps_nor_epochs():
    marks = plot.render(_report(VAL)).marks
    assert marks.axis == "evaluation"
    assert marks.best_x == 3 and marks.best_y == 0.45
    assert marks.onset_x is None and marks.shaded is None  # the onset is known only as a step/epoch


def test_a_run_without_curves_is_a_config_error():
    run = Run("empty.csv", "csv")
    report = api.analyze(run, api.load_ruleset(select_rules=LOG_RULES))
    with pytest.raises(ConfigError, match="no loss or accuracy curve"):
        plot.render(report)


class _BlockMatplotlib(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")


def test_missing_matplotlib_is_a_config_error_naming_the_extra(hf_report, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BlockMatplotlib(), *sys.meta_path])
    with pytest.raises(ConfigError) as info:
        plot.render(copy.deepcopy(hf_report))
    assert "pip install 'regadvisor[plot]'" in str(info.value)


def test_no_legend_or_label_covers_the_plotted_curves(hf_report, lightning_report, monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **kw: (drawn.append(fig), save(fig, *a, **kw))[1])
    for report in (hf_report, lightning_report):
        plot.render(report)
    for fig in drawn:
        renderer = FigureCanvasAgg(fig).get_renderer()
        for ax in fig.axes:
            assert not ax.texts, "a note on the axes can cover the curves"
            legend = ax.get_legend().get_window_extent(renderer)
            assert not legend.overlaps(ax.get_window_extent(renderer))
    best = [t.get_text() for t in drawn[0].axes[0].get_legend().get_texts() if t.get_text().startswith("best")]
    assert best == ["best val_loss 1.114\nat epoch 1 (step 401)"]
