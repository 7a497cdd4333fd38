"""Signing in, browser sessions and API tokens. Each use case commits its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import ApiToken, LoginFailures, User, UserSession
from app.auth.rules import LoginPolicy, describe_wait, normalise_username, username_problem
from app.core.config import Settings
from app.core.database import utcnow
from app.core.errors import AppError, NotAuthenticated, TooManyRequests
from app.core.security import (
    Passwords,
    TokenDigest,
    new_api_token,
    new_csrf_token,
    new_session_token,
)

LAST_SEEN_RESOLUTION = timedelta(minutes=1)
INVALID_CREDENTIALS = "Wrong user name or password."


class AccountDisabled(AppError):
    status_code = 403
    code = "account_disabled"


@dataclass
class AuthKit:
    """What authentication needs from the configuration, built once per application."""

    settings: Settings
    passwords: Passwords
    digest: TokenDigest
    policy: LoginPolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthKit:
        return cls(
            settings=settings,
            passwords=Passwords(settings),
            digest=TokenDigest(settings.secret_bytes),
            policy=LoginPolicy(
                slowdown_after=settings.login_slowdown_after,
                lockout_after=settings.login_lockout_after,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            ),
        )


def authenticate(
    db: Session,
    kit: AuthKit,
    raw_username: str,
    password: str,
    *,
    ip_address: str | None,
    channel: str,
) -> User:
    """The user whose name and password these are, or an error that never says which was wrong."""
    now = utcnow()
    username = normalise_username(raw_username)
    anonymous = Actor(None, ip_address, name=username[:64] or None)
    if username_problem(username):
        record(db, anonymous, "login.failed", reason="malformed_username", channel=channel)
        db.commit()
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")

    failures = db.get(LoginFailures, username)
    _refuse_while_throttled(db, kit, failures, anonymous, now, channel)

    user = db.scalar(select(User).where(User.username == username))
    password_ok = kit.passwords.verify(user.password_hash if user else None, password)
    if user is None or not password_ok:
        _count_failure(db, kit, failures, username, now)
        reason = "unknown_user" if user is None else "wrong_password"
        record(
            db, Actor(user, ip_address, username), "login.failed", reason=reason, channel=channel
        )
        db.commit()
        raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    if not user.is_active:
        record(db, Actor(user, ip_address), "login.failed", reason="disabled", channel=channel)
        db.commit()
        raise AccountDisabled("This account is disabled. Ask an administrator to re-enable it.")

    if failures is not None:
        db.delete(failures)
    if kit.passwords.needs_rehash(user.password_hash):
        user.password_hash = kit.passwords.hash(password)
    user.last_login_at = now
    record(db, Actor(user, ip_address), "login", channel=channel)
    return user


def _refuse_while_throttled(
    db: Session,
    kit: AuthKit,
    failures: LoginFailures | None,
    actor: Actor,
    now: datetime,
    channel: str,
) -> None:
    if failures is None:
        return
    wait = kit.policy.wait(failures.count, failures.last_failure_at, now)
    if wait <= timedelta(0):
        return
    locked = kit.policy.is_lockout(failures.count)
    record(
        db,
        actor,
        "login.locked" if locked else "login.throttled",
        failures=failures.count,
        channel=channel,
    )
    db.commit()
    what = "This user name is locked" if locked else "Please wait"
    raise TooManyRequests(
        f"Too many failed sign-in attempts. {what}; try again in {describe_wait(wait)}.",
        headers={"Retry-After": str(max(1, int(wait.total_seconds())))},
    )


def _count_failure(
    db: Session, kit: AuthKit, failures: LoginFailures | None, username: str, now: datetime
) -> None:
    if failures is None:
        failures = LoginFailures(username=username, count=0, last_failure_at=now)
        db.add(failures)
        failures.count = 1
    else:
        failures.count = kit.policy.count_after_failure(
            failures.count, failures.last_failure_at, now
        )
    failures.last_failure_at = now


# --- browser sessions -----------------------------------------------------------------------


def start_session(
    db: Session, kit: AuthKit, user: User, *, ip_address: str | None, user_agent: str | None
) -> tuple[str, UserSession]:
    """Open a session for a user authenticate() has just accepted; commits the login."""
    token = new_session_token()
    now = utcnow()
    session = UserSession(
        token_digest=kit.digest(token),
        user=user,
        csrf_token=new_csrf_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(minutes=kit.settings.session_lifetime_minutes),
        ip_address=ip_address,
        user_agent=(user_agent or "")[:255] or None,
    )
    db.add(session)
    db.commit()
    return token, session


def resolve_session(db: Session, kit: AuthKit, token: str) -> UserSession | None:
    """The live session this cookie token belongs to, or None."""
    session = db.scalar(select(UserSession).where(UserSession.token_digest == kit.digest(token)))
    now = utcnow()
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        return None
    idle_limit = timedelta(minutes=kit.settings.session_idle_minutes)
    if now - session.last_seen_at > idle_limit or not session.user.is_active:
        return None
    if now - session.last_seen_at > LAST_SEEN_RESOLUTION:
        session.last_seen_at = now
        db.commit()
    return session


def end_session(db: Session, session: UserSession, actor: Actor, *, action: str) -> None:
    session.revoked_at = utcnow()
    record(db, actor, action, object_type="session", object_id=session.id)
    db.commit()


def list_sessions(db: Session, user: User) -> list[UserSession]:
    now = utcnow()
    statement = (
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .where(UserSession.expires_at > now)
        .order_by(UserSession.last_seen_at.desc())
    )
    return list(db.scalars(statement))


def revoke_all_credentials(db: Session, user: User, *, keep_session_id: int | None = None) -> None:
    """End every session and token of a user (without committing), optionally but one session."""
    now = utcnow()
    sessions = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        sessions = sessions.where(UserSession.id != keep_session_id)
    db.execute(sessions.values(revoked_at=now))
    db.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# --- API tokens -----------------------------------------------------------------------------


def issue_api_token(
    db: Session, kit: AuthKit, user: User, *, label: str, ip_address: str | None
) -> tuple[str, ApiToken]:
    token = new_api_token()
    now = utcnow()
    row = ApiToken(
        token_digest=kit.digest(token),
        user=user,
        label=label[:120] or "API token",
        created_at=now,
        expires_at=now + timedelta(days=kit.settings.token_lifetime_days),
        ip_address=ip_address,
    )
    db.add(row)
    db.flush()
    record(
        db,
        Actor(user, ip_address),
        "token.issued",
        object_type="api_token",
        object_id=row.id,
        label=row.label,
    )
    db.commit()
    return token, row


def resolve_api_token(db: Session, kit: AuthKit, token: str) -> ApiToken | None:
    row = db.scalar(select(ApiToken).where(ApiToken.token_digest == kit.digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not row.user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_SEEN_RESOLUTION:
        row.last_used_at = now
        db.commit()
    return row


def list_api_tokens(db: Session, user: User) -> list[ApiToken]:
    now = utcnow()
    statement = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .where(ApiToken.expires_at > now)
        .order_by(ApiToken.created_at.desc())
    )
    return list(db.scalars(statement))


def revoke_api_token(db: Session, row: ApiToken, actor: Actor) -> None:
    row.revoked_at = utcnow()
    record(db, actor, "token.revoked", object_type="api_token", object_id=row.id)
    db.commit()


Credential = TypeVar("Credential", UserSession, ApiToken)


def owned_credential(
    db: Session, model: type[Credential], credential_id: int, user: User
) -> Credential | None:
    row = db.get(model, credential_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return None
    return row
