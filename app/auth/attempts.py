"""Failed sign-in attempts per user name.

An attempt is counted *before* the password is checked, by a compare-and-swap on the ledger
row, so guesses sent in parallel cannot outrun the throttle; a success clears the count. The
ledger is keyed by a keyed digest of the name: a password typed into the user name field is
never stored, and unknown names are throttled exactly like real ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import LoginFailures
from app.auth.rules import LoginPolicy, describe_wait
from app.core.errors import TooManyRequests
from app.core.security import TokenDigest


def ledger_key(digest: TokenDigest, username: str) -> str:
    return digest(f"login:{username}")


def claim_attempt(
    db: Session,
    digest: TokenDigest,
    policy: LoginPolicy,
    username: str,
    *,
    actor: Actor,
    now: datetime,
    **audit: object,
) -> None:
    """Count one attempt for this name (committed), or refuse with 429 while throttled."""
    key = ledger_key(digest, username)
    row = db.get(LoginFailures, key, populate_existing=True)
    if row is not None:
        wait = policy.wait(row.count, row.last_failure_at, now)
        if wait > timedelta(0):
            _refuse(db, actor, policy.is_lockout(row.count), row.count, wait, audit)
    if not _count(db, policy, key, row, now):
        db.rollback()
        _refuse(db, actor, False, row.count if row else 0, timedelta(seconds=1), audit)
    db.commit()


def clear_attempts(db: Session, digest: TokenDigest, username: str) -> None:
    db.execute(
        delete(LoginFailures).where(LoginFailures.name_digest == ledger_key(digest, username))
    )


def _count(
    db: Session, policy: LoginPolicy, key: str, row: LoginFailures | None, now: datetime
) -> bool:
    """Compare-and-swap: False when a concurrent attempt changed the row first."""
    if row is None:
        try:
            with db.begin_nested():
                db.add(LoginFailures(name_digest=key, count=1, last_failure_at=now))
        except IntegrityError:
            return False
        # new names are where unbounded growth would come from: forget quiet ones here
        db.execute(
            delete(LoginFailures).where(LoginFailures.last_failure_at < now - 2 * policy.lockout)
        )
        return True
    changed = db.execute(
        update(LoginFailures)
        .where(
            LoginFailures.name_digest == key,
            LoginFailures.count == row.count,
            LoginFailures.last_failure_at == row.last_failure_at,
        )
        .values(
            count=policy.count_after_failure(row.count, row.last_failure_at, now),
            last_failure_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return changed.rowcount == 1


def _refuse(
    db: Session, actor: Actor, locked: bool, failures: int, wait: timedelta, audit: dict
) -> None:
    record(db, actor, "login.locked" if locked else "login.throttled", failures=failures, **audit)
    db.commit()
    what = "This user name is locked" if locked else "Please wait"
    raise TooManyRequests(
        f"Too many failed sign-in attempts. {what}; try again in {describe_wait(wait)}.",
        headers={"Retry-After": str(max(1, round(wait.total_seconds())))},
    )
