"""The agreement report of a double-reading project: how far the two blinded readers agreed
(per item type), how often a third had to arbitrate, and how each reader did against the
final label; from the append-only read log, study by study."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.reading import agreement
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission
from app.reading.rules import BREAST_BIRADS, DENSITIES, LATERALITIES, ProjectRules
from app.reading.states import StudyStatus

BATCH = 1000
ASSESSED_BIRADS = tuple(b for b in BREAST_BIRADS if b != 0)
GROUPINGS = {"vindr": agreement.VINDR_GROUPS, "seed002": agreement.SEED002_GROUPS}


class ItemAgreementOut(BaseModel):
    item: str
    pairs: int
    excluded: int = Field(
        default=0,
        description="Pairs left out: BI-RADS 0 (incomplete, needs more imaging) is not a "
        "step on the 1-5 scale the weighted kappa measures distances on.",
    )
    percent_agreement: float | None
    kappa: float | None
    kappa_weights: str | None
    gwet_ac1: float | None


class LesionAgreementOut(BaseModel):
    iou_threshold: float
    matched: int
    only_reader_1: int
    only_reader_2: int
    f1: float | None


class GroupFigureOut(BaseModel):
    sensitivity: float | None
    specificity: float | None
    n_positive: int
    n_negative: int


class ReaderReportOut(BaseModel):
    username: str
    reads: int
    arbitrations: int
    median_seconds_per_case: float | None = Field(description="Reads, not arbitrations.")
    median_seconds_per_arbitration: float | None
    breasts_compared: int
    screening: dict[str, dict[str, GroupFigureOut]] = Field(
        description="Per mapping (vindr: 1 / 2 / 3-5; seed002: 1 / 2-3 / 0-4-5), per group: "
        "one-vs-rest sensitivity and specificity of the reader's breast BI-RADS against the "
        "final label."
    )


class AgreementReportOut(BaseModel):
    project_id: int
    studies: int
    double_read: int
    arbitrated: int
    arbitration_rate: float | None
    items: list[ItemAgreementOut]
    lesions: LesionAgreementOut
    readers: list[ReaderReportOut]


@dataclass
class _ReaderTally:
    reads: int = 0
    arbitrations: int = 0
    seconds: list[float] = field(default_factory=list)
    arbitration_seconds: list[float] = field(default_factory=list)
    reference: list[int | None] = field(default_factory=list)
    given: list[int | None] = field(default_factory=list)


@dataclass
class _Tally:
    studies: int = 0
    double_read: int = 0
    arbitrated: int = 0
    birads: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))
    birads_zero: int = 0
    density: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))
    lesions: list[int] = field(default_factory=lambda: [0, 0, 0])
    readers: dict[int, _ReaderTally] = field(default_factory=lambda: defaultdict(_ReaderTally))


def agreement_report(db: Session, project: ReadingProject) -> AgreementReportOut:
    rules = ProjectRules.from_json(project.rules)
    tally = _Tally()
    ids = list(
        db.scalars(
            select(ProjectStudy.id)
            .where(ProjectStudy.project_id == project.id)
            .order_by(ProjectStudy.id)
        )
    )
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        studies = db.execute(
            select(ProjectStudy.id, ProjectStudy.status, ProjectStudy.final_label).where(
                ProjectStudy.id.in_(chunk)
            )
        ).all()
        reads = _reads(db, chunk)
        for study_id, status, final in studies:
            _count_study(
                tally,
                reads.get(study_id, []),
                final if status == StudyStatus.FINAL else None,
                rules,
            )
    return _report(db, project, tally, rules)


def _reads(db: Session, chunk: Sequence[int]) -> dict[int, list[ReadSubmission]]:
    grouped: dict[int, list[ReadSubmission]] = defaultdict(list)
    statement = select(ReadSubmission).where(ReadSubmission.project_study_id.in_(chunk))
    for submission in db.scalars(statement.order_by(ReadSubmission.id)):
        grouped[submission.project_study_id].append(submission)
    return grouped


def _count_study(
    tally: _Tally,
    reads: Sequence[ReadSubmission],
    final: Mapping[str, Any] | None,
    rules: ProjectRules,
) -> None:
    tally.studies += 1
    by_slot = {read.slot: read for read in reads}
    for read in reads:
        reader = tally.readers[read.user_id]
        if read.slot == 0:
            reader.arbitrations += 1
            reader.arbitration_seconds.append(read.active_seconds)
            continue
        reader.reads += 1
        reader.seconds.append(read.active_seconds)
        if final is not None:
            for lat in LATERALITIES:
                reader.reference.append(_breast(final, lat).get("birads"))
                reader.given.append(_breast(read.label, lat).get("birads"))
    if 1 not in by_slot or 2 not in by_slot:
        return
    tally.double_read += 1
    tally.arbitrated += 0 in by_slot
    first, second = by_slot[1].label, by_slot[2].label
    for lat in LATERALITIES:
        pair = (_breast(first, lat).get("birads"), _breast(second, lat).get("birads"))
        if 0 in pair:
            tally.birads_zero += 1
        else:
            _pair(tally.birads, *pair)
        _pair(
            tally.density, _breast(first, lat).get("density"), _breast(second, lat).get("density")
        )
    matched, only_a, only_b = agreement.lesion_f1(
        first.get("boxes", []), second.get("boxes", []), rules.iou_threshold
    )
    for index, count in enumerate((matched, only_a, only_b)):
        tally.lesions[index] += count


def _breast(label: Mapping[str, Any], lat: str) -> Mapping[str, Any]:
    return label.get("breasts", {}).get(lat) or {}


def _pair(vectors: tuple[list[Any], list[Any]], a: Any, b: Any) -> None:
    if a is not None and b is not None:
        vectors[0].append(a)
        vectors[1].append(b)


def _item(
    name: str, a: list[Any], b: list[Any], categories: Sequence[Any], excluded: int = 0
) -> ItemAgreementOut:
    return ItemAgreementOut(
        item=name,
        pairs=len(a),
        excluded=excluded,
        percent_agreement=_round(agreement.percent_agreement(a, b)),
        kappa=_round(agreement.cohen_kappa(a, b, categories=categories, weights="quadratic")),
        kappa_weights="quadratic",
        gwet_ac1=_round(agreement.gwet_ac1(a, b, categories=categories)),
    )


def _report(
    db: Session, project: ReadingProject, tally: _Tally, rules: ProjectRules
) -> AgreementReportOut:
    matched, only_a, only_b = tally.lesions
    names = dict(
        db.execute(select(User.id, User.username).where(User.id.in_(list(tally.readers)))).all()
    )
    readers = [
        _reader_out(names.get(user_id, f"user {user_id}"), reader)
        for user_id, reader in sorted(tally.readers.items(), key=lambda kv: names.get(kv[0], ""))
    ]
    return AgreementReportOut(
        project_id=project.id,
        studies=tally.studies,
        double_read=tally.double_read,
        arbitrated=tally.arbitrated,
        arbitration_rate=_round(tally.arbitrated / tally.double_read)
        if tally.double_read
        else None,
        items=[
            _item("breast BI-RADS", *tally.birads, ASSESSED_BIRADS, excluded=tally.birads_zero),
            _item("breast density", *tally.density, DENSITIES),
        ],
        lesions=LesionAgreementOut(
            iou_threshold=rules.iou_threshold,
            matched=matched,
            only_reader_1=only_a,
            only_reader_2=only_b,
            f1=_round(agreement.f1_from_counts(matched, only_a, only_b)),
        ),
        readers=readers,
    )


def _reader_out(username: str, reader: _ReaderTally) -> ReaderReportOut:
    screening = {
        name: {
            group: GroupFigureOut(
                sensitivity=_round(figures["sensitivity"]),
                specificity=_round(figures["specificity"]),
                n_positive=figures["n_positive"],
                n_negative=figures["n_negative"],
            )
            for group, figures in agreement.sensitivity_specificity(
                reader.reference, reader.given, groups
            ).items()
        }
        for name, groups in GROUPINGS.items()
    }
    compared = sum(
        1
        for a, b in zip(reader.reference, reader.given, strict=True)
        if a is not None and b is not None
    )
    return ReaderReportOut(
        username=username,
        reads=reader.reads,
        arbitrations=reader.arbitrations,
        median_seconds_per_case=_median(reader.seconds),
        median_seconds_per_arbitration=_median(reader.arbitration_seconds),
        breasts_compared=compared,
        screening=screening,
    )


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
