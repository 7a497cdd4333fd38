"""What the masking pages show beside a project's own figures."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imaging.longitudinal import woman_key
from app.imaging.models import Image

SEED_CANDIDATES = 60


def seed_candidates(db: Session, limit: int = SEED_CANDIDATES) -> list[Image]:
    """The newest MLO images, to choose seeds from when creating a project: one image of each
    woman first (her patient key; a study without one is a woman of its own), then her
    others, since a project takes at most one seed per woman."""
    statement = select(Image).where(Image.view == "MLO").order_by(Image.id.desc())
    newest = list(db.scalars(statement.limit(limit)))
    turn: dict[str, int] = {}
    keyed = []
    for position, image in enumerate(newest):
        woman = woman_key(image.study.patient_key, image.study_pk)
        nth = turn.get(woman, 0)
        turn[woman] = nth + 1
        keyed.append(((nth, position), image))
    return [image for _, image in sorted(keyed, key=lambda pair: pair[0])]
