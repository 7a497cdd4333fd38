"""A configured DICOMweb source (its secret encrypted at rest) and retrieval jobs.

A retrieval keeps what it needs to resume and nothing more of the PACS's answers: the Study
Instance UIDs asked for, those not reached yet, and the instances that did not arrive (their
study, series and SOP Instance UIDs with the reason). Never a patient id, name, accession
number or date: the search results that carry those are shown to the administrator and
forgotten. A job that ends done drops its lists (nothing is left to resume), keeping counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, EnumText, UTCDateTime, utcnow
from app.pacs.states import AuthKind, RetrievalStatus


class PacsSource(Base):
    __tablename__ = "pacs_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    # the QIDO-RS, WADO-RS and STOW-RS roots when they differ from the base URL
    qido_root: Mapped[str | None] = mapped_column(String(500))
    wado_root: Mapped[str | None] = mapped_column(String(500))
    stow_root: Mapped[str | None] = mapped_column(String(500))
    auth_kind: Mapped[AuthKind] = mapped_column(EnumText(AuthKind, 16), default=AuthKind.NONE)
    username: Mapped[str | None] = mapped_column(String(255))
    # the password or token, encrypted (Fernet) under the credentials key; never sent back
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PacsRetrieval(Base):
    __tablename__ = "pacs_retrievals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("pacs_sources.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[RetrievalStatus] = mapped_column(
        EnumText(RetrievalStatus, 16), default=RetrievalStatus.QUEUED
    )
    studies: Mapped[int] = mapped_column(Integer, default=0)  # how many were asked for
    study_uids: Mapped[list[str]] = mapped_column(JSON, default=list)
    pending_uids: Mapped[list[str]] = mapped_column(JSON, default=list)  # not reached yet
    # instances (or whole studies, instance None) that did not arrive, with the reason
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    instances: Mapped[int] = mapped_column(Integer, default=0)  # fetched or tried
    imported: Mapped[int] = mapped_column(Integer, default=0)
    already_present: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)  # len(failures), kept for listings
    batch_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # the import batches
    error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)  # 1 + the resumes started
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the lease: which process runs the job, and when it last said it is alive
    owner: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def studies_pending(self) -> int:
        """Studies not reached yet (the API's ``studies_pending``, the page's progress)."""
        return len(self.pending_uids or [])
