"""The study review as both the page and the API give it (one builder behind both):
``GET /projects/{id}/studies/{study_id}`` and ``GET /api/v1/reading/projects/{id}/studies/...``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.auth.models import User
from app.imaging.service import flags_of
from app.imaging.views import image_out
from app.reading import service
from app.reading.models import ProjectStudy, ReadTask
from app.reading.schemas import (
    ProjectStudyOut,
    ProjectTaskOut,
    ReopenedLabelOut,
    ReviewReadOut,
    StudyReviewOut,
    TaskUserOut,
)


def user_out(user: User) -> TaskUserOut:
    return TaskUserOut(id=user.id, username=user.username, display_name=user.display_name)


def project_task_out(task: ReadTask) -> ProjectTaskOut:
    return ProjectTaskOut(
        id=task.id,
        study_id=task.project_study.study.study_id,
        user=user_out(task.user),
        kind=task.kind,
        slot=task.slot,
        status=task.status,
        assigned_at=task.assigned_at,
        started_at=task.started_at,
        submitted_at=task.submitted_at,
        active_seconds=round(task.active_seconds, 1),
    )


def project_study_out(found: ProjectStudy) -> ProjectStudyOut:
    return ProjectStudyOut(
        study_id=found.study.study_id,
        status=found.status,
        final_label=found.final_label,
        final_source=found.final_source,
        discordances=found.discordances,
        admission_override=found.admission_override,
    )


def study_review_out(db: Session, found: ProjectStudy) -> StudyReviewOut:
    review = service.study_review(db, found)
    flags = flags_of(db, found.study)
    return StudyReviewOut(
        **project_study_out(found).model_dump(),
        project_id=found.project_id,
        project_name=found.project.name,
        finalized_at=found.finalized_at,
        images=[image_out(image, flags) for image in found.study.images],
        reads=[
            ReviewReadOut(
                task_id=r.task_id,
                kind=r.kind,
                slot=r.slot,
                user=user_out(r.user),
                label=r.label,
                warnings=r.warnings,
                started_at=r.started_at,
                submitted_at=r.submitted_at,
                active_seconds=round(r.active_seconds, 1),
            )
            for r in review.reads
        ],
        open_tasks=[project_task_out(task) for task in review.open_tasks],
        history=[
            ReopenedLabelOut(
                label=h.label,
                source=h.source,
                finalized_at=h.finalized_at,
                reopened_at=h.reopened_at,
                reopened_by=user_out(h.reopened_by) if h.reopened_by else None,
                reason=h.reason,
            )
            for h in review.history
        ],
    )
