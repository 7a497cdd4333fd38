"""Double reading with arbitration: projects, assignment, drafts, submission, concordance.

Every use case commits its own transaction. Submitted reads go to an append-only log; the
study's state (reading, arbitration, final) is updated in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.auth.users import active_users
from app.core.database import newest_first_page, serialise_on, utcnow
from app.core.errors import Conflict, Invalid, NotFound, field_error
from app.imaging.models import Study
from app.reading import rules
from app.reading.models import (
    ARBITRATE,
    ARBITRATION,
    FINAL,
    IN_PROGRESS,
    PENDING,
    READ,
    READING,
    REASSIGNED,
    SUBMITTED,
    UNASSIGNED,
    FinalLabelHistory,
    ProjectMember,
    ProjectStudy,
    ReadingProject,
    ReadSubmission,
    ReadTask,
)

READERS = "readers"
ARBITERS = "arbiters"
OPEN_TASK = (PENDING, IN_PROGRESS)


# --- projects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewProject:
    name: str
    instructions: str = ""
    vocabulary: list[dict[str, Any]] | None = None
    rules: dict[str, Any] | None = None
    idle_limit_seconds: int = 60


def checked_project_name(db: Session, name: str) -> str:
    """The name, stripped, or a 4xx: 1 to 120 characters, not taken."""
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise field_error("name", "A project needs a name of 1 to 120 characters.")
    if db.scalar(select(ReadingProject.id).where(ReadingProject.name == name)) is not None:
        raise Conflict(f"A project named {name!r} exists already.", code="name_taken")
    return name


def create_project(db: Session, actor: Actor, new: NewProject) -> ReadingProject:
    project = add_project(db, actor, new)
    db.commit()
    return project


def add_project(db: Session, actor: Actor, new: NewProject) -> ReadingProject:
    """The project, added to the session's transaction (the caller commits)."""
    name = checked_project_name(db, new.name)
    try:
        vocabulary = rules.Vocabulary.from_json(new.vocabulary) if new.vocabulary else None
    except (ValueError, TypeError, KeyError) as error:
        raise field_error("vocabulary", f"The vocabulary is not valid: {error}") from None
    try:
        project_rules = rules.ProjectRules.from_json(new.rules or {})
    except (ValueError, TypeError) as error:
        raise field_error("rules", f"The rules are not valid: {error}") from None
    if not 10 <= new.idle_limit_seconds <= 3600:
        raise field_error("idle_limit_seconds", "The idle limit must be 10 to 3600 seconds.")
    project = ReadingProject(
        name=name,
        instructions=new.instructions.strip()[:20000],
        vocabulary=(vocabulary or rules.DEFAULT_VOCABULARY).to_json(),
        rules=project_rules.to_json(),
        idle_limit_seconds=new.idle_limit_seconds,
        created_by=actor.user.id if actor.user else None,
    )
    db.add(project)
    db.flush()
    record(
        db, actor, "project.created", object_type="reading_project", object_id=project.id, name=name
    )
    return project


def get_project(db: Session, project_id: int) -> ReadingProject:
    project = db.get(ReadingProject, project_id)
    if project is None:
        raise NotFound(f"There is no reading project {project_id}.")
    return project


def list_projects(db: Session) -> list[ReadingProject]:
    return list(db.scalars(select(ReadingProject).order_by(ReadingProject.id.desc())))


def members(db: Session, project: ReadingProject, pool: str) -> list[User]:
    statement = select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.pool == pool
    )
    return sorted((m.user for m in db.scalars(statement)), key=lambda u: u.username)


def set_pool(
    db: Session, actor: Actor, project: ReadingProject, pool: str, user_ids: Iterable[int]
) -> list[User]:
    users = active_users(db, user_ids, pool, f"put these users in the {pool} pool")
    wanted = {u.id for u in users}
    current = db.scalars(
        select(ProjectMember).where(
            ProjectMember.project_id == project.id, ProjectMember.pool == pool
        )
    ).all()
    for member in current:
        if member.user_id not in wanted:
            db.delete(member)
    for user_id in wanted - {m.user_id for m in current}:
        db.add(ProjectMember(project_id=project.id, user_id=user_id, pool=pool))
    record(
        db,
        actor,
        "project.pool_set",
        object_type="reading_project",
        object_id=project.id,
        pool=pool,
        users=sorted(u.username for u in users),
    )
    db.commit()
    return members(db, project, pool)


