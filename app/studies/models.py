"""A reader study's evidence: the reference standard per breast, a model's predictions (the AI
as a reader), and which of a model's marks a reader was shown in an aided session."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.database import Base, EnumText, UTCDateTime, utcnow
from app.reading.models import ProjectStudy
from app.studies.states import Truth, TruthSource


class ReferenceTruth(Base):
    """What one breast of a project's study really is, and how that is known. Optionally its
    lesions, as boxes in the original pixel grid ([{image_id, xmin, ymin, xmax, ymax}])."""

    __tablename__ = "reference_truths"
    __table_args__ = (UniqueConstraint("project_study_id", "laterality"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("reading_projects.id"), index=True)
    project_study_id: Mapped[int] = mapped_column(ForeignKey("project_studies.id"), index=True)
    laterality: Mapped[str] = mapped_column(String(1))
    truth: Mapped[Truth] = mapped_column(EnumText(Truth, 16))
    source: Mapped[TruthSource] = mapped_column(EnumText(TruthSource, 16))
    follow_up_months: Mapped[int | None] = mapped_column(Integer)
    truth_date: Mapped[date | None] = mapped_column(Date)
    lesions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    project_study: Mapped[ProjectStudy] = relationship(lazy="joined")


class AiModel(Base):
    """A model whose predictions were imported into a project: a reader named ``AI: <name>``.
    ``shown_to_readers``: its marks are what readers see in the project's aided session."""

    __tablename__ = "ai_models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("reading_projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    shown_to_readers: Mapped[bool] = mapped_column(Boolean, default=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def reader_name(self) -> str:
        """How the model appears among readers: never as a person."""
        return f"AI: {self.name}"


class AiBreastScore(Base):
    """A model's malignancy score (0-1) for one breast of a project's study."""

    __tablename__ = "ai_breast_scores"
    __table_args__ = (UniqueConstraint("model_id", "project_study_id", "laterality"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ai_models.id"), index=True)
    project_study_id: Mapped[int] = mapped_column(ForeignKey("project_studies.id"), index=True)
    laterality: Mapped[str] = mapped_column(String(1))
    score: Mapped[float] = mapped_column(Float)


class AiBox(Base):
    """A model's finding: a box on one image (original pixel grid) with its score, categories
    and finding BI-RADS (VinDr's finding layout plus a score)."""

    __tablename__ = "ai_boxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ai_models.id"), index=True)
    project_study_id: Mapped[int] = mapped_column(ForeignKey("project_studies.id"), index=True)
    image_id: Mapped[str] = mapped_column(String(128))
    # "xmin" is a system column's name in PostgreSQL: the columns are x_min...
    xmin: Mapped[float] = mapped_column("x_min", Float)
    ymin: Mapped[float] = mapped_column("y_min", Float)
    xmax: Mapped[float] = mapped_column("x_max", Float)
    ymax: Mapped[float] = mapped_column("y_max", Float)
    categories: Mapped[list[str]] = mapped_column(JSON)
    birads: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)


class AidShown(Base):
    """What the reading screen was given to show a reader in an aided session: the model and
    its boxes, when. Append-only, like the reads it goes with."""

    __tablename__ = "aid_shown"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("read_tasks.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ai_models.id"))
    box_ids: Mapped[list[int]] = mapped_column(JSON)
    breast_scores: Mapped[dict[str, float]] = mapped_column(JSON)
    shown_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
