"""Every renderer on generated runs: hostile names, facts and warnings, values from NaN to ±1e308,
steps out of order. Analysis must judge them and every format must come out well-formed (see
_render.py); the PNG plot must render. See _settings.py for how long this runs.
"""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given
from hypothesis import strategies as st

from regadvisor.logs.aliases import CANONICAL
from regadvisor.logs.registry import formats
from regadvisor.model import Run, Series

from . import _strategies as hs
from ._render import analyze, assert_well_formed, render_all
from ._settings import fuzz

METRIC_NAMES = st.one_of(st.sampled_from([*CANONICAL, "val_f1", "epoch", "validation/epoch_loss", "lr"]), hs.HOSTILE_TEXT)
FACT_NAMES = st.one_of(st.sampled_from(["learning_rate", "batch_size", "dropout", "weight_decay", "optimizer",
                                        "num_classes", "label_smoothing", "grad_clip_norm", "max_epochs",
                                        "normalization", "early_stopping_patience"]), hs.HOSTILE_TEXT)
FACT_VALUES = st.one_of(hs.NUMBERS, st.integers(-(10**30), 10**30), st.just(10**4000), hs.HOSTILE_TEXT,
                        st.booleans(), st.none())


@st.composite
def series(draw, name: str) -> Series:
    n = draw(st.integers(0, 40))
    values = draw(st.lists(hs.NUMBERS, min_size=n, max_size=n))
    ordered = [float(i) for i in range(n)]
    axis = st.one_of(st.none(), st.just(ordered), st.lists(st.one_of(st.none(), hs.NUMBERS), min_size=n, max_size=n))
    return Series.from_points(name, values, draw(axis), draw(axis), original_name=draw(st.one_of(st.none(), hs.HOSTILE_TEXT)))


@st.composite
def runs(draw) -> Run:
    names = draw(st.lists(METRIC_NAMES, max_size=6, unique=True))
    return Run(source=draw(hs.HOSTILE_TEXT), format=draw(st.sampled_from(sorted(formats()))),
               series={name: draw(series(name)) for name in names},
               facts=draw(st.dictionaries(FACT_NAMES, FACT_VALUES, max_size=6)),
               warnings=draw(st.lists(hs.HOSTILE_TEXT, max_size=3)), name=draw(st.one_of(st.none(), hs.HOSTILE_TEXT)))


@fuzz()
@given(st.lists(runs(), min_size=1, max_size=3))
def test_every_renderer_formats_any_run(generated):
    assert_well_formed(render_all(analyze(generated)))


@fuzz(0.25)
@given(runs())
def test_the_plot_draws_any_run(run):
    pytest.importorskip("matplotlib")
    from regadvisor.errors import UserError
    from regadvisor.render.plot import render

    try:
        assert render(analyze([run])[0]).png.startswith(b"\x89PNG")
    except UserError:
        pass  # "the log has no loss or accuracy curve to plot"
