"""Reading projects: who reads which study, drafts, the append-only log of submitted reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core.database import Base, EnumText, UTCDateTime, utcnow
from app.imaging.models import Study
from app.reading.states import (
    FinalSource,
    Pool,
    ProjectDesign,
    StudyLayout,
    StudyStatus,
    TaskKind,
    TaskStatus,
    TruthBasis,
)


class ReadingProject(Base):
    __tablename__ = "reading_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    instructions: Mapped[str] = mapped_column(Text, default="")
    vocabulary: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    idle_limit_seconds: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the design: double reading (two readers, arbitration) or a reader study
    design: Mapped[ProjectDesign] = mapped_column(
        EnumText(ProjectDesign, 16), default=ProjectDesign.DOUBLE_READ
    )
    # a reader study's plan: who reads what (fully crossed, or split-plot in ``blocks``
    # blocks), and the seed each reader's shuffled case order is drawn from (recorded)
    layout: Mapped[StudyLayout | None] = mapped_column(EnumText(StudyLayout, 16))
    blocks: Mapped[int | None] = mapped_column(Integer)
    order_seed: Mapped[int | None] = mapped_column(Integer)
    # what reader figures are computed against: the reference standard, or (chosen by an
    # admin, and then said on every page and export) the project's consensus labels
    truth_basis: Mapped[TruthBasis] = mapped_column(
        EnumText(TruthBasis, 16), default=TruthBasis.REFERENCE
    )


class ReadingSession(Base):
    """A reader study's session ("modality"): e.g. 1 unaided, 2 aided by a model. A reader's
    second reading of a study waits ``washout_days`` after their first."""

    __tablename__ = "reading_sessions"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("reading_projects.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    aided: Mapped[bool] = mapped_column(Boolean, default=False)
    washout_days: Mapped[int] = mapped_column(Integer, default=0)


class ProjectMember(Base):
    """A user in a project's pool of readers or of arbiters."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "pool"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("reading_projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    pool: Mapped[Pool] = mapped_column(EnumText(Pool, 16))

    user: Mapped[User] = relationship(lazy="joined")


class ProjectStudy(Base):
    """A study in a project: its state and, once final, its label."""

    __tablename__ = "project_studies"
    __table_args__ = (UniqueConstraint("project_id", "study_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("reading_projects.id"), index=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    status: Mapped[StudyStatus] = mapped_column(
        EnumText(StudyStatus, 16), default=StudyStatus.UNASSIGNED, index=True
    )
    discordances: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    final_label: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    final_source: Mapped[FinalSource | None] = mapped_column(EnumText(FinalSource, 16))
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # dataset release: the study's split, and its images' row order when imported from CSV
    split: Mapped[str | None] = mapped_column(String(8))
    image_order: Mapped[list[str] | None] = mapped_column(JSON)
    # the reason given when a study that is not complete was admitted anyway (else None)
    admission_override: Mapped[str | None] = mapped_column(Text)
    # a split-plot reader study's block (1..blocks), else None
    block: Mapped[int | None] = mapped_column(Integer)

    study: Mapped[Study] = relationship(lazy="joined")
    project: Mapped[ReadingProject] = relationship(lazy="joined")


class ReadTask(Base):
    """One person's job on one study: a read (slot 1 or 2) or an arbitration (slot 0).

    The draft lives here, versioned so that two tabs cannot overwrite each other."""

    __tablename__ = "read_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_study_id: Mapped[int] = mapped_column(ForeignKey("project_studies.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[TaskKind] = mapped_column(EnumText(TaskKind, 16))
    slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[TaskStatus] = mapped_column(
        EnumText(TaskStatus, 16), default=TaskStatus.PENDING, index=True
    )
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a reader study's session, and the task's place in its reader's shuffled order
    session_id: Mapped[int | None] = mapped_column(ForeignKey("reading_sessions.id"), index=True)
    position: Mapped[int | None] = mapped_column(Integer)

    project_study: Mapped[ProjectStudy] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")
    session: Mapped[ReadingSession | None] = relationship(lazy="joined")


class ReadSubmission(Base):
    """What a reader or arbiter answered. Append-only (database triggers refuse changes)."""

    __tablename__ = "read_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("read_tasks.id"), unique=True)
    project_study_id: Mapped[int] = mapped_column(ForeignKey("project_studies.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[TaskKind] = mapped_column(EnumText(TaskKind, 16))
    slot: Mapped[int] = mapped_column(Integer)
    label: Mapped[dict[str, Any]] = mapped_column(JSON)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active_seconds: Mapped[float] = mapped_column(Float)
    # a reader study's session; a case the reader excluded (unreadable...) and why; in an
    # aided session, which of the model's marks the reader accepted into the read
    session_id: Mapped[int | None] = mapped_column(ForeignKey("reading_sessions.id"), index=True)
    exclusion: Mapped[str | None] = mapped_column(Text)
    aid: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class FinalLabelHistory(Base):
    """Every label a study has been final with, kept when an admin reopens it. Append-only."""

    __tablename__ = "final_label_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_study_id: Mapped[int] = mapped_column(ForeignKey("project_studies.id"), index=True)
    label: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[FinalSource] = mapped_column(EnumText(FinalSource, 16))
    finalized_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reopened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reopened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
