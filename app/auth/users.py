"""Managing accounts: create, enable/disable, roles, passwords. Each use case commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.attempts import claim_attempt, record_success
from app.auth.models import User
from app.auth.rules import (
    display_name_problem,
    normalise_username,
    password_problem,
    username_problem,
)
from app.auth.service import AuthKit, revoke_all_credentials
from app.auth.states import Role
from app.core.database import begin_write, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, field_error
from app.core.security import generate_password


@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str
    role: Role
    password: str | None = None
    must_change_password: bool | None = None  # default: only when the password is generated


def _check(field: str, problem: str | None) -> None:
    if problem:
        raise field_error(field, problem)


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.is_active.desc(), User.username)))


def list_active_users(db: Session) -> list[User]:
    """The users who can be given work, by username (the pickers of the project pages)."""
    return list(db.scalars(select(User).where(User.is_active.is_(True)).order_by(User.username)))


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user with id {user_id}.")
    return user


def find_user(db: Session, raw_username: str) -> User:
    username = normalise_username(raw_username)
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user named {username!r}.")
    return user


def create_user(db: Session, kit: AuthKit, actor: Actor, new: NewUser) -> tuple[User, str]:
    """Create an account; returns it with its initial password (generated when not given)."""
    username = normalise_username(new.username)
    _check("username", username_problem(username))
    display_name = new.display_name.strip() or username
    _check("display_name", display_name_problem(display_name))
    password = new.password or generate_password()
    _check("password", _password_problem(kit, password, username))
    password_hash = kit.passwords.hash(password)  # slow: before taking the write lock
    taken = Conflict(f"A user named {username!r} already exists.", code="username_taken")
    begin_write(db)
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise taken
    must_change = new.must_change_password
    user = User(
        username=username,
        display_name=display_name,
        role=new.role.value,
        password_hash=password_hash,
        is_active=True,
        must_change_password=new.password is None if must_change is None else must_change,
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError:  # created concurrently since the check above
        db.rollback()
        raise taken from None
    record(
        db,
        actor,
        "user.created",
        object_type="user",
        object_id=user.id,
        username=username,
        role=user.role,
    )
    db.commit()
    return user, password


def update_user(
    db: Session,
    actor: Actor,
    user: User,
    *,
    display_name: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
) -> User:
    """Apply the changes that differ, all checked before any is made."""
    begin_write(db)  # the last-admin check and the change are one write transaction
    changes: dict[str, object] = {}
    if display_name is not None and display_name.strip() != user.display_name:
        _check("display_name", display_name_problem(display_name.strip()))
        changes["display_name"] = display_name.strip()
    if role is not None and role.value != user.role:
        if role != Role.ADMIN:
            _refuse_losing_last_admin(db, actor, user, "change the role of")
        changes["role"] = role.value
    if is_active is not None and is_active != user.is_active:
        if not is_active:
            _refuse_losing_last_admin(db, actor, user, "disable")
        changes["is_active"] = is_active
    if not changes:
        db.commit()
        return user
    for name, value in changes.items():
        setattr(user, name, value)
    if is_active is False:
        revoke_all_credentials(db, user)
    action = "user.updated"
    if set(changes) == {"is_active"}:
        action = "user.enabled" if is_active else "user.disabled"
    record(db, actor, action, object_type="user", object_id=user.id, **changes)
    db.commit()
    return user


def _refuse_losing_last_admin(db: Session, actor: Actor, user: User, verb: str) -> None:
    if actor.user is not None and actor.user.id == user.id:
        raise Forbidden(f"You cannot {verb} your own account; ask another administrator.")
    if user.role != Role.ADMIN or not user.is_active:
        return
    # Locking the active admins' rows (PostgreSQL) serialises two admins demoting each other.
    active_admins = db.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
        .with_for_update()
    ).all()
    if len(active_admins) <= 1:
        raise Conflict(f"Cannot {verb} the last active administrator.", code="last_admin")


def reset_password(
    db: Session, kit: AuthKit, actor: Actor, user: User, new_password: str | None = None
) -> str:
    """An administrator sets a new password; the user must change it at next sign-in."""
    password = new_password or generate_password()
    _check("password", _password_problem(kit, password, user.username))
    password_hash = kit.passwords.hash(password)  # slow: before taking the write lock
    begin_write(db)
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    user.must_change_password = True
    revoke_all_credentials(db, user)
    record(db, actor, "user.password_reset", object_type="user", object_id=user.id)
    db.commit()
    return password


def change_own_password(
    db: Session,
    kit: AuthKit,
    actor: Actor,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: int | None,
) -> None:
    user = actor.user
    assert user is not None
    _prove_current_password(db, kit, actor, user, current_password)
    _check("new_password", _password_problem(kit, new_password, user.username))
    if kit.passwords.verify(user.password_hash, new_password):
        raise field_error("new_password", "The new password must differ from the current one.")
    password_hash = kit.passwords.hash(new_password)  # slow: before taking the write lock
    begin_write(db)
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    user.must_change_password = False
    revoke_all_credentials(db, user, keep_session_id=keep_session_id)
    record(db, actor, "user.password_changed", object_type="user", object_id=user.id)
    db.commit()


def _prove_current_password(
    db: Session, kit: AuthKit, actor: Actor, user: User, current_password: str
) -> None:
    """The current password is a secret worth guessing: the same throttle as signing in."""
    throttle, address = kit.throttle, actor.ip_address
    claim_attempt(db, throttle, user.username, address, actor=actor, now=utcnow())
    if not kit.passwords.verify(user.password_hash, current_password):
        begin_write(db)
        record(db, actor, "user.password_change_failed", object_type="user", object_id=user.id)
        db.commit()
        raise field_error("current_password", "The current password is not correct.")
    begin_write(db)
    record_success(db, throttle, user.username, address)
    db.commit()


def _password_problem(kit: AuthKit, password: str, username: str) -> str | None:
    return password_problem(
        password, username=username, min_length=kit.settings.password_min_length
    )


def count_users(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0


def active_users(db: Session, user_ids: Iterable[int], field: str, purpose: str) -> list[User]:
    """The users with these ids, by id; a 4xx naming ``field`` when one is unknown or
    disabled (``purpose`` completes "Cannot ...": "put these users in the readers pool").)"""
    wanted = set(user_ids)
    users = list(db.scalars(select(User).where(User.id.in_(wanted)))) if wanted else []
    missing = wanted - {u.id for u in users}
    inactive = [u.username for u in users if not u.is_active]
    if missing or inactive:
        what = f"unknown user ids {sorted(missing)}" if missing else f"disabled: {inactive}"
        raise field_error(field, f"Cannot {purpose} ({what}).")
    return sorted(users, key=lambda u: u.id)