def add_studies(
    db: Session, actor: Actor, project: ReadingProject, study_ids: Sequence[str]
) -> int:
    """Add studies by VinDr study id, in the order given (the project's order, which exports
    follow; a repeated id counts once, where it first occurs). Unknown ids refuse the whole
    request; studies already in the project are skipped."""
    wanted = list(dict.fromkeys(s.strip().lower() for s in study_ids if s.strip()))
    if not wanted:
        raise field_error("study_ids", "Give at least one study id.")
    found = {s.study_id: s for s in db.scalars(select(Study).where(Study.study_id.in_(wanted)))}
    unknown = [s for s in wanted if s not in found]
    if unknown:
        listed = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise field_error("study_ids", f"Unknown study ids ({len(unknown)}): {listed}")
    present = set(
        db.scalars(select(ProjectStudy.study_pk).where(ProjectStudy.project_id == project.id))
    )
    added = [found[s] for s in wanted if found[s].id not in present]
    for study in added:
        db.add(ProjectStudy(project_id=project.id, study_pk=study.id, status=UNASSIGNED))
    record(
        db,
        actor,
        "project.studies_added",
        object_type="reading_project",
        object_id=project.id,
        count=len(added),
    )
    db.commit()
    return len(added)


# --- assignment -----------------------------------------------------------------------------


def _load(db: Session, project: ReadingProject) -> Counter[int]:
    """Open and done reading work per user in this project, for balancing."""
    rows = db.execute(
        select(ReadTask.user_id, func.count())
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id, ReadTask.status != REASSIGNED)
        .group_by(ReadTask.user_id)
    )
    return Counter({user_id: count for user_id, count in rows.all()})  # noqa: C416 - Row objects


def _people_on(db: Session, project_study: ProjectStudy) -> set[int]:
    statement = select(ReadTask.user_id).where(
        ReadTask.project_study_id == project_study.id, ReadTask.status != REASSIGNED
    )
    return set(db.scalars(statement))


def _least_loaded(candidates: Iterable[int], load: Counter[int], exclude: set[int]) -> int | None:
    eligible = sorted((load[u], u) for u in candidates if u not in exclude)
    return eligible[0][1] if eligible else None


def assign_balanced(db: Session, actor: Actor, project: ReadingProject) -> int:
    """Give every unassigned study two different readers, and a study that came with a first
    read (an imported release) its second one; the least loaded first."""
    pool = [u.id for u in members(db, project, READERS)]
    if len(pool) < 2:
        raise field_error(READERS, "Put at least two readers in the project's reader pool.")
    load = _load(db, project)
    waiting = db.scalars(
        select(ProjectStudy)
        .where(ProjectStudy.project_id == project.id, ProjectStudy.status == UNASSIGNED)
        .order_by(ProjectStudy.id)
    ).all()
    for project_study in waiting:
        chosen: set[int] = set()
        for slot in (1, 2):
            user_id = _least_loaded(pool, load, chosen)
            assert user_id is not None
            chosen.add(user_id)
            load[user_id] += 1
            db.add(
                ReadTask(project_study_id=project_study.id, user_id=user_id, kind=READ, slot=slot)
            )
        project_study.status = READING
    second_reads = _assign_second_reads(db, project, pool, load)
    record(
        db,
        actor,
        "project.assigned",
        object_type="reading_project",
        object_id=project.id,
        studies=len(waiting) + second_reads,
    )
    db.commit()
    return len(waiting) + second_reads


def _assign_second_reads(
    db: Session, project: ReadingProject, pool: list[int], load: Counter[int]
) -> int:
    """Studies that came with a first read (an imported release) get their second reader."""
    live = (ReadTask.kind == READ) & (ReadTask.status != REASSIGNED)
    half_read = db.execute(
        select(ReadTask.project_study_id, func.min(ReadTask.user_id))
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id, ProjectStudy.status == READING, live)
        .group_by(ReadTask.project_study_id)
        .having(func.count() == 1)
        .order_by(ReadTask.project_study_id)
    ).all()
    for project_study_id, first_reader in half_read:
        user_id = _least_loaded(pool, load, {first_reader})
        assert user_id is not None
        load[user_id] += 1
        db.add(ReadTask(project_study_id=project_study_id, user_id=user_id, kind=READ, slot=2))
    return len(half_read)


