"""Masking projects (CSAW-M): the images, each reader's search state, the append-only log of
comparisons and of undos."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core.database import Base, EnumText, UTCDateTime, utcnow
from app.imaging.display import DisplayProtocol
from app.imaging.models import Image
from app.masking.states import (
    Answer,
    ComparisonKind,
    DiscardReason,
    ImageRole,
    LevelRule,
    OutcomeKind,
    Phase,
    Side,
    SortMode,
)

# the name a caller outside masking uses (bench/masking.py)
SEARCH = ComparisonKind.SEARCH


class MaskingProject(Base):
    __tablename__ = "masking_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    instructions: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[SortMode] = mapped_column(EnumText(SortMode, 16))
    level_rule: Mapped[LevelRule] = mapped_column(EnumText(LevelRule, 16))
    levels: Mapped[int] = mapped_column(Integer, default=8)
    seeds_per_level: Mapped[int] = mapped_column(Integer, default=4)
    seed_list: Mapped[list[int]] = mapped_column(JSON, default=list)
    level_seeds: Mapped[list[list[int]] | None] = mapped_column(JSON)
    derive_seeds_from: Mapped[int | None] = mapped_column(ForeignKey("masking_projects.id"))
    randomise_sides: Mapped[bool] = mapped_column(Boolean, default=False)
    probe_share: Mapped[float] = mapped_column(Float, default=0.05)
    probe_gap: Mapped[int] = mapped_column(Integer, default=20)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    order_seed: Mapped[int] = mapped_column(Integer)
    # one grey-scale function for both images of a pair; projects from before 0008: HEADER
    display_protocol: Mapped[DisplayProtocol] = mapped_column(
        EnumText(DisplayProtocol, 16),
        default=DisplayProtocol.WINDOW_LINEAR,
        server_default=DisplayProtocol.HEADER.value,
    )
    selection: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MaskingImage(Base):
    """An image of a project: one to place (query) or a seed used only as a reference."""

    __tablename__ = "masking_images"
    __table_args__ = (UniqueConstraint("project_id", "image_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("masking_projects.id"), index=True)
    image_pk: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    role: Mapped[ImageRole] = mapped_column(EnumText(ImageRole, 8))

    image: Mapped[Image] = relationship(lazy="joined")


class MaskingReader(Base):
    """A reader in a project and their search state (``search.ReaderState`` as JSON), with the
    pair served and not yet answered. Updated in the transaction that logs each answer."""

    __tablename__ = "masking_readers"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("masking_projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    level_seeds: Mapped[list[list[int]] | None] = mapped_column(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pending_uid: Mapped[str | None] = mapped_column(String(32), unique=True)
    served: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    # the latest response times, for the reader's pace on every reply without a query
    recent_ms: Mapped[list[int]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class MaskingComparison(Base):
    """One answer. Append-only (database triggers refuse changes); undos are logged apart."""

    __tablename__ = "masking_comparisons"
    __table_args__ = (Index("ix_masking_comparisons_reader", "project_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("masking_projects.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[ComparisonKind] = mapped_column(EnumText(ComparisonKind, 8))
    query_pk: Mapped[int] = mapped_column(ForeignKey("images.id"))
    reference_pk: Mapped[int] = mapped_column(ForeignKey("images.id"))
    query_side: Mapped[Side] = mapped_column(EnumText(Side, 5))
    answer: Mapped[Answer] = mapped_column(EnumText(Answer, 16))
    reason: Mapped[DiscardReason | None] = mapped_column(EnumText(DiscardReason, 16))
    note: Mapped[str | None] = mapped_column(Text)
    # a LevelRule's value, or TERNARY_BINARY for a full sort (``states``)
    rule: Mapped[str] = mapped_column(String(16))
    phase: Mapped[Phase] = mapped_column(EnumText(Phase, 8))
    interval_low: Mapped[int] = mapped_column(Integer)
    interval_high: Mapped[int] = mapped_column(Integer)
    reference_position: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[OutcomeKind] = mapped_column(EnumText(OutcomeKind, 16))
    outcome_position: Mapped[int | None] = mapped_column(Integer)
    search_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    probe_of: Mapped[int | None] = mapped_column(ForeignKey("masking_comparisons.id"))
    served_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_ms: Mapped[int] = mapped_column(Integer)


class MaskingUndo(Base):
    """An answer taken back by its reader. Append-only."""

    __tablename__ = "masking_undos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("masking_comparisons.id"), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("masking_projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    undone_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
