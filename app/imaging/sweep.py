"""What a crash leaves in the image store, found and removed.

An import writes each image's files first (each as a ``.part`` draft renamed when whole) and
commits its database row last, so after a crash at any point every leftover is one of:

- a ``.part`` draft;
- an image's DICOM file or pyramid folder without a database row;
- an import batch never finished, whose lease (``app.core.leases``) is stale.

Files are removed only when no import is in flight, or when older than the grace period (an
import in flight writes its files moments before their row commits).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core import leases
from app.core.database import utcnow
from app.imaging.models import Image, ImportBatch, Study
from app.imaging.states import OutcomeStatus
from app.imaging.storage import DRAFT_SUFFIX, IMAGES_DIR, PYRAMID_DIR, ZARR_SUFFIX, BlobStore

GRACE_SECONDS = 3600.0
CHUNK = 5000
STOPPED = (
    "The server stopped before this import finished; only the images listed as imported were "
    "stored: send the others again."
)
SWEEPER = Actor(None, None, name="system:sweep")


# --- import batches -----------------------------------------------------------------------------


def stale_batches(db: Session) -> list[int]:
    """Unfinished batches whose importing process stopped."""
    rows = db.execute(
        select(ImportBatch.id, ImportBatch.owner, ImportBatch.heartbeat_at).where(
            ImportBatch.finished_at.is_(None),
            ImportBatch.staged == 0,  # a queued import's files are the job queue's
        )
    ).all()
    return [batch_id for batch_id, owner, beat in rows if leases.stale(owner, beat)]


def finish_stale_batches(db: Session, batch_ids: Collection[int]) -> list[int]:
    """Mark these batches finished, with the images their rows show were imported and an
    outcome saying the server stopped. A batch whose owner beat meanwhile is left alone."""
    finished = []
    for batch_id in batch_ids:
        batch = db.get(ImportBatch, batch_id)
        if batch is None or batch.finished_at is not None:
            continue
        if not leases.stale(batch.owner, batch.heartbeat_at):
            continue
        images = db.execute(
            select(Study.study_id, Image.image_id)
            .join(Study)
            .where(Image.import_batch_id == batch_id)
            .order_by(Image.id)
        ).all()
        imported, interrupted = OutcomeStatus.IMPORTED, OutcomeStatus.INTERRUPTED
        outcomes = [
            {"status": imported, "reason": None, "study_id": s, "image_id": i} for s, i in images
        ]
        outcomes.append(
            {"status": interrupted, "reason": STOPPED, "study_id": None, "image_id": None}
        )
        ended = db.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch_id, ImportBatch.finished_at.is_(None))
            .where(leases.beat_unchanged(ImportBatch.heartbeat_at, batch.heartbeat_at))
            .values(finished_at=utcnow(), imported=len(images), outcomes=outcomes)
        )
        if ended.rowcount:
            record(
                db,
                SWEEPER,
                "images.import_interrupted",
                object_type="import_batch",
                object_id=batch_id,
                imported=len(images),
            )
            finished.append(batch_id)
        db.commit()
    return finished


def imports_in_flight(db: Session, ending: Collection[int] = ()) -> bool:
    """Whether some import batch is still running (not counting those being ended)."""
    running = db.scalars(select(ImportBatch.id).where(ImportBatch.finished_at.is_(None)))
    return any(batch_id not in ending for batch_id in running)


# --- stored files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leftover:
    path: Path
    image_id: str | None  # None: a draft, whatever its image
    mtime: float


def sweep_files(
    db: Session,
    root: Path,
    *,
    dry_run: bool = False,
    grace: float = GRACE_SECONDS,
    ending: Collection[int] = (),
) -> list[str]:
    """Remove drafts and the files of images with no database row under ``root`` (the
    store's folder); returns the paths removed, relative to ``root``. While an import is in
    flight only what is older than ``grace`` seconds goes."""
    found = list(_candidates(root))
    referenced = _existing_ids(db, sorted({f.image_id for f in found if f.image_id}))
    busy = imports_in_flight(db, ending)
    db.rollback()  # end the read: this may take a while and SQLite writers wait for nobody
    now = utcnow().timestamp()
    removed = []
    for leftover in found:
        if leftover.image_id is not None and leftover.image_id in referenced:
            continue
        if busy and now - leftover.mtime < grace:
            continue
        if not dry_run and not _remove_unchanged(leftover):
            continue
        removed.append(str(leftover.path.relative_to(root)))
    if not dry_run and not imports_in_flight(db, ending):
        _remove_empty_folders(root)
        db.rollback()
    return removed


def sweep_objects(
    db: Session,
    store: BlobStore,
    *,
    dry_run: bool = False,
    grace: float = GRACE_SECONDS,
    ending: Collection[int] = (),
) -> list[str]:
    """``sweep_files`` for an object store: the objects of images with no database row (an
    import stopped between its objects and its row, or the store failed while it removed
    them). There are no drafts: an object appears whole or not at all. Returns the keys."""
    found: dict[str, tuple[list[str], float]] = {}
    for top in (IMAGES_DIR, PYRAMID_DIR):
        for key, when in store.listing(top):
            image_id = _image_of(key)
            if image_id is not None:
                keys, newest = found.get(image_id, ([], 0.0))
                found[image_id] = ([*keys, key], max(newest, when.timestamp()))
    referenced = _existing_ids(db, sorted(found))
    busy = imports_in_flight(db, ending)
    db.rollback()
    now = utcnow().timestamp()
    removed: list[str] = []
    for image_id, (keys, newest) in sorted(found.items()):
        if image_id in referenced or (busy and now - newest < grace):
            continue
        if not dry_run:
            # an import that began since the listing may be writing this image again
            if not busy and imports_in_flight(db, ending):
                db.rollback()
                break
            db.rollback()
            for key in keys:
                store.delete(key)
        removed.extend(keys)
    return removed


def _image_of(key: str) -> str | None:
    """The image a stored key belongs to: ``images/<study>/<image>.dcm``,
    ``pyramid/<study>/<image>.zarr/...`` or ``pyramid/<study>/<image>/<level>.npy``."""
    parts = key.split("/")
    if parts[0] == IMAGES_DIR and len(parts) == 3 and parts[2].endswith(".dcm"):
        return parts[2].removesuffix(".dcm")
    if parts[0] == PYRAMID_DIR and len(parts) >= 4:
        return parts[2].removesuffix(ZARR_SUFFIX)
    return None


def _candidates(root: Path) -> Iterator[Leftover]:
    """Drafts, stored DICOM files and pyramid folders, with the image each belongs to."""
    for study in _folders(root / IMAGES_DIR):
        for entry in _entries(study):
            if entry.name.endswith(DRAFT_SUFFIX):
                yield Leftover(entry, None, _mtime(entry))
            elif entry.suffix == ".dcm":
                yield Leftover(entry, entry.stem, _mtime(entry))
    for study in _folders(root / PYRAMID_DIR):
        for image in _entries(study):
            if not image.is_dir():
                if image.name.endswith(DRAFT_SUFFIX):
                    yield Leftover(image, None, _mtime(image))
                continue
            files = [image, *_entries_within(image)]
            newest = max(_mtime(path) for path in files)
            # the folder first: removing a draft inside would change the folder's time
            yield Leftover(image, image.name.removesuffix(ZARR_SUFFIX), newest)
            for path in files:
                if path.name.endswith(DRAFT_SUFFIX):
                    yield Leftover(path, None, _mtime(path))


def _entries_within(folder: Path) -> list[Path]:
    """Everything under ``folder``, at any depth (a Zarr pyramid nests its tiles)."""
    found = []
    for entry in _entries(folder):
        found.append(entry)
        if entry.is_dir():
            found += _entries_within(entry)
    return found


def _folders(path: Path) -> list[Path]:
    return [entry for entry in _entries(path) if entry.is_dir()]


def _entries(path: Path) -> list[Path]:
    try:
        return sorted(Path(entry.path) for entry in os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _existing_ids(db: Session, image_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(image_ids), CHUNK):
        chunk = image_ids[start : start + CHUNK]
        found.update(db.scalars(select(Image.image_id).where(Image.image_id.in_(chunk))))
    return found


def _remove_unchanged(leftover: Leftover) -> bool:
    """Remove a leftover unless it changed since it was found (an import wrote it again)."""
    if not leftover.path.exists():
        return False
    if leftover.path.is_dir():
        inside = [leftover.path, *_entries_within(leftover.path)]
        if max(_mtime(path) for path in inside) > leftover.mtime:
            return False
        shutil.rmtree(leftover.path, ignore_errors=True)
        return True
    if _mtime(leftover.path) > leftover.mtime:
        return False
    leftover.path.unlink(missing_ok=True)
    return True


def _remove_empty_folders(root: Path) -> None:
    for top in (root / IMAGES_DIR, root / PYRAMID_DIR):
        for study in _folders(top):
            try:
                study.rmdir()
            except OSError:
                continue  # not empty
