"""The ROC curves' coordinates (pure): points in the panel's square with y downwards, one
panel per session, a reader's colour the same in every panel, a model in every panel."""

from __future__ import annotations

import pytest

from app.studies.roc_plot import SIZE, CurveInput, polyline, roc_plot


def test_points_map_the_unit_square_with_y_downwards() -> None:
    assert polyline([0, 0.5, 1], [0, 0.25, 1], size=100) == "0,100 50,75 100,0"
    with pytest.raises(ValueError, match="same length"):
        polyline([0, 1], [0])
    with pytest.raises(ValueError, match="finite"):
        polyline([0, float("nan")], [0, 1])


def test_panels_colours_and_the_model() -> None:
    curves = [
        CurveInput("a", "Unaided", 0.7, (0, 0.5, 1), (0, 0.8, 1)),
        CurveInput("b", "Unaided", 0.6, (0, 1), (0, 1)),
        CurveInput("a", "Aided", 0.8, (0, 1), (0, 1)),
        CurveInput("b", "Aided", 0.9, (0, 1), (0, 1)),
        CurveInput("AI: m", None, 0.75, (0, 1), (0, 1), model=True),
    ]
    plot = roc_plot(curves, ["Unaided", "Aided"])
    assert [p.session for p in plot.panels] == ["Unaided", "Aided"]
    assert plot.panels[1].x > plot.panels[0].x
    for panel in plot.panels:
        assert [line.reader for line in panel.lines] == ["a", "b", "AI: m"]  # the model on top
        assert [line.series for line in panel.lines] == ["series-0", "series-1", "series-model"]
    assert plot.panels[0].lines[0].points == f"0,{SIZE} {SIZE / 2:g},{SIZE * 0.2:g} {SIZE},0"
    assert [(e.reader, e.aucs) for e in plot.legend] == [
        ("a", (("Unaided", 0.7), ("Aided", 0.8))),
        ("b", (("Unaided", 0.6), ("Aided", 0.9))),
        ("AI: m", ((None, 0.75),)),
    ]
    assert [t.value for t in plot.ticks] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
