"""Who may see a study's images: administrators, and whoever another domain vouches for
(a reading project registers its readers and arbiters). Everyone else gets a 404."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import NotFound
from app.imaging.models import Study

StudyAccess = Callable[[Session, User, Study], bool]
_checks: list[StudyAccess] = []  # in the order asked: the ``last`` ones at the end
_last: set[StudyAccess] = set()


def allow(check: StudyAccess, *, last: bool = False) -> None:
    """Let ``check`` vouch for a user. ``last``: asked only after the other checks (a costly
    check that rarely says yes, like a prior's, stays off the reading and masking images'
    path)."""
    if check in _checks:
        return
    if last:
        _checks.append(check)
        _last.add(check)
    else:
        _checks.insert(len(_checks) - len(_last), check)


def require_study_access(db: Session, user: User, study: Study, what: str) -> None:
    if user.is_admin or any(check(db, user, study) for check in _checks):
        return
    raise NotFound(f"There is no {what}.")
