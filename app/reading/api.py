"""Reading API: projects and assignment (admins), worklist, drafts, submit, arbitration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.core.errors import ERROR_RESPONSES, NotFound
from app.core.ids import Id, Offset
from app.imaging import access
from app.imaging.models import Study
from app.imaging.service import flags_of
from app.imaging.views import image_out
from app.reading import agreement_report, service
from app.reading.models import ReadingProject, ReadTask
from app.reading.review_view import project_study_out, project_task_out, study_review_out
from app.reading.schemas import (
    AddedOut,
    AssignIn,
    AssignOut,
    DraftIn,
    DraftOut,
    ExcludeIn,
    Hint,
    Pools,
    PoolsOut,
    PriorOut,
    ProgressOut,
    ProjectCreate,
    ProjectOut,
    ProjectSettingsIn,
    ProjectSettingsOut,
    ProjectStudyOut,
    ReaderProgressOut,
    ReassignIn,
    ReopenIn,
    SessionOut,
    StudiesIn,
    StudyReviewOut,
    SubmitIn,
    SubmitOut,
    TaskDetailOut,
    TaskOut,
    TaskPage,
    TaskSessionOut,
)
from app.reading.states import Pool, TaskKind, TaskStatus

router = APIRouter(prefix="/api/v1/reading", tags=["reading"], responses=ERROR_RESPONSES)
access.allow(service.can_view_study)
access.allow(service.can_view_prior, last=True)


def project_out(db: Db, project: ReadingProject) -> ProjectOut:
    sessions = [
        SessionOut(number=s.number, name=s.name, aided=s.aided, washout_days=s.washout_days)
        for s in service.sessions_of(db, project)
    ]
    return ProjectOut.model_validate(
        {
            **{c: getattr(project, c) for c in ProjectOut.model_fields if c != "sessions"},
            "sessions": sessions,
        }
    )


def task_out(task: ReadTask) -> TaskOut:
    project_study = task.project_study
    return TaskOut(
        id=task.id,
        kind=task.kind,
        status=task.status,
        project_id=project_study.project_id,
        project_name=project_study.project.name,
        study_id=project_study.study.study_id,
        version=task.version,
        session=(
            TaskSessionOut(
                number=task.session.number, name=task.session.name, aided=task.session.aided
            )
            if task.session is not None
            else None
        ),
        assigned_at=task.assigned_at,
        started_at=task.started_at,
        submitted_at=task.submitted_at,
        active_seconds=round(task.active_seconds, 1),
    )


def hints(violations) -> list[Hint]:
    return [Hint(field=v.field, message=v.message, severity=v.severity) for v in violations]


# --- administration -------------------------------------------------------------------------


@router.post("/projects", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, principal: AdminPrincipal, db: Db) -> ProjectOut:
    design = service.StudyDesign(
        design=body.design,
        layout=body.layout,
        blocks=body.blocks,
        sessions=tuple(service.NewSession(s.name, s.aided, s.washout_days) for s in body.sessions),
        order_seed=body.order_seed,
        truth_basis=body.truth_basis,
    )
    new = service.NewProject(
        body.name, body.instructions, body.vocabulary, body.rules, body.idle_limit_seconds, design
    )
    return project_out(db, service.create_project(db, principal.actor, new))


@router.get("/projects", response_model=list[ProjectOut])
def projects(_: AdminPrincipal, db: Db) -> list[ProjectOut]:
    return [project_out(db, p) for p in service.list_projects(db)]


@router.get("/projects/{project_id}", response_model=ProjectOut)
def project(project_id: Id, _: AdminPrincipal, db: Db) -> ProjectOut:
    return project_out(db, service.get_project(db, project_id))


@router.get("/projects/{project_id}/settings", response_model=ProjectSettingsOut)
def project_settings(project_id: Id, _: AdminPrincipal, db: Db) -> ProjectSettingsOut:
    """The project's settings and whether they may still change."""
    return settings_out(db, service.get_project(db, project_id))


@router.patch("/projects/{project_id}", response_model=ProjectSettingsOut)
def update_project(
    project_id: Id, body: ProjectSettingsIn, principal: AdminPrincipal, db: Db
) -> ProjectSettingsOut:
    """Change the vocabulary, rules, instructions or idle limit while no read of the project
    is submitted (409 ``settings_locked`` afterwards)."""
    project = service.get_project(db, project_id)
    change = service.SettingsChange(
        body.instructions, body.vocabulary, body.rules, body.idle_limit_seconds
    )
    return settings_out(db, service.update_settings(db, principal.actor, project, change))


def settings_out(db: Db, project: ReadingProject) -> ProjectSettingsOut:
    reason = service.settings_lock(db, project)
    return ProjectSettingsOut(
        **project_out(db, project).model_dump(), editable=reason is None, locked_reason=reason
    )


