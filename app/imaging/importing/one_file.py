"""One file imported, whole or not at all: read, refused with a reason, recognised as
imported before, or prepared and stored. Nothing a file contains can stop the batch."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.imaging.dicom import refusal
from app.imaging.importing.preparing import prepare
from app.imaging.importing.report import Outcome
from app.imaging.importing.sources import Rejected, Source, read_dataset
from app.imaging.importing.storing import store
from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.pseudonymise import identifiers
from app.imaging.states import OutcomeStatus
from app.imaging.storage import StorageUnavailable

log = logging.getLogger("app.imaging.importer")  # the name it has always logged under


def import_one(db: Session, kit: ImagingKit, source: Source, batch_id: int) -> Outcome:
    """One file's outcome. Nothing a file contains can stop the batch: the unforeseen is
    logged and reported as a refusal of that file alone. An image store that does not answer
    stops it (``StorageUnavailable``): every later file would fail the same way."""
    try:
        return _import_one(db, kit, source, batch_id)
    except StorageUnavailable:  # not this file's fault: the batch stops, nothing half-written
        db.rollback()
        raise
    except Exception:
        log.exception("import of one file failed unexpectedly")
        db.rollback()
        return Outcome(
            source.name, OutcomeStatus.REJECTED, "The file could not be processed (logged)."
        )


def _import_one(db: Session, kit: ImagingKit, source: Source, batch_id: int) -> Outcome:
    try:
        dataset = read_dataset(source)
        reason = refusal(dataset, kit.policy)
        if reason:
            raise Rejected(reason)
        ids = identifiers(dataset, kit.pseudonyms)
        if db.scalar(select(Image.id).where(Image.image_id == ids.image_id)) is not None:
            return Outcome(
                source.name,
                OutcomeStatus.ALREADY_PRESENT,
                "This image was imported before.",
                ids.study_id,
                ids.image_id,
            )
        prepared = prepare(dataset, kit)
    except Rejected as refusal_:
        return Outcome(source.name, OutcomeStatus.REJECTED, str(refusal_))
    try:
        image = store(db, kit, prepared, batch_id)
    except IntegrityError:  # imported concurrently by another request
        return Outcome(
            source.name,
            OutcomeStatus.ALREADY_PRESENT,
            "This image was imported before.",
            prepared.study_id,
            prepared.image_id,
        )
    flags = tuple(f.kind for f in prepared.findings)
    return Outcome(
        source.name, OutcomeStatus.IMPORTED, None, prepared.study_id, image.image_id, flags
    )
