"""The figures of an unchanged project, computed once: a small in-process cache of a project's
analysis and tables (and the page's plots), keyed by what they are computed from
(:func:`evidence_key`), so that a second view of the results page or the API costs a few
aggregate queries, not the analysis. Each process keeps its own; the key comes from the
database, so app nodes never serve each other's stale figures."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.imaging.models import Image
from app.reading.models import (
    FinalLabelHistory,
    ProjectStudy,
    ReadingProject,
    ReadingSession,
    ReadSubmission,
)
from app.studies import project_accuracy, project_analysis
from app.studies.analysis import Covariance
from app.studies.models import AiBreastScore, AiModel, ReferenceTruth
from app.studies.project_accuracy import ProjectAccuracy
from app.studies.project_analysis import ProjectAnalysis

CACHE_SIZE = 16
T = TypeVar("T")


class FiguresCache:
    """A small in-process LRU of computed figures (the analysis, the tables), keyed by
    ``evidence_key``: a second view of an unchanged project does not recompute. A 409
    ``not_analysable`` is kept too (as its message), so a project that cannot be analysed
    is not re-read on every view. Each process keeps its own; what they hold is read only."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[bool, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            try:
                entry = (True, compute())
            except Conflict as error:
                entry = (False, (error.message, error.code, error.details))
            with self._lock:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        computed, value = entry
        if not computed:
            message, code, details = value
            raise Conflict(message, code=code, details=details)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


FIGURES = FiguresCache()


def evidence_key(db: Session, project: ReadingProject) -> tuple[Hashable, ...]:
    """What a project's figures are computed from, in a few aggregate queries: the database,
    the project's settings (truth basis, protocol) and sessions, and per table the count and
    newest id of its rows (the read log is append-only: a new read, exclusion or arbitration
    is a new id; a removed row changes the count), with the newest import time where an
    import replaces rows in place (the reference standard) and the newest finalisation and
    reopening (consensus labels). Any change to what the figures read changes the key."""
    in_project = ProjectStudy.project_id == project.id
    of_study = ProjectStudy.id
    parts = [
        select(func.count(of_study), func.max(of_study), func.max(ProjectStudy.finalized_at)).where(
            in_project
        ),
        select(func.count(ReadSubmission.id), func.max(ReadSubmission.id))
        .join(ProjectStudy, ReadSubmission.project_study_id == of_study)
        .where(in_project),
        select(func.count(FinalLabelHistory.id), func.max(FinalLabelHistory.id))
        .join(ProjectStudy, FinalLabelHistory.project_study_id == of_study)
        .where(in_project),
        select(func.count(Image.id), func.max(Image.id))
        .join(ProjectStudy, Image.study_pk == ProjectStudy.study_pk)
        .where(in_project),
        select(
            func.count(ReferenceTruth.id),
            func.max(ReferenceTruth.id),
            func.max(ReferenceTruth.imported_at),
        ).where(ReferenceTruth.project_id == project.id),
        select(func.count(AiModel.id), func.max(AiModel.id), func.max(AiModel.imported_at)).where(
            AiModel.project_id == project.id
        ),
        select(func.count(AiBreastScore.id), func.max(AiBreastScore.id))
        .join(AiModel, AiBreastScore.model_id == AiModel.id)
        .where(AiModel.project_id == project.id),
    ]
    counts = tuple(value for part in parts for value in db.execute(part).one())
    sessions = tuple(
        db.execute(
            select(ReadingSession.id, ReadingSession.name)
            .where(ReadingSession.project_id == project.id)
            .order_by(ReadingSession.id)
        ).all()
    )
    return (
        str(db.get_bind().url),
        project.id,
        project.truth_basis.value,
        json.dumps(project.rules, sort_keys=True),
        sessions,
        counts,
    )


def cached_analysis(
    db: Session,
    project: ReadingProject,
    *,
    covariance: Covariance = "jackknife",
    alpha: float = 0.05,
    evidence: tuple[Hashable, ...] | None = None,
) -> ProjectAnalysis:
    """``analyse_project``, computed once per state of the project (``evidence_key``, or
    ``evidence`` when the caller has it) and estimator: shared, not to be changed."""
    key = ("analysis", evidence or evidence_key(db, project), covariance, alpha)
    return FIGURES.get(
        key,
        lambda: project_analysis.analyse_project(db, project, covariance=covariance, alpha=alpha),
    )


def cached_accuracy(
    db: Session,
    project: ReadingProject,
    mapping: str,
    *,
    evidence: tuple[Hashable, ...] | None = None,
) -> ProjectAccuracy:
    """``project_accuracy``, computed once per state of the project (``evidence_key``, or
    ``evidence`` when the caller has it) and mapping: shared, not to be changed."""
    project_accuracy.check(project, mapping)
    key = ("accuracy", evidence or evidence_key(db, project), mapping)
    return FIGURES.get(key, lambda: project_accuracy.project_accuracy(db, project, mapping))
