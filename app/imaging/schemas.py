"""Shapes of the imaging API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.imaging.states import ImportChannel, OutcomeStatus, QcKind


class FileOutcomeOut(BaseModel):
    """What became of one file of an import."""

    status: OutcomeStatus = Field(description="imported, already_present or rejected")
    reason: str | None = None
    study_id: str | None = None
    image_id: str | None = None
    flags: list[QcKind] = Field(default_factory=list, description="QC flags raised at import.")
    flag_texts: list[str] = Field(
        default_factory=list, description="The same flags in words, in the same order."
    )


class OutcomeOut(FileOutcomeOut):
    name: str = Field(description="The file's name as uploaded (zip members: archive/member).")


class ImportOut(BaseModel):
    batch_id: int
    imported: int
    already_present: int
    rejected: int
    outcomes: list[OutcomeOut]


class QueuedOutcomeOut(FileOutcomeOut):
    position: int = Field(
        description="The file's place in the upload, from 0 (a zip's members in their order)."
    )


class ImportProgressOut(BaseModel):
    """A queued import: its files are imported by the job queue's workers, several at once."""

    batch_id: int
    finished: bool = Field(description="Every file has its outcome.")
    files: int = Field(description="Files sent (a zip counts its members).")
    done: int = Field(description="Files with their outcome so far.")
    imported: int
    already_present: int
    rejected: int
    outcomes: list[QueuedOutcomeOut] = Field(description="The outcomes so far, by position.")


class QcFlagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    detail: str
    image_id: str | None = None
    created_at: datetime
    cleared_at: datetime | None
    clear_reason: str | None


class ReaderFlagOut(BaseModel):
    """An open QC flag as a reader sees it: what it is and what to look out for; nothing of
    its administration (clearing, reasons, who)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    detail: str = Field(description="What was found, in words meant for the reader.")
    image_id: str | None = Field(default=None, description="None: the flag is about the study.")


class WindowOut(BaseModel):
    index: int
    center: float
    width: float
    explanation: str


class ImageOut(BaseModel):
    image_id: str
    series_id: str
    study_id: str
    laterality: str | None
    view: str | None
    rows: int
    columns: int
    bits_stored: int
    photometric: str
    presentation_intent: str | None
    modality: str
    manufacturer: str | None
    model: str | None
    pixel_spacing: float | None
    transfer_syntax: str
    chest_wall_side: str | None = Field(description="Edge the breast lies against, from pixels.")
    presets: list[WindowOut]
    voi_function: str
    has_voi_lut: bool
    display: dict[str, Any] = Field(description="Display parameters for client-side windowing.")
    pyramid_widths: list[int]
    flags: list[QcFlagOut | ReaderFlagOut] = Field(
        description="Admins: every flag, cleared ones with when and why; readers: the open "
        "flags, kind and text only."
    )


class StudyOut(BaseModel):
    study_id: str
    patient_key: str | None = Field(
        description="The woman's pseudonymous key (keyed hash of Patient ID and issuer)."
    )
    study_date: date | None = Field(
        description="The study date shifted by the woman's own offset (intervals are exact)."
    )
    woman_studies: int = Field(description="Studies of this woman in the installation.")
    patient_age: int | None
    patient_sex: str | None
    created_at: datetime
    views: list[str]
    open_flags: list[str]


class StudyDetailOut(StudyOut):
    images: list[ImageOut]
    flags: list[QcFlagOut]


class StudyPage(BaseModel):
    total: int
    women: int = Field(description="Women the matching studies belong to.")
    items: list[StudyOut]


class ClearFlag(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


class ImportBatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor_name: str | None
    channel: ImportChannel
    started_at: datetime
    finished_at: datetime | None
    imported: int
    already_present: int
    rejected: int
