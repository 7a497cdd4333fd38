"""ROC curves as coordinates (pure): one square panel per session, each reader's empirical
curve in it, and a model's curve (the AI as a reader) in every panel, since its scores do not
depend on the session; the template draws them as inline SVG with an HTML legend."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SIZE = 360
MARGIN_LEFT = 48
MARGIN_RIGHT = 12
MARGIN_TOP = 28
MARGIN_BOTTOM = 44
#: Readers take the series classes ``series-0`` to ``series-9`` in turn (their colours, told
#: apart on the dark background, are in static/css/studies.css); a model takes ``series-model``.
SERIES = 10
MODEL_SERIES = "series-model"


@dataclass(frozen=True)
class CurveInput:
    """One empirical ROC curve: ``fpr``/``tpr`` from (0, 0) to (1, 1); ``session`` None for
    a model (drawn in every panel)."""

    reader: str
    session: str | None
    auc: float
    fpr: Sequence[float]
    tpr: Sequence[float]
    model: bool = False


@dataclass(frozen=True)
class Line:
    reader: str
    auc: float
    points: str
    series: str
    model: bool


@dataclass(frozen=True)
class Panel:
    session: str
    x: float
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Tick:
    value: float
    offset: float


@dataclass(frozen=True)
class LegendEntry:
    """A reader's series (its colour) and AUC per session (a model's once, session None)."""

    reader: str
    series: str
    model: bool
    aucs: tuple[tuple[str | None, float], ...]


@dataclass(frozen=True)
class RocPlot:
    width: int
    height: int
    size: int
    top: int
    left: int
    panels: tuple[Panel, ...]
    ticks: tuple[Tick, ...]
    legend: tuple[LegendEntry, ...]


def series_of(index: int) -> str:
    return f"series-{index % SERIES}"


def polyline(
    fpr: Sequence[float], tpr: Sequence[float], size: float = SIZE, *, thin: bool = False
) -> str:
    """The curve's points in a ``size`` square whose origin is the top left corner (SVG's y
    grows downwards), to two decimals. With ``thin``, a point on the straight segment
    between its neighbours is left out (an empirical curve's runs of one class, a tie's
    diagonal): the line drawn is the same, with fewer points."""
    if len(fpr) != len(tpr):
        raise ValueError("fpr and tpr must have the same length.")
    points = []
    for x, y in zip(fpr, tpr, strict=True):
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError("ROC points must be finite.")
        points.append((round(x * size, 2), round((1 - y) * size, 2)))
    if thin:
        points = without_collinear(points)
    return " ".join(f"{x:g},{y:g}" for x, y in points)


def without_collinear(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """``points`` (to two decimals) without those lying on the segment from the point kept
    before to the next one, tested exactly in whole hundredths: the polyline through what is
    kept passes through every point left out, in the same order."""
    kept: list[tuple[float, float]] = []
    whole: list[tuple[int, int]] = []
    for point in points:
        c = (round(point[0] * 100), round(point[1] * 100))
        while len(whole) >= 2 and _between(whole[-2], whole[-1], c):
            kept.pop()
            whole.pop()
        kept.append(point)
        whole.append(c)
    return kept


def _between(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> bool:
    """Whether ``b`` lies on the segment from ``a`` to ``c``."""
    cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    if cross != 0:
        return False
    return min(a[0], c[0]) <= b[0] <= max(a[0], c[0]) and min(a[1], c[1]) <= b[1] <= max(a[1], c[1])


def roc_plot(curves: Sequence[CurveInput], sessions: Sequence[str]) -> RocPlot:
    """Panels in the order of ``sessions``; each reader keeps one colour in every panel."""
    readers = list(dict.fromkeys(c.reader for c in curves if not c.model))
    series = {reader: series_of(k) for k, reader in enumerate(readers)}
    panel_width = MARGIN_LEFT + SIZE + MARGIN_RIGHT
    panels = []
    for k, session in enumerate(sessions):
        lines = [
            Line(
                c.reader,
                c.auc,
                polyline(c.fpr, c.tpr, thin=True),
                MODEL_SERIES if c.model else series[c.reader],
                c.model,
            )
            for c in curves
            if c.model or c.session == session
        ]
        # models last, so they are drawn over the readers
        lines.sort(key=lambda line: line.model)
        panels.append(Panel(session, k * panel_width + MARGIN_LEFT, tuple(lines)))
    legend = [
        LegendEntry(
            reader,
            series[reader],
            False,
            tuple(
                (session, c.auc)
                for session in sessions
                for c in curves
                if not c.model and c.reader == reader and c.session == session
            ),
        )
        for reader in readers
    ]
    legend += [
        LegendEntry(c.reader, MODEL_SERIES, True, ((None, c.auc),)) for c in curves if c.model
    ]
    return RocPlot(
        width=max(1, len(sessions)) * panel_width,
        height=MARGIN_TOP + SIZE + MARGIN_BOTTOM,
        size=SIZE,
        top=MARGIN_TOP,
        left=MARGIN_LEFT,
        panels=tuple(panels),
        ticks=tuple(Tick(v / 5, round(v / 5 * SIZE, 2)) for v in range(6)),
        legend=tuple(legend),
    )
