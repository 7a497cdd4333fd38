"""The AI as a reader: a model's predictions for a reading project's studies, imported from
CSV files (all or nothing, every problem named by its file and line) and listed per model."""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.database import utcnow
from app.core.errors import Conflict, Invalid, field_error
from app.reading.models import ProjectStudy, ReadingProject
from app.studies.models import AiBox, AiBreastScore, AiModel
from app.studies.predictions_table import (
    BOXES_FILE,
    MAX_PREDICTIONS_BYTES,
    PredictionProblem,
    PredictionsTableInvalid,
    check_predictions,
    decode_predictions,
    problem_details,
    problem_summary,
)
from app.studies.project_rows import check_against_project, short

CODE = "invalid_predictions"
MAX_NAME_LENGTH = 80


class PredictionsSummary(BaseModel):
    """What an import stored."""

    project_id: int
    model_id: int
    name: str
    reader_name: str = Field(description="How the model appears among readers: AI: <name>.")
    shown_to_readers: bool
    studies: int = Field(description="Studies the scores file gives.")
    breasts_scored: int
    boxes: int
    studies_without_prediction: int = Field(
        description="The project's studies the scores file does not give."
    )


class ModelRow(BaseModel):
    id: int
    name: str
    description: str
    reader_name: str
    shown_to_readers: bool
    imported_at: dt.datetime
    breasts_scored: int
    boxes: int
    studies_without_prediction: int


class ModelListing(BaseModel):
    project_id: int
    studies: int = Field(description="The project's studies.")
    models: list[ModelRow]


def read_predictions_upload(stream: BinaryIO, file: str) -> str:
    """An uploaded file's text, read no further than :data:`MAX_PREDICTIONS_BYTES`."""
    data = stream.read(MAX_PREDICTIONS_BYTES + 1)
    if len(data) > MAX_PREDICTIONS_BYTES:
        raise Invalid(
            f"The {file} file is over {MAX_PREDICTIONS_BYTES >> 20} MiB.",
            code=CODE,
            details=[
                {"file": file, "line": None, "field": None, "message": "The file is too large."}
            ],
        )
    try:
        return decode_predictions(data, file)
    except PredictionsTableInvalid as error:
        raise Invalid(str(error), code=CODE, details=error.details) from None


def _project_studies(db: Session, project: ReadingProject) -> int:
    return db.scalar(
        select(func.count()).select_from(ProjectStudy).where(ProjectStudy.project_id == project.id)
    )


