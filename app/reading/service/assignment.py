"""Who reads what: two readers per study (balanced or an explicit pair), a second reader for a
study that came with its first read, an arbiter for a discordant study, reassigning an open
task, and the project's task listing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.database import newest_first_page
from app.core.errors import Conflict, NotFound, field_error
from app.imaging.models import Study
from app.reading.models import (
    ProjectStudy,
    ReadingProject,
    ReadTask,
)
from app.reading.service.projects import (
    get_project_study,
    members,
    set_pool,
)
from app.reading.service.reader_study import assign_reader_study, is_reader_study
from app.reading.states import Pool, StudyStatus, TaskKind, TaskStatus


def _load(db: Session, project: ReadingProject) -> Counter[int]:
    """Open and done reading work per user in this project, for balancing."""
    rows = db.execute(
        select(ReadTask.user_id, func.count())
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id, ReadTask.status != TaskStatus.REASSIGNED)
        .group_by(ReadTask.user_id)
    )
    return Counter({user_id: count for user_id, count in rows.all()})  # noqa: C416 - Row objects


def _people_on(db: Session, project_study: ProjectStudy) -> set[int]:
    statement = select(ReadTask.user_id).where(
        ReadTask.project_study_id == project_study.id, ReadTask.status != TaskStatus.REASSIGNED
    )
    return set(db.scalars(statement))


def _least_loaded(candidates: Iterable[int], load: Counter[int], exclude: set[int]) -> int | None:
    eligible = sorted((load[u], u) for u in candidates if u not in exclude)
    return eligible[0][1] if eligible else None


def assign_balanced(db: Session, actor: Actor, project: ReadingProject) -> int:
    """Give every unassigned study two different readers, and a study that came with a first
    read (an imported release) its second one; the least loaded first. A reader study's
    studies get every reading its design asks for instead (:func:`assign_reader_study`)."""
    if is_reader_study(project):
        return assign_reader_study(db, actor, project)
    pool = [u.id for u in members(db, project, Pool.READERS)]
    if len(pool) < 2:
        raise field_error(Pool.READERS, "Put at least two readers in the project's reader pool.")
    load = _load(db, project)
    waiting = db.scalars(
        select(ProjectStudy)
        .where(ProjectStudy.project_id == project.id, ProjectStudy.status == StudyStatus.UNASSIGNED)
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
                ReadTask(
                    project_study_id=project_study.id,
                    user_id=user_id,
                    kind=TaskKind.READ,
                    slot=slot,
                )
            )
        project_study.status = StudyStatus.READING
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
    live = (ReadTask.kind == TaskKind.READ) & (ReadTask.status != TaskStatus.REASSIGNED)
    half_read = db.execute(
        select(ReadTask.project_study_id, func.min(ReadTask.user_id))
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(
            ProjectStudy.project_id == project.id, ProjectStudy.status == StudyStatus.READING, live
        )
        .group_by(ReadTask.project_study_id)
        .having(func.count() == 1)
        .order_by(ReadTask.project_study_id)
    ).all()
    for project_study_id, first_reader in half_read:
        user_id = _least_loaded(pool, load, {first_reader})
        assert user_id is not None
        load[user_id] += 1
        db.add(
            ReadTask(project_study_id=project_study_id, user_id=user_id, kind=TaskKind.READ, slot=2)
        )
    return len(half_read)


def assign_pair(
    db: Session, actor: Actor, project: ReadingProject, study_id: str, reader_ids: Sequence[int]
) -> ProjectStudy:
    """Explicit pair for one unassigned study (double reading only)."""
    if is_reader_study(project):
        raise Conflict(
            "A reader study's readers follow its design (every reader of the study's block); "
            "assign without pairs.",
            code="reader_study",
        )
    project_study = get_project_study(db, project, study_id)
    if project_study.status != StudyStatus.UNASSIGNED:
        raise Conflict(
            "This study is assigned already; reassign its reads instead.", code="already_assigned"
        )
    if len(set(reader_ids)) != 2:
        raise field_error("readers", "Give two different readers.")
    pool = {u.id for u in members(db, project, Pool.READERS)}
    if not set(reader_ids) <= pool:
        raise field_error("readers", "Both readers must be in the project's reader pool.")
    for slot, user_id in enumerate(reader_ids, start=1):
        db.add(
            ReadTask(
                project_study_id=project_study.id, user_id=user_id, kind=TaskKind.READ, slot=slot
            )
        )
    project_study.status = StudyStatus.READING
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


def reassign(
    db: Session, actor: Actor, task_id: int, user_id: int, *, project_id: int | None = None
) -> ReadTask:
    """Hand an unsubmitted task to someone else; the old task (and its draft) stays as history."""
    task = db.get(ReadTask, task_id)
    if task is None or project_id not in (None, task.project_study.project_id):
        raise NotFound(f"There is no task {task_id}" + (" in this project." if project_id else "."))
    if task.status not in TaskStatus.open():
        raise Conflict("Only a task not yet submitted can be reassigned.", code="not_open")
    project = task.project_study.project
    if is_reader_study(project):
        raise Conflict(
            "A reader study's readings stay with their readers: every reader reads every case "
            "of their block, so another reader would read this case twice or break the design.",
            code="reader_study",
        )
    pool = Pool.READERS if task.kind == TaskKind.READ else Pool.ARBITERS
    if user_id not in {u.id for u in members(db, project, pool)}:
        raise field_error("user_id", f"The new person must be in the project's {pool} pool.")
    if user_id in _people_on(db, task.project_study):
        raise field_error("user_id", "That person already reads or arbitrates this study.")
    task.status = TaskStatus.REASSIGNED
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


def assign_arbiter(db: Session, actor: Actor, project_study: ProjectStudy) -> ReadTask | None:
    """The least loaded arbiter not on the study yet; None (logged) when there is none."""
    pool = [u.id for u in members(db, project_study.project, Pool.ARBITERS)]
    busy = set(
        db.scalars(
            select(ReadTask.user_id).where(
                ReadTask.project_study_id == project_study.id,
                (ReadTask.kind == TaskKind.READ) | ReadTask.status.in_(TaskStatus.open()),
                ReadTask.status != TaskStatus.REASSIGNED,
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
    task = ReadTask(
        project_study_id=project_study.id, user_id=arbiter, kind=TaskKind.ARBITRATE, slot=0
    )
    db.add(task)
    return task


def assign_waiting_arbitrations(db: Session, actor: Actor, project: ReadingProject) -> int:
    """Studies in arbitration with nobody on it (the arbiter pool was empty) get one now."""
    waiting = db.scalars(
        select(ProjectStudy).where(
            ProjectStudy.project_id == project.id, ProjectStudy.status == StudyStatus.ARBITRATION
        )
    ).all()
    count = 0
    for project_study in waiting:
        has_open = db.scalar(
            select(ReadTask.id).where(
                ReadTask.project_study_id == project_study.id,
                ReadTask.kind == TaskKind.ARBITRATE,
                ReadTask.status != TaskStatus.REASSIGNED,
            )
        )
        if has_open is None and assign_arbiter(db, actor, project_study) is not None:
            db.flush()
            count += 1
    db.commit()
    return count


def set_pools(
    db: Session,
    actor: Actor,
    project: ReadingProject,
    readers: Iterable[int] | None = None,
    arbiters: Iterable[int] | None = None,
) -> None:
    """Replace the reader and/or the arbiter pool (None keeps it, the API's partial update);
    studies waiting for an arbiter get one from a new arbiter pool."""
    if readers is not None:
        set_pool(db, actor, project, Pool.READERS, readers)
    if arbiters is not None:
        set_pool(db, actor, project, Pool.ARBITERS, arbiters)
        assign_waiting_arbitrations(db, actor, project)


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
