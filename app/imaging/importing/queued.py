"""Queued imports: an upload returns at once with a batch to follow, and the files are
imported by the job queue's workers (``app.jobs``), several at once and on any node.

The request stages each file as sent (a zip's members one by one) in the store under
``incoming/<batch>/<position>``, adds an ``ImportFile`` row per file and submits one job per
file. A worker imports its file exactly as an upload in the request would (``import_one``:
pseudonymised, checked, idempotent), writes the outcome on the row, removes the staged copy
(it still carries PHI) and, after the batch's last file, ends the batch with every outcome in
the order the files came. A worker that stopped mid-file leaves the row running: the queue
runs the job again, and the import, idempotent, says what the file became.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor, record
from app.core import leases
from app.core.database import begin_write, utcnow
from app.core.errors import Conflict, NotFound, Unavailable, field_error
from app.imaging.importing.batch import CONTINUE_WITHIN, new_batch
from app.imaging.importing.one_file import import_one
from app.imaging.importing.report import ImportReport, Outcome
from app.imaging.importing.sources import Rejected, Source, expand
from app.imaging.kit import ImagingKit
from app.imaging.models import ImportBatch, ImportFile
from app.imaging.qc import kind_text
from app.imaging.states import ImportChannel, ImportFileStatus, OutcomeStatus, QcKind
from app.imaging.storage import BlobStore, StorageUnavailable
from app.jobs.queue import MAX_ATTEMPTS, Queue, Running, Transient

log = logging.getLogger(__name__)
KIND = "import"  # the job queue's name for these jobs
STAGING = "incoming"  # the store's folder of files waiting to be imported
GAVE_UP = "Its import was interrupted {} times (a worker stopped); send it again."
NOT_QUEUED = "The job queue did not take this file; send it again."


def staging_key(batch_id: int, name: str) -> str:
    return f"{STAGING}/{batch_id}/{name}.dcm"


def queue_import(
    db: Session,
    kit: ImagingKit,
    queue: Queue,
    sources: Iterable[Source],
    *,
    actor: Actor,
    channel: ImportChannel,
    continue_batch: int | None = None,
) -> ImportBatch:
    """Stage ``sources`` (zips opened here, their members staged one by one) and queue one
    job per file. A member refused while it is read (unsafe, too large) has its outcome now.
    ``continue_batch`` adds the files to a queued import this actor started within the hour
    (the import page sends a large upload in several requests: still one import). Nothing is
    left behind when staging fails: no row, no staged file."""
    keeper = leases.Keeper(sessionmaker(bind=db.get_bind()))
    if continue_batch is None:
        # while it stages, this process holds the new batch's lease (a server starting
        # meanwhile leaves it alone; if this one stops, the sweep ends it)
        batch = new_batch(actor, channel, keeper.owner)
        db.add(batch)
        db.commit()  # no write lock is held while the files are staged
        keeper.hold(ImportBatch, batch.id)
    else:
        batch = _continued(db, continue_batch, actor, channel)
    batch_id, created = batch.id, continue_batch is None
    token = secrets.token_hex(6)  # this request's staged names: positions come at the end
    rows: list[ImportFile] = []
    try:
        for number, source in enumerate(expand(sources, kit)):
            try:
                data = source.read()
            except Rejected as refused:
                outcome = _outcome(Outcome(source.name, OutcomeStatus.REJECTED, str(refused)))
                rows.append(_file(batch_id, None, ImportFileStatus.DONE, outcome))
                continue
            key = staging_key(batch_id, f"{token}-{number}")
            kit.store.put(key, data)
            rows.append(_file(batch_id, key, ImportFileStatus.QUEUED, None))
        if not rows:
            raise field_error("files", "No DICOM file or zip archive was sent.")
        begin_write(db)
        batch = db.get(ImportBatch, batch_id, with_for_update=True, populate_existing=True)
        assert batch is not None
        for number, row in enumerate(rows):
            row.position = batch.staged + number
        batch.staged += len(rows)
        batch.owner = batch.heartbeat_at = batch.finished_at = None
        db.add_all(rows)
        record(
            db,
            actor,
            "images.import_queued",
            object_type="import_batch",
            object_id=batch_id,
            files=len(rows),
        )
        db.commit()
    except BaseException:
        db.rollback()
        for row in rows:
            if row.object_key:
                _forget(kit, row.object_key)
        if created:
            db.execute(delete(ImportBatch).where(ImportBatch.id == batch_id))
            db.commit()
        raise
    finally:
        keeper.stop()
    waiting = [row for row in rows if row.status == ImportFileStatus.QUEUED]
    for number, row in enumerate(waiting):
        try:
            queue.submit(KIND, row.id)
        except Exception as error:
            log.exception("import batch %s: the job queue refused its files", batch_id)
            _not_queued(db, kit, waiting[number:])
            finish_if_complete(db, batch_id)
            raise Unavailable("The job queue does not answer; send the files again.") from error
    finish_if_complete(db, batch_id)  # every file refused at once
    db.refresh(batch)
    return batch


def _file(
    batch_id: int, key: str | None, status: ImportFileStatus, outcome: dict | None
) -> ImportFile:
    return ImportFile(batch_id=batch_id, object_key=key, status=status, outcome=outcome)


def _continued(db: Session, batch_id: int, actor: Actor, channel: ImportChannel) -> ImportBatch:
    """The queued import an earlier request of this upload started: the same actor and
    channel, and recent (its files may still be importing)."""
    batch = db.get(ImportBatch, batch_id)
    user_id = actor.user.id if actor.user else None
    if batch is None or batch.user_id != user_id or batch.channel != channel:
        raise field_error("batch", f"There is no import batch {batch_id} of yours to continue.")
    if not batch.staged:
        raise field_error("batch", f"Import batch {batch_id} was not queued; start a new one.")
    if utcnow() - batch.started_at > CONTINUE_WITHIN:
        raise Conflict(
            f"Import batch {batch_id} is older than an hour; start a new one.",
            code="batch_closed",
        )
    return batch


def _outcome(outcome: Outcome) -> dict[str, object]:
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "study_id": outcome.study_id,
        "image_id": outcome.image_id,
        "flags": list(outcome.flags),
    }


def _not_queued(db: Session, kit: ImagingKit, rows: list[ImportFile]) -> None:
    interrupted = _outcome(Outcome("", OutcomeStatus.INTERRUPTED, NOT_QUEUED))
    for row in rows:
        db.execute(
            update(ImportFile)
            .where(ImportFile.id == row.id, ImportFile.status == ImportFileStatus.QUEUED)
            .values(status=ImportFileStatus.DONE, outcome=interrupted)
        )
        if row.object_key:
            _forget(kit, row.object_key)
    db.commit()


def _forget(kit: ImagingKit, key: str) -> None:
    try:
        kit.store.delete(key)
    except StorageUnavailable:  # the sweep removes it (sweep_staged)
        log.warning("could not remove the staged file %s; the sweep will", key)


class ImportRunner:
    """The import jobs' handler: one staged file, imported by whichever worker runs it."""

    def __init__(self, factory: sessionmaker[Session], kit: ImagingKit) -> None:
        self.factory, self.kit = factory, kit

    def __call__(self, running: Running) -> None:
        with self.factory() as db:
            row = _claim(db, running.row_id)
            if row is None:
                return
            if row.attempts > MAX_ATTEMPTS:
                reason = GAVE_UP.format(row.attempts - 1)
                self._done(db, row, Outcome("", OutcomeStatus.REJECTED, reason))
                return
            assert row.object_key is not None
            try:
                data = self.kit.store.get(row.object_key)
            except FileNotFoundError:  # done by a run that stopped before saying so
                data = None
            except StorageUnavailable as error:
                _back_to_queued(db, row.id)
                raise Transient(str(error)) from error
            if data is None:
                outcome = Outcome("", OutcomeStatus.REJECTED, "The staged file is gone.")
            else:
                source = Source(f"file {row.position + 1}", lambda: data)
                try:
                    outcome = import_one(db, self.kit, source, row.batch_id)
                except StorageUnavailable as error:
                    _back_to_queued(db, row.id)
                    raise Transient(str(error)) from error
            self._done(db, row, outcome)

    def _done(self, db: Session, row: ImportFile, outcome: Outcome) -> None:
        db.execute(
            update(ImportFile)
            .where(ImportFile.id == row.id, ImportFile.status != ImportFileStatus.DONE)
            .values(status=ImportFileStatus.DONE, outcome=_outcome(outcome))
        )
        db.commit()
        if row.object_key:
            _forget(self.kit, row.object_key)
        finish_if_complete(db, row.batch_id)


