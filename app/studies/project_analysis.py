"""The MRMC analysis of a reading project's own reads: the submitted readings as a ratings
table (one case per breast), against the reference standard or, when the admin chose it, the
project's consensus labels (said in the answer), analysed as an uploaded table is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import Conflict
from app.imaging.models import Study
from app.reading.models import ProjectStudy, ReadingProject, ReadingSession, ReadSubmission
from app.reading.rules import ProjectRules
from app.reading.states import StudyStatus, TaskKind, TruthBasis
from app.stats.mrmc.results import plain
from app.stats.ratings import RatingsInvalid, study_from_rows
from app.studies.analysis import Covariance, RatingsAnalysis, analyse
from app.studies.models import ReferenceTruth
from app.studies.project_ratings import (
    DroppedCase,
    RatingKind,
    ReadRecord,
    case_of,
    consensus_truths,
    ratings_table,
)
from app.studies.ratings_export import imrmc_text, mrmcaov_csv
from app.studies.states import Truth

DEFAULT_SESSION = "Reading"
BASIS_NOTES = {
    TruthBasis.REFERENCE: "Against the reference standard (pathology, follow-up or consensus "
    "panel, as imported).",
    TruthBasis.CONSENSUS: "Against the project's consensus labels (chosen by an admin): "
    "BI-RADS 4-6 counted as diseased. The readers' own reads made these labels, so the "
    "figures are not independent of them.",
}


@dataclass(frozen=True)
class ProjectAnalysis:
    """A project's analysis: what it is computed against, from which rating, the cases left
    out (and why), and the full MRMC analysis of the rest."""

    project_id: int
    truth_basis: TruthBasis
    truth_note: str
    rating: RatingKind
    cases_used: int
    dropped: list[DroppedCase]
    analysis: RatingsAnalysis

    def to_dict(self) -> dict:
        return plain(self)


def submitted_reads(
    db: Session, project: ReadingProject
) -> Sequence[Row[tuple[ReadSubmission, str, str, str | None]]]:
    """Every submitted reading (not arbitrations) of the project, oldest first: the logged
    submission, its reader's username, its study id and its session's name (None in
    double reading)."""
    statement = (
        select(ReadSubmission, User.username, Study.study_id, ReadingSession.name)
        .join(User, ReadSubmission.user_id == User.id)
        .join(ProjectStudy, ReadSubmission.project_study_id == ProjectStudy.id)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .outerjoin(ReadingSession, ReadSubmission.session_id == ReadingSession.id)
        .where(ProjectStudy.project_id == project.id, ReadSubmission.kind == TaskKind.READ)
        .order_by(ReadSubmission.id)
    )
    return db.execute(statement).all()


def project_reads(db: Session, project: ReadingProject) -> list[ReadRecord]:
    """Every submitted reading as the ratings table wants it."""
    return [
        ReadRecord(
            reader=username,
            session=session or DEFAULT_SESSION,
            study_id=study_id,
            label=None if submission.exclusion else submission.label,
            exclusion=submission.exclusion,
        )
        for submission, username, study_id, session in submitted_reads(db, project)
    ]


def project_truths(db: Session, project: ReadingProject) -> dict[str, bool]:
    """Each breast's truth (diseased or not) on the project's chosen basis."""
    if project.truth_basis is TruthBasis.CONSENSUS:
        finals = db.execute(
            select(Study.study_id, ProjectStudy.final_label)
            .join(Study, ProjectStudy.study_pk == Study.id)
            .where(ProjectStudy.project_id == project.id, ProjectStudy.status == StudyStatus.FINAL)
        ).all()
        return consensus_truths({study_id: label or {} for study_id, label in finals})
    rows = db.execute(
        select(Study.study_id, ReferenceTruth.laterality, ReferenceTruth.truth)
        .join(ProjectStudy, ReferenceTruth.project_study_id == ProjectStudy.id)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ReferenceTruth.project_id == project.id)
    ).all()
    return {case_of(study_id, lat): truth == Truth.MALIGNANT for study_id, lat, truth in rows}


def analyse_project(
    db: Session,
    project: ReadingProject,
    *,
    covariance: Covariance = "jackknife",
    alpha: float = 0.05,
) -> ProjectAnalysis:
    """The analysis of the project's reads; 409 ``not_analysable`` naming what is missing
    (no reads, no truth, too few diseased or non-diseased breasts rated by everyone)."""
    protocol = ProjectRules.from_json(project.rules)
    kind: RatingKind = "probability" if protocol.probability_rating else "ordinal_birads"
    table = ratings_table(project_reads(db, project), project_truths(db, project), kind)
    try:
        study = study_from_rows(table.rows)
    except RatingsInvalid as error:
        details = [{"field": "reads", "message": d["message"]} for d in (error.details or [])][:20]
        if not table.rows:
            details.insert(0, {"field": "reads", "message": _why_empty(table.dropped)})
        raise Conflict(
            "This project cannot be analysed yet: the analysis needs every reader's rating of "
            "at least 2 diseased and 2 non-diseased breasts with a truth.",
            code="not_analysable",
            details=details,
        ) from None
    return ProjectAnalysis(
        project_id=project.id,
        truth_basis=project.truth_basis,
        truth_note=BASIS_NOTES[project.truth_basis],
        rating=kind,
        cases_used=len(study.cases),
        dropped=table.dropped,
        analysis=analyse(study, covariance=covariance, alpha=alpha),
    )


@dataclass(frozen=True)
class RatingsFile:
    content: str
    media_type: str
    file_name: str


def ratings_file(
    db: Session, project: ReadingProject, layout: Literal["mrmcaov", "imrmc"]
) -> RatingsFile:
    """The project's ratings table as a file for another MRMC tool (every breast rated by
    every reader in every session, with a truth); its name and (iMRMC) header say what the
    truth is."""
    protocol = ProjectRules.from_json(project.rules)
    kind: RatingKind = "probability" if protocol.probability_rating else "ordinal_birads"
    table = ratings_table(project_reads(db, project), project_truths(db, project), kind)
    stem = f"project-{project.id}-{project.truth_basis.value}-truth"
    if layout == "imrmc":
        description = [
            f"MammoRead project {project.id}: {project.name}",
            f"Rating: {kind}. {BASIS_NOTES[project.truth_basis]}",
            f"Breasts left out: {len(table.dropped)}.",
        ]
        return RatingsFile(imrmc_text(table.rows, description), "text/plain", f"{stem}.imrmc")
    return RatingsFile(mrmcaov_csv(table.rows), "text/csv", f"{stem}.csv")


def _why_empty(dropped: list[DroppedCase]) -> str:
    if not dropped:
        return "No reading of this project is submitted yet."
    return f"All {len(dropped)} breasts read are left out; the first: {dropped[0].case} " + (
        f"({'; '.join(dropped[0].reasons)})."
    )
