"""Masking pages: the project list (readers and admins), project creation, the admin's project
page with agreement charts, and the reader's comparison screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.auth.models import User
from app.auth.users import list_active_users
from app.core.errors import Invalid
from app.core.ids import Id, parse_integer
from app.core.web import expose_to_templates, form_or_error, render, see_other
from app.imaging.display import DisplayProtocol
from app.masking import queries, results, service
from app.masking.models import MaskingProject
from app.masking.schemas import ResultsOut
from app.masking.states import LevelRule, SortMode

router = APIRouter(include_in_schema=False)
expose_to_templates(SortMode, LevelRule, DisplayProtocol)
FormStr = Annotated[str, Form(max_length=200000)]
CHART_CELL = 44
# what each display protocol does to both images of a pair, as the pages say it
PROTOCOL_TEXT = {
    DisplayProtocol.WINDOW_LINEAR: "each image's own window, one linear function (black air)",
    DisplayProtocol.WINDOW_SIGMOID: "each image's own window, one sigmoid function",
    DisplayProtocol.UNIFORM_RANGE: "uniform rescale of each image's value range (as CSAW-M)",
    DisplayProtocol.HEADER: "each image's own header function (may differ within a pair)",
}


@router.get("/masking")
def projects(request: Request, principal: CurrentPrincipal, db: Db) -> HTMLResponse:
    return _projects_page(request, db, principal.user)


def _projects_page(
    request: Request, db: Db, user: User, status: int = 200, **context: Any
) -> HTMLResponse:
    mine = [(p, service.progress(p, reader)) for p, reader in service.reading_in(db, user)]
    admin: dict[str, Any] = {}
    if user.is_admin:
        every = service.list_projects(db)
        admin = {
            "all_projects": [(p, service.readers(db, p)) for p in every],
            "users": list_active_users(db),
            "candidates": queries.seed_candidates(db),
            "full_sorts": [p for p in every if p.mode == SortMode.FULL_SORT],
        }
    return render(
        request,
        "masking/index.html",
        {"mine": mine, "form": {}, **admin, **context},
        status,
    )


class ProjectForm(BaseModel):
    """The creation form. Only the chosen mode's seeds count. A full sort's come from the
    ordered id list, else from the ranks typed beside the candidate images (``seed_candidate``
    and ``seed_rank`` run in step); the levels' from the lines typed (one per level), else from
    the level picker's ``level_picks`` (the same lines, written by static/js/masking-admin.js)."""

    model_config = ConfigDict(str_max_length=200000)

    name: str = ""
    mode: str = SortMode.FULL_SORT.value
    instructions: str = ""
    level_rule: str = LevelRule.EXACT.value
    levels: str = "8"
    seeds_per_level: str = "4"
    study_ids: str = ""
    view: str = "MLO"
    per_woman: str = "one"
    seed_list: str = ""
    level_seeds: str = ""
    level_picks: str = ""
    derive_seeds_from: str = ""
    randomise_sides: str = ""
    probe_percent: str = "5"
    max_attempts: str = "3"
    display_protocol: str = DisplayProtocol.WINDOW_LINEAR.value
    readers: list[Id] = Field(default_factory=list)
    seed_candidate: list[str] = Field(default_factory=list)
    seed_rank: list[str] = Field(default_factory=list)

    def project(self) -> service.NewProject:
        """Invalid (422) names a field that is not a number."""
        ranked = sorted(
            (_number("seed rank", rank), image_id)
            for image_id, rank in zip(self.seed_candidate, self.seed_rank, strict=False)
            if rank.strip()
        )
        full_sort = self.mode == SortMode.FULL_SORT
        return service.NewProject(
            name=self.name,
            mode=self.mode,
            instructions=self.instructions,
            level_rule=self.level_rule,
            levels=_number("levels", self.levels),
            seeds_per_level=_number("seeds per level", self.seeds_per_level),
            study_ids=_ids(self.study_ids),
            view=self.view,
            per_woman=self.per_woman,
            seed_list=(_ids(self.seed_list) or [image_id for _, image_id in ranked])
            if full_sort
            else [],
            level_seeds=[] if full_sort else _lines(self.level_seeds) or _lines(self.level_picks),
            derive_seeds_from=_number("derive seeds from", self.derive_seeds_from or "0") or None,
            randomise_sides=bool(self.randomise_sides),
            probe_share=_number("probe percent", self.probe_percent, float) / 100,
            max_attempts=_number("max attempts", self.max_attempts),
            reader_ids=self.readers,
            display_protocol=self.display_protocol,
            one_seed_per_woman=True,
        )

    def kept(self) -> dict[str, Any]:
        """What the admin typed, to fill the form again after an error."""
        return {k: v for k, v in self.model_dump().items() if isinstance(v, str)}


def _number(name: str, value: str, kind: type = int) -> Any:
    """Whole numbers must also fit the database (a too-large id would fail there)."""
    try:
        return parse_integer(value) if kind is int else kind(value.strip())
    except ValueError:
        raise Invalid(f"The {name} must be a number.") from None


