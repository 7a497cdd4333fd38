"""A reader's own tasks: which they are, opening one, its active time, and what a reader may
see (blinding: a reader reaches only their own tasks and the studies they are on)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound
from app.imaging.models import Study
from app.reading import rules
from app.reading.models import ProjectStudy, ReadingSession, ReadTask
from app.reading.service.reader_study import washout_waits
from app.reading.states import TaskStatus


def my_tasks(db: Session, user: User, project_id: int | None = None) -> list[ReadTask]:
    """The user's own tasks (never anyone else's), in one project when ``project_id`` is set."""
    statement = select(ReadTask).where(
        ReadTask.user_id == user.id, ReadTask.status != TaskStatus.REASSIGNED
    )
    if project_id is not None:
        statement = statement.join(ProjectStudy).where(ProjectStudy.project_id == project_id)
    return list(db.scalars(statement.order_by(ReadTask.id)))


NEXT_BATCH = 200


def next_task(db: Session, user: User, project_id: int | None = None) -> ReadTask | None:
    """Resume the task in progress, else the first pending one: in a reader study the first
    in the reader's shuffled order, session 1 before session 2, skipping a second-session
    reading still in its washout."""
    statement = (
        select(ReadTask)
        .outerjoin(ReadingSession, ReadTask.session_id == ReadingSession.id)
        .where(ReadTask.user_id == user.id, ReadTask.status.in_(TaskStatus.open()))
    )
    if project_id is not None:
        statement = statement.join(ProjectStudy).where(ProjectStudy.project_id == project_id)
    order = (
        ReadTask.status != TaskStatus.IN_PROGRESS,
        func.coalesce(ReadingSession.number, 0),
        func.coalesce(ReadTask.position, 0),
        ReadTask.id,
    )
    offset = 0
    while True:
        batch = list(db.scalars(statement.order_by(*order).limit(NEXT_BATCH).offset(offset)))
        waits = washout_waits(db, batch)
        for task in batch:
            wait = waits.get(task.id)
            if wait is None or wait.ready:
                return task
        if len(batch) < NEXT_BATCH:
            return None
        offset += NEXT_BATCH


def own_task(db: Session, user: User, task_id: int) -> ReadTask:
    """The user's own task; anybody else's is answered exactly like a missing one (blinding)."""
    task = db.get(ReadTask, task_id, populate_existing=True)
    if task is None or task.user_id != user.id:
        raise NotFound(f"You have no task {task_id}.")
    if task.status == TaskStatus.REASSIGNED:
        raise Conflict(
            "This case was reassigned to another reader; your draft is kept in its history.",
            code="reassigned",
        )
    return task


def touch(task: ReadTask) -> None:
    """Count the time since the task's last activity (up to the idle limit) as active."""
    now = utcnow()
    if task.started_at is None:
        task.started_at = now
    previous = task.last_activity_at.timestamp() if task.last_activity_at else None
    idle = task.project_study.project.idle_limit_seconds
    task.active_seconds = rules.add_activity(task.active_seconds, previous, now.timestamp(), idle)
    task.last_activity_at = now
    if task.status == TaskStatus.PENDING:
        task.status = TaskStatus.IN_PROGRESS


def open_task(db: Session, user: User, task_id: int) -> ReadTask:
    task = own_task(db, user, task_id)
    if task.status == TaskStatus.PENDING:
        touch(task)
        db.commit()
    return task


def record_activity(db: Session, user: User, task_id: int) -> ReadTask:
    task = own_task(db, user, task_id)
    if task.status in TaskStatus.open():
        touch(task)
        db.commit()
    return task


def can_view_study(db: Session, user: User, study: Study) -> bool:
    """Readers see the images of studies they have (or had) a task on."""
    statement = (
        select(ReadTask.id)
        .join(ProjectStudy)
        .where(
            ReadTask.user_id == user.id,
            ReadTask.status != TaskStatus.REASSIGNED,
            ProjectStudy.study_pk == study.id,
        )
        .limit(1)
    )
    return db.scalar(statement) is not None
