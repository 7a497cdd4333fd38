"""A project's progress: studies per state, each person's reads, arbitrations, open tasks and
median active time, discordance rates, and studies waiting for an arbiter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.reading.models import (
    ProjectStudy,
    ReadingProject,
    ReadTask,
)
from app.reading.states import StudyStatus, TaskKind, TaskStatus


@dataclass(frozen=True)
class ReaderProgress:
    user: User
    reads_done: int
    arbitrations_done: int
    open_tasks: int
    median_active_seconds: float | None


@dataclass(frozen=True)
class Progress:
    by_status: dict[StudyStatus, int]
    readers: list[ReaderProgress]
    compared: int
    discordance_rates: dict[str, float]
    awaiting_arbiter: int


def progress(db: Session, project: ReadingProject) -> Progress:
    studies = db.scalars(select(ProjectStudy).where(ProjectStudy.project_id == project.id)).all()
    by_status = Counter(dict.fromkeys(StudyStatus, 0))
    by_status.update(s.status for s in studies)
    tasks = db.scalars(
        select(ReadTask)
        .join(ProjectStudy)
        .where(ProjectStudy.project_id == project.id, ReadTask.status != TaskStatus.REASSIGNED)
    ).all()
    submitted_reads = Counter(
        t.project_study_id
        for t in tasks
        if t.kind == TaskKind.READ and t.status == TaskStatus.SUBMITTED
    )
    compared = [s for s in studies if submitted_reads[s.id] >= 2]
    kinds = Counter(kind for s in compared for kind in {d["kind"] for d in (s.discordances or [])})
    rates = {
        k: kinds[k] / len(compared) if compared else 0.0 for k in ("birads", "density", "finding")
    }
    arbitrated = {t.project_study_id for t in tasks if t.kind == TaskKind.ARBITRATE}
    awaiting = sum(
        1 for s in studies if s.status == StudyStatus.ARBITRATION and s.id not in arbitrated
    )
    return Progress(dict(by_status), _reader_rows(tasks), len(compared), rates, awaiting)


def _reader_rows(tasks: Sequence[ReadTask]) -> list[ReaderProgress]:
    rows = []
    for user in sorted({t.user for t in tasks}, key=lambda u: u.username):
        mine = [t for t in tasks if t.user_id == user.id]
        done = [t for t in mine if t.status == TaskStatus.SUBMITTED]
        times = sorted(t.active_seconds for t in done if t.kind == TaskKind.READ)
        median = times[len(times) // 2] if times else None
        rows.append(
            ReaderProgress(
                user=user,
                reads_done=sum(t.kind == TaskKind.READ for t in done),
                arbitrations_done=sum(t.kind == TaskKind.ARBITRATE for t in done),
                open_tasks=sum(t.status in TaskStatus.open() for t in mine),
                median_active_seconds=median,
            )
        )
    return rows
