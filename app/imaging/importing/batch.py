"""An import batch: one row per import (a browser upload, an API request, a CLI run) holding
each file's outcome, and its lease (``app.core.leases``): while this process beats, a process
starting meanwhile leaves the batch alone; if it stops, ``app.imaging.sweep`` ends the batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor, record
from app.core import leases
from app.core.database import utcnow
from app.core.errors import Conflict, field_error
from app.imaging.importing.one_file import import_one
from app.imaging.importing.report import ImportReport, Outcome, Progress
from app.imaging.importing.sources import Source, expand
from app.imaging.kit import ImagingKit
from app.imaging.models import ImportBatch
from app.imaging.states import ImportChannel, OutcomeStatus
from app.imaging.storage import StorageUnavailable

STORE_DOWN = (
    "The image store did not answer, so the import stopped here: the images listed as "
    "imported are stored; send this one and the rest again."
)


def import_sources(
    db: Session,
    kit: ImagingKit,
    sources: Iterable[Source],
    *,
    actor: Actor,
    channel: ImportChannel,
    progress: Progress | None = None,
    continue_batch: int | None = None,
) -> ImportReport:
    """Import ``sources`` (zips expanded) file by file as one batch, recorded with each
    file's outcome; one bad file never stops the others. ``continue_batch`` adds them to a
    batch this actor started with an earlier request of the same upload (the import page
    sends a large upload in several requests: still one import)."""
    # the batch's lease: a process starting meanwhile leaves it alone while this one beats
    keeper = leases.Keeper(sessionmaker(bind=db.get_bind().engine))
    if continue_batch is not None:
        batch = _continued(db, continue_batch, actor, channel)
        batch.owner, batch.heartbeat_at, batch.finished_at = keeper.owner, utcnow(), None
    else:
        batch = new_batch(actor, channel, keeper.owner)
        db.add(batch)
    db.commit()
    report = ImportReport(batch.id)
    keeper.hold(ImportBatch, batch.id)
    try:
        for source in expand(sources, kit):
            try:
                outcome = import_one(db, kit, source, batch.id)
            except StorageUnavailable:
                report.outcomes.append(Outcome(source.name, OutcomeStatus.INTERRUPTED, STORE_DOWN))
                raise
            report.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    finally:
        try:
            _finish(db, batch, report, actor)
        finally:
            keeper.stop()
    return report


def new_batch(actor: Actor, channel: ImportChannel, owner: str) -> ImportBatch:
    """A batch of this actor's, leased by ``owner`` (the process that fills it)."""
    return ImportBatch(
        user_id=actor.user.id if actor.user else None,
        actor_name=actor.display,
        channel=channel,
        owner=owner,
        heartbeat_at=utcnow(),
    )


CONTINUE_WITHIN = timedelta(hours=1)


def _continued(db: Session, batch_id: int, actor: Actor, channel: ImportChannel) -> ImportBatch:
    """The batch an earlier request of this upload started: the same actor and channel,
    finished (no request of it is running) and recent."""
    batch = db.get(ImportBatch, batch_id)
    user_id = actor.user.id if actor.user else None
    if batch is None or batch.user_id != user_id or batch.channel != channel:
        raise field_error("batch", f"There is no import batch {batch_id} of yours to continue.")
    if batch.finished_at is None or utcnow() - batch.started_at > CONTINUE_WITHIN:
        raise Conflict(
            f"Import batch {batch_id} is running or older than an hour; start a new one.",
            code="batch_closed",
        )
    return batch


def _finish(db: Session, batch: ImportBatch, report: ImportReport, actor: Actor) -> None:
    batch = db.merge(batch)
    batch.finished_at = utcnow()
    # a continued batch keeps what its earlier requests brought
    batch.imported = (batch.imported or 0) + report.count(OutcomeStatus.IMPORTED)
    batch.already_present = (batch.already_present or 0) + report.count(
        OutcomeStatus.ALREADY_PRESENT
    )
    batch.rejected = (batch.rejected or 0) + report.count(OutcomeStatus.REJECTED)
    batch.outcomes = [
        *(batch.outcomes or []),
        *(
            {"status": o.status, "reason": o.reason, "study_id": o.study_id, "image_id": o.image_id}
            for o in report.outcomes
        ),
    ]
    record(
        db,
        actor,
        "images.imported",
        object_type="import_batch",
        object_id=batch.id,
        **report.summary(),
    )
    db.commit()
