"""Seed 002's tables for a reading project: per reader and session, the BI-RADS groups against
the reference (the confusion matrix, per-group sensitivity and specificity with Wilson
intervals and counts, macro means), the reader-averaged figures per session, reading time per
case and per image, and the cases readers excluded, with their reasons."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import field_error
from app.imaging.models import Image
from app.reading.models import ProjectStudy, ReadingProject
from app.reading.states import TruthBasis
from app.stats.diagnostic import MAPPINGS, GroupedAccuracy, grouped_accuracy
from app.stats.mrmc.results import plain
from app.stats.roc import OneVsRestAuc, auc, indicator_scores, one_vs_rest_auc
from app.studies.models import AiBreastScore, AiModel, ReferenceTruth
from app.studies.project_analysis import (
    BASIS_NOTES,
    DEFAULT_SESSION,
    submitted_reads,
)
from app.studies.states import Truth

TRUTH_CLASS = {Truth.NORMAL: 0, Truth.BENIGN: 1, Truth.MALIGNANT: 2}


@dataclass(frozen=True)
class ReaderAccuracy:
    reader: str
    session: str
    readings: int
    breasts: int
    accuracy: GroupedAccuracy | None
    auc: OneVsRestAuc | None
    seconds_per_case: float | None
    seconds_per_image: float | None


@dataclass(frozen=True)
class ModelAccuracy:
    """A model (``AI: <name>``) in the tables: its malignancy score gives one of the
    one-vs-rest AUCs, malignant against benign and normal, over the breasts it scored that
    have a reference (it gives no BI-RADS, so it has no groups and no confusion matrix)."""

    reader: str
    breasts: int
    malignant_auc: float | None
    note: str


@dataclass(frozen=True)
class AveragedGroup:
    group: str
    sensitivity: float | None
    specificity: float | None


@dataclass(frozen=True)
class SessionAverage:
    session: str
    readers: int
    groups: list[AveragedGroup]


@dataclass(frozen=True)
class Exclusion:
    reader: str
    session: str
    study_id: str
    reason: str


@dataclass(frozen=True)
class ProjectAccuracy:
    project_id: int
    mapping: str
    groups: tuple[str, ...]
    truth_note: str
    readers: list[ReaderAccuracy]
    reader_averaged: list[SessionAverage]
    models: list[ModelAccuracy]
    exclusions: list[Exclusion]

    def to_dict(self) -> dict:
        return plain(self)


def check(project: ReadingProject, mapping: str) -> None:
    """422 on ``mapping`` for an unknown mapping, or a project without the reference's
    classes (judged against its consensus labels)."""
    if mapping not in MAPPINGS:
        raise field_error("mapping", f"The mapping must be one of {', '.join(MAPPINGS)}.")
    if project.truth_basis is not TruthBasis.REFERENCE:
        raise field_error(
            "mapping",
            "Grouped accuracy needs the reference standard's classes (normal, benign, "
            "malignant); this project is judged against its consensus labels.",
        )


def project_accuracy(db: Session, project: ReadingProject, mapping: str) -> ProjectAccuracy:
    """The tables against the reference standard (the three classes normal, benign,
    malignant need it: a project judged against consensus labels gets a 422 here)."""
    check(project, mapping)
    groups = MAPPINGS[mapping]
    truths = {
        (study_pk, lat): TRUTH_CLASS[truth]
        for study_pk, lat, truth in db.execute(
            select(
                ReferenceTruth.project_study_id, ReferenceTruth.laterality, ReferenceTruth.truth
            ).where(ReferenceTruth.project_id == project.id)
        ).all()
    }
    images = dict(
        db.execute(
            select(ProjectStudy.id, func.count(Image.id))
            .join(Image, Image.study_pk == ProjectStudy.study_pk)
            .where(ProjectStudy.project_id == project.id)
            .group_by(ProjectStudy.id)
        ).all()
    )
    reads = submitted_reads(db, project)
    calls: dict[tuple[str, str], tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    image_counts: dict[tuple[str, str], int] = defaultdict(int)
    readings: dict[tuple[str, str], int] = defaultdict(int)
    exclusions = []
    for read in reads:
        key = (read.reader, read.session or DEFAULT_SESSION)
        readings[key] += 1
        if read.exclusion:
            exclusions.append(Exclusion(key[0], key[1], read.study_id, read.exclusion))
            continue
        seconds[key].append(read.active_seconds)
        image_counts[key] += images.get(read.project_study_id, 0)
        for lat in ("R", "L"):
            breast = (read.label.get("breasts") or {}).get(lat) or {}
            truth = truths.get((read.project_study_id, lat))
            birads = breast.get("birads")
            if truth is None or breast.get("not_imaged") or not isinstance(birads, int):
                continue
            if groups.group_of(birads) is None:
                continue
            calls[key][0].append(truth)
            calls[key][1].append(birads)
    per_reader = []
    for key in sorted(readings):
        truth_classes, birads_values = calls.get(key, ([], []))
        called = [groups.group_of(b) for b in birads_values]  # each in a group (above)
        total = sum(seconds[key])
        per_reader.append(
            ReaderAccuracy(
                reader=key[0],
                session=key[1],
                readings=readings[key],
                breasts=len(truth_classes),
                accuracy=grouped_accuracy(truth_classes, birads_values, groups)
                if truth_classes
                else None,
                auc=one_vs_rest_auc(
                    [groups.labels[t] for t in truth_classes],
                    indicator_scores([groups.labels[c or 0] for c in called], groups.labels),
                    groups.labels,
                )
                if truth_classes
                else None,
                seconds_per_case=total / len(seconds[key]) if seconds[key] else None,
                seconds_per_image=total / image_counts[key] if image_counts[key] else None,
            )
        )
    return ProjectAccuracy(
        project_id=project.id,
        mapping=mapping,
        groups=groups.labels,
        truth_note=BASIS_NOTES[project.truth_basis],
        readers=per_reader,
        reader_averaged=_averaged(per_reader, groups.labels),
        models=_models(db, project, truths),
        exclusions=exclusions,
    )


def _models(
    db: Session, project: ReadingProject, truths: dict[tuple[int, str], int]
) -> list[ModelAccuracy]:
    scored: dict[int, tuple[list[bool], list[float]]] = defaultdict(lambda: ([], []))
    for model_id, study_pk, lat, score in db.execute(
        select(
            AiBreastScore.model_id,
            AiBreastScore.project_study_id,
            AiBreastScore.laterality,
            AiBreastScore.score,
        )
        .join(AiModel, AiBreastScore.model_id == AiModel.id)
        .where(AiModel.project_id == project.id)
    ).all():
        truth = truths.get((study_pk, lat))
        if truth is not None:
            scored[model_id][0].append(truth == TRUTH_CLASS[Truth.MALIGNANT])
            scored[model_id][1].append(score)
    models = db.scalars(
        select(AiModel).where(AiModel.project_id == project.id).order_by(AiModel.id)
    ).all()
    rows = []
    for model in models:
        is_malignant, scores = scored.get(model.id, ([], []))
        value = auc(is_malignant, scores) if scores else None
        rows.append(
            ModelAccuracy(
                model.reader_name,
                len(scores),
                value,
                "Malignant against benign and normal, from the malignancy score."
                if value is not None
                else "No AUC: the scored breasts with a reference are not both malignant and not.",
            )
        )
    return rows


def _averaged(per_reader: list[ReaderAccuracy], labels: tuple[str, ...]) -> list[SessionAverage]:
    """Per session, each group's sensitivity and specificity averaged over its readers
    (seed 002's Table 5); None where some reader has no figure."""
    by_session: dict[str, list[GroupedAccuracy]] = defaultdict(list)
    for row in per_reader:
        if row.accuracy is not None:
            by_session[row.session].append(row.accuracy)
    averages = []
    for session, accuracies in sorted(by_session.items()):
        groups = []
        for index, label in enumerate(labels):
            sens = [a.per_group[index].sensitivity.estimate for a in accuracies]
            spec = [a.per_group[index].specificity.estimate for a in accuracies]
            groups.append(AveragedGroup(label, _mean(sens), _mean(spec)))
        averages.append(SessionAverage(session, len(accuracies), groups))
    return averages


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / len(values)