def assign_pair(
    db: Session, actor: Actor, project: ReadingProject, study_id: str, reader_ids: Sequence[int]
) -> ProjectStudy:
    """Explicit pair for one unassigned study."""
    project_study = get_project_study(db, project, study_id)
    if project_study.status != UNASSIGNED:
        raise Conflict(
            "This study is assigned already; reassign its reads instead.", code="already_assigned"
        )
    if len(set(reader_ids)) != 2:
        raise field_error("readers", "Give two different readers.")
    pool = {u.id for u in members(db, project, READERS)}
    if not set(reader_ids) <= pool:
        raise field_error("readers", "Both readers must be in the project's reader pool.")
    for slot, user_id in enumerate(reader_ids, start=1):
        db.add(ReadTask(project_study_id=project_study.id, user_id=user_id, kind=READ, slot=slot))
    project_study.status = READING
    record(
        db,
        actor,
        "project.assigned",
        object_type="project_study",
        object_id=project_study.id,
        readers=list(reader_ids),
    )
    db.commit()
    return project_study


def get_project_study(db: Session, project: ReadingProject, study_id: str) -> ProjectStudy:
    project_study = db.scalar(
        select(ProjectStudy)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project.id, Study.study_id == study_id.lower())
    )
    if project_study is None:
        raise NotFound(f"Study {study_id[:40]!r} is not in this project.")
    return project_study


def reassign(
    db: Session, actor: Actor, task_id: int, user_id: int, *, project_id: int | None = None
) -> ReadTask:
    """Hand an unsubmitted task to someone else; the old task (and its draft) stays as history."""
    task = db.get(ReadTask, task_id)
    if task is None or project_id not in (None, task.project_study.project_id):
        raise NotFound(f"There is no task {task_id}" + (" in this project." if project_id else "."))
    if task.status not in OPEN_TASK:
        raise Conflict("Only a task not yet submitted can be reassigned.", code="not_open")
    project = task.project_study.project
    pool = READERS if task.kind == READ else ARBITERS
    if user_id not in {u.id for u in members(db, project, pool)}:
        raise field_error("user_id", f"The new person must be in the project's {pool} pool.")
    if user_id in _people_on(db, task.project_study):
        raise field_error("user_id", "That person already reads or arbitrates this study.")
    task.status = REASSIGNED
    fresh = ReadTask(
        project_study_id=task.project_study_id, user_id=user_id, kind=task.kind, slot=task.slot
    )
    db.add(fresh)
    db.flush()
    record(
        db,
        actor,
        "task.reassigned",
        object_type="read_task",
        object_id=task.id,
        to_task=fresh.id,
        from_user=task.user.username,
    )
    db.commit()
    return fresh


@dataclass(frozen=True)
class TaskQuery:
    """Filters of a project's task listing (admins): each narrows the list when set."""

    status: str | None = None
    kind: str | None = None
    user_id: int | None = None
    study_id: str | None = None


def project_tasks(
    db: Session, project: ReadingProject, query: TaskQuery, *, limit: int, offset: int
) -> tuple[list[ReadTask], int]:
    """Who reads or arbitrates what in a project (reassigned tasks too), newest first."""
    statement = (
        select(ReadTask)
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id)
    )
    if query.status is not None:
        statement = statement.where(ReadTask.status == query.status)
    if query.kind is not None:
        statement = statement.where(ReadTask.kind == query.kind)
    if query.user_id is not None:
        statement = statement.where(ReadTask.user_id == query.user_id)
    if query.study_id is not None:
        statement = statement.join(Study, ProjectStudy.study_pk == Study.id).where(
            Study.study_id == query.study_id.strip().lower()
        )
    return newest_first_page(db, statement, ReadTask.id, limit=limit, offset=offset)


# --- the reader's side ----------------------------------------------------------------------


def my_tasks(db: Session, user: User, project_id: int | None = None) -> list[ReadTask]:
    """The user's own tasks (never anyone else's), in one project when ``project_id`` is set."""
    statement = select(ReadTask).where(ReadTask.user_id == user.id, ReadTask.status != REASSIGNED)
    if project_id is not None:
        statement = statement.join(ProjectStudy).where(ProjectStudy.project_id == project_id)
    return list(db.scalars(statement.order_by(ReadTask.id)))