@router.put("/projects/{project_id}/pools", response_model=PoolsOut)
def set_pools(project_id: Id, body: Pools, principal: AdminPrincipal, db: Db) -> PoolsOut:
    """Replace the reader and/or arbiter pool (user ids)."""
    project = service.get_project(db, project_id)
    service.set_pools(db, principal.actor, project, body.readers, body.arbiters)
    return PoolsOut(
        readers=[u.username for u in service.members(db, project, Pool.READERS)],
        arbiters=[u.username for u in service.members(db, project, Pool.ARBITERS)],
    )


@router.post("/projects/{project_id}/studies", response_model=AddedOut)
def add_studies(project_id: Id, body: StudiesIn, principal: AdminPrincipal, db: Db) -> AddedOut:
    """Add studies by id (unknown ids refuse the request; ones already in are skipped).
    All or nothing: a study that is not complete refuses the request (422
    ``incomplete_studies``, a detail per study) unless ``override_reason`` is given."""
    project = service.get_project(db, project_id)
    added = service.add_studies(
        db, principal.actor, project, body.study_ids, override=body.override_reason
    )
    return AddedOut(added=added)


@router.post("/projects/{project_id}/assign", response_model=AssignOut)
def assign(project_id: Id, body: AssignIn, principal: AdminPrincipal, db: Db) -> AssignOut:
    project = service.get_project(db, project_id)
    if body.pairs is None:
        return AssignOut(assigned=service.assign_balanced(db, principal.actor, project))
    for pair in body.pairs:
        service.assign_pair(db, principal.actor, project, pair.study_id, pair.readers)
    return AssignOut(assigned=len(body.pairs))


@router.get("/projects/{project_id}/agreement", response_model=agreement_report.AgreementReportOut)
def agreement(project_id: Id, _: AdminPrincipal, db: Db) -> agreement_report.AgreementReportOut:
    """Reader agreement per item type (percent, quadratic-weighted kappa, Gwet's AC1), lesion
    F1 at the project's IoU threshold, arbitration rate, and each reader against the final
    label in two screening mappings, with reading time per case."""
    return agreement_report.agreement_report(db, service.get_project(db, project_id))


@router.get("/projects/{project_id}/progress", response_model=ProgressOut)
def progress(project_id: Id, _: AdminPrincipal, db: Db) -> ProgressOut:
    result = service.progress(db, service.get_project(db, project_id))
    return ProgressOut(
        by_status=result.by_status,
        readers=[
            ReaderProgressOut(
                username=r.user.username,
                display_name=r.user.display_name,
                reads_done=r.reads_done,
                arbitrations_done=r.arbitrations_done,
                open_tasks=r.open_tasks,
                median_active_seconds=r.median_active_seconds,
            )
            for r in result.readers
        ],
        compared=result.compared,
        discordance_rates=result.discordance_rates,
        awaiting_arbiter=result.awaiting_arbiter,
    )


@router.get("/projects/{project_id}/studies/{study_id}", response_model=StudyReviewOut)
def project_study(project_id: Id, study_id: str, _: AdminPrincipal, db: Db) -> StudyReviewOut:
    """The study as its administrators review it: status, final label and its source, the
    discordances, every read and arbitration with its reader, open tasks, reopen history."""
    found = service.get_project_study(db, service.get_project(db, project_id), study_id)
    return study_review_out(db, found)


@router.post("/projects/{project_id}/studies/{study_id}/reopen", response_model=ProjectStudyOut)
def reopen(
    project_id: Id, study_id: str, body: ReopenIn, principal: AdminPrincipal, db: Db
) -> ProjectStudyOut:
    """Send a final study back to arbitration (its final label is kept in history)."""
    found = service.get_project_study(db, service.get_project(db, project_id), study_id)
    return project_study_out(service.reopen(db, principal.actor, found, body.reason))


@router.post("/tasks/{task_id}/reassign", response_model=TaskOut)
def reassign(task_id: Id, body: ReassignIn, principal: AdminPrincipal, db: Db) -> TaskOut:
    """Give an unsubmitted read or arbitration to someone else in the same pool."""
    return task_out(service.reassign(db, principal.actor, task_id, body.user_id))


