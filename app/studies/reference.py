"""A reader study's reference standard: imported per breast from a CSV (all or nothing, every
problem named by its line), listed with a summary of what is known and what is missing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import BinaryIO

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.database import utcnow
from app.core.errors import Invalid
from app.imaging.models import Study
from app.reading.models import ProjectStudy, ReadingProject
from app.studies.models import ReferenceTruth
from app.studies.project_rows import check_against_project
from app.studies.reference_table import (
    MAX_REFERENCE_BYTES,
    ReferenceProblem,
    ReferenceTableInvalid,
    check_reference,
    decode_reference,
    problem_details,
    problem_summary,
)
from app.studies.states import Truth, TruthSource

CODE = "invalid_reference"


class TruthCounts(BaseModel):
    """Breasts per truth."""

    malignant: int = 0
    benign: int = 0
    normal: int = 0


class SourceCounts(BaseModel):
    """Breasts per source of their truth."""

    pathology: int = 0
    follow_up: int = 0
    consensus: int = 0


class ImportSummary(BaseModel):
    """What an import stored."""

    project_id: int
    imported: int = Field(description="Breasts whose truth the file gave.")
    replaced: int = Field(description="Of those, breasts that had a truth before (replaced).")
    studies: int = Field(description="Studies the file names.")
    lesions: int = Field(description="Lesion boxes stored.")
    by_truth: TruthCounts
    by_source: SourceCounts


class LesionBox(BaseModel):
    image_id: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


class ReferenceRow(BaseModel):
    study_id: str
    laterality: str
    truth: Truth
    source: TruthSource
    follow_up_months: int | None
    date: dt.date | None
    lesions: list[LesionBox]


class Breast(BaseModel):
    study_id: str
    laterality: str


class ReferenceSummary(BaseModel):
    breasts: int = Field(description="The project's breasts (two per study).")
    with_truth: int
    by_truth: TruthCounts
    by_source: SourceCounts
    without_truth: list[Breast] = Field(description="The project's breasts without a truth.")


class ReferenceListing(BaseModel):
    project_id: int
    rows: list[ReferenceRow]
    summary: ReferenceSummary


def read_reference_upload(stream: BinaryIO) -> str:
    """An uploaded file's text, read no further than :data:`MAX_REFERENCE_BYTES`."""
    data = stream.read(MAX_REFERENCE_BYTES + 1)
    if len(data) > MAX_REFERENCE_BYTES:
        raise Invalid(
            f"The reference standard file is over {MAX_REFERENCE_BYTES >> 20} MiB.",
            code=CODE,
            details=[{"line": None, "field": "file", "message": "The file is too large."}],
        )
    try:
        return decode_reference(data)
    except ReferenceTableInvalid as error:
        raise Invalid(str(error), code=CODE, details=error.details) from None


def _invalid(problems: list[ReferenceProblem]) -> Invalid:
    return Invalid(problem_summary(problems), code=CODE, details=problem_details(problems))


def import_reference(
    db: Session, actor: Actor, project: ReadingProject, text: str
) -> ImportSummary:
    """Store the truths ``text`` gives, replacing those of the breasts it names (others are
    kept). Every problem, the file's own and those against the project (a study that is not
    in it or does not exist, a lesion on an image of another study or breast), is checked
    first: one 422 ``invalid_reference`` lists them all and nothing is written."""
    table = check_reference(text)
    problems = list(table.problems)
    boxes = [lesion for breast in table.breasts for lesion in breast.lesions]
    checked = check_against_project(db, project, table.rows, boxes)
    in_project = checked.in_project
    problems += [ReferenceProblem(r.line, field, text) for r, field, text in checked.row_problems]
    problems += [ReferenceProblem(x.line, field, text) for x, field, text in checked.box_problems]
    if problems:
        raise _invalid(problems)

    current = {
        (truth.project_study_id, truth.laterality): truth
        for truth in db.scalars(
            select(ReferenceTruth).where(ReferenceTruth.project_id == project.id)
        )
    }
    user_id = actor.user.id if actor.user is not None else None
    replaced = 0
    lesions = 0
    by_truth: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for breast in table.breasts:
        project_study = in_project[breast.study_id]
        truth = current.get((project_study.id, breast.laterality))
        if truth is None:
            truth = ReferenceTruth(
                project_id=project.id,
                project_study_id=project_study.id,
                laterality=breast.laterality,
            )
            db.add(truth)
        else:
            replaced += 1
        truth.truth = breast.truth
        truth.source = breast.source
        truth.follow_up_months = breast.follow_up_months
        truth.truth_date = breast.truth_date
        truth.lesions = [lesion.to_json() for lesion in breast.lesions] or None
        truth.imported_by = user_id
        truth.imported_at = utcnow()
        lesions += len(breast.lesions)
        by_truth[breast.truth.value] += 1
        by_source[breast.source.value] += 1
    summary = ImportSummary(
        project_id=project.id,
        imported=len(table.breasts),
        replaced=replaced,
        studies=len({breast.study_id for breast in table.breasts}),
        lesions=lesions,
        by_truth=TruthCounts(**by_truth),
        by_source=SourceCounts(**by_source),
    )
    record(
        db,
        actor,
        "reference.imported",
        object_type="reading_project",
        object_id=project.id,
        breasts=summary.imported,
        replaced=replaced,
        studies=summary.studies,
        lesions=lesions,
        by_truth=dict(by_truth),
        by_source=dict(by_source),
    )
    db.commit()
    return summary


def reference_of(db: Session, project: ReadingProject) -> list[ReferenceTruth]:
    """The project's truths, by study id and breast."""
    return list(
        db.scalars(
            select(ReferenceTruth)
            .join(ProjectStudy, ReferenceTruth.project_study_id == ProjectStudy.id)
            .join(Study, ProjectStudy.study_pk == Study.id)
            .where(ReferenceTruth.project_id == project.id)
            .order_by(Study.study_id, ReferenceTruth.laterality)
        )
    )


def reference_summary(
    db: Session, project: ReadingProject, truths: list[ReferenceTruth] | None = None
) -> ReferenceSummary:
    """Counts per truth and per source, and the project's breasts without a truth."""
    if truths is None:
        truths = reference_of(db, project)
    known = {(truth.project_study_id, truth.laterality) for truth in truths}
    studies = db.execute(
        select(ProjectStudy.id, Study.study_id)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project.id)
        .order_by(Study.study_id)
    ).all()
    without = [
        Breast(study_id=study_id, laterality=side)
        for project_study_id, study_id in studies
        for side in ("R", "L")
        if (project_study_id, side) not in known
    ]
    return ReferenceSummary(
        breasts=2 * len(studies),
        with_truth=len(truths),
        by_truth=TruthCounts(**Counter(truth.truth.value for truth in truths)),
        by_source=SourceCounts(**Counter(truth.source.value for truth in truths)),
        without_truth=without,
    )


def reference_listing(db: Session, project: ReadingProject) -> ReferenceListing:
    truths = reference_of(db, project)
    return ReferenceListing(
        project_id=project.id,
        rows=[
            ReferenceRow(
                study_id=truth.project_study.study.study_id,
                laterality=truth.laterality,
                truth=truth.truth,
                source=truth.source,
                follow_up_months=truth.follow_up_months,
                date=truth.truth_date,
                lesions=[LesionBox(**lesion) for lesion in truth.lesions or []],
            )
            for truth in truths
        ],
        summary=reference_summary(db, project, truths),
    )