def next_task(db: Session, user: User, project_id: int | None = None) -> ReadTask | None:
    """Resume the task in progress, else the oldest pending one."""
    statement = select(ReadTask).where(ReadTask.user_id == user.id, ReadTask.status.in_(OPEN_TASK))
    if project_id is not None:
        statement = statement.join(ProjectStudy).where(ProjectStudy.project_id == project_id)
    in_progress_first = (ReadTask.status != IN_PROGRESS, ReadTask.id)
    return db.scalars(statement.order_by(*in_progress_first).limit(1)).first()


def own_task(db: Session, user: User, task_id: int) -> ReadTask:
    """The user's own task; anybody else's is answered exactly like a missing one (blinding)."""
    task = db.get(ReadTask, task_id, populate_existing=True)
    if task is None or task.user_id != user.id:
        raise NotFound(f"You have no task {task_id}.")
    if task.status == REASSIGNED:
        raise Conflict(
            "This case was reassigned to another reader; your draft is kept in its history.",
            code="reassigned",
        )
    return task


def images_of(project_study: ProjectStudy) -> dict[str, str]:
    return {i.image_id: i.laterality or "?" for i in project_study.study.images}


def image_sizes_of(project_study: ProjectStudy) -> dict[str, tuple[int, int]]:
    """Each image's pixel grid, (columns, rows): a box must cover some of its image."""
    return {i.image_id: (i.columns, i.rows) for i in project_study.study.images}


def _context(project: ReadingProject) -> tuple[rules.Vocabulary, rules.ProjectRules]:
    return rules.Vocabulary.from_json(project.vocabulary), rules.ProjectRules.from_json(
        project.rules
    )


def _touch(task: ReadTask) -> None:
    now = utcnow()
    if task.started_at is None:
        task.started_at = now
    previous = task.last_activity_at.timestamp() if task.last_activity_at else None
    idle = task.project_study.project.idle_limit_seconds
    task.active_seconds = rules.add_activity(task.active_seconds, previous, now.timestamp(), idle)
    task.last_activity_at = now
    if task.status == PENDING:
        task.status = IN_PROGRESS


def open_task(db: Session, user: User, task_id: int) -> ReadTask:
    task = own_task(db, user, task_id)
    if task.status == PENDING:
        _touch(task)
        db.commit()
    return task


def record_activity(db: Session, user: User, task_id: int) -> ReadTask:
    task = own_task(db, user, task_id)
    if task.status in OPEN_TASK:
        _touch(task)
        db.commit()
    return task


def _parse(data: dict[str, Any]) -> rules.Label:
    try:
        return rules.parse_label(data)
    except rules.LabelError as error:
        raise field_error(error.field, error.message) from None


def _check_version(task: ReadTask, version: int) -> None:
    if version != task.version:
        raise Conflict(
            "This case was changed elsewhere (another tab or window) since you loaded it. "
            "Reload to continue from the newest version.",
            code="version_conflict",
            details=[{"field": "version", "message": f"current version is {task.version}"}],
        )


def _violations(task: ReadTask, label: rules.Label) -> list[rules.Violation]:
    vocabulary, project_rules = _context(task.project_study.project)
    project_study = task.project_study
    return rules.validate(
        label, images_of(project_study), vocabulary, project_rules, image_sizes_of(project_study)
    )


def save_draft(
    db: Session, user: User, task_id: int, data: dict[str, Any], version: int
) -> tuple[ReadTask, list[rules.Violation]]:
    """Keep the work so far (every change). Returns the new version and live hints."""
    serialise_on(db, ReadTask.version, task_id)  # two tabs saving at once: one wins, one 409
    task = own_task(db, user, task_id)
    if task.status == SUBMITTED:
        raise Conflict("This case is submitted; it can no longer change.", code="submitted")
    label = _parse(data)
    _check_version(task, version)
    task.draft = label.to_json()
    task.version += 1
    _touch(task)
    db.commit()
    return task, _violations(task, label)


@dataclass(frozen=True)
class SubmitResult:
    task: ReadTask
    study_status: str
    warnings: list[rules.Violation]
    repeated: bool = False


