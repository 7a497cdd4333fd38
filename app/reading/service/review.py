"""An administrator's review of one study of a project: every submitted read and arbitration
with its reader, the tasks still open, the discordances, the final label and its reopen
history (what the study review page and its API show)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import NotFound
from app.reading.models import FinalLabelHistory, ProjectStudy, ReadSubmission, ReadTask
from app.reading.states import FinalSource, TaskKind, TaskStatus


@dataclass(frozen=True)
class ReviewedRead:
    """One submitted read (slot 1 or 2) or arbitration (slot 0), with who gave it."""

    task_id: int
    kind: TaskKind
    slot: int
    user: User
    label: dict[str, Any]
    warnings: list[dict[str, Any]]
    started_at: datetime | None
    submitted_at: datetime
    active_seconds: float


@dataclass(frozen=True)
class ReopenedLabel:
    """A final label the study had before an administrator reopened it."""

    label: dict[str, Any]
    source: FinalSource
    finalized_at: datetime
    reopened_at: datetime
    reopened_by: User | None
    reason: str


@dataclass(frozen=True)
class StudyReview:
    project_study: ProjectStudy
    reads: list[ReviewedRead]
    open_tasks: list[ReadTask]
    history: list[ReopenedLabel]


def study_review(db: Session, project_study: ProjectStudy) -> StudyReview:
    """Everything about one project study, for its administrators (never for readers)."""
    submissions = db.scalars(
        select(ReadSubmission)
        .where(ReadSubmission.project_study_id == project_study.id)
        .order_by(ReadSubmission.submitted_at, ReadSubmission.id)
    ).all()
    user_ids = {s.user_id for s in submissions}
    history_rows = db.scalars(
        select(FinalLabelHistory)
        .where(FinalLabelHistory.project_study_id == project_study.id)
        .order_by(FinalLabelHistory.id)
    ).all()
    user_ids |= {h.reopened_by for h in history_rows if h.reopened_by is not None}
    users = {u.id: u for u in db.scalars(select(User).where(User.id.in_(user_ids)))}
    reads = [
        ReviewedRead(
            task_id=s.task_id,
            kind=s.kind,
            slot=s.slot,
            user=users[s.user_id],
            label=s.label,
            warnings=list(s.warnings or []),
            started_at=s.started_at,
            submitted_at=s.submitted_at,
            active_seconds=s.active_seconds,
        )
        for s in submissions
    ]
    reads.sort(key=lambda r: (r.kind == TaskKind.ARBITRATE, r.submitted_at, r.slot))
    open_tasks = list(
        db.scalars(
            select(ReadTask)
            .where(
                ReadTask.project_study_id == project_study.id,
                ReadTask.status.in_(TaskStatus.open()),
            )
            .order_by(ReadTask.id)
        )
    )
    history = [
        ReopenedLabel(
            label=h.label,
            source=h.source,
            finalized_at=h.finalized_at,
            reopened_at=h.reopened_at,
            reopened_by=users.get(h.reopened_by) if h.reopened_by is not None else None,
            reason=h.reason,
        )
        for h in history_rows
    ]
    return StudyReview(project_study, reads, open_tasks, history)


def task_study(db: Session, task_id: int) -> ProjectStudy:
    """The project study a task (a read or an arbitration) belongs to."""
    task = db.get(ReadTask, task_id)
    if task is None:
        raise NotFound(f"There is no task {task_id}.")
    return task.project_study


def project_study_by_id(db: Session, project_study_id: int) -> ProjectStudy:
    found = db.get(ProjectStudy, project_study_id)
    if found is None:
        raise NotFound(f"There is no project study {project_study_id}.")
    return found
