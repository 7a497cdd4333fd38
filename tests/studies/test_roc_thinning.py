"""The ROC curves drawn with fewer points (the results page's 20+ curves): a point on the
straight segment between its neighbours is left out, and the line drawn is the same."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.stats.roc import roc_curve
from app.studies.roc_plot import CurveInput, polyline, roc_plot


def _points(text: str) -> list[tuple[int, int]]:
    """A polyline's points in whole hundredths."""
    return [
        (round(float(x) * 100), round(float(y) * 100))
        for x, y in (pair.split(",") for pair in text.split())
    ]


def _on_segment(a, b, p) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    return cross == 0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0])


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 12)), min_size=2, max_size=80).filter(
        lambda cases: len({truth for truth, _ in cases}) == 2
    )
)
def test_every_point_left_out_is_on_the_line_drawn(cases) -> None:
    curve = roc_curve([t for t, _ in cases], [s for _, s in cases])
    full = _points(polyline(curve.fpr, curve.tpr))
    thin = _points(polyline(curve.fpr, curve.tpr, thin=True))
    assert thin[0] == full[0]
    assert thin[-1] == full[-1]
    # what is kept, in order; each point left out lies on the segment that replaced it
    k = 0
    for point in full:
        if k < len(thin) and point == thin[k]:
            k += 1
            continue
        assert 0 < k < len(thin)
        assert _on_segment(thin[k - 1], thin[k], point)
    assert k == len(thin)


def test_runs_and_ties_are_drawn_with_their_ends_only() -> None:
    # ratings 5 5 4 3 2 1 for truths 1 1 1 0 0 0: straight up, then straight across
    curve = roc_curve([1, 1, 1, 0, 0, 0], [5, 5, 4, 3, 2, 1])
    assert len(curve.fpr) == 6
    assert polyline(curve.fpr, curve.tpr, size=100, thin=True) == "0,100 0,0 100,0"
    # two tied diagonal steps in a row are one segment
    assert polyline([0, 0.25, 0.5, 1], [0, 0.25, 0.5, 1], size=100, thin=True) == "0,100 100,0"
    # the plot draws the thinned line, its AUC unchanged
    plot = roc_plot([CurveInput("r1", "S", curve.auc, curve.fpr, curve.tpr)], ["S"])
    assert plot.panels[0].lines[0].points == "0,360 0,0 360,0"
    assert plot.legend[0].aucs == (("S", 1.0),)