def import_predictions(
    db: Session,
    actor: Actor,
    project: ReadingProject,
    name: str,
    description: str | None,
    scores_text: str,
    boxes_text: str | None,
    shown_to_readers: bool,
) -> PredictionsSummary:
    """Store a new model of the project, its breast scores and its boxes.

    Refused, with nothing written: a name that is empty or over 80 characters (422
    ``invalid_model``); a name another model of the project has (409 ``model_exists``: a
    model's predictions are imported once, and replacing them, by deleting and importing
    again, is not offered); ``shown_to_readers`` while another model of the project is shown
    (409 ``model_shown_already``, naming it); any problem of the files, or a study unknown or
    not in the project, a box on an image of another study or breast or beyond the image (one
    422 ``invalid_predictions`` listing all with their file and line). Project studies the
    scores file leaves out are allowed and counted in the summary."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise field_error(
            "name",
            f"The model's name must be 1 to {MAX_NAME_LENGTH} characters.",
            code="invalid_model",
        )
    if db.scalar(select(AiModel.id).where(AiModel.project_id == project.id, AiModel.name == name)):
        raise Conflict(
            f"The project has a model named {short(name)} already; its predictions are "
            "imported once (choose another name).",
            code="model_exists",
        )
    if shown_to_readers:
        shown = db.scalar(
            select(AiModel).where(AiModel.project_id == project.id, AiModel.shown_to_readers)
        )
        if shown is not None:
            raise Conflict(
                f"Model {short(shown.name)} is shown to the project's readers already; only "
                "one model is.",
                code="model_shown_already",
            )

    table = check_predictions(scores_text, boxes_text)
    problems = list(table.problems)
    checked = check_against_project(db, project, table.rows, table.boxes)
    in_project = checked.in_project
    problems += [
        PredictionProblem(row.file, row.line, field, text)
        for row, field, text in checked.row_problems
    ]
    problems += [
        PredictionProblem(BOXES_FILE, box.line, field, text)
        for box, field, text in checked.box_problems
    ]
    if problems:
        raise Invalid(problem_summary(problems), code=CODE, details=problem_details(problems))

    model = AiModel(
        project_id=project.id,
        name=name,
        description=(description or "").strip(),
        shown_to_readers=shown_to_readers,
        imported_at=utcnow(),
        imported_by=actor.user.id if actor.user is not None else None,
    )
    db.add(model)
    db.flush()
    for exam in table.exams:
        project_study_id = in_project[exam.study_id].id
        for laterality, score in (("L", exam.left), ("R", exam.right)):
            db.add(
                AiBreastScore(
                    model_id=model.id,
                    project_study_id=project_study_id,
                    laterality=laterality,
                    score=score,
                )
            )
    for box in table.boxes:
        db.add(
            AiBox(
                model_id=model.id,
                project_study_id=in_project[box.study_id].id,
                image_id=box.image_id,
                xmin=box.xmin,
                ymin=box.ymin,
                xmax=box.xmax,
                ymax=box.ymax,
                categories=list(box.categories),
                birads=box.birads,
                score=box.score,
            )
        )
    without = _project_studies(db, project) - len(table.exams)
    summary = PredictionsSummary(
        project_id=project.id,
        model_id=model.id,
        name=model.name,
        reader_name=model.reader_name,
        shown_to_readers=shown_to_readers,
        studies=len(table.exams),
        breasts_scored=2 * len(table.exams),
        boxes=len(table.boxes),
        studies_without_prediction=without,
    )
    record(
        db,
        actor,
        "predictions.imported",
        object_type="reading_project",
        object_id=project.id,
        model_id=model.id,
        model=model.name,
        shown_to_readers=shown_to_readers,
        studies=summary.studies,
        breasts_scored=summary.breasts_scored,
        boxes=summary.boxes,
        studies_without_prediction=without,
    )
    db.commit()
    return summary


def models_of(db: Session, project: ReadingProject) -> ModelListing:
    """The project's models, by name, with what each scored."""
    studies = _project_studies(db, project)
    models = list(
        db.scalars(select(AiModel).where(AiModel.project_id == project.id).order_by(AiModel.name))
    )
    ids = [model.id for model in models]
    scored = dict(
        db.execute(
            select(AiBreastScore.model_id, func.count())
            .where(AiBreastScore.model_id.in_(ids))
            .group_by(AiBreastScore.model_id)
        ).all()
    )
    scored_studies = dict(
        db.execute(
            select(
                AiBreastScore.model_id, func.count(func.distinct(AiBreastScore.project_study_id))
            )
            .where(AiBreastScore.model_id.in_(ids))
            .group_by(AiBreastScore.model_id)
        ).all()
    )
    boxes = dict(
        db.execute(
            select(AiBox.model_id, func.count())
            .where(AiBox.model_id.in_(ids))
            .group_by(AiBox.model_id)
        ).all()
    )
    return ModelListing(
        project_id=project.id,
        studies=studies,
        models=[
            ModelRow(
                id=model.id,
                name=model.name,
                description=model.description,
                reader_name=model.reader_name,
                shown_to_readers=model.shown_to_readers,
                imported_at=model.imported_at,
                breasts_scored=scored.get(model.id, 0),
                boxes=boxes.get(model.id, 0),
                studies_without_prediction=studies - scored_studies.get(model.id, 0),
            )
            for model in models
        ],
    )
