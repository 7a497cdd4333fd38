"""Reading pages: the reader's worklist and reading screen; projects for administrators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.auth.models import User
from app.core.errors import AppError
from app.core.ids import Count, Id
from app.core.web import render, see_other
from app.imaging.models import Study
from app.imaging.service import StudyQuery, list_studies
from app.reading import service
from app.reading.models import ProjectStudy, ReadTask

router = APIRouter(include_in_schema=False)
FormStr = Annotated[str, Form(max_length=200000)]


# --- readers --------------------------------------------------------------------------------


@router.get("/reading")
def worklist(request: Request, principal: CurrentPrincipal, db: Db) -> HTMLResponse:
    tasks = service.my_tasks(db, principal.user)
    groups = {
        "in_progress": [t for t in tasks if t.status == "in_progress"],
        "pending": [t for t in tasks if t.status == "pending"],
        "submitted": [t for t in tasks if t.status == "submitted"][-50:][::-1],
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
        {"task": task},
    )


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
    try:
        threshold = float(iou_threshold)
        project = service.create_project(
            db,
            principal.actor,
            service.NewProject(
                name,
                instructions,
                rules={
                    "iou_threshold": threshold,
                    "birads_match": birads_match,
                    "max_birads_rule": max_birads_rule,
                },
            ),
        )
    except ValueError:
        return _projects_page(request, db, 422, error="The IoU threshold must be a number.")
    except AppError as error:
        return _projects_page(
            request,
            db,
            error.status_code,
            error=error.message,
            form={"name": name[:120], "instructions": instructions},
        )
    return see_other(f"/projects/{project.id}")


def _project_page(
    request: Request, db: Db, project_id: int, status: int = 200, **context: Any
) -> HTMLResponse:
    project = service.get_project(db, project_id)
    studies = db.scalars(
        select(ProjectStudy)
        .where(ProjectStudy.project_id == project.id)
        .order_by(ProjectStudy.id.desc())
        .limit(200)
    ).all()
    tasks = db.scalars(
        select(ReadTask)
        .where(ReadTask.project_study_id.in_([s.id for s in studies]))
        .order_by(ReadTask.id)
    ).all()
    by_study: dict[int, list[ReadTask]] = {}
    for task in tasks:
        by_study.setdefault(task.project_study_id, []).append(task)
    users = db.scalars(select(User).where(User.is_active.is_(True)).order_by(User.username))
    return render(
        request,
        "reading/project.html",
        {
            "project": project,
            "progress": service.progress(db, project),
            "studies": studies,
            "tasks": by_study,
            "users": list(users),
            "readers": {u.id for u in service.members(db, project, service.READERS)},
            "arbiters": {u.id for u in service.members(db, project, service.ARBITERS)},
            "complete_available": list_studies(db, StudyQuery(complete=True), limit=1, offset=0)[1],
            "candidates": _candidates(db, project.id),
            **context,
        },
        status,
    )


def _candidates(db: Db, project_id: int) -> list[Study]:
    """The newest studies not yet in the project, to pick from."""
    taken = select(ProjectStudy.study_pk).where(ProjectStudy.project_id == project_id)
    statement = select(Study).where(Study.id.not_in(taken)).order_by(Study.id.desc()).limit(100)
    return list(db.scalars(statement))


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


def _act(
    request: Request, db: Db, project_id: int, action: Callable[[], object], notice: str
) -> HTMLResponse:
    try:
        result = action()
    except AppError as error:
        return _project_page(request, db, project_id, error.status_code, error=error.message)
    return _project_page(request, db, project_id, notice=notice.format(result=result))


@router.post("/projects/{project_id}/pools")
def set_pools(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    readers: Annotated[list[Id], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    arbiters: Annotated[list[Id], Form()] = [],  # noqa: B006
) -> HTMLResponse:
    project = service.get_project(db, project_id)

    def apply() -> None:
        service.set_pool(db, principal.actor, project, service.READERS, readers)
        service.set_pool(db, principal.actor, project, service.ARBITERS, arbiters)
        service.assign_waiting_arbitrations(db, principal.actor, project)

    return _act(request, db, project_id, apply, "Pools saved.")


@router.post("/projects/{project_id}/studies")
def add_studies(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    study_ids: FormStr = "",
    all_complete: FormStr = "",
    pick: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> HTMLResponse:
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
def assign(request: Request, project_id: Id, principal: AdminPrincipal, db: Db) -> HTMLResponse:
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
) -> HTMLResponse:
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
) -> HTMLResponse:
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
) -> HTMLResponse:
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
