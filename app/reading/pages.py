"""Reading pages: the reader's worklist and reading screen; projects for administrators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.auth.users import list_active_users
from app.core.errors import field_error
from app.core.ids import Count, Id
from app.core.web import expose_to_templates, form_or_error, render, see_other
from app.imaging.service import StudyQuery, list_studies
from app.reading import agreement_report, queries, rules, service
from app.reading.models import ReadingProject
from app.reading.states import FinalSource, Pool, StudyStatus, TaskKind, TaskStatus

router = APIRouter(include_in_schema=False)
expose_to_templates(StudyStatus, TaskKind, TaskStatus, Pool, FinalSource)
FormStr = Annotated[str, Form(max_length=200000)]


# --- readers --------------------------------------------------------------------------------


@router.get("/reading")
def worklist(request: Request, principal: CurrentPrincipal, db: Db) -> HTMLResponse:
    tasks = service.my_tasks(db, principal.user)
    groups = {
        TaskStatus.IN_PROGRESS: [t for t in tasks if t.status == TaskStatus.IN_PROGRESS],
        TaskStatus.PENDING: [t for t in tasks if t.status == TaskStatus.PENDING],
        TaskStatus.SUBMITTED: [t for t in tasks if t.status == TaskStatus.SUBMITTED][-50:][::-1],
    }
    return render(
        request,
        "reading/worklist.html",
        {
            "groups": groups,
            "notice": request.query_params.get("done") and "Nothing left to read. Well done.",
        },
    )


@router.get("/reading/next")
def next_case(principal: CurrentPrincipal, db: Db) -> Response:
    task = service.next_task(db, principal.user)
    if task is None:
        return see_other("/reading?done=1")
    return see_other(f"/reading/tasks/{task.id}")


@router.get("/reading/tasks/{task_id}")
def reading_screen(
    request: Request, task_id: Id, principal: CurrentPrincipal, db: Db
) -> HTMLResponse:
    task = service.own_task(db, principal.user, task_id)
    return render(
        request,
        "reading/task.html",
        {"task": task, "scales": reading_scales()},
    )


def reading_scales() -> dict[str, list[Any]]:
    """What the reading screen offers for each breast, with the meanings it shows (the screen's
    script reads them from the page: static/js/reading/screen.js)."""
    return {
        "breasts": [{"value": lat, "name": rules.BREAST_NAMES[lat]} for lat in rules.LATERALITIES],
        "birads": [{"value": v, "meaning": rules.BIRADS_MEANINGS[v]} for v in rules.BREAST_BIRADS],
        "finding_birads": list(rules.FINDING_BIRADS),
        "densities": [{"value": d, "meaning": rules.DENSITY_MEANINGS[d]} for d in rules.DENSITIES],
    }


# --- administrators -------------------------------------------------------------------------


@router.get("/projects")
def projects(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _projects_page(request, db)


def _projects_page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    rows = [(p, service.progress(db, p)) for p in service.list_projects(db)]
    default = service.rules.vocabulary_to_text(service.rules.DEFAULT_VOCABULARY.to_json())
    return render(
        request,
        "reading/projects.html",
        {"projects": rows, "default_vocabulary": default, **context},
        status,
    )


@router.post("/projects")
def create_project(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    name: FormStr = "",
    instructions: FormStr = "",
    birads_match: FormStr = "exact",
    iou_threshold: FormStr = "0.3",
    max_birads_rule: FormStr = "error",
) -> Response:
    def create() -> ReadingProject:
        rules = {
            "iou_threshold": _threshold(iou_threshold),
            "birads_match": birads_match,
            "max_birads_rule": max_birads_rule,
        }
        new = service.NewProject(name, instructions, rules=rules)
        return service.create_project(db, principal.actor, new)

    return form_or_error(
        create,
        lambda project: see_other(f"/projects/{project.id}"),
        lambda error: _projects_page(
            request,
            db,
            error.status_code,
            error=error.message,
            form={"name": name[:120], "instructions": instructions},
        ),
    )


def _threshold(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise field_error("iou_threshold", "The IoU threshold must be a number.") from None


def _project_page(
    request: Request, db: Db, project_id: int, status: int = 200, **context: Any
) -> HTMLResponse:
    project = service.get_project(db, project_id)
    studies = queries.recent_studies(db, project)
    return render(
        request,
        "reading/project.html",
        {
            "project": project,
            "progress": service.progress(db, project),
            "studies": studies,
            "tasks": queries.tasks_by_study(db, studies),
            "users": list_active_users(db),
            "readers": {u.id for u in service.members(db, project, Pool.READERS)},
            "arbiters": {u.id for u in service.members(db, project, Pool.ARBITERS)},
            "complete_available": list_studies(db, StudyQuery(complete=True), limit=1, offset=0)[1],
            "candidates": queries.candidate_studies(db, project),
            **context,
        },
        status,
    )


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _project_page(request, db, project_id)


@router.get("/projects/{project_id}/progress")
def progress_fragment(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    """The progress card alone: the project page polls it so the figures stay live."""
    project = service.get_project(db, project_id)
    return render(
        request,
        "reading/_progress.html",
        {"project": project, "progress": service.progress(db, project)},
    )


@router.get("/projects/{project_id}/agreement")
def agreement_page(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    project = service.get_project(db, project_id)
    return render(
        request,
        "reading/agreement.html",
        {"project": project, "report": agreement_report.agreement_report(db, project)},
    )


def _act(
    request: Request, db: Db, project_id: int, action: Callable[[], object], notice: str
) -> Response:
    """Run a project page's action; the page again, with its notice or the error."""
    return form_or_error(
        action,
        lambda result: _project_page(request, db, project_id, notice=notice.format(result=result)),
        lambda error: _project_page(
            request, db, project_id, error.status_code, error=error.message
        ),
    )


