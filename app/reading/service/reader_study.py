"""Reader studies: a project's design (sessions, fully crossed or split-plot), assigning every
planned reading with each reader's shuffled order, the washout between a reader's two readings
of a study, a study complete once every reading of it is in, and keeping readers in the study.

Double-read projects never reach this module's assignment; their studies follow
:mod:`.assignment` and :mod:`.workflow`.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.core.database import utcnow
from app.core.errors import Conflict, field_error
from app.reading.models import (
    ProjectMember,
    ProjectStudy,
    ReadingProject,
    ReadingSession,
    ReadSubmission,
    ReadTask,
)
from app.reading.rules import design
from app.reading.states import (
    Pool,
    ProjectDesign,
    StudyLayout,
    StudyStatus,
    TaskKind,
    TaskStatus,
    TruthBasis,
)

MAX_SESSION_NAME = 80


@dataclass(frozen=True)
class NewSession:
    """A session ("modality") of a reader study: e.g. "Unaided", then "AI-aided" after a
    washout of 28 days."""

    name: str
    aided: bool = False
    washout_days: int = 0


@dataclass(frozen=True)
class StudyDesign:
    """How a project is read. Double reading (the default) has no sessions; a reader study has
    one or two, fully crossed or split-plot in ``blocks`` blocks, and a recorded order seed
    (drawn when not given)."""

    design: ProjectDesign = ProjectDesign.DOUBLE_READ
    layout: StudyLayout = StudyLayout.FULLY_CROSSED
    blocks: int | None = None
    sessions: tuple[NewSession, ...] = field(default_factory=tuple)
    order_seed: int | None = None
    truth_basis: TruthBasis = TruthBasis.REFERENCE


DEFAULT_SESSION = NewSession("Reading")


def apply_design(db: Session, project: ReadingProject, wanted: StudyDesign) -> None:
    """Set a new project's design and add its sessions (the caller commits); 422 naming the
    field when the design is not possible."""
    project.design = wanted.design
    project.truth_basis = wanted.truth_basis
    if wanted.design is ProjectDesign.DOUBLE_READ:
        if wanted.sessions or wanted.blocks is not None:
            raise field_error(
                "design", "Sessions and blocks belong to a reader study, not to double reading."
            )
        return
    sessions = wanted.sessions or (DEFAULT_SESSION,)
    if len(sessions) > design.MAX_SESSIONS:
        raise field_error("sessions", f"A reader study has one or {design.MAX_SESSIONS} sessions.")
    if wanted.layout is StudyLayout.SPLIT_PLOT:
        if wanted.blocks is None or not 2 <= wanted.blocks <= design.MAX_BLOCKS:
            raise field_error(
                "blocks", f"A split-plot design needs 2 to {design.MAX_BLOCKS} blocks."
            )
    elif wanted.blocks is not None:
        raise field_error(
            "blocks", "Blocks belong to a split-plot design, not a fully crossed one."
        )
    names: set[str] = set()
    for number, session in enumerate(sessions, start=1):
        name = session.name.strip()
        if not 1 <= len(name) <= MAX_SESSION_NAME:
            raise field_error(
                f"sessions.{number}.name",
                f"Session {number} needs a name of 1 to {MAX_SESSION_NAME} characters.",
            )
        if name.lower() in names:
            raise field_error(f"sessions.{number}.name", f"Two sessions are named {name!r}.")
        names.add(name.lower())
        if not 0 <= session.washout_days <= design.MAX_WASHOUT_DAYS:
            raise field_error(
                f"sessions.{number}.washout_days",
                f"A washout is 0 to {design.MAX_WASHOUT_DAYS} days.",
            )
        if number == 1 and session.washout_days:
            raise field_error(
                "sessions.1.washout_days",
                "The first session has no washout: it is the first reading.",
            )
    if wanted.order_seed is not None and not 0 <= wanted.order_seed < 2**31:
        raise field_error("order_seed", "The order seed is a whole number from 0 to 2147483647.")
    project.layout = wanted.layout
    project.blocks = wanted.blocks
    project.order_seed = (
        wanted.order_seed if wanted.order_seed is not None else secrets.randbelow(2**31)
    )
    db.flush()
    for number, session in enumerate(sessions, start=1):
        db.add(
            ReadingSession(
                project_id=project.id,
                number=number,
                name=session.name.strip(),
                aided=session.aided,
                washout_days=session.washout_days,
            )
        )


def is_reader_study(project: ReadingProject) -> bool:
    return project.design is ProjectDesign.READER_STUDY


def sessions_of(db: Session, project: ReadingProject) -> list[ReadingSession]:
    statement = (
        select(ReadingSession)
        .where(ReadingSession.project_id == project.id)
        .order_by(ReadingSession.number)
    )
    return list(db.scalars(statement))


def _live_reads(project: ReadingProject) -> Sequence:
    return (
        ProjectStudy.project_id == project.id,
        ReadTask.kind == TaskKind.READ,
        ReadTask.status != TaskStatus.REASSIGNED,
    )


def assign_reader_study(db: Session, actor: Actor, project: ReadingProject) -> int:
    """Give every reader every reading the design asks for that they do not have yet (new
    studies, a reader added to the pool), each reader's new readings appended to their order
    in a shuffle drawn from the project's seed. Returns the number of studies given readings."""
    readers = sorted(
        db.scalars(
            select(ProjectMember.user_id).where(
                ProjectMember.project_id == project.id, ProjectMember.pool == Pool.READERS
            )
        )
    )
    try:
        design.check_plan(readers, project.blocks)
    except design.DesignError as error:
        raise field_error(error.field, error.message) from None
    studies = list(
        db.scalars(
            select(ProjectStudy)
            .where(ProjectStudy.project_id == project.id)
            .order_by(ProjectStudy.id)
        )
    )
    sessions = {s.number: s for s in sessions_of(db, project)}
    block_of: dict[int, int] | None = None
    if project.blocks is not None:
        dealt = design.blocks_of([s.id for s in studies], readers, project.blocks)
        for study in studies:
            if study.block is None:
                study.block = dealt[study.id]
        block_of = {s.id: s.block for s in studies if s.block is not None}
    planned = design.plan(
        readers, [s.id for s in studies], sorted(sessions), block_of, project.blocks
    )
    existing = {
        (user_id, study_id, session_id)
        for user_id, study_id, session_id in db.execute(
            select(ReadTask.user_id, ReadTask.project_study_id, ReadTask.session_id)
            .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
            .where(*_live_reads(project))
        ).all()
    }
    last_position = {
        (user_id, session_id): position or 0
        for user_id, session_id, position in db.execute(
            select(ReadTask.user_id, ReadTask.session_id, func.max(ReadTask.position))
            .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
            .where(*_live_reads(project))
            .group_by(ReadTask.user_id, ReadTask.session_id)
        ).all()
    }
    missing: dict[tuple[int, int], list[int]] = defaultdict(list)
    for read in planned:
        session = sessions[read.session]
        if (read.reader, read.study, session.id) not in existing:
            missing[(read.reader, read.session)].append(read.study)
    seed = project.order_seed or 0
    touched: set[int] = set()
    for (reader, number), study_ids in sorted(missing.items()):
        session = sessions[number]
        start = last_position.get((reader, session.id), 0)
        order = design.shuffled(study_ids, seed, reader, number)
        for offset, study_id in enumerate(order, start=1):
            db.add(
                ReadTask(
                    project_study_id=study_id,
                    user_id=reader,
                    kind=TaskKind.READ,
                    slot=number,
                    session_id=session.id,
                    position=start + offset,
                )
            )
            touched.add(study_id)
    for study in studies:
        if study.id in touched and study.status in (StudyStatus.UNASSIGNED, StudyStatus.COMPLETE):
            study.status = StudyStatus.READING
    record(
        db,
        actor,
        "project.assigned",
        object_type="reading_project",
        object_id=project.id,
        studies=len(touched),
        readings=sum(len(ids) for ids in missing.values()),
        order_seed=seed,
    )
    db.commit()
    return len(touched)


