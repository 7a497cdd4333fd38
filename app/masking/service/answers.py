"""Answers and undo. An answer is appended to the comparison log and the reader's search state
updated in the same transaction, serialised on the reader's row: two tabs or a double key press
cannot apply an answer twice or interleave. Undo takes back the latest answer and exactly its
effect, and serves its pair again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.database import utcnow
from app.core.errors import Conflict, field_error
from app.masking import search
from app.masking.models import MaskingComparison, MaskingProject, MaskingReader, MaskingUndo
from app.masking.service.lookup import get_project, images_by_pk, locked, reader_of, setup_for
from app.masking.service.pending import PendingPair
from app.masking.service.reader_progress import RECENT_ANSWERS
from app.masking.service.serving import (
    Served,
    make_pending,
    new_pending,
    pending_of,
    serve,
    shown,
)
from app.masking.states import Answer, ComparisonKind, DiscardReason, OutcomeKind

DISCARD = Answer.DISCARD
DISCARD_REASONS = tuple(DiscardReason)
MAX_NOTE = 2000


@dataclass
class Answered:
    comparison: MaskingComparison
    replayed: bool
    served: Served


def answer_comparison(
    db: Session,
    user: User,
    uid: str,
    given: Answer | str,
    reason: DiscardReason | str | None = None,
    note: str | None = None,
) -> Answered:
    """Apply an answer to the pair served as ``uid``, once: repeating the same answer returns
    what it did; a different answer to an answered pair is refused."""
    try:
        given = Answer(given)
    except ValueError:
        raise field_error(
            "answer", "The answer must be query, reference, same or discard."
        ) from None
    reason, note = _discard_reason(given, reason, note)
    reader = _waiting_on(db, uid)
    if reader is None or reader.user_id != user.id:
        # answered already (a retry, a double key press, a twin request a moment ago)?
        db.rollback()
        replay = _replayed(db, user, uid, given)
        if replay is not None:
            return replay
        raise _not_current()
    project = get_project(db, reader.project_id)
    comparison = _apply(db, project, reader, given, reason, note)
    served = shown(db, project, serve(db, project, reader))
    db.commit()
    return Answered(comparison, False, served)


def _waiting_on(db: Session, uid: str) -> MaskingReader | None:
    """The reader whose pending pair is ``uid``, its row locked until the commit: in one
    statement on PostgreSQL (SELECT ... FOR UPDATE), by taking the write lock first on
    SQLite."""
    statement = select(MaskingReader).where(MaskingReader.pending_uid == uid)
    if db.get_bind().dialect.name == "postgresql":
        row_locked = statement.with_for_update(of=MaskingReader).execution_options(
            populate_existing=True
        )
        return db.scalar(row_locked)
    reader = db.scalar(statement)
    if reader is None:
        return None
    reader = locked(db, reader)
    return reader if reader.pending_uid == uid else None


def _discard_reason(
    given: Answer, reason: DiscardReason | str | None, note: str | None
) -> tuple[DiscardReason | None, str | None]:
    if given != Answer.DISCARD:
        return None, None
    if reason not in DISCARD_REASONS:
        raise field_error("reason", f"A discard needs a reason: {', '.join(DISCARD_REASONS)}.")
    note = (note or "").strip()[:MAX_NOTE] or None
    return DiscardReason(reason), note


def _replayed(db: Session, user: User, uid: str, given: Answer) -> Answered | None:
    logged = db.scalar(select(MaskingComparison).where(MaskingComparison.uid == uid))
    if logged is None:
        return None
    if logged.user_id != user.id:
        raise _not_current()
    undone = select(MaskingUndo.id).where(MaskingUndo.comparison_id == logged.id)
    if db.scalar(undone) is not None:
        raise _undone_conflict(db, logged, user)
    if logged.answer != given:
        raise Conflict(
            f"This pair was answered already ({str(logged.answer)!r}); ask for the next pair.",
            code="already_answered",
        )
    project = get_project(db, logged.project_id)
    reader = locked(db, reader_of(db, project, user))
    served = shown(db, project, serve(db, project, reader, restart_clock=False))
    db.commit()
    return Answered(logged, True, served)


def _undone_conflict(db: Session, logged: MaskingComparison, user: User) -> Conflict:
    """An answer sent again after it was undone: it is not applied again, and the reader is
    told which pair waits now (the undone pair comes back under a new comparison id)."""
    pending = pending_of(reader_of(db, get_project(db, logged.project_id), user))
    if pending is None:
        now, current = "no pair is waiting now; ask for the next pair.", "none"
    else:
        pair = pending.pair
        images = images_by_pk(db, [pair.query, pair.reference])
        current = pending.uid
        now = (
            f"the pair now waiting is comparison {current} (query image "
            f"{images[pair.query].image_id}, reference image "
            f"{images[pair.reference].image_id}); answer that one."
        )
    return Conflict(
        f"Your answer to comparison {logged.uid} was taken back (undone), so it is not applied "
        f"again; {now}",
        code="answer_undone",
        details=[{"field": "comparison_id", "message": f"current comparison is {current}"}],
    )


def _not_current() -> Conflict:
    return Conflict(
        "This pair is no longer waiting for an answer (answered or undone, perhaps in another "
        "tab); ask for the next pair.",
        code="comparison_not_current",
    )


def _apply(
    db: Session,
    project: MaskingProject,
    reader: MaskingReader,
    given: Answer,
    reason: DiscardReason | None,
    note: str | None,
) -> MaskingComparison:
    pending = pending_of(reader)
    assert pending is not None
    state = search.ReaderState.from_json(reader.state)
    before = state.current
    if pending.kind == ComparisonKind.PROBE:
        outcome = search.Outcome(OutcomeKind.PROBE)
    elif given == Answer.DISCARD:
        state, outcome = search.discard(state, reason or DiscardReason.OTHER)
    else:
        setup = setup_for(project, reader)
        state, outcome = search.answer(state, setup, pending.pair, given)
    now = utcnow()
    comparison = _logged(pending, reader, given, outcome, now)
    comparison.reason, comparison.note = reason, note
    searched = pending.kind == ComparisonKind.SEARCH
    comparison.search_before = before.to_json() if before and searched else None
    db.add(comparison)
    reader.state = state.to_json()
    reader.pending, reader.pending_uid = None, None
    reader.answered += 1
    reader.version += 1
    reader.updated_at = now
    reader.recent_ms = [*(reader.recent_ms or [])[1 - RECENT_ANSWERS :], comparison.response_ms]
    return comparison


def _logged(
    pending: PendingPair,
    reader: MaskingReader,
    given: Answer,
    outcome: search.Outcome,
    now: datetime,
) -> MaskingComparison:
    """The log row of ``given`` as the answer to ``pending``."""
    pair = pending.pair
    return MaskingComparison(
        uid=pending.uid,
        project_id=reader.project_id,
        user_id=reader.user_id,
        kind=pending.kind,
        query_pk=pair.query,
        reference_pk=pair.reference,
        query_side=pair.query_side,
        answer=given,
        rule=pending.rule,
        phase=pair.phase,
        interval_low=pair.low,
        interval_high=pair.high,
        reference_position=pair.position,
        attempt=pair.attempt,
        outcome=outcome.kind,
        outcome_position=outcome.position,
        probe_of=pending.probe_of,
        served_at=pending.served_at,
        answered_at=now,
        response_ms=max(0, round((now - pending.served_at).total_seconds() * 1000)),
    )


@dataclass
class Undone:
    comparison: MaskingComparison
    served: Served


def undo_last(db: Session, project: MaskingProject, user: User) -> Undone:
    """Take back the reader's latest answer not yet undone, and exactly its effect."""
    reader = locked(db, reader_of(db, project, user))
    last = db.scalar(
        select(MaskingComparison)
        .where(
            MaskingComparison.project_id == project.id,
            MaskingComparison.user_id == user.id,
            MaskingComparison.id.not_in(
                select(MaskingUndo.comparison_id).where(MaskingUndo.project_id == project.id)
            ),
        )
        .order_by(MaskingComparison.id.desc())
        .limit(1)
    )
    if last is None:
        raise Conflict("There is no answer to undo.", code="nothing_to_undo")
    state = search.ReaderState.from_json(reader.state)
    if last.kind == ComparisonKind.SEARCH:
        assert last.search_before is not None
        before = search.Current.from_json(last.search_before)
        outcome = search.Outcome(last.outcome, last.outcome_position)
        state = search.undo(state, setup_for(project, reader), before, outcome)
    db.add(MaskingUndo(comparison_id=last.id, project_id=project.id, user_id=user.id))
    reader.state = state.to_json()
    reader.answered -= 1
    reader.finished_at = None
    reader.updated_at = now = utcnow()
    make_pending(reader, _served_again(last, now))
    served = shown(db, project, serve(db, project, reader, restart_clock=False))
    db.commit()
    return Undone(last, served)


def _served_again(comparison: MaskingComparison, now: datetime) -> PendingPair:
    """The pair an answer was given to, to show it again after an undo (a probe too)."""
    pair = search.Pair(
        query=comparison.query_pk,
        reference=comparison.reference_pk,
        position=comparison.reference_position,
        phase=comparison.phase,
        attempt=comparison.attempt,
        low=comparison.interval_low,
        high=comparison.interval_high,
        query_side=comparison.query_side,
    )
    kind = ComparisonKind(comparison.kind)
    return new_pending(kind, pair, comparison.rule, now, comparison.probe_of)