@router.post("/projects/{project_id}/pools")
def set_pools(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    readers: Annotated[list[Id], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    arbiters: Annotated[list[Id], Form()] = [],  # noqa: B006
) -> Response:
    project = service.get_project(db, project_id)
    return _act(
        request,
        db,
        project_id,
        lambda: service.set_pools(db, principal.actor, project, readers, arbiters),
        "Pools saved.",
    )


@router.post("/projects/{project_id}/studies")
def add_studies(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    study_ids: FormStr = "",
    all_complete: FormStr = "",
    pick: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    project = service.get_project(db, project_id)
    if all_complete:
        rows, _ = list_studies(db, StudyQuery(complete=True), limit=100000, offset=0)
        ids = [s.study_id for s in rows]
    else:
        ids = [*pick, *study_ids.replace(",", " ").split()]
    return _act(
        request,
        db,
        project_id,
        lambda: service.add_studies(db, principal.actor, project, ids),
        "{result} studies added.",
    )


@router.post("/projects/{project_id}/assign")
def assign(request: Request, project_id: Id, principal: AdminPrincipal, db: Db) -> Response:
    project = service.get_project(db, project_id)
    return _act(
        request,
        db,
        project_id,
        lambda: service.assign_balanced(db, principal.actor, project),
        "{result} studies assigned to two readers each.",
    )


@router.post("/projects/{project_id}/studies/{study_id}/pair")
def assign_pair(
    request: Request,
    project_id: Id,
    study_id: str,
    principal: AdminPrincipal,
    db: Db,
    reader1: Annotated[Count, Form()] = 0,
    reader2: Annotated[Count, Form()] = 0,
) -> Response:
    project = service.get_project(db, project_id)
    return _act(
        request,
        db,
        project_id,
        lambda: service.assign_pair(db, principal.actor, project, study_id, [reader1, reader2]),
        "Study assigned to the chosen pair.",
    )


@router.post("/projects/{project_id}/tasks/{task_id}/reassign")
def reassign(
    request: Request,
    project_id: Id,
    task_id: Id,
    principal: AdminPrincipal,
    db: Db,
    user_id: Annotated[Count, Form()] = 0,
) -> Response:
    return _act(
        request,
        db,
        project_id,
        lambda: service.reassign(db, principal.actor, task_id, user_id, project_id=project_id),
        "Task reassigned.",
    )


@router.post("/projects/{project_id}/studies/{study_id}/reopen")
def reopen(
    request: Request,
    project_id: Id,
    study_id: str,
    principal: AdminPrincipal,
    db: Db,
    reason: FormStr = "",
) -> Response:
    project = service.get_project(db, project_id)
    return _act(
        request,
        db,
        project_id,
        lambda: service.reopen(
            db, principal.actor, service.get_project_study(db, project, study_id), reason
        ),
        "Study reopened for arbitration.",
    )