def _claim(db: Session, file_id: int) -> ImportFile | None:
    """Take the file: queued, or running (its worker stopped: the queue runs it again; an
    import is idempotent, so a second run can only say what the file became)."""
    taken = db.execute(
        update(ImportFile)
        .where(ImportFile.id == file_id, ImportFile.status != ImportFileStatus.DONE)
        .values(status=ImportFileStatus.RUNNING, attempts=ImportFile.attempts + 1)
    )
    db.commit()
    return db.get(ImportFile, file_id) if taken.rowcount else None


def _back_to_queued(db: Session, file_id: int) -> None:
    db.rollback()
    db.execute(
        update(ImportFile)
        .where(ImportFile.id == file_id, ImportFile.status == ImportFileStatus.RUNNING)
        .values(status=ImportFileStatus.QUEUED)
    )
    db.commit()


def finish_if_complete(db: Session, batch_id: int) -> bool:
    """After a batch's last file: the batch takes every outcome, in the order the files came,
    and its counts. Only one caller ends it.

    The batch row is locked before the files are counted, so a request adding files to this
    batch (``queue_import`` holds the same lock while it adds them) is either wholly seen or
    wholly after: a count taken before its rows were committed cannot end the batch without
    them. The outcomes are read as columns, not through the session's identity map, where
    this request's own rows (``expire_on_commit=False``) may still say they are queued."""
    begin_write(db)
    if db.get(ImportBatch, batch_id, with_for_update=True, populate_existing=True) is None:
        db.rollback()
        return False
    still_open = db.scalar(
        select(func.count(ImportFile.id)).where(
            ImportFile.batch_id == batch_id, ImportFile.status != ImportFileStatus.DONE
        )
    )
    if still_open:
        db.rollback()  # the lock goes with it
        return False
    stored = db.scalars(
        select(ImportFile.outcome)
        .where(ImportFile.batch_id == batch_id)
        .order_by(ImportFile.position)
    ).all()
    if not stored:
        db.rollback()
        return False
    outcomes = [_stored(outcome or {}) for outcome in stored]
    report = ImportReport(
        batch_id, [Outcome("", OutcomeStatus(o["status"]), o["reason"]) for o in outcomes]
    )
    counts = report.summary()
    ended = db.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id, ImportBatch.finished_at.is_(None))
        .values(
            finished_at=utcnow(),
            outcomes=outcomes,
            imported=counts[OutcomeStatus.IMPORTED],
            already_present=counts[OutcomeStatus.ALREADY_PRESENT],
            rejected=counts[OutcomeStatus.REJECTED],
        )
    )
    if not ended.rowcount:
        db.rollback()
        return False
    batch = db.get(ImportBatch, batch_id)
    assert batch is not None
    record(
        db,
        Actor(None, None, batch.actor_name),
        "images.imported",
        object_type="import_batch",
        object_id=batch_id,
        **counts,
    )
    db.commit()
    return True