@router.get("/projects/{project_id}/tasks", response_model=TaskPage)
def project_tasks(
    project_id: Id,
    _: AdminPrincipal,
    db: Db,
    status: Annotated[TaskStatus | None, Query()] = None,
    kind: Annotated[TaskKind | None, Query()] = None,
    user_id: Annotated[Id | None, Query(description="The reader or arbiter.")] = None,
    study_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> TaskPage:
    """Who reads or arbitrates what (reassigned tasks too), newest first; the ids are the
    ones reassigning takes."""
    project = service.get_project(db, project_id)
    query = service.TaskQuery(status, kind, user_id, study_id)
    rows, total = service.project_tasks(db, project, query, limit=limit, offset=offset)
    return TaskPage(total=total, items=[project_task_out(task) for task in rows])


# --- readers and arbiters -------------------------------------------------------------------


@router.get("/tasks", response_model=list[TaskOut])
def my_tasks(
    principal: CurrentPrincipal, db: Db, project_id: Annotated[Id | None, Query()] = None
) -> list[TaskOut]:
    """Your reads and arbitrations (never anyone else's), in one project when asked."""
    return [task_out(t) for t in service.my_tasks(db, principal.user, project_id)]


@router.get("/next", response_model=TaskOut)
def next_case(
    principal: CurrentPrincipal, db: Db, project_id: Annotated[Id | None, Query()] = None
) -> TaskOut:
    """The case to read now: the one in progress, else the oldest pending one."""
    task = service.next_task(db, principal.user, project_id)
    if task is None:
        raise NotFound("Nothing left to read: your worklist is done.", code="worklist_empty")
    return task_out(task)


@router.get("/tasks/{task_id}", response_model=TaskDetailOut)
def task_detail(task_id: Id, principal: CurrentPrincipal, db: Db) -> TaskDetailOut:
    """Your task with its images and your draft; for an arbitration, both reads too."""
    task = service.open_task(db, principal.user, task_id)
    project_study = task.project_study
    project = project_study.project
    flags = flags_of(db, project_study.study)
    return TaskDetailOut(
        **task_out(task).model_dump(),
        instructions=project.instructions,
        idle_limit_seconds=project.idle_limit_seconds,
        vocabulary=project.vocabulary,
        rules=project.rules,
        draft=task.draft or service.starting_label(db, task),
        images=[image_out(image, flags, reader=True) for image in project_study.study.images],
        priors=priors_out(db, project, project_study.study),
        other_reads=service.arbitration_inputs(db, task),
        discordances=(project_study.discordances or []) if task.kind == TaskKind.ARBITRATE else [],
    )


def priors_out(db: Db, project: ReadingProject, study: Study) -> list[PriorOut]:
    """The woman's earlier exams where the project shows them: images only, no label."""
    if not service.shows_priors(project.rules):
        return []
    return [
        PriorOut(
            study_id=prior.study_id,
            months_before=months,
            images=[image_out(image, [], reader=True) for image in prior.images],
        )
        for prior, months in service.priors_of(db, study)
    ]


@router.put("/tasks/{task_id}/draft", response_model=DraftOut)
def save_draft(task_id: Id, body: DraftIn, principal: CurrentPrincipal, db: Db) -> DraftOut:
    """Save the work so far. 409 when another tab saved a newer version first."""
    task, violations = service.save_draft(db, principal.user, task_id, body.label, body.version)
    return DraftOut(
        version=task.version, active_seconds=round(task.active_seconds, 1), hints=hints(violations)
    )


@router.post("/tasks/{task_id}/activity", status_code=status.HTTP_204_NO_CONTENT)
def activity(task_id: Id, principal: CurrentPrincipal, db: Db) -> Response:
    """The reader is working (zooming, windowing): counts towards active reading time."""
    service.record_activity(db, principal.user, task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/tasks/{task_id}/submit", response_model=SubmitOut)
def submit(task_id: Id, body: SubmitIn, principal: CurrentPrincipal, db: Db) -> SubmitOut:
    """Submit a read or an arbitration. 422 lists every rule it breaks; a repeat is harmless.
    The reply says only that this read is in, never what becomes of the study (blinding).
    409 ``washout`` for a second-session reading before its washout has passed."""
    result = service.submit(db, principal.actor, task_id, body.label, body.version, body.aid)
    return submitted_out(result)


@router.post("/tasks/{task_id}/exclude", response_model=SubmitOut)
def exclude(task_id: Id, body: ExcludeIn, principal: CurrentPrincipal, db: Db) -> SubmitOut:
    """A reader study's reader sets a case aside with a reason (unreadable images...): the
    reading is done, and the exclusion is listed with the study's results. 409
    ``not_reader_study`` in double reading."""
    result = service.exclude(db, principal.actor, task_id, body.reason, body.version)
    return submitted_out(result)


def submitted_out(result: service.SubmitResult) -> SubmitOut:
    return SubmitOut(
        task_id=result.task.id,
        kind=result.task.kind,
        status=result.task.status,
        label=result.task.draft or service.rules.empty_label().to_json(),
        warnings=hints(result.warnings),
        repeated=result.repeated,
    )
