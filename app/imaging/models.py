"""Studies, series and images as imported (pseudonymised), their QC flags and import history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.database import Base, EnumText, UTCDateTime, utcnow
from app.imaging.states import ImportChannel, ImportFileStatus, PyramidFormat


class Study(Base):
    """One exam. ``study_id`` is the MD5 hex of the original Study Instance UID (VinDr)."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(String(32), unique=True)
    patient_age: Mapped[int | None] = mapped_column(Integer)
    patient_sex: Mapped[str | None] = mapped_column(String(1))
    # the woman's pseudonymous key (app.imaging.longitudinal) and the study date shifted by
    # her own offset; None for files that carried neither (no PatientID, no StudyDate)
    patient_key: Mapped[str | None] = mapped_column(String(32), index=True)
    study_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    images: Mapped[list[Image]] = relationship(back_populates="study", order_by="Image.id")


class Image(Base):
    """One stored image with what display and the workflows need, read once at import."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[str] = mapped_column(String(32), unique=True)
    series_id: Mapped[str] = mapped_column(String(32), index=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    laterality: Mapped[str | None] = mapped_column(String(1), index=True)
    view: Mapped[str | None] = mapped_column(String(16), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    bits_stored: Mapped[int] = mapped_column(Integer)
    photometric: Mapped[str] = mapped_column(String(16))
    presentation_intent: Mapped[str | None] = mapped_column(String(32))
    modality: Mapped[str] = mapped_column(String(16))
    manufacturer: Mapped[str | None] = mapped_column(String(64), index=True)
    model: Mapped[str | None] = mapped_column(String(64))
    pixel_spacing: Mapped[float | None] = mapped_column(Float)
    transfer_syntax: Mapped[str] = mapped_column(String(64))
    display: Mapped[dict[str, Any]] = mapped_column(JSON)
    pyramid_widths: Mapped[list[int]] = mapped_column(JSON)
    # how the pyramid is stored; images from before Zarr keep one .npy file per level
    pyramid_format: Mapped[PyramidFormat] = mapped_column(
        EnumText(PyramidFormat), server_default=PyramidFormat.NPY.value
    )
    # where the stored DICOM keeps its pixels as plain uint16 rows (full resolution is read
    # from there); None: level 0 is in the pyramid
    pixel_offset: Mapped[int | None] = mapped_column(Integer)
    chest_wall_side: Mapped[str | None] = mapped_column(String(1))
    file_key: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    # how the ids were made: "hmac" (keyed, the default) or "md5" (VinDr's, reproducible);
    # "kept" when the file carried pseudonymous ids already (a release being imported)
    pseudonym_scheme: Mapped[str] = mapped_column(String(16), server_default="md5")

    study: Mapped[Study] = relationship(back_populates="images")

    @property
    def view_name(self) -> str:
        return f"{self.laterality or '?'}-{self.view or '?'}"


class QcFlag(Base):
    """A quality problem found at import; an admin may clear it with a reason."""

    __tablename__ = "qc_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    image_pk: Mapped[int | None] = mapped_column(ForeignKey("images.id"), index=True)
    # a QcKind's value, kept as text: a row may hold a kind this version does not know
    kind: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    clear_reason: Mapped[str | None] = mapped_column(Text)

    study: Mapped[Study] = relationship()
    image: Mapped[Image | None] = relationship()


class ImportBatch(Base):
    """One import (a browser upload, an API request or a CLI run) and its per-file outcomes.

    File names are not stored: they may carry patient names."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[ImportChannel] = mapped_column(EnumText(ImportChannel, 16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    already_present: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # per file: status (an ``OutcomeStatus`` value), reason, study_id, image_id
    outcomes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # the lease: which process runs the import, and when it last said it is alive
    owner: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # files staged for the job queue (``ImportFile``); 0 for an import run in its request
    staged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ImportFile(Base):
    """One file of a queued import: staged in the store as sent (it still carries PHI, so it
    lives only until its job has imported it), then its outcome. No file name is stored."""

    __tablename__ = "import_files"
    __table_args__ = (UniqueConstraint("batch_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # in the order the files were sent
    object_key: Mapped[str | None] = mapped_column(String(255))  # the staged copy
    status: Mapped[ImportFileStatus] = mapped_column(
        EnumText(ImportFileStatus, 16), default=ImportFileStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started
    # status, reason, study_id, image_id (as ImportBatch.outcomes), once done
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
