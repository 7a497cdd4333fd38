"""Who may see a study's images: administrators, and whoever another domain vouches for
(a reading project registers its readers and arbiters). Everyone else gets a 404."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import NotFound
from app.imaging.models import Study

StudyAccess = Callable[[Session, User, Study], bool]
_checks: list[StudyAccess] = []


def allow(check: StudyAccess) -> None:
    if check not in _checks:
        _checks.append(check)


def require_study_access(db: Session, user: User, study: Study, what: str) -> None:
    if user.is_admin or any(check(db, user, study) for check in _checks):
        return
    raise NotFound(f"There is no {what}.")