def complete_if_read(db: Session, project_study: ProjectStudy) -> None:
    """A reader study's study is complete once none of its readings is open."""
    db.flush()
    still_open = db.scalar(
        select(ReadTask.id)
        .where(
            ReadTask.project_study_id == project_study.id,
            ReadTask.status.in_(TaskStatus.open()),
        )
        .limit(1)
    )
    if still_open is None:
        project_study.status = StudyStatus.COMPLETE


def washout_waits(db: Session, tasks: Iterable[ReadTask]) -> dict[int, design.Wait]:
    """For each open task of a later session: whether it may start now (the washout since the
    reader's first-session reading of the same study). Tasks not listed may start."""
    later = [t for t in tasks if t.session is not None and t.session.number > 1]
    if not later:
        return {}
    users = {t.user_id for t in later}
    studies = {t.project_study_id for t in later}
    first_reads = {
        (user_id, study_id): submitted_at
        for user_id, study_id, submitted_at in db.execute(
            select(ReadTask.user_id, ReadTask.project_study_id, ReadTask.submitted_at)
            .join(ReadingSession, ReadTask.session_id == ReadingSession.id)
            .where(
                ReadingSession.number == 1,
                ReadTask.user_id.in_(users),
                ReadTask.project_study_id.in_(studies),
                ReadTask.status == TaskStatus.SUBMITTED,
            )
        ).all()
    }
    now = utcnow()
    waits = {}
    for task in later:
        assert task.session is not None
        first = first_reads.get((task.user_id, task.project_study_id))
        waits[task.id] = design.washout_wait(
            task.session.number, first, task.session.washout_days, now
        )
    return waits