def _shown(position: int, outcome: dict) -> dict[str, Any]:
    flags = [QcKind(flag) for flag in outcome.get("flags") or []]
    return {
        "position": position,
        **_stored(outcome),
        "flags": flags,
        "flag_texts": [kind_text(flag) for flag in flags],
    }


def _stored(outcome: dict) -> dict:
    """An outcome as a batch keeps it (ImportBatch.outcomes: no flags there)."""
    return {key: outcome.get(key) for key in ("status", "reason", "study_id", "image_id")}


def progress_of(db: Session, batch_id: int, *, with_outcomes: bool = True) -> dict[str, Any]:
    """An import's progress (``ImportProgressOut``): a finished batch's outcomes, or a queued
    batch's outcomes so far, each with its position in the upload (``with_outcomes=False``:
    the counts alone, read from one column of the rows)."""
    batch = db.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"There is no import batch {batch_id}.")
    if not batch.staged:  # imported in its request: the batch holds the outcomes
        outcomes = [{"position": n, **o} for n, o in enumerate(batch.outcomes or [])]
        statuses = [o.get("status") for o in outcomes]
    elif with_outcomes:  # queued: each file's row, with the QC flags its import raised
        rows = db.scalars(select(ImportFile).where(*_done_files(batch_id))).all()
        outcomes = sorted(
            (_shown(row.position, row.outcome or {}) for row in rows),
            key=lambda outcome: outcome["position"],
        )
        statuses = [o["status"] for o in outcomes]
    else:
        statuses = [
            (outcome or {}).get("status")
            for outcome in db.scalars(select(ImportFile.outcome).where(*_done_files(batch_id)))
        ]
        outcomes = []
    counted = dict.fromkeys(OutcomeStatus.of_a_file(), 0)
    for status in statuses:
        if status in counted:
            counted[OutcomeStatus(status)] += 1
    return {
        "batch_id": batch.id,
        "finished": batch.finished_at is not None,
        "files": batch.staged or len(statuses),
        "done": len(statuses),
        "imported": counted[OutcomeStatus.IMPORTED],
        "already_present": counted[OutcomeStatus.ALREADY_PRESENT],
        "rejected": counted[OutcomeStatus.REJECTED],
        "outcomes": outcomes if with_outcomes else [],
    }


