"""The AI's help in an aided session: what the reading screen shows a reader next to a case
(the shown model's malignancy score per breast and its marks, boxes in the original pixel
grid with their scores), recorded the first time it is shown (append-only ``AidShown``); and
the check that the marks an aided read says it accepted are marks it was shown."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import Conflict, field_error
from app.reading import service as reading_service
from app.reading.models import ReadTask
from app.reading.states import TaskStatus
from app.studies.models import AiBox, AiBreastScore, AidShown, AiModel


class AidMark(BaseModel):
    """One of the model's marks: a box on one image, original pixel grid."""

    id: int = Field(description="The mark's id, given back in a submit's aid.accepted.")
    image_id: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    categories: list[str]
    birads: int | None
    score: float = Field(description="The model's confidence in the mark, 0-1.")


class AidOut(BaseModel):
    task_id: int
    model: str | None = Field(description="The model shown, as a reader: AI: <name>.")
    breast_scores: dict[str, float] = Field(
        description="The model's malignancy score (0-1) per breast, R and L, where it gave one."
    )
    marks: list[AidMark]
    note: str | None = Field(default=None, description="Why nothing is shown, when so.")


def _aided_task(db: Session, user: User, task_id: int) -> ReadTask:
    task = reading_service.own_task(db, user, task_id)
    if task.session is None or not task.session.aided:
        raise Conflict(
            "This reading is not in an aided session: no model's help is shown with it.",
            code="not_aided",
        )
    return task


def shown_model(db: Session, project_id: int) -> AiModel | None:
    return db.scalar(
        select(AiModel).where(AiModel.project_id == project_id, AiModel.shown_to_readers)
    )


def aid_for_task(db: Session, user: User, task_id: int) -> AidOut:
    """The help shown with the reader's own task in an aided session (409 ``not_aided``
    otherwise); recorded once per task and model while the task is open."""
    task = _aided_task(db, user, task_id)
    model = shown_model(db, task.project_study.project_id)
    if model is None:
        return AidOut(
            task_id=task.id,
            model=None,
            breast_scores={},
            marks=[],
            note="No model's help is set to be shown in this project yet.",
        )
    boxes = db.scalars(
        select(AiBox)
        .where(AiBox.model_id == model.id, AiBox.project_study_id == task.project_study_id)
        .order_by(AiBox.score.desc(), AiBox.id)
    ).all()
    scores = dict(
        db.execute(
            select(AiBreastScore.laterality, AiBreastScore.score).where(
                AiBreastScore.model_id == model.id,
                AiBreastScore.project_study_id == task.project_study_id,
            )
        ).all()
    )
    already = db.scalar(
        select(AidShown.id).where(AidShown.task_id == task.id, AidShown.model_id == model.id)
    )
    if already is None and task.status != TaskStatus.SUBMITTED:
        db.add(
            AidShown(
                task_id=task.id,
                model_id=model.id,
                box_ids=[box.id for box in boxes],
                breast_scores=scores,
            )
        )
        db.commit()
    return AidOut(
        task_id=task.id,
        model=model.reader_name,
        breast_scores=scores,
        marks=[
            AidMark(
                id=box.id,
                image_id=box.image_id,
                xmin=box.xmin,
                ymin=box.ymin,
                xmax=box.xmax,
                ymax=box.ymax,
                categories=list(box.categories),
                birads=box.birads,
                score=box.score,
            )
            for box in boxes
        ],
        note=None if boxes or scores else f"{model.reader_name} gives nothing for this case.",
    )


def check_accepted(db: Session, task: ReadTask, accepted: list[int]) -> None:
    """An aided read may only say it took marks it was shown with this case (422 on ``aid``)."""
    shown: set[int] = set()
    for box_ids in db.scalars(select(AidShown.box_ids).where(AidShown.task_id == task.id)):
        shown.update(box_ids)
    unknown = sorted(set(accepted) - shown)
    if unknown:
        raise field_error(
            "aid",
            f"Mark(s) {', '.join(map(str, unknown[:10]))} were not shown with this case; an "
            "aided read accepts only marks the screen showed it.",
        )


reading_service.register_aid_check(check_accepted)
