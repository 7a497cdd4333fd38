"""Recording and reading audit events. Recording joins the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import User
from app.core.database import newest_first_page


@dataclass(frozen=True)
class Actor:
    """Who acts and from where; ``user`` is None for anonymous attempts and the CLI."""

    user: User | None
    ip_address: str | None
    name: str | None = None

    @property
    def display(self) -> str | None:
        return self.user.username if self.user is not None else self.name


def record(
    db: Session,
    actor: Actor,
    action: str,
    *,
    object_type: str | None = None,
    object_id: object = None,
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.user.id if actor.user is not None else None,
        actor_name=actor.display,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip_address=actor.ip_address,
        details=details,
    )
    db.add(event)
    return event


@dataclass(frozen=True)
class AuditQuery:
    action: str | None = None
    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: AuditQuery) -> Select[tuple[AuditEvent]]:
    statement = select(AuditEvent)
    if query.action:
        statement = statement.where(AuditEvent.action == query.action)
    if query.actor:
        statement = statement.where(AuditEvent.actor_name == query.actor)
    if query.object_type:
        statement = statement.where(AuditEvent.object_type == query.object_type)
    if query.object_id:
        statement = statement.where(AuditEvent.object_id == query.object_id)
    if query.since:
        statement = statement.where(AuditEvent.at >= query.since)
    if query.until:
        statement = statement.where(AuditEvent.at < query.until)
    return statement


def list_events(
    db: Session, query: AuditQuery, *, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    return newest_first_page(db, _filtered(query), AuditEvent.id, limit=limit, offset=offset)


def known_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