def refuse_waiting(db: Session, task: ReadTask) -> None:
    """409 ``washout`` when the task's session must still wait (see :func:`washout_waits`)."""
    wait = washout_waits(db, [task]).get(task.id)
    if wait is None or wait.ready:
        return
    when = f" on {wait.opens_at:%Y-%m-%d %H:%M} UTC" if wait.opens_at else ""
    raise Conflict(
        f"This case's second reading opens{when}, {wait.reason}.",
        code="washout",
        details=[{"field": "session", "message": wait.reason}],
    )


def refuse_leaving_readers(
    db: Session, project: ReadingProject, pool: str, wanted: Iterable[int]
) -> None:
    """A reader with readings in a reader study cannot leave its pool: the design (every reader
    on every case of their block) would be broken and their reads half done."""
    if not is_reader_study(project) or pool != Pool.READERS:
        return
    keep = set(wanted)
    rows = db.execute(
        select(ReadTask.user_id, func.count())
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(*_live_reads(project), ReadTask.user_id.not_in(keep))
        .group_by(ReadTask.user_id)
    ).all()
    if not rows:
        return
    members_by_id = {
        m.user_id: m.user
        for m in db.scalars(
            select(ProjectMember).where(
                ProjectMember.project_id == project.id, ProjectMember.pool == Pool.READERS
            )
        )
    }
    details = []
    for user_id, count in rows:
        user = members_by_id.get(user_id)
        name = user.username if user else f"user {user_id}"
        details.append(
            {"field": "readers", "message": f"{name} has {count} reading(s) in this study."}
        )
    raise Conflict(
        "A reader cannot leave a reader study midway: every reader reads every case of their "
        "block, so their readings would leave the design broken. Keep them in the pool.",
        code="reader_in_study",
        details=details,
    )


EXCLUSION_MAX = 500


def checked_exclusion(reason: str) -> str:
    reason = reason.strip()
    if not 1 <= len(reason) <= EXCLUSION_MAX:
        raise field_error(
            "reason", f"Say why the case is excluded (1 to {EXCLUSION_MAX} characters)."
        )
    return reason


__all__ = [
    "DEFAULT_SESSION",
    "NewSession",
    "StudyDesign",
    "apply_design",
    "assign_reader_study",
    "checked_exclusion",
    "complete_if_read",
    "is_reader_study",
    "refuse_leaving_readers",
    "refuse_waiting",
    "sessions_of",
    "washout_waits",
]


@dataclass(frozen=True)
class SessionProgress:
    """One reader's progress in one session of a reader study."""

    reader: str
    session: str
    number: int
    assigned: int
    read: int
    excluded: int
    open: int
    active_seconds: float


def session_progress(db: Session, project: ReadingProject) -> list[SessionProgress]:
    """Per reader and session (in session order, then reader): the readings assigned, read,
    excluded and still open, and the active reading time so far."""
    rows = db.execute(
        select(
            User.username,
            ReadingSession.name,
            ReadingSession.number,
            ReadTask.status,
            func.count(ReadTask.id),
            func.coalesce(func.sum(ReadTask.active_seconds), 0.0),
        )
        .join(User, ReadTask.user_id == User.id)
        .join(ReadingSession, ReadTask.session_id == ReadingSession.id)
        .where(ReadingSession.project_id == project.id, ReadTask.status != TaskStatus.REASSIGNED)
        .group_by(User.username, ReadingSession.name, ReadingSession.number, ReadTask.status)
    ).all()
    by_key: dict[tuple[int, str, str], dict[str, float]] = {}
    for username, session, number, status, count, seconds in rows:
        entry = by_key.setdefault(
            (number, username, session), {"assigned": 0, "read": 0, "open": 0, "seconds": 0.0}
        )
        entry["assigned"] += count
        entry["seconds"] += float(seconds)
        if status == TaskStatus.SUBMITTED:
            entry["read"] += count
        else:
            entry["open"] += count
    exclusions = {
        (number, username): count
        for username, number, count in db.execute(
            select(User.username, ReadingSession.number, func.count(ReadSubmission.id))
            .join(ReadTask, ReadSubmission.task_id == ReadTask.id)
            .join(User, ReadTask.user_id == User.id)
            .join(ReadingSession, ReadTask.session_id == ReadingSession.id)
            .where(ReadingSession.project_id == project.id, ReadSubmission.exclusion.is_not(None))
            .group_by(User.username, ReadingSession.number)
        ).all()
    }
    return [
        SessionProgress(
            reader=username,
            session=session,
            number=number,
            assigned=int(entry["assigned"]),
            read=int(entry["read"]),
            excluded=exclusions.get((number, username), 0),
            open=int(entry["open"]),
            active_seconds=round(entry["seconds"], 1),
        )
        for (number, username, session), entry in sorted(by_key.items())
    ]
