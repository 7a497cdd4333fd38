"""The agreement report of a double-reading project: how far the two blinded readers agreed
(per item type), how often a third had to arbitrate, and how each reader did against the
final label; from the append-only read log, study by study.

Kappa, AC1 and, on the ordinal items, Gwet's AC2 come with a percentile bootstrap interval
over the double-read studies (a study, both breasts together, is the unit resampled), from a
fixed seed so that the same reads always give the same interval. Every statistic is computed
on the same resamples, from each study's confusion counts in one matrix product
(``app.reading.agreement.resampled_counts``), the draws those of
``app.stats.agreement.bootstrap_interval``."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.reading import agreement
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission
from app.reading.rules import ANY_BREAST_BIRADS, DENSITIES, LATERALITIES, ProjectRules
from app.reading.states import StudyStatus
from app.stats.agreement import BootstrapInterval, gwet_ac2, percentile_interval

BATCH = 1000
GROUPINGS = {"vindr": agreement.VINDR_GROUPS, "seed002": agreement.SEED002_GROUPS}
# BI-RADS as an ordinal scale: 0 (incomplete, call back) between 3 and 4, the order of
# app.studies.project_ratings.ORDINAL_BIRADS (a layer above this one, so not imported)
BIRADS_ORDER = (1, 2, 3, 0, 4, 5, 6)
KAPPA_WEIGHTS: Literal["quadratic"] = "quadratic"
AC2_WEIGHTS: Literal["quadratic"] = "quadratic"
# the intervals: 2000 resamples of the studies from this seed (the report stays well under a
# second on 1000 studies: every resample's tables come from one matrix product)
REPLICATES = 2000
SEED = 20_250_101
CONFIDENCE = 0.95


class IntervalOut(BaseModel):
    """A percentile bootstrap interval over the double-read studies."""

    lower: float | None = Field(description="Null when no interval could be computed (reason).")
    upper: float | None
    confidence: float = Field(description="0.95: the 2.5th and 97.5th percentiles.")
    replicates: int = Field(description="Resamples of the studies drawn.")
    used: int = Field(description="Resamples where the statistic was defined; the rest dropped.")
    seed: int = Field(description="Seed of numpy.random.default_rng that drew the resamples.")
    reason: str | None = Field(
        default=None, description="Why there is no interval, or how many resamples were dropped."
    )


class BootstrapOut(BaseModel):
    method: Literal["percentile"] = "percentile"
    unit: Literal["study"] = Field(
        default="study",
        description="What is resampled: a double-read study with all its breast pairs.",
    )
    studies: int = Field(description="Double-read studies resampled (with replacement).")
    replicates: int
    seed: int
    confidence: float


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
    kappa_ci: IntervalOut | None = Field(
        default=None, description="95% bootstrap interval of kappa; null without pairs."
    )
    gwet_ac1: float | None
    gwet_ac1_ci: IntervalOut | None = Field(
        default=None, description="95% bootstrap interval of AC1; null without pairs."
    )
    gwet_ac2: float | None = Field(
        default=None,
        description="Gwet's AC2 with quadratic weights, 1 - (k - l)^2 / (q - 1)^2 on the "
        "positions k, l of the ordered categories (gwet_ac2_categories); ordinal items only, "
        "else null. BI-RADS 0 (incomplete) is placed between 3 and 4, so the BI-RADS AC2 "
        "counts the pairs with a 0 too (gwet_ac2_pairs).",
    )
    gwet_ac2_weights: Literal["quadratic"] | None = None
    gwet_ac2_categories: list[int | str] | None = Field(
        default=None, description="The ordered scale AC2 weighs distances on."
    )
    gwet_ac2_pairs: int | None = None
    gwet_ac2_ci: IntervalOut | None = Field(
        default=None, description="95% bootstrap interval of AC2; null without pairs."
    )


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
    bootstrap: BootstrapOut = Field(description="How the intervals of the items were drawn.")


@dataclass
class _ReaderTally:
    reads: int = 0
    arbitrations: int = 0
    seconds: list[float] = field(default_factory=list)
    arbitration_seconds: list[float] = field(default_factory=list)
    reference: list[int | None] = field(default_factory=list)
    given: list[int | None] = field(default_factory=list)


@dataclass
class _Pairs:
    """Both readers' values of one item, with the double-read study (case) of each pair."""

    a: list[Any] = field(default_factory=list)
    b: list[Any] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)

    def add(self, case: int, first: Any, second: Any) -> None:
        if first is not None and second is not None:
            self.a.append(first)
            self.b.append(second)
            self.cases.append(case)


@dataclass
class _Tally:
    studies: int = 0
    double_read: int = 0
    arbitrated: int = 0
    birads: _Pairs = field(default_factory=_Pairs)  # BI-RADS 0 left out
    birads_all: _Pairs = field(default_factory=_Pairs)  # BI-RADS 0 in, for AC2
    birads_zero: int = 0
    density: _Pairs = field(default_factory=_Pairs)
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
    case = tally.double_read
    tally.double_read += 1
    tally.arbitrated += 0 in by_slot
    first, second = by_slot[1].label, by_slot[2].label
    for lat in LATERALITIES:
        pair = (_breast(first, lat).get("birads"), _breast(second, lat).get("birads"))
        if 0 in pair:
            tally.birads_zero += 1
        else:
            tally.birads.add(case, *pair)
        tally.birads_all.add(case, *pair)
        tally.density.add(
            case, _breast(first, lat).get("density"), _breast(second, lat).get("density")
        )
    matched, only_a, only_b = agreement.lesion_f1(
        first.get("boxes", []), second.get("boxes", []), rules.iou_threshold
    )
    for index, count in enumerate((matched, only_a, only_b)):
        tally.lesions[index] += count


