"""The PACS API's shapes, in and out. A source's secret goes in, never out: sources say only
whether one is set."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from app.core.ids import Id
from app.pacs.states import AuthKind, RetrievalStatus


class SourceIn(BaseModel):
    name: str = Field(max_length=120, description="A name for people, unique.")
    base_url: str = Field(
        max_length=500,
        description="The DICOMweb root, e.g. https://pacs.example/dicom-web; the QIDO-RS, "
        "WADO-RS and STOW-RS roots default to it.",
    )
    qido_root: str | None = Field(default=None, max_length=500)
    wado_root: str | None = Field(default=None, max_length=500)
    stow_root: str | None = Field(default=None, max_length=500)
    auth_kind: AuthKind = AuthKind.NONE
    username: str | None = Field(default=None, max_length=255, description="HTTP Basic only.")
    secret: str | None = Field(
        default=None,
        max_length=4096,
        description="The password (basic) or token (bearer); stored encrypted, never returned.",
        json_schema_extra={"writeOnly": True},
    )


class SourceChange(BaseModel):
    """Only the fields given change. ``secret``: omitted or null keeps the stored one, an
    empty string removes it."""

    name: str | None = Field(default=None, max_length=120)
    base_url: str | None = Field(default=None, max_length=500)
    qido_root: str | None = Field(default=None, max_length=500)
    wado_root: str | None = Field(default=None, max_length=500)
    stow_root: str | None = Field(default=None, max_length=500)
    auth_kind: AuthKind | None = None
    username: str | None = Field(default=None, max_length=255)
    secret: str | None = Field(default=None, max_length=4096, json_schema_extra={"writeOnly": True})


class SourceOut(BaseModel):
    id: int
    name: str
    base_url: str
    qido_root: str | None
    wado_root: str | None
    stow_root: str | None
    auth_kind: AuthKind
    username: str | None
    secret_set: bool = Field(description="Whether a password or token is stored (never shown).")
    created_at: datetime
    updated_at: datetime


class ConnectionOut(BaseModel):
    ok: bool
    message: str
    milliseconds: int


class SearchIn(BaseModel):
    source_id: Id
    modality: str | None = Field(
        default="MG", max_length=16, description="ModalitiesInStudy; empty or null: any."
    )
    date_from: date | None = Field(default=None, description="First study date (inclusive).")
    date_to: date | None = Field(default=None, description="Last study date (inclusive).")
    accession_numbers: list[str] = Field(
        default=[], max_length=500, description="Exact accession numbers, one query each."
    )
    patient_ids: list[str] = Field(
        default=[], max_length=500, description="Exact patient ids, one query each (merged)."
    )


class StudyFoundOut(BaseModel):
    study_uid: str
    study_date: date | None
    accession_number: str | None
    patient_id: str | None
    modalities: list[str]
    series: int | None
    instances: int | None


class SearchOut(BaseModel):
    studies: list[StudyFoundOut]
    capped: bool = Field(description="More studies matched than the cap: narrow the search.")
    cap: int
    queries: int = Field(description="QIDO-RS queries made (one per patient id and accession).")
    message: str


class RetrievalIn(BaseModel):
    source_id: Id
    study_uids: list[str] = Field(min_length=1, max_length=5000)


class FailureOut(BaseModel):
    study_uid: str
    series_uid: str | None
    sop_uid: str | None = Field(description="None: the whole study (its instances unlisted).")
    reason: str


class RetrievalOut(BaseModel):
    id: int
    source_id: int | None
    source_name: str | None
    status: RetrievalStatus
    studies: int = Field(description="Studies asked for.")
    studies_pending: int = Field(description="Studies not reached yet.")
    instances: int = Field(description="Instances fetched (imported, already present or refused).")
    imported: int
    already_present: int
    rejected: int
    failed: int = Field(description="Instances (or studies) that did not arrive, listed.")
    failures: list[FailureOut]
    import_batches: list[int]
    error: str | None
    runs: int
    resumable: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
