"""Signing in, browser sessions and API tokens. Each use case commits its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.attempts import LoginThrottle, claim_attempt, record_success
from app.auth.models import ApiToken, User, UserSession
from app.auth.rules import LoginPolicy, normalise_username, username_problem
from app.core.config import Settings
from app.core.database import begin_write, utcnow
from app.core.errors import NotAuthenticated, NotFound
from app.core.security import (
    Passwords,
    TokenDigest,
    new_api_token,
    new_csrf_token,
    new_session_token,
)

LAST_SEEN_RESOLUTION = timedelta(minutes=1)
Credential = TypeVar("Credential", UserSession, ApiToken)
CREDENTIAL_NAMES = {UserSession: "session", ApiToken: "API token"}
INVALID_CREDENTIALS = "Wrong user name or password, or the account is disabled."


@dataclass
class AuthKit:
    """What authentication needs from the configuration, built once per application."""

    settings: Settings
    passwords: Passwords
    digest: TokenDigest
    throttle: LoginThrottle

    @property
    def policy(self) -> LoginPolicy:
        """The failed sign-in policy for one user name from one client address."""
        return self.throttle.per_name

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthKit:
        digest = TokenDigest(settings.secret_bytes)
        policy = LoginPolicy(
            slowdown_after=settings.login_slowdown_after,
            lockout_after=settings.login_lockout_after,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
        return cls(
            settings=settings,
            passwords=Passwords(settings),
            digest=digest,
            throttle=LoginThrottle.from_policy(digest, policy),
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
    """The user whose name and password these are. A refusal never tells whether the name
    exists, the password was wrong or the account is disabled; only the audit log does.
    Attempts are throttled per client address (see attempts.py). On success the login is
    left in an open write transaction for start_session / issue_api_token to commit."""
    now = utcnow()
    username = normalise_username(raw_username)
    if username_problem(username):
        _refuse_login(db, Actor(None, ip_address), reason="malformed", channel=channel)

    user = db.scalar(select(User).where(User.username == username))
    actor = Actor(user, ip_address)
    # unknown names are recorded only as a digest prefix: it may be a mistyped password
    audit = {"channel": channel, **({} if user else {"name_ref": kit.digest(username)[:12]})}
    claim_attempt(db, kit.throttle, username, ip_address, actor=actor, now=now, **audit)

    password_ok = kit.passwords.verify(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.is_active:
        reason = "unknown_user" if user is None else "disabled" if password_ok else "wrong_password"
        _refuse_login(db, actor, reason=reason, **audit)

    # hashing is slow: never while holding the write lock
    rehashed = (
        kit.passwords.hash(password) if kit.passwords.needs_rehash(user.password_hash) else None
    )
    begin_write(db)
    record_success(db, kit.throttle, username, ip_address)
    user.password_hash = rehashed or user.password_hash
    user.last_login_at = now
    record(db, actor, "login", channel=channel)
    return user


def _refuse_login(db: Session, actor: Actor, **audit: object) -> NoReturn:
    begin_write(db)
    record(db, actor, "login.failed", **audit)
    db.commit()
    raise NotAuthenticated(INVALID_CREDENTIALS, code="invalid_credentials")


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
    begin_write(db)
    db.add(session)
    db.commit()
    return token, session


def resolve_session(db: Session, kit: AuthKit, token: str) -> UserSession | None:
    """The live session this cookie token belongs to, or None."""
    now = utcnow()
    session = _find_live(db, kit, UserSession, token, now)
    idle_limit = timedelta(minutes=kit.settings.session_idle_minutes)
    if session is None or now - session.last_seen_at > idle_limit:
        return None
    if now - session.last_seen_at > LAST_SEEN_RESOLUTION:
        begin_write(db)
        session.last_seen_at = now
        db.commit()
    return session


def _find_live(
    db: Session, kit: AuthKit, model: type[Credential], token: str, now: datetime
) -> Credential | None:
    row = db.scalar(select(model).where(model.token_digest == kit.digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row if row.user.is_active else None


def end_session(db: Session, session: UserSession, actor: Actor, *, action: str) -> None:
    begin_write(db)
    session.revoked_at = utcnow()
    record(db, actor, action, object_type="session", object_id=session.id)
    db.commit()


def end_other_sessions(db: Session, actor: Actor, *, keep_session_id: int | None) -> int:
    """End every live session of the actor but ``keep_session_id`` (the browser asking); the
    count ended. Asked with an API token, ``keep_session_id`` is None and every session ends."""
    assert actor.user is not None
    begin_write(db)
    statement = update(UserSession).where(
        UserSession.user_id == actor.user.id, UserSession.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        statement = statement.where(UserSession.id != keep_session_id)
    ended = db.execute(statement.values(revoked_at=utcnow())).rowcount or 0
    record(
        db, actor, "sessions.ended_others", object_type="user", object_id=actor.user.id, ended=ended
    )
    db.commit()
    return ended


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
    begin_write(db)
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
    now = utcnow()
    row = _find_live(db, kit, ApiToken, token, now)
    if row is None:
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_SEEN_RESOLUTION:
        begin_write(db)
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
    begin_write(db)
    row.revoked_at = utcnow()
    record(db, actor, "token.revoked", object_type="api_token", object_id=row.id)
    db.commit()


def owned_credential(
    db: Session, model: type[Credential], credential_id: int, user: User
) -> Credential:
    """One of the user's own live sessions or tokens; anyone else's is as good as absent."""
    row = db.get(model, credential_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        name = CREDENTIAL_NAMES[model]
        raise NotFound(f"You have no live {name} with id {credential_id}.")
    return row
