"""A user's own settings (``User.preferences``, one small JSON document): the viewer's hanging
layout and whether zoom and pan are linked across a bilateral pair. One service behind both the
JSON API (``/api/v1/me/preferences``) and the reading screen, which reads and writes it there."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.auth.models import User
from app.auth.states import Hanging, PriorLayout
from app.core.database import begin_write


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hanging: Hanging = Field(Hanging.GRID, description="Layout of the four views.")
    linked: bool = Field(False, description="Zoom and pan linked across a bilateral pair.")
    priors: PriorLayout = Field(
        PriorLayout.OFF, description="How a woman's prior exam shows, where a project has one."
    )


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hanging: Hanging | None = None
    linked: bool | None = None
    priors: PriorLayout | None = None


def get_preferences(user: User) -> Preferences:
    """The stored settings; unknown or malformed values fall back to the defaults."""
    stored = user.preferences if isinstance(user.preferences, dict) else {}
    result = Preferences()
    for name in Preferences.model_fields:
        if name in stored:
            try:
                result = Preferences.model_validate({**result.model_dump(), name: stored[name]})
            except ValueError:
                continue
    return result


def update_preferences(db: Session, user: User, changes: PreferencesUpdate) -> Preferences:
    """Apply the given fields (the others stay) and commit."""
    begin_write(db)
    db.refresh(user)
    merged = get_preferences(user).model_copy(update=changes.model_dump(exclude_none=True))
    user.preferences = merged.model_dump(mode="json")
    db.commit()
    return merged
