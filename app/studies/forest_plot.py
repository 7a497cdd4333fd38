"""The forest plot of a ratings analysis as coordinates (pure): one row per reader and
treatment (the AUC with its interval) and one per treatment for the reader average; the
template draws them as inline SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.stats.mrmc.results import ReaderFigure, TreatmentEstimate

WIDTH = 1000
LABEL_WIDTH = 160
RIGHT_MARGIN = 24
TOP = 16
ROW_HEIGHT = 22
AXIS_HEIGHT = 40


@dataclass(frozen=True)
class Row:
    """One line of the plot: ``x`` is the AUC's position, ``x_lower``/``x_upper`` its
    interval's ends (``None`` when the interval is not defined), ``y`` the row's middle."""

    label: str
    treatment: str
    auc: float
    x: float
    x_lower: float | None
    x_upper: float | None
    y: float
    average: bool
    model: bool = False
    clipped_lower: bool = False
    clipped_upper: bool = False


@dataclass(frozen=True)
class Tick:
    value: float
    x: float


@dataclass(frozen=True)
class ForestPlot:
    width: int
    height: int
    plot_left: float
    plot_right: float
    axis_y: float
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]


def domain(values: Sequence[float]) -> tuple[float, float]:
    """The axis' ends: every value shown, on tenths, within 0 to 1 (an AUC's range: a Wald
    interval reaching past it is drawn clipped, with an arrow) and always 0.5 to 1 (chance
    to perfect)."""
    finite = [v for v in values if math.isfinite(v)]
    low = max(0.0, min([0.5, *finite]))
    return math.floor(low * 10 + 1e-9) / 10, 1.0


def forest_plot(
    readers: Sequence[ReaderFigure],
    averages: Sequence[TreatmentEstimate],
    models: Sequence[ReaderFigure] = (),
) -> ForestPlot:
    """Rows grouped by treatment (in the averages' order): the treatment's readers, then its
    reader average; then each model (the AI as a reader), the same in every treatment."""
    shown = [
        v for f in (*readers, *models) for v in (f.auc, f.ci_lower, f.ci_upper) if v is not None
    ]
    shown += [v for a in averages for v in (a.estimate, a.ci_lower, a.ci_upper) if v is not None]
    low, high = domain(shown)
    left, right = float(LABEL_WIDTH), float(WIDTH - RIGHT_MARGIN)

    def place(value: float | None) -> float | None:
        if value is None or not math.isfinite(value):
            return None
        value = min(max(value, low), high)
        return round(left + (value - low) / (high - low) * (right - left), 2)

    rows: list[Row] = []
    y = TOP + ROW_HEIGHT / 2

    def add(
        label: str,
        treatment: str,
        auc: float,
        lo: float | None,
        hi: float | None,
        avg: bool,
        model: bool = False,
    ):
        nonlocal y
        x = place(auc) or left
        clipped = (lo is not None and lo < low, hi is not None and hi > high)
        rows.append(Row(label, treatment, auc, x, place(lo), place(hi), y, avg, model, *clipped))
        y += ROW_HEIGHT

    for average in averages:
        for figure in readers:
            if figure.treatment == average.treatment:
                add(
                    f"{figure.treatment} · reader {figure.reader}",
                    figure.treatment,
                    figure.auc,
                    figure.ci_lower,
                    figure.ci_upper,
                    False,
                )
        add(
            f"{average.treatment} · average",
            average.treatment,
            average.estimate,
            average.ci_lower,
            average.ci_upper,
            True,
        )
        y += ROW_HEIGHT / 2  # a gap between treatments
    for model in models:
        add(model.reader, model.treatment, model.auc, model.ci_lower, model.ci_upper, False, True)
    axis_y = y
    steps = round((high - low) * 10)
    ticks = tuple(
        Tick(round(low + i / 10, 1), place(low + i / 10) or left) for i in range(steps + 1)
    )
    return ForestPlot(
        width=WIDTH,
        height=math.ceil(axis_y + AXIS_HEIGHT),
        plot_left=left,
        plot_right=right,
        axis_y=axis_y,
        rows=tuple(rows),
        ticks=ticks,
    )
