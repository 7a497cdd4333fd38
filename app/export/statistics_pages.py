"""Dataset statistics of a reading project (VinDr-Mammo's tables 3-5): the page with its
charts, the same as CSV, each chart as SVG or PNG, and the tables as JSON for the API.

Counted by :func:`app.export.project_statistics.collect`: the project's final studies, split
as an export with default options splits them, streamed in batches (counters only); open QC
flags over all the project's studies.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.auth.deps import AdminPrincipal, Db
from app.core.errors import ERROR_RESPONSES, Invalid, NotFound
from app.core.ids import Id
from app.core.web import render
from app.export import dataset_statistics, project_statistics
from app.reading import service
from app.reading.models import ReadingProject

# Not APIRouter(include_in_schema=False): FastAPI ANDs the router's flag with each route's, so
# the JSON route could not opt back in. Every page route opts out of the schema itself.
router = APIRouter()

# light (for papers, the default) or dark (as the page shows it)
ChartTheme = Annotated[Literal["light", "dark"], Query()]


def _statistics(
    db: Session, project_id: int
) -> tuple[ReadingProject, dataset_statistics.Statistics]:
    project = service.get_project(db, project_id)
    return project, project_statistics.collect(db, project)


def _table(statistics: dataset_statistics.Statistics, name: str) -> dataset_statistics.Table:
    try:
        return statistics.table(name)
    except KeyError:
        raise _unknown_table(name) from None


def _unknown_table(name: str) -> NotFound:
    return NotFound(
        f"There is no statistics table {name[:60]!r}; the tables are "
        f"{', '.join(dataset_statistics.TABLE_NAMES)}."
    )


def _attachment(content: bytes | str, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_text(statistics: dataset_statistics.Statistics) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(dataset_statistics.csv_rows(statistics))
    return buffer.getvalue()


# --- pages --------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/statistics", include_in_schema=False)
def statistics_page(
    request: Request,
    project_id: Id,
    _: AdminPrincipal,
    db: Db,
    output: Annotated[str | None, Query(alias="format", max_length=20)] = None,
) -> Response:
    """The tables and charts; ``?format=csv`` gives every table as one CSV."""
    if output not in (None, "", "html", "csv"):
        raise Invalid(f"Unknown format {output!r}: use csv, or no format for the page.")
    project, statistics = _statistics(db, project_id)
    if output == "csv":
        name = f"project-{project.id}-statistics.csv"
        return _attachment(csv_text(statistics), "text/csv; charset=utf-8", name)
    # dataset_statistics.svg escapes every text and attribute it writes (names come from labels)
    # the page is dark (a reading room); the downloads are light unless ?theme=dark
    dark = dataset_statistics.DARK
    charts = {
        table.name: Markup(dataset_statistics.svg(dataset_statistics.chart(table), dark))  # noqa: S704
        for table in statistics.tables
    }
    return _page(request, project, statistics, charts)


def _page(
    request: Request,
    project: ReadingProject,
    statistics: dataset_statistics.Statistics,
    charts: dict[str, Markup],
) -> HTMLResponse:
    return render(
        request,
        "export/statistics.html",
        {
            "project": project,
            "statistics": statistics,
            "totals": statistics.table("totals"),
            "charts": charts,
            "splits": dataset_statistics.SPLITS,
        },
    )


@router.get("/projects/{project_id}/statistics/{table}.svg", include_in_schema=False)
def statistics_svg(
    request: Request,
    project_id: Id,
    table: str,
    _: AdminPrincipal,
    db: Db,
    theme: ChartTheme = "light",
) -> Response:
    return _chart_file(request, db, project_id, table, "svg", theme)


@router.get("/projects/{project_id}/statistics/{table}.png", include_in_schema=False)
def statistics_png(
    request: Request,
    project_id: Id,
    table: str,
    _: AdminPrincipal,
    db: Db,
    theme: ChartTheme = "light",
) -> Response:
    return _chart_file(request, db, project_id, table, "png", theme)


CHART_FILES = {
    "svg": (
        lambda chart, theme: dataset_statistics.svg(chart, theme),
        "image/svg+xml; charset=utf-8",
    ),
    "png": (lambda chart, theme: dataset_statistics.png(chart, theme=theme), "image/png"),
}


def _chart_file(
    request: Request, db: Db, project_id: int, table: str, kind: str, theme: str
) -> Response:
    if table not in dataset_statistics.SPECS:
        raise _unknown_table(table)
    project, statistics = _statistics(db, project_id)
    draw, media_type = CHART_FILES[kind]
    chart = dataset_statistics.chart(_table(statistics, table))
    drawing = draw(chart, dataset_statistics.THEMES[theme])
    suffix = "" if theme == "light" else f"-{theme}"
    return _attachment(drawing, media_type, f"project-{project.id}-{table}{suffix}.{kind}")


# --- API ----------------------------------------------------------------------------------------


class RowOut(BaseModel):
    row: str
    counts: dict[str, int]
    rate_per_100_images: dict[str, float | None] | None = None
    note: str = ""


class TableOut(BaseModel):
    name: str
    title: str
    unit: str
    splits: list[str]
    rows: list[RowOut]


class StatisticsOut(BaseModel):
    """The dataset statistics of a reading project. Tables: ``totals`` (studies, images,
    boxes), ``birads`` and ``density`` (breasts), ``findings`` (boxes per category; No
    Finding: images without a box; with the rate per 100 images), ``finding_birads`` (boxes
    per graded category x finding BI-RADS), ``age`` (studies per 10 years), ``qc`` (studies
    with an open QC flag, all splits only). Counts are per split: training, test, all."""

    project_id: int
    project_name: str
    splits: list[str]
    images: dict[str, int]
    tables: list[TableOut]


def statistics_out(
    project: ReadingProject, statistics: dataset_statistics.Statistics
) -> StatisticsOut:
    return StatisticsOut(
        project_id=project.id,
        project_name=project.name,
        splits=list(dataset_statistics.SPLITS),
        images=statistics.images,
        tables=[
            TableOut(
                name=table.name,
                title=table.spec.title,
                unit=table.spec.unit,
                splits=list(table.spec.splits),
                rows=[
                    RowOut(
                        row=row.name,
                        counts=row.counts,
                        rate_per_100_images=row.rates if table.spec.rated else None,
                        note=row.note,
                    )
                    for row in table.rows
                ],
            )
            for table in statistics.tables
        ],
    )


@router.get(
    "/api/v1/reading/projects/{project_id}/statistics",
    response_model=StatisticsOut,
    tags=["reading"],
    responses=ERROR_RESPONSES,
    include_in_schema=True,
)
def statistics_api(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> StatisticsOut:
    """Dataset statistics of a project's final studies per split, as the statistics page
    shows them (administrators)."""
    project, statistics = _statistics(db, project_id)
    return statistics_out(project, statistics)