def _done_files(batch_id: int) -> tuple[Any, ...]:
    return (ImportFile.batch_id == batch_id, ImportFile.status == ImportFileStatus.DONE)


def resume_open(factory: sessionmaker[Session], queue: Queue) -> list[int]:
    """At start-up: the files not done that no job waits for are submitted again (their
    jobs lived in a process that stopped, or the process stopped before submitting them).
    A file whose job is still waiting or running is left to it."""
    with factory() as db:
        ids = list(
            db.scalars(select(ImportFile.id).where(ImportFile.status != ImportFileStatus.DONE))
        )
    if not ids:
        return []
    waiting = queue.waiting(KIND)
    resumed = [file_id for file_id in ids if waiting is None or file_id not in waiting]
    for file_id in resumed:
        queue.submit(KIND, file_id)
    return resumed


def sweep_staged(
    db: Session, store: BlobStore, *, dry_run: bool = False, grace: float = 3600.0
) -> list[str]:
    """Staged files no open file row names (their import ended, or the staging stopped half
    way) and older than ``grace`` seconds (an upload being staged has no rows yet): they
    still carry PHI, so they go."""
    since = utcnow() - timedelta(seconds=grace)
    wanted = set(
        db.scalars(
            select(ImportFile.object_key).where(
                ImportFile.status != ImportFileStatus.DONE, ImportFile.object_key.is_not(None)
            )
        )
    )
    removed = []
    for key, modified in store.listing(f"{STAGING}/"):
        if key in wanted or modified > since:
            continue
        removed.append(key)
        if not dry_run:
            try:
                store.delete(key)
            except StorageUnavailable:
                log.warning("could not remove the staged file %s", key)
    return removed