def _breast(label: Mapping[str, Any], lat: str) -> Mapping[str, Any]:
    return label.get("breasts", {}).get(lat) or {}


@dataclass(frozen=True)
class _Item:
    """One item of the report: kappa and AC1 on ``pairs`` over ``categories``; AC2 (an
    ordinal item) on ``ordinal_pairs`` over the ordered ``ordinal``."""

    name: str
    pairs: _Pairs
    categories: tuple[Any, ...]
    ordinal_pairs: _Pairs | None = None
    ordinal: tuple[Any, ...] = ()
    excluded: int = 0


def _items(tally: _Tally, rules: ProjectRules) -> list[_Item]:
    scale = rules.breast_birads
    if 6 in (*tally.birads_all.a, *tally.birads_all.b):  # the scale was narrowed after reads
        scale = ANY_BREAST_BIRADS
    return [
        _Item(
            "breast BI-RADS",
            tally.birads,
            tuple(b for b in scale if b != 0),
            tally.birads_all,
            tuple(b for b in BIRADS_ORDER if b in scale),
            excluded=tally.birads_zero,
        ),
        _Item("breast density", tally.density, DENSITIES, tally.density, DENSITIES),
    ]


def _item_out(item: _Item, resampled: Mapping[str, NDArray[np.float64]]) -> ItemAgreementOut:
    a, b = item.pairs.a, item.pairs.b
    kappa = agreement.cohen_kappa(a, b, categories=item.categories, weights=KAPPA_WEIGHTS)
    ac1 = agreement.gwet_ac1(a, b, categories=item.categories)
    out = ItemAgreementOut(
        item=item.name,
        pairs=len(a),
        excluded=item.excluded,
        percent_agreement=_round(agreement.percent_agreement(a, b)),
        kappa=_round(kappa),
        kappa_weights=KAPPA_WEIGHTS,
        kappa_ci=_interval_out(resampled, "kappa", kappa, bool(a)),
        gwet_ac1=_round(ac1),
        gwet_ac1_ci=_interval_out(resampled, "ac1", ac1, bool(a)),
    )
    if item.ordinal_pairs is not None:
        c, d = item.ordinal_pairs.a, item.ordinal_pairs.b
        ac2 = gwet_ac2(c, d, categories=item.ordinal, weights=AC2_WEIGHTS)
        out.gwet_ac2 = _round(ac2)
        out.gwet_ac2_weights = AC2_WEIGHTS
        out.gwet_ac2_categories = list(item.ordinal)
        out.gwet_ac2_pairs = len(c)
        out.gwet_ac2_ci = _interval_out(resampled, "ac2", ac2, bool(c))
    return out


def _resample(items: Sequence[_Item], n_cases: int) -> list[dict[str, NDArray[np.float64]]]:
    """Each item's kappa, AC1 and AC2 on every resample of the ``n_cases`` double-read
    studies: the same resamples for every item and statistic."""
    if n_cases == 0:
        return [{} for _ in items]
    tables: list[tuple[_Pairs, tuple[Any, ...]]] = []
    for item in items:
        tables.append((item.pairs, item.categories))
        if item.ordinal_pairs is not None:
            tables.append((item.ordinal_pairs, item.ordinal))
    counts = np.hstack(
        [
            agreement.case_counts(
                pairs.cases, pairs.a, pairs.b, n_cases=n_cases, categories=categories
            )
            for pairs, categories in tables
        ]
    )
    totals = agreement.resampled_counts(counts, replicates=REPLICATES, seed=SEED)
    start = 0
    per_table = []
    for _, categories in tables:
        q = len(categories)
        per_table.append(totals[:, start : start + q * q].reshape(-1, q, q))
        start += q * q
    found = []
    for item in items:
        table = per_table.pop(0)
        values = {
            "kappa": agreement.kappa_of_tables(table, KAPPA_WEIGHTS),
            "ac1": agreement.gwet_of_tables(table),
        }
        if item.ordinal_pairs is not None:
            values["ac2"] = agreement.gwet_of_tables(per_table.pop(0), AC2_WEIGHTS)
        found.append(values)
    return found


def _interval_out(
    resampled: Mapping[str, NDArray[np.float64]], name: str, estimate: float | None, any_pairs: bool
) -> IntervalOut | None:
    if not any_pairs or name not in resampled:
        return None
    interval = percentile_interval(
        resampled[name], estimate, replicates=REPLICATES, seed=SEED, confidence=CONFIDENCE
    )
    return _interval(interval)


def _interval(interval: BootstrapInterval) -> IntervalOut:
    return IntervalOut(
        lower=_round(interval.lower),
        upper=_round(interval.upper),
        confidence=interval.confidence,
        replicates=interval.replicates,
        used=interval.used,
        seed=interval.seed,
        reason=interval.reason,
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
    items = _items(tally, rules)
    resampled = _resample(items, tally.double_read)
    return AgreementReportOut(
        project_id=project.id,
        studies=tally.studies,
        double_read=tally.double_read,
        arbitrated=tally.arbitrated,
        arbitration_rate=_round(tally.arbitrated / tally.double_read)
        if tally.double_read
        else None,
        items=[_item_out(item, values) for item, values in zip(items, resampled, strict=True)],
        lesions=LesionAgreementOut(
            iou_threshold=rules.iou_threshold,
            matched=matched,
            only_reader_1=only_a,
            only_reader_2=only_b,
            f1=_round(agreement.f1_from_counts(matched, only_a, only_b)),
        ),
        readers=readers,
        bootstrap=BootstrapOut(
            studies=tally.double_read, replicates=REPLICATES, seed=SEED, confidence=CONFIDENCE
        ),
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
