"""A woman's earlier exams beside the one being read (a project with ``show_priors``): found by
her patient key and the shifted study dates (intervals are exact), offered as images only,
never with a label and never part of the read. A reader may see a prior's images while she
has a task on a later exam of the same woman in such a project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from app.auth.models import User
from app.imaging.longitudinal import months_between
from app.imaging.models import Image, Study
from app.reading.models import ProjectStudy, ReadingProject, ReadTask
from app.reading.states import TaskStatus

MAX_PRIORS = 3


def shows_priors(project_rules: dict[str, Any] | None) -> bool:
    return bool((project_rules or {}).get("show_priors"))


def priors_of(db: Session, study: Study, limit: int = MAX_PRIORS) -> list[tuple[Study, int]]:
    """The woman's exams before ``study`` that have images, most recent first, each with the
    whole months between it and ``study``."""
    if not study.patient_key or study.study_date is None:
        return []
    has_images = select(Image.id).where(Image.study_pk == Study.id).exists()
    statement = (
        select(Study)
        .where(
            Study.patient_key == study.patient_key,
            Study.study_date < study.study_date,
            Study.id != study.id,
            has_images,
        )
        .order_by(Study.study_date.desc(), Study.id.desc())
        .limit(limit)
    )
    return [
        (prior, months_between(prior.study_date, study.study_date))  # type: ignore[arg-type]
        for prior in db.scalars(statement)
    ]


def can_view_prior(db: Session, user: User, study: Study) -> bool:
    """Whether ``study`` is a prior of an exam the user has (or had) a task on in a project
    that shows priors."""
    if not study.patient_key or study.study_date is None:
        return False
    current = aliased(Study)
    statement = (
        select(ReadingProject.rules)
        .select_from(ReadTask)
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .join(ReadingProject, ProjectStudy.project_id == ReadingProject.id)
        .join(current, current.id == ProjectStudy.study_pk)
        .where(
            ReadTask.user_id == user.id,
            ReadTask.status != TaskStatus.REASSIGNED,
            current.patient_key == study.patient_key,
            current.study_date > study.study_date,
        )
    )
    return any(shows_priors(found) for found in db.scalars(statement))