def submit(
    db: Session, actor: Actor, task_id: int, data: dict[str, Any], version: int
) -> SubmitResult:
    assert actor.user is not None
    serialise_on(db, ReadTask.version, task_id)  # a double-clicked submit is applied once
    task = own_task(db, actor.user, task_id)
    if task.status == SUBMITTED:
        return SubmitResult(task, task.project_study.status, [], repeated=True)
    # both reads of a study submitted at once: the second must see the first to compare them
    serialise_on(db, ProjectStudy.status, task.project_study_id)
    db.refresh(task.project_study)
    label = _parse(data)
    _check_version(task, version)
    violations = _violations(task, label)
    errors = [v for v in violations if v.severity == "error"]
    if errors:
        raise Invalid(
            f"The read cannot be submitted yet: {len(errors)} problem(s) to fix.",
            code="read_invalid",
            details=[{"field": v.field, "message": v.message} for v in errors],
        )
    _touch(task)
    task.draft = label.to_json()
    task.version += 1
    task.status = SUBMITTED
    task.submitted_at = utcnow()
    warnings = [v for v in violations if v.severity != "error"]
    db.add(
        ReadSubmission(
            task_id=task.id,
            project_study_id=task.project_study_id,
            user_id=task.user_id,
            kind=task.kind,
            slot=task.slot,
            label=label.to_json(),
            warnings=[{"field": w.field, "message": w.message} for w in warnings],
            started_at=task.started_at,
            submitted_at=task.submitted_at,
            active_seconds=task.active_seconds,
        )
    )
    action = "arbitration.submitted" if task.kind == ARBITRATE else "read.submitted"
    record(
        db,
        actor,
        action,
        object_type="read_task",
        object_id=task.id,
        study_id=task.project_study.study.study_id,
    )
    _advance(db, actor, task.project_study, label if task.kind == ARBITRATE else None)
    try:
        db.commit()
    except IntegrityError:  # the same task submitted concurrently: the other one won
        db.rollback()
        task = own_task(db, actor.user, task_id)
        return SubmitResult(task, task.project_study.status, [], repeated=True)
    return SubmitResult(task, task.project_study.status, warnings)


def _submitted_reads(db: Session, project_study: ProjectStudy) -> list[ReadSubmission]:
    statement = (
        select(ReadSubmission)
        .where(ReadSubmission.project_study_id == project_study.id, ReadSubmission.kind == READ)
        .order_by(ReadSubmission.slot)
    )
    return list(db.scalars(statement))


def _advance(
    db: Session, actor: Actor, project_study: ProjectStudy, arbitrated: rules.Label | None
) -> None:
    """After a submission: final when arbitrated or concordant, else off to an arbiter."""
    db.flush()
    if arbitrated is not None:
        _finalise(project_study, arbitrated.to_json(), "arbitration")
        return
    reads = _submitted_reads(db, project_study)
    if len(reads) < 2:
        return
    first, second = (rules.parse_label(r.label) for r in reads[:2])
    vocabulary, project_rules = _context(project_study.project)
    comparison = rules.compare(first, second, images_of(project_study), vocabulary, project_rules)
    if comparison.concordant:
        merged = rules.merge(first, second, comparison, vocabulary)
        _finalise(project_study, merged.to_json(), "concordant")
        return
    project_study.status = ARBITRATION
    project_study.discordances = [d.to_json() for d in comparison.discordances]
    _assign_arbiter(db, actor, project_study)


def _finalise(project_study: ProjectStudy, label: dict[str, Any], source: str) -> None:
    project_study.status = FINAL
    project_study.final_label = label
    project_study.final_source = source
    project_study.finalized_at = utcnow()


def _assign_arbiter(db: Session, actor: Actor, project_study: ProjectStudy) -> ReadTask | None:
    pool = [u.id for u in members(db, project_study.project, ARBITERS)]
    busy = set(
        db.scalars(
            select(ReadTask.user_id).where(
                ReadTask.project_study_id == project_study.id,
                (ReadTask.kind == READ) | ReadTask.status.in_(OPEN_TASK),
                ReadTask.status != REASSIGNED,
            )
        )
    )
    arbiter = _least_loaded(pool, _load(db, project_study.project), busy)
    if arbiter is None:
        record(
            db,
            actor,
            "arbitration.waiting",
            object_type="project_study",
            object_id=project_study.id,
        )
        return None
    task = ReadTask(project_study_id=project_study.id, user_id=arbiter, kind=ARBITRATE, slot=0)
    db.add(task)
    return task


def assign_waiting_arbitrations(db: Session, actor: Actor, project: ReadingProject) -> int:
    """Studies in arbitration with nobody on it (the arbiter pool was empty) get one now."""
    waiting = db.scalars(
        select(ProjectStudy).where(
            ProjectStudy.project_id == project.id, ProjectStudy.status == ARBITRATION
        )
    ).all()
    count = 0
    for project_study in waiting:
        has_open = db.scalar(
            select(ReadTask.id).where(
                ReadTask.project_study_id == project_study.id,
                ReadTask.kind == ARBITRATE,
                ReadTask.status != REASSIGNED,
            )
        )
        if has_open is None and _assign_arbiter(db, actor, project_study) is not None:
            db.flush()
            count += 1
    db.commit()
    return count


