"""The learning-curve picture (``regadvisor diagnose LOG --plot curves.png``).

Train and validation loss (and accuracy on a second panel when logged) against the step, else
the epoch, else the evaluation index; the best validation point marked (marker and vertical
line, its value and position in the legend), the overfitting onset marked, and the region from
the onset to the end shaded when the verdict is overfitting. Legends sit outside the axes, so
no label covers a curve. Every mark comes from the report's signals: this module draws what the
analysis found, it does not look for anything itself.

matplotlib is an optional extra (``pip install 'regadvisor[plot]'``) imported only here, inside
:func:`render`, with the Agg backend; the PNG carries no software version or timestamp, and a
fixed size and DPI, so the same report gives the same bytes on the same matplotlib.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..model import Report, Series
from ..numbers import is_number

FIGSIZE = (9.0, 5.0)
FIGSIZE_TWO_PANELS = (9.0, 7.5)
DPI = 100
COLORS = {"train": "#1f77b4", "val": "#d62728", "best": "#2ca02c", "onset": "#ff7f0e"}


@dataclass(frozen=True)
class PlotMarks:
    """Where the marks were drawn, in data coordinates of the panel holding the monitored metric."""

    axis: str                     # "step", "epoch" or "evaluation"
    best_x: float | None
    best_y: float | None
    onset_x: float | None
    shaded: tuple[float, float] | None
    panels: tuple[str, ...]       # "loss", and "accuracy" when logged


@dataclass(frozen=True)
class Plot:
    png: bytes
    marks: PlotMarks


_PLOTTABLE = 1e300
"""Coordinates beyond ±1e300 are left out like NaN: matplotlib's autoscaling subtracts the axis
ends, and a curve spanning -1e308 to 1e308 overflows it (LinAlgError, "arange: cannot compute length")."""


def _plottable(x: float) -> bool:
    return math.isfinite(x) and abs(x) < _PLOTTABLE


def _plottable_number(x: Any) -> float | None:
    return float(x) if is_number(x) and _plottable(x) else None


def _points(series: Series, axis: str, n_eval: int) -> tuple[list[float], list[float]]:
    """(x, y) of a series' finite points on the chosen axis.

    On the evaluation axis a series logged more often than the validation metric (training
    loss every few steps) is spread evenly over the same span, 0 … n_eval - 1.
    """
    xs, ys = [], []
    finite = [(v, s, e) for v, s, e in zip(series.values, series.steps, series.epochs) if _plottable(v)]
    for i, (v, s, e) in enumerate(finite):
        if axis == "step":
            x = s
        elif axis == "epoch":
            x = e
        else:
            x = i * (n_eval - 1) / (len(finite) - 1) if len(finite) > 1 and n_eval > 1 else float(i)
        if _plottable(x):
            xs.append(x)
            ys.append(v)
    return xs, ys


def _axis(report: Report, series: list[Series]) -> str:
    """Steps when every plotted series and the best point have them, else epochs, else index."""
    s = report.signals
    for axis, has, best_key in (("step", "has_steps", "best_step"), ("epoch", "has_epochs", "best_epoch")):
        best_known = s.get("monitor") is None or _plottable_number(s.get(best_key)) is not None
        if best_known and all(getattr(x, has) for x in series):
            return axis
    return "evaluation"


def _marks(report: Report, axis: str, axes: Any, ax: Any,
           ends: list[float]) -> tuple[float | None, float | None, float | None, tuple[float, float] | None]:
    """Mark the best point (on ``ax``, the monitored metric's panel) and, for an overfitting run,
    the onset and the region after it; returns (best_x, best_y, onset_x, shaded)."""
    sig = report.signals
    monitor = sig.get("monitor")
    if not monitor:
        return None, None, None, None
    best_y = _plottable_number(sig.get("best_value"))
    best_x = {"step": _plottable_number(sig.get("best_step")), "epoch": _plottable_number(sig.get("best_epoch")),
              "evaluation": _plottable_number(sig.get("best_index"))}[axis]
    # The onset is where the smoothed validation curve bottoms out; it is drawn as an
    # *overfitting* onset only when the rules concluded the run overfits.
    onset_x = None
    if report.verdict == "overfitting":
        onset_x = {"step": _plottable_number(sig.get("onset_step")), "epoch": _plottable_number(sig.get("onset_epoch")),
                   "evaluation": None}[axis]
    shaded = (onset_x, max(ends)) if onset_x is not None and ends else None
    for a in axes:
        if shaded is not None:
            a.axvspan(shaded[0], shaded[1], color=COLORS["onset"], alpha=0.10, linewidth=0,
                      label="overfitting" if a is ax else None)
        if onset_x is not None:
            a.axvline(onset_x, color=COLORS["onset"], linestyle=":", linewidth=1.2,
                      label="overfitting onset" if a is ax else None)
        if best_x is not None and best_y is not None:
            a.axvline(best_x, color=COLORS["best"], linestyle="--", linewidth=1.0)
    if best_x is not None and best_y is not None:
        # The best value and where it was go in the legend, which sits outside the axes: a
        # note beside the marker covered the validation curve it points at.
        ax.plot([best_x], [best_y], marker="*", markersize=14, color=COLORS["best"], zorder=5, linestyle="none",
                label=f"best {monitor} {best_y:.4g}\nat {sig.get('best_position', '')}")
    return best_x, best_y, onset_x, shaded


def render(report: Report, *, title: str | None = None) -> Plot:
    """Draw the report's learning curves; returns the PNG bytes and the marks' coordinates."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("--plot needs matplotlib, which is not installed",
                          hint="pip install 'regadvisor[plot]'") from None

    run, sig = report.run, report.signals
    curves = {n: s for n in ("train_loss", "val_loss", "train_acc", "val_acc") if (s := run.get(n)) is not None}
    loss = [(n, s) for n, s in curves.items() if n.endswith("_loss")]
    acc = [(n, s) for n, s in curves.items() if n.endswith("_acc")]
    if not loss and not acc:
        raise ConfigError("the log has no loss or accuracy curve to plot", source=report.source)
    panels = [p for p, group in (("loss", loss), ("accuracy", acc)) if group]
    axis = _axis(report, [s for _, s in loss + acc])
    n_eval = int(sig.get("n_evaluations") or 0) or max(len(s) for _, s in loss + acc)

    fig = Figure(figsize=FIGSIZE_TWO_PANELS if len(panels) == 2 else FIGSIZE, dpi=DPI)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    monitor = sig.get("monitor")
    monitor_panel = "accuracy" if monitor == "val_acc" else "loss"
    ends: list[float] = []
    for ax, panel in zip(axes, panels):
        for name, series in (loss if panel == "loss" else acc):
            xs, ys = _points(series, axis, n_eval)
            kind = "train" if name.startswith("train") else "val"
            label = name if series.original_name in (None, name) else f"{name} ({series.original_name})"
            ax.plot(xs, ys, color=COLORS[kind], linewidth=1.2 if kind == "train" else 1.8,
                    alpha=0.75 if kind == "train" else 1.0, marker="o" if kind == "val" and len(xs) <= 60 else None,
                    markersize=3, label=label)
            if xs:
                ends.append(xs[-1])
        ax.set_ylabel(panel)
        ax.grid(True, alpha=0.3)

    best_x, best_y, onset_x, shaded = _marks(report, axis, axes, axes[panels.index(monitor_panel)]
                                             if monitor_panel in panels else axes[0], ends)
    for a in axes:
        a.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)
    axes[-1].set_xlabel({"step": "step", "epoch": "epoch", "evaluation": "evaluation"}[axis])
    name = title or report.run.name or report.source
    fig.suptitle(f"{name} — {report.verdict} (confidence {report.verdict_confidence})", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return Plot(buffer.getvalue(), PlotMarks(axis, best_x, best_y, onset_x, shaded, tuple(panels)))