def _ids(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _lines(text: str) -> list[list[str]]:
    """Seeds per level: one line per level, ids separated by spaces or commas."""
    return [_ids(line) for line in text.splitlines() if line.strip()]


@router.post("/masking/projects")
def create_project(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    form: Annotated[ProjectForm, Form()],
) -> Response:
    return form_or_error(
        lambda: service.create_project(db, principal.actor, form.project()),
        lambda project: see_other(
            f"/masking/projects/{project.id}",
            notice=f"Masking project {project.name} created.",
            request=request,
        ),
        lambda error: _projects_page(
            request, db, principal.user, error.status_code, error=error.message, form=form.kept()
        ),
        rollback=db.rollback,
    )


@router.get("/masking/projects/{project_id}")
def project_page(request: Request, project_id: Id, principal: CurrentPrincipal, db: Db) -> Response:
    project = service.get_project(db, project_id)
    if not principal.user.is_admin:
        service.reader_of(db, project, principal.user)
        return see_other(f"/masking/projects/{project.id}/sort")
    return _project_page(request, db, project)


def _project_page(
    request: Request, db: Db, project: MaskingProject, status: int = 200, **context: Any
) -> HTMLResponse:
    outcome = results.project_results(db, project)
    return render(
        request,
        "masking/project.html",
        {
            "project": project,
            "results": outcome,
            "users": list_active_users(db),
            "reader_ids": {r.user_id for r in service.readers(db, project)},
            "heatmap": heatmap(outcome),
            "histograms": histograms(outcome, project.levels),
            "protocol_text": PROTOCOL_TEXT[project.display_protocol],
            **context,
        },
        status,
    )


@router.post("/masking/projects/{project_id}/readers")
def set_readers(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    readers: Annotated[list[Id], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    project = service.get_project(db, project_id)
    return form_or_error(
        lambda: service.set_readers(db, principal.actor, project, readers),
        lambda _: see_other(
            f"/masking/projects/{project.id}", notice="Readers saved.", request=request
        ),
        lambda error: _project_page(request, db, project, error.status_code, error=error.message),
        rollback=db.rollback,
    )


@router.get("/masking/projects/{project_id}/sort")
def sort_screen(
    request: Request, project_id: Id, principal: CurrentPrincipal, db: Db
) -> HTMLResponse:
    project = service.get_project(db, project_id)
    service.reader_of(db, project, principal.user)
    return render(request, "masking/sort.html", {"project": project})


# --- charts (server-drawn SVG: no inline styles under the CSP) --------------------------------


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    fill: str
    label: str
    title: str
    ink: str = "#000"  # the label's colour, readable on ``fill``


# dark theme: the page's surface at 0, deepening blue towards 1, red towards -1
TAU_ZERO = (34, 42, 53)
TAU_POSITIVE = (86, 156, 240)
TAU_NEGATIVE = (232, 96, 92)
TAU_UNDEFINED = (74, 84, 98)


def tau_rgb(tau: float | None) -> tuple[int, int, int]:
    if tau is None:
        return TAU_UNDEFINED
    strength = max(-1.0, min(1.0, tau))
    end = TAU_POSITIVE if strength >= 0 else TAU_NEGATIVE
    red, green, blue = (
        round(z + (e - z) * abs(strength)) for z, e in zip(TAU_ZERO, end, strict=True)
    )
    return (red, green, blue)


def tau_colour(tau: float | None) -> str:
    return "rgb({},{},{})".format(*tau_rgb(tau))


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ink_on(rgb: tuple[int, int, int]) -> str:
    """Black or white, whichever contrasts more with the colour (always at least 4.58:1)."""
    return "#000" if relative_luminance(rgb) > 0.179 else "#fff"


def heatmap(outcome: ResultsOut) -> dict[str, Any]:
    """Kendall's tau-b of every pair of readers (and each against the median) as cells."""
    names = [reader.username for reader in outcome.readers]
    taus = {(p.reader_a, p.reader_b): p for p in outcome.pairs}
    cells = []
    for row, a in enumerate(names):
        for column, b in enumerate(names):
            pair = taus.get((a, b)) or taus.get((b, a))
            tau = 1.0 if a == b else (pair.tau_b if pair else None)
            count = f" over {pair.images} images" if pair else ""
            cells.append(
                Cell(
                    column * CHART_CELL,
                    row * CHART_CELL,
                    tau_colour(tau),
                    "n/a" if tau is None else f"{tau:.2f}",
                    f"{a} vs {b}: tau-b {'undefined' if tau is None else f'{tau:.3f}'}{count}",
                    ink_on(tau_rgb(tau)),
                )
            )
    return {"names": names, "cells": cells, "cell": CHART_CELL, "size": CHART_CELL * len(names)}


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    level: int
    count: int


def histograms(outcome: ResultsOut, levels: int) -> list[dict[str, Any]]:
    """Per reader, how many images sit in each level (seeds included)."""
    charts = []
    for reader in outcome.readers:
        counts = [0] * levels
        for level in reader.levels.values():
            counts[level - 1] += 1
        top = max(counts) or 1
        bars = [
            Bar(
                x=index * 24,
                y=100 - round(90 * n / top),
                height=round(90 * n / top),
                level=index + 1,
                count=n,
            )
            for index, n in enumerate(counts)
        ]
        charts.append({"username": reader.username, "bars": bars, "width": 24 * levels})
    return charts