def arbitration_inputs(db: Session, task: ReadTask) -> list[dict[str, Any]]:
    """What an arbiter sees: both reads (by slot, not by name) and the discordances."""
    if task.kind != ARBITRATE:
        return []
    return [{"slot": r.slot, "label": r.label} for r in _submitted_reads(db, task.project_study)]


def reopen(db: Session, actor: Actor, project_study: ProjectStudy, reason: str) -> ProjectStudy:
    """An admin sends a final study back to arbitration; the old final label stays in history."""
    if project_study.status != FINAL:
        raise Conflict("Only a final study can be reopened.", code="not_final")
    if not reason.strip():
        raise field_error("reason", "Say why the study is reopened.")
    db.add(
        FinalLabelHistory(
            project_study_id=project_study.id,
            label=project_study.final_label or {},
            source=project_study.final_source or "",
            finalized_at=project_study.finalized_at,
            reopened_by=actor.user.id if actor.user else None,
            reason=reason.strip()[:2000],
        )
    )
    project_study.status = ARBITRATION
    project_study.final_label = None
    project_study.final_source = None
    project_study.finalized_at = None
    record(
        db,
        actor,
        "study.reopened",
        object_type="project_study",
        object_id=project_study.id,
        reason=reason.strip()[:2000],
    )
    _assign_arbiter(db, actor, project_study)
    db.commit()
    return project_study


# --- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderProgress:
    user: User
    reads_done: int
    arbitrations_done: int
    open_tasks: int
    median_active_seconds: float | None


@dataclass(frozen=True)
class Progress:
    by_status: dict[str, int]
    readers: list[ReaderProgress]
    compared: int
    discordance_rates: dict[str, float]
    awaiting_arbiter: int


def progress(db: Session, project: ReadingProject) -> Progress:
    studies = db.scalars(select(ProjectStudy).where(ProjectStudy.project_id == project.id)).all()
    by_status = Counter({UNASSIGNED: 0, READING: 0, ARBITRATION: 0, FINAL: 0})
    by_status.update(s.status for s in studies)
    tasks = db.scalars(
        select(ReadTask)
        .join(ProjectStudy)
        .where(ProjectStudy.project_id == project.id, ReadTask.status != REASSIGNED)
    ).all()
    submitted_reads = Counter(
        t.project_study_id for t in tasks if t.kind == READ and t.status == SUBMITTED
    )
    compared = [s for s in studies if submitted_reads[s.id] >= 2]
    kinds = Counter(kind for s in compared for kind in {d["kind"] for d in (s.discordances or [])})
    rates = {
        k: kinds[k] / len(compared) if compared else 0.0 for k in ("birads", "density", "finding")
    }
    arbitrated = {t.project_study_id for t in tasks if t.kind == ARBITRATE}
    awaiting = sum(1 for s in studies if s.status == ARBITRATION and s.id not in arbitrated)
    return Progress(dict(by_status), _reader_rows(tasks), len(compared), rates, awaiting)


def _reader_rows(tasks: Sequence[ReadTask]) -> list[ReaderProgress]:
    rows = []
    for user in sorted({t.user for t in tasks}, key=lambda u: u.username):
        mine = [t for t in tasks if t.user_id == user.id]
        done = [t for t in mine if t.status == SUBMITTED]
        times = sorted(t.active_seconds for t in done if t.kind == READ)
        median = times[len(times) // 2] if times else None
        rows.append(
            ReaderProgress(
                user=user,
                reads_done=sum(t.kind == READ for t in done),
                arbitrations_done=sum(t.kind == ARBITRATE for t in done),
                open_tasks=sum(t.status in OPEN_TASK for t in mine),
                median_active_seconds=median,
            )
        )
    return rows


def can_view_study(db: Session, user: User, study: Study) -> bool:
    """Readers see the images of studies they have (or had) a task on."""
    statement = (
        select(ReadTask.id)
        .join(ProjectStudy)
        .where(
            ReadTask.user_id == user.id,
            ReadTask.status != REASSIGNED,
            ProjectStudy.study_pk == study.id,
        )
        .limit(1)
    )
    return db.scalar(statement) is not None
