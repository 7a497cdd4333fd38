"""Reading pages: the reader's worklist and reading screen; projects for administrators."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.auth.users import list_active_users
from app.core.database import utcnow
from app.core.errors import field_error
from app.core.ids import Count, Id
from app.core.web import expose_to_templates, form_or_error, render, see_other
from app.reading import agreement_report, queries, rules, service
from app.reading.models import ReadingProject
from app.reading.review_view import study_review_out
from app.reading.states import (
    FinalSource,
    Pool,
    ProjectDesign,
    StudyLayout,
    StudyStatus,
    TaskKind,
    TaskStatus,
    TruthBasis,
)

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
    # nothing open: the page shows its "all done" state (no Next action)
    nothing_left = not (groups[TaskStatus.IN_PROGRESS] or groups[TaskStatus.PENDING])
    return render(
        request, "reading/worklist.html", {"groups": groups, "nothing_left": nothing_left}
    )


@router.get("/reading/next")
def next_case(request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    """The case to read next; none left: the worklist, which says so. Asked by the worklist's
    "all done" state (N, an htmx request, not a page load): a line saying that nothing is left,
    or, when a case was assigned meanwhile, a redirect to it."""
    task = service.next_task(db, principal.user)
    asked_in_place = request.headers.get("hx-request") and not request.headers.get("hx-boosted")
    if asked_in_place:
        if task is None:
            checked = f"{utcnow():%H:%M:%S}"
            return HTMLResponse(f"Nothing left to read (checked at {checked} UTC).")
        return Response(status_code=204, headers={"HX-Redirect": f"/reading/tasks/{task.id}"})
    if task is None:
        return see_other("/reading")
    return see_other(f"/reading/tasks/{task.id}")


@router.get("/reading/tasks/{task_id}")
def reading_screen(
    request: Request, task_id: Id, principal: CurrentPrincipal, db: Db
) -> HTMLResponse:
    task = service.own_task(db, principal.user, task_id)
    protocol = rules.ProjectRules.from_json(task.project_study.project.rules)
    return render(
        request,
        "reading/task.html",
        {"task": task, "scales": reading_scales(protocol)},
    )


def reading_scales(protocol: rules.ProjectRules = rules.DEFAULT_RULES) -> dict[str, Any]:
    """What the reading screen offers for each breast under the project's protocol, with the
    meanings it shows (the screen's script reads them from the page: static/js/reading/
    screen.js): the breast BI-RADS (0-5 or 0-6), the finding BI-RADS (3-5 or 2-5), the
    densities, and whether each breast gets a probability of malignancy."""
    return {
        "breasts": [{"value": lat, "name": rules.BREAST_NAMES[lat]} for lat in rules.LATERALITIES],
        "birads": [
            {"value": v, "meaning": rules.BIRADS_MEANINGS[v]} for v in protocol.breast_birads
        ],
        "finding_birads": list(protocol.finding_birads_values),
        "densities": [{"value": d, "meaning": rules.DENSITY_MEANINGS[d]} for d in rules.DENSITIES],
        "probability": protocol.probability_rating,
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
    vocabulary: FormStr = "",
    breast_not_imaged: FormStr = "",
    show_priors: FormStr = "",
    assessment_scale: FormStr = "0-5",
    finding_birads: FormStr = "3-5",
    probability_rating: FormStr = "",
    design: FormStr = "double_read",
    layout: FormStr = "fully_crossed",
    blocks: FormStr = "",
    session_1: FormStr = "",
    session_2: FormStr = "",
    aided_2: FormStr = "",
    washout_days: FormStr = "",
    order_seed: FormStr = "",
    truth_basis: FormStr = "reference",
) -> Response:
    form = {
        "name": name[:120],
        "instructions": instructions,
        "vocabulary": vocabulary,
        "breast_not_imaged": bool(breast_not_imaged),
        "show_priors": bool(show_priors),
        "assessment_scale": assessment_scale,
        "finding_birads": finding_birads,
        "probability_rating": bool(probability_rating),
        "design": design,
        "layout": layout,
        "blocks": blocks,
        "session_1": session_1,
        "session_2": session_2,
        "aided_2": bool(aided_2),
        "washout_days": washout_days,
        "order_seed": order_seed,
        "truth_basis": truth_basis,
    }

    def create() -> ReadingProject:
        rules = {
            **_form_rules(
                iou_threshold, birads_match, max_birads_rule, breast_not_imaged, show_priors
            ),
            "assessment_scale": assessment_scale,
            "finding_birads": finding_birads,
            "probability_rating": bool(probability_rating),
        }
        categories = service.rules.vocabulary_from_text(vocabulary) or None
        new = service.NewProject(
            name, instructions, vocabulary=categories, rules=rules, design=_form_design(form)
        )
        return service.create_project(db, principal.actor, new)

    return form_or_error(
        create,
        lambda project: see_other(
            f"/projects/{project.id}", notice=f"Project {project.name} created.", request=request
        ),
        lambda error: _projects_page(
            request,
            db,
            error.status_code,
            error=error.message,
            form=form,
        ),
    )


def _whole(text: str, field: str, what: str) -> int | None:
    """A whole number from a form field, None when empty; a 422 naming the field otherwise."""
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise field_error(field, f"{what} must be a whole number.") from None


def _form_design(form: dict[str, Any]) -> service.StudyDesign:
    """The reading design as the creation form sends it; the service checks it as it does
    the API's (sessions only in a reader study, blocks only split-plot...)."""
    choices = {
        "design": {d.value: d for d in ProjectDesign},
        "layout": {layout.value: layout for layout in StudyLayout},
        "truth_basis": {b.value: b for b in TruthBasis},
    }
    picked = {}
    for field, options in choices.items():
        if form[field] not in options:
            raise field_error(field, f"Choose one of {', '.join(options)}.")
        picked[field] = options[form[field]]
    if picked["design"] is ProjectDesign.DOUBLE_READ:
        return service.StudyDesign()
    washout = _whole(form["washout_days"], "washout_days", "The washout") or 0
    sessions = [service.NewSession(form["session_1"].strip() or "Reading")]
    if form["session_2"].strip():
        sessions.append(service.NewSession(form["session_2"].strip(), form["aided_2"], washout))
    return service.StudyDesign(
        design=picked["design"],
        layout=picked["layout"],
        blocks=_whole(form["blocks"], "blocks", "The number of blocks"),
        sessions=tuple(sessions),
        order_seed=_whole(form["order_seed"], "order_seed", "The order seed"),
        truth_basis=picked["truth_basis"],
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
    candidates = queries.candidate_studies(db, project)
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
            "complete_available": service.complete_study_count(db, project),
            "candidates": candidates,
            "candidate_checks": service.admission_checks(db, candidates),
            "settings_locked": service.settings_lock(db, project),
            "vocabulary_text": service.rules.vocabulary_to_text(project.vocabulary),
            "sessions": service.sessions_of(db, project),
            "protocol": rules.ProjectRules.from_json(project.rules),
            "session_progress": service.session_progress(db, project)
            if project.design is ProjectDesign.READER_STUDY
            else [],
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


@router.post("/projects/{project_id}/settings")
def update_settings(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    instructions: FormStr = "",
    vocabulary: FormStr = "",
    birads_match: FormStr = "exact",
    iou_threshold: FormStr = "0.3",
    max_birads_rule: FormStr = "error",
    idle_limit_seconds: FormStr = "60",
    breast_not_imaged: FormStr = "",
    show_priors: FormStr = "",
) -> Response:
    """The project page's settings form (the API's PATCH /api/v1/reading/projects/{id}); an
    unticked box (``breast_not_imaged``) sends nothing, which means no."""
    project = service.get_project(db, project_id)

    def update() -> ReadingProject:
        change = service.SettingsChange(
            instructions=instructions,
            vocabulary=service.rules.vocabulary_from_text(vocabulary),
            rules=_form_rules(
                iou_threshold, birads_match, max_birads_rule, breast_not_imaged, show_priors
            ),
            idle_limit_seconds=_whole_seconds(idle_limit_seconds),
        )
        return service.update_settings(db, principal.actor, project, change)

    return form_or_error(
        update,
        lambda _: see_other(f"/projects/{project_id}", notice="Settings saved.", request=request),
        lambda error: _project_page(
            request, db, project_id, error.status_code, error=error.message
        ),
    )


def _form_rules(
    iou_threshold: str,
    birads_match: str,
    max_birads_rule: str,
    breast_not_imaged: str,
    show_priors: str = "",
) -> dict[str, object]:
    """The project rules as the creation and settings forms send them (an unticked box sends
    nothing: no); the service validates them as it does the API's."""
    return {
        "iou_threshold": _threshold(iou_threshold),
        "birads_match": birads_match,
        "max_birads_rule": max_birads_rule,
        "breast_not_imaged": bool(breast_not_imaged),
        "show_priors": bool(show_priors),
    }


def _whole_seconds(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise field_error(
            "idle_limit_seconds", "The idle limit must be a whole number of seconds."
        ) from None


@router.get("/projects/{project_id}/studies/{study_id}")
def study_review(
    request: Request, project_id: Id, study_id: str, _: AdminPrincipal, db: Db
) -> HTMLResponse:
    """A study of the project as its administrators review it: every read with its reader,
    the discordances, the arbitration, the final label, all drawn on the images."""
    project = service.get_project(db, project_id)
    review = study_review_out(db, service.get_project_study(db, project, study_id))
    return render(
        request,
        "reading/study.html",
        {
            "project": project,
            "review": review,
            "review_json": review.model_dump_json(),
            "images_json": json.dumps([i.model_dump(mode="json") for i in review.images]),
        },
    )


@router.get("/review/tasks/{task_id}")
def task_review(task_id: Id, _: AdminPrincipal, db: Db) -> Response:
    """A task's study review page (the audit log links a read task here)."""
    found = service.task_study(db, task_id)
    return see_other(f"/projects/{found.project_id}/studies/{found.study.study_id}")


@router.get("/review/project-studies/{project_study_id}")
def project_study_review(project_study_id: Id, _: AdminPrincipal, db: Db) -> Response:
    """A project study's review page (the audit log links a project study here)."""
    found = service.project_study_by_id(db, project_study_id)
    return see_other(f"/projects/{found.project_id}/studies/{found.study.study_id}")


@router.get("/projects/{project_id}/agreement")
def agreement_page(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    project = service.get_project(db, project_id)
    return render(
        request,
        "reading/agreement.html",
        {"project": project, "report": agreement_report.agreement_report(db, project)},
    )


def _act(
    request: Request,
    db: Db,
    project_id: int,
    action: Callable[[], object],
    notice: str,
    **error_context: Any,
) -> Response:
    """Run a project page's action; back to the page (303) with its notice, or the page
    again with the error (and ``error_context``, e.g. what the form held)."""
    return form_or_error(
        action,
        lambda result: see_other(
            f"/projects/{project_id}", notice=notice.format(result=result), request=request
        ),
        lambda error: _project_page(
            request,
            db,
            project_id,
            error.status_code,
            error=error.message,
            error_details=error.details or [],
            **error_context,
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
    override_reason: Annotated[str, Form(max_length=rules.MAX_OVERRIDE_LENGTH)] = "",
) -> Response:
    project = service.get_project(db, project_id)
    if all_complete:
        ids = service.complete_study_ids(db)
    else:
        ids = [*pick, *study_ids.replace(",", " ").split()]
    return _act(
        request,
        db,
        project_id,
        lambda: service.add_studies(
            db, principal.actor, project, ids, override=override_reason or None
        ),
        "{result} studies added.",
        # the refused form again, as it was, so that the override is one step away
        studies_form={"study_ids": study_ids, "pick": set(pick)},
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
