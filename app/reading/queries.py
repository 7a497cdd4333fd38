"""What the project pages show beside the project's progress: its newest studies with their
tasks, the studies that could still be added, and its studies with open QC flags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.imaging.models import QcFlag, Study
from app.reading.models import ProjectStudy, ReadingProject, ReadTask

RECENT_STUDIES = 200
CANDIDATES = 100


def recent_studies(
    db: Session, project: ReadingProject, limit: int = RECENT_STUDIES
) -> list[ProjectStudy]:
    """The project's newest studies, newest first."""
    statement = (
        select(ProjectStudy)
        .where(ProjectStudy.project_id == project.id)
        .order_by(ProjectStudy.id.desc())
        .limit(limit)
    )
    return list(db.scalars(statement))


def tasks_by_study(db: Session, studies: Sequence[ProjectStudy]) -> dict[int, list[ReadTask]]:
    """The tasks of these project studies, oldest first, by project study id."""
    statement = (
        select(ReadTask)
        .where(ReadTask.project_study_id.in_([s.id for s in studies]))
        .order_by(ReadTask.id)
    )
    by_study: dict[int, list[ReadTask]] = {}
    for task in db.scalars(statement):
        by_study.setdefault(task.project_study_id, []).append(task)
    return by_study


def candidate_studies(db: Session, project: ReadingProject, limit: int = CANDIDATES) -> list[Study]:
    """The newest studies not yet in the project, to pick from."""
    taken = select(ProjectStudy.study_pk).where(ProjectStudy.project_id == project.id)
    statement = select(Study).where(Study.id.not_in(taken)).order_by(Study.id.desc()).limit(limit)
    return list(db.scalars(statement))


def open_flag_studies(db: Session, project: ReadingProject) -> list[tuple[str, int]]:
    """Per QC kind, how many of the project's studies (any status) have an open flag."""
    statement = (
        select(QcFlag.kind, func.count(distinct(QcFlag.study_pk)))
        .join(ProjectStudy, ProjectStudy.study_pk == QcFlag.study_pk)
        .where(ProjectStudy.project_id == project.id, QcFlag.cleared_at.is_(None))
        .group_by(QcFlag.kind)
    )
    return [(kind, int(count)) for kind, count in db.execute(statement).all()]
