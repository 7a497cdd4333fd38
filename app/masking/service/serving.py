"""Serving pairs: the pair waiting for a reader (the same one until answered), else the next
step of their search, now and then a probe; the images to prefetch."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.database import utcnow
from app.imaging.models import Image
from app.masking import search
from app.masking.models import MaskingComparison, MaskingProject, MaskingReader, MaskingUndo
from app.masking.service.lookup import images_by_pk, locked, reader_of, rule_name, setup_for
from app.masking.service.pending import PendingPair
from app.masking.service.reader_progress import Progress, progress
from app.masking.states import Answer, ComparisonKind, Side


@dataclass
class Served:
    """What a reader is shown: the pending pair (None when done), images to prefetch, and
    (once ``shown``) the progress and the images' rows, read before the commit so that the
    reply needs no second connection."""

    reader: MaskingReader
    pending: PendingPair | None
    prefetch: list[int] = field(default_factory=list)
    progress: Progress | None = None
    images: dict[int, Image] = field(default_factory=dict)
    project: MaskingProject | None = None


def next_pair(db: Session, project: MaskingProject, user: User) -> Served:
    """The pair waiting for this reader (served again, its clock restarted), else a new one."""
    reader = locked(db, reader_of(db, project, user))
    served = shown(db, project, serve(db, project, reader))
    db.commit()
    return served


def shown(db: Session, project: MaskingProject, served: Served) -> Served:
    """``served`` with the project, the reader's progress and the images' rows."""
    served.project = project
    served.progress = progress(project, served.reader)
    if served.pending is not None:
        pair = served.pending.pair
        served.images = images_by_pk(db, [pair.query, pair.reference, *served.prefetch])
    return served


def pending_of(reader: MaskingReader) -> PendingPair | None:
    """The pair waiting on ``reader``'s row, if any."""
    return None if reader.pending is None else PendingPair.from_json(reader.pending)


def serve(
    db: Session, project: MaskingProject, reader: MaskingReader, *, restart_clock: bool = True
) -> Served:
    """The pending pair (its clock restarted: it is being shown again), or a new one."""
    setup = setup_for(project, reader)
    state = search.ReaderState.from_json(reader.state)
    now = utcnow()
    waiting = pending_of(reader)
    if waiting is not None:
        if restart_clock:
            waiting = waiting.shown_again(now)
            reader.pending = waiting.to_json()
        return Served(reader, waiting, _prefetch(state, setup, waiting))
    started = search.start_next(state, setup)
    if started is not state:
        reader.state = started.to_json()
    pair = search.pair_for(started, setup)
    if pair is None:
        if reader.finished_at is None:
            reader.finished_at = now
        return Served(reader, None)
    step = new_pending(ComparisonKind.SEARCH, pair, rule_name(project), now)
    pending = _probe(db, project, reader, step) or step
    make_pending(reader, pending)
    return Served(reader, pending, _prefetch(started, setup, pending))


def new_pending(
    kind: ComparisonKind, pair: search.Pair, rule: str, now: datetime, probe_of: int | None = None
) -> PendingPair:
    """A pair to serve now, under a new comparison id."""
    return PendingPair(kind, pair, rule, secrets.token_hex(16), now, probe_of)


def make_pending(reader: MaskingReader, pending: PendingPair) -> None:
    """Store ``pending`` on the reader's row as the pair waiting for their answer."""
    reader.pending, reader.pending_uid = pending.to_json(), pending.uid
    reader.served += 1
    reader.version += 1


def _probe(
    db: Session, project: MaskingProject, reader: MaskingReader, step: PendingPair
) -> PendingPair | None:
    """Now and then, a pair answered long enough ago, shown again blind: sides redrawn, and
    the phase, interval and attempt those of the search it interrupts."""
    coin = search.draw(reader.seed, "probe", reader.served) % 1_000_000
    if coin >= project.probe_share * 1_000_000:
        return None
    original = _probed_answer(db, project, reader)
    if original is None:
        return None
    side = original.query_side
    if project.randomise_sides:
        side = (Side.LEFT, Side.RIGHT)[search.draw(reader.seed, "probe-side", reader.served) % 2]
    pair = replace(
        step.pair,
        query=original.query_pk,
        reference=original.reference_pk,
        position=original.reference_position,
        query_side=side,
    )
    return replace(step, kind=ComparisonKind.PROBE, pair=pair, probe_of=original.id)


def _probed_answer(
    db: Session, project: MaskingProject, reader: MaskingReader
) -> MaskingComparison | None:
    """A search answer of this reader, drawn among those not probed, not undone and older than
    the probe gap; None when there are too few."""
    probed = select(MaskingComparison.probe_of).where(
        MaskingComparison.project_id == project.id,
        MaskingComparison.user_id == reader.user_id,
        MaskingComparison.probe_of.is_not(None),
    )
    eligible = select(MaskingComparison.id).where(
        MaskingComparison.project_id == project.id,
        MaskingComparison.user_id == reader.user_id,
        MaskingComparison.kind == ComparisonKind.SEARCH,
        MaskingComparison.answer.in_(Answer.of_search()),
        MaskingComparison.id.not_in(probed),
        MaskingComparison.id.not_in(
            select(MaskingUndo.comparison_id).where(MaskingUndo.project_id == project.id)
        ),
    )
    total = db.scalar(select(func.count()).select_from(eligible.subquery())) or 0
    if total <= project.probe_gap:  # the latest answers are too fresh in the reader's mind
        return None
    pick = search.draw(reader.seed, "pick", reader.served) % (total - project.probe_gap)
    newest_first = eligible.order_by(MaskingComparison.id.desc())
    original = db.get(
        MaskingComparison, db.scalar(newest_first.offset(project.probe_gap + pick).limit(1))
    )
    assert original is not None
    return original


def _prefetch(state: search.ReaderState, setup: search.Setup, pending: PendingPair) -> list[int]:
    """Images of the pairs each answer can lead to, other than those on screen now."""
    showing = {pending.pair.query, pending.pair.reference}
    if pending.kind == ComparisonKind.PROBE:
        upcoming = [p for p in [search.pair_for(search.start_next(state, setup), setup)] if p]
    else:
        upcoming = search.predicted_pairs(state, setup, pending.pair)
    images: list[int] = []
    for pair in upcoming:
        for image in (pair.query, pair.reference):
            if image not in showing and image not in images:
                images.append(image)
    return images
