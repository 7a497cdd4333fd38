"""The MRMC analysis of a reading project's own reads: the submitted readings as a ratings
table (one case per breast), against the reference standard or, when the admin chose it, the
project's consensus labels (said in the answer), analysed as an uploaded table is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import Conflict
from app.imaging.models import Study
from app.reading.models import (
    ProjectStudy,
    ReadingProject,
    ReadingSession,
    ReadSubmission,
)
from app.reading.rules import ProjectRules
from app.reading.states import StudyStatus, TaskKind, TruthBasis
from app.stats.mrmc import ModelVsReaders, model_vs_readers
from app.stats.mrmc.results import ReaderFigure, plain
from app.stats.ratings import RatingsInvalid, ReaderStudy, study_from_rows
from app.stats.roc import roc_curve
from app.studies.analysis import Covariance, RatingsAnalysis, analyse
from app.studies.jafroc_export import jafroc_workbook
from app.studies.models import AiBreastScore, AiModel, ReferenceTruth
from app.studies.project_ratings import (
    DroppedCase,
    RatingKind,
    RatingsTable,
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
class ReaderCurve:
    """One empirical ROC curve on the analysed breasts: a reader's in one session, or a
    model's (``session`` None: its scores do not depend on the session)."""

    reader: str
    session: str | None
    model: bool
    auc: float
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]


@dataclass(frozen=True)
class ModelFigures:
    """A model as a reader (``AI: <name>``) on the analysed breasts: its AUC with the chosen
    covariance's SE and interval, and per session the readers' average AUC minus the
    model's (random readers and cases, and these readers). Without a score for every
    analysed breast there are no figures and ``reason`` says why."""

    model_id: int
    reader: str
    breasts_scored: int
    auc: ReaderFigure | None
    versus_readers: list[ModelVsReaders]
    reason: str | None = None


@dataclass(frozen=True)
class ProjectAnalysis:
    """A project's analysis: what it is computed against, from which rating, the cases left
    out (and why), the full MRMC analysis of the rest, every imported model against the
    readers, and the ROC curves."""

    project_id: int
    truth_basis: TruthBasis
    truth_note: str
    rating: RatingKind
    cases_used: int
    dropped: list[DroppedCase]
    analysis: RatingsAnalysis
    models: list[ModelFigures]
    curves: list[ReaderCurve]

    def to_dict(self) -> dict:
        return plain(self)


class SubmittedRead(NamedTuple):
    """One logged submission as the figures read it (its columns, not the ORM row: the
    log of a full study is 10,000 of them)."""

    id: int
    project_study_id: int
    label: dict[str, Any]
    exclusion: str | None
    active_seconds: float
    reader: str
    study_id: str
    session: str | None


def submitted_reads(db: Session, project: ReadingProject) -> list[SubmittedRead]:
    """Every submitted reading (not arbitrations) of the project, oldest first: the logged
    submission, its reader's username, its study id and its session's name (None in
    double reading)."""
    statement = (
        select(
            ReadSubmission.id,
            ReadSubmission.project_study_id,
            ReadSubmission.label,
            ReadSubmission.exclusion,
            ReadSubmission.active_seconds,
            User.username,
            Study.study_id,
            ReadingSession.name,
        )
        .join(User, ReadSubmission.user_id == User.id)
        .join(ProjectStudy, ReadSubmission.project_study_id == ProjectStudy.id)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .outerjoin(ReadingSession, ReadSubmission.session_id == ReadingSession.id)
        .where(ProjectStudy.project_id == project.id, ReadSubmission.kind == TaskKind.READ)
        .order_by(ReadSubmission.id)
    )
    return [SubmittedRead._make(row) for row in db.execute(statement).all()]


def project_reads(db: Session, project: ReadingProject) -> list[ReadRecord]:
    """Every submitted reading as the ratings table wants it."""
    return [
        ReadRecord(
            reader=read.reader,
            session=read.session or DEFAULT_SESSION,
            study_id=read.study_id,
            label=None if read.exclusion else read.label,
            exclusion=read.exclusion,
        )
        for read in submitted_reads(db, project)
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
        problems = error.details or []
        details = [{"field": "reads", "message": d["message"]} for d in problems][:20]
        if not table.rows:
            details.insert(0, {"field": "reads", "message": _why_empty(table.dropped)})
        raise Conflict(
            "This project cannot be analysed yet: the analysis needs every reader's rating "
            "of at least 2 diseased and 2 non-diseased breasts with a truth.",
            code="not_analysable",
            details=details,
        ) from None
    model_scores = project_model_scores(db, project)
    models = [
        model_figures(study, model_id, name, scores, covariance=covariance, alpha=alpha)
        for model_id, name, scores in model_scores
    ]
    return ProjectAnalysis(
        project_id=project.id,
        truth_basis=project.truth_basis,
        truth_note=BASIS_NOTES[project.truth_basis],
        rating=kind,
        cases_used=len(study.cases),
        dropped=table.dropped,
        analysis=analyse(study, covariance=covariance, alpha=alpha),
        models=models,
        curves=study_curves(study, models, model_scores),
    )


def project_model_scores(
    db: Session, project: ReadingProject
) -> list[tuple[int, str, dict[str, float]]]:
    """Each imported model of the project (oldest first): its id, its reader name and its
    score per breast (``study/R``)."""
    models = db.scalars(
        select(AiModel).where(AiModel.project_id == project.id).order_by(AiModel.id)
    ).all()
    scores: dict[int, dict[str, float]] = {model.id: {} for model in models}
    rows = db.execute(
        select(
            AiBreastScore.model_id, Study.study_id, AiBreastScore.laterality, AiBreastScore.score
        )
        .join(ProjectStudy, AiBreastScore.project_study_id == ProjectStudy.id)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project.id)
    ).all()
    for model_id, study_id, laterality, score in rows:
        if model_id in scores:
            scores[model_id][case_of(study_id, laterality)] = score
    return [(model.id, model.reader_name, scores[model.id]) for model in models]


