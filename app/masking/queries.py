"""What the masking pages show beside a project's own figures."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imaging.models import Image

SEED_CANDIDATES = 60


def seed_candidates(db: Session, limit: int = SEED_CANDIDATES) -> list[Image]:
    """The newest MLO images, to rank as seeds when creating a project."""
    statement = select(Image).where(Image.view == "MLO").order_by(Image.id.desc())
    return list(db.scalars(statement.limit(limit)))
