"""A project as a dataset: studies that arrive from a released dataset with their labels (final
at once, or as a first read waiting for its second), and the split each study keeps from one
export to the next. The caller (the release import, an export) decides what; reading writes
its own rows here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import User
from app.imaging.models import Study
from app.reading import rules
from app.reading.models import (
    ProjectStudy,
    ReadingProject,
    ReadSubmission,
    ReadTask,
)
from app.reading.service.workflow import finalise, log_submission
from app.reading.states import FinalSource, StudyStatus, TaskKind, TaskStatus


@dataclass(frozen=True)
class ReleasedStudy:
    """A stored study as a release gives it: its split and its images' row order."""

    study_pk: int
    split: str | None
    image_order: list[str]


def add_released_study(
    db: Session,
    project: ReadingProject,
    released: ReleasedStudy,
    *,
    final_label: rules.Label | None = None,
    at: datetime | None = None,
    admission_override: str | None = None,
) -> ProjectStudy:
    """The study, added to the session's transaction (the caller commits): final with
    ``final_label`` (source imported, at ``at``) when one is given, else unassigned until
    :func:`record_imported_read` or an assignment gives it reads. The caller has checked its
    admission (``projects.refuse_incomplete``); ``admission_override``: the reason it was
    admitted although not complete (None: it is complete)."""
    project_study = ProjectStudy(
        project_id=project.id,
        study_pk=released.study_pk,
        split=released.split,
        image_order=list(released.image_order),
        admission_override=admission_override,
    )
    if final_label is not None:
        finalise(project_study, final_label, FinalSource.IMPORTED, at)
    db.add(project_study)
    return project_study


def record_imported_read(
    db: Session, project_study: ProjectStudy, reader: User, label: rules.Label, at: datetime
) -> ReadSubmission:
    """``reader``'s submitted read 1 of the study, as released, added to the session's
    transaction (the caller commits). The study is then reading: the project's next balanced
    assignment gives it its second reader."""
    project_study.status = StudyStatus.READING
    db.flush()
    task = ReadTask(
        project_study_id=project_study.id,
        user_id=reader.id,
        kind=TaskKind.READ,
        slot=1,
        status=TaskStatus.SUBMITTED,
        draft=label.to_json(),
        version=1,
        submitted_at=at,
        active_seconds=0.0,
    )
    db.add(task)
    db.flush()
    return log_submission(db, task, label, [])


def keep_splits(
    db: Session,
    project: ReadingProject,
    splits: Mapping[str, str],
    statuses: Sequence[str] | None = (StudyStatus.FINAL,),
) -> int:
    """Store the split (``splits``: study id -> split) of the project's studies with these
    statuses (None: all) that have none yet, so that a study never moves between training and
    test from one export (dataset version) to the next. Commits; returns how many."""
    missing = (
        select(ProjectStudy.id, Study.study_id)
        .join(Study)
        .where(ProjectStudy.project_id == project.id, ProjectStudy.split.is_(None))
    )
    if statuses is not None:
        missing = missing.where(ProjectStudy.status.in_(statuses))
    rows = db.execute(missing).all()
    for project_study_id, study_id in rows:
        db.execute(
            update(ProjectStudy)
            .where(ProjectStudy.id == project_study_id, ProjectStudy.split.is_(None))
            .values(split=splits[study_id])
        )
    db.commit()
    return len(rows)