def model_figures(
    study: ReaderStudy,
    model_id: int,
    reader: str,
    scores: dict[str, float],
    *,
    covariance: Covariance,
    alpha: float,
) -> ModelFigures:
    """A model against the readers of every session, on the study's cases (pure)."""
    missing = [case for case in study.cases if case not in scores]
    scored = len(study.cases) - len(missing)
    if missing:
        return ModelFigures(
            model_id,
            reader,
            scored,
            None,
            [],
            f"{reader} scores {scored} of the {len(study.cases)} analysed breasts (none for "
            f"{missing[0]}{' and others' if len(missing) > 1 else ''}); the comparison needs "
            "a score for every one.",
        )
    vector = [scores[case] for case in study.cases]
    versus = [
        model_vs_readers(
            study,
            vector,
            treatment=treatment,
            model_name=reader,
            covariance_method=covariance,
            alpha=alpha,
        )
        for treatment in study.treatments
    ]
    alone = replace(versus[0].model, treatment="model alone")
    return ModelFigures(model_id, reader, scored, alone, versus)


def study_curves(
    study: ReaderStudy,
    models: Sequence[ModelFigures],
    scores: Sequence[tuple[int, str, dict[str, float]]],
) -> list[ReaderCurve]:
    """Every reader's ROC curve per session, then each compared model's (pure)."""
    curves = []
    for t, treatment in enumerate(study.treatments):
        for r, reader in enumerate(study.readers):
            curve = roc_curve(study.truth, study.scores[t, r])
            curves.append(ReaderCurve(reader, treatment, False, curve.auc, curve.fpr, curve.tpr))
    compared = {m.model_id for m in models if m.auc is not None}
    for model_id, reader, by_case in scores:
        if model_id in compared:
            curve = roc_curve(study.truth, [by_case[case] for case in study.cases])
            curves.append(ReaderCurve(reader, None, True, curve.auc, curve.fpr, curve.tpr))
    return curves


RatingsLayout = Literal["mrmcaov", "imrmc", "jafroc"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class RatingsFile:
    content: str | bytes
    media_type: str
    file_name: str


def ratings_file(
    db: Session, project: ReadingProject, layout: RatingsLayout, *, models: bool = False
) -> RatingsFile:
    """The project's ratings table as a file for another MRMC tool (every breast rated by
    every reader in every session, with a truth); its name and (iMRMC) header say what the
    truth is. With ``models``, each model that scores every breast of the table is one more
    reader (``AI: <name>``) with its score in every session, as RJafroc's CAD-against-
    radiologists analysis holds a model; without, the file re-runs this page's analysis.
    409 ``not_analysable`` for a workbook without both diseased and non-diseased breasts."""
    protocol = ProjectRules.from_json(project.rules)
    kind: RatingKind = "probability" if protocol.probability_rating else "ordinal_birads"
    table = ratings_table(project_reads(db, project), project_truths(db, project), kind)
    if models:
        table = with_models(table, project_model_scores(db, project))
    stem = f"project-{project.id}-{project.truth_basis.value}-truth"
    if models:
        stem += "-with-ai"
    if layout == "jafroc":
        try:
            workbook = jafroc_workbook(table.rows)
        except ValueError as error:
            raise Conflict(f"No JAFROC workbook yet: {error}", code="not_analysable") from None
        return RatingsFile(workbook, XLSX, f"{stem}.xlsx")
    if layout == "imrmc":
        description = [
            f"MammoRead project {project.id}: {project.name}",
            f"Rating: {kind}. {BASIS_NOTES[project.truth_basis]}",
            f"Breasts left out: {len(table.dropped)}.",
        ]
        return RatingsFile(imrmc_text(table.rows, description), "text/plain", f"{stem}.imrmc")
    return RatingsFile(mrmcaov_csv(table.rows), "text/csv", f"{stem}.csv")


def with_models(
    table: RatingsTable, scores: Sequence[tuple[int, str, dict[str, float]]]
) -> RatingsTable:
    """``table`` with each model that scores all its cases as a reader in every session
    (pure); a model missing a case is left out of the file."""
    cases = list(dict.fromkeys(row["case"] for row in table.rows))
    sessions = list(dict.fromkeys(row["treatment"] for row in table.rows))
    truth = {row["case"]: row["truth"] for row in table.rows}
    rows = list(table.rows)
    for _, reader, by_case in scores:
        if not cases or any(case not in by_case for case in cases):
            continue
        rows += [
            {
                "reader": reader,
                "treatment": session,
                "case": case,
                "truth": truth[case],
                "rating": by_case[case],
            }
            for session in sessions
            for case in cases
        ]
    return RatingsTable(rows, table.rating, table.dropped)


def _why_empty(dropped: list[DroppedCase]) -> str:
    if not dropped:
        return "No reading of this project is submitted yet."
    return f"All {len(dropped)} breasts read are left out; the first: {dropped[0].case} " + (
        f"({'; '.join(dropped[0].reasons)})."
    )
