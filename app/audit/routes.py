"""The audit log for administrators: a JSON listing and a page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime

from app.audit.schemas import AuditEventOut, AuditPage
from app.audit.service import AuditQuery, known_actions, list_events
from app.auth.deps import AdminPrincipal, Db
from app.core.errors import ERROR_RESPONSES
from app.core.ids import Offset
from app.core.web import render

api = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERROR_RESPONSES)
pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 100


def audit_query(
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> AuditQuery:
    return AuditQuery(
        action or None, actor or None, object_type or None, object_id or None, since, until
    )


Filters = Annotated[AuditQuery, Depends(audit_query)]

# Where the audit page links an event's object, by object type ("{id}": the object's id). The
# review pages of a read task or a project study redirect to the study's page in its project.
OBJECT_LINKS = {
    "read_task": "/review/tasks/{id}",
    "project_study": "/review/project-studies/{id}",
    "reading_project": "/projects/{id}",
    "masking_project": "/masking/projects/{id}",
    "user": "/admin/users#user-{id}",
    "export_job": "/exports",
    "import_batch": "/imports",
}


def object_link(object_type: str | None, object_id: str | None) -> str | None:
    """The page of what an audit event names, or None when it has none."""
    pattern = OBJECT_LINKS.get(object_type or "")
    if pattern is None or not object_id or not object_id.isdigit():
        return None
    return pattern.format(id=object_id)


@api.get("/audit", response_model=AuditPage)
def audit_events(
    _: AdminPrincipal,
    db: Db,
    query: Filters,
    limit: Annotated[int, Query(ge=1, le=1000)] = PAGE_SIZE,
    offset: Offset = 0,
) -> AuditPage:
    """Audit events, newest first, filtered by action, actor, object or time."""
    rows, total = list_events(db, query, limit=limit, offset=offset)
    return AuditPage(total=total, items=[AuditEventOut.model_validate(row) for row in rows])


@pages.get("/admin/audit")
def audit_page(
    request: Request,
    _: AdminPrincipal,
    db: Db,
    query: Filters,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    rows, total = list_events(db, query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "admin/audit.html",
        {
            "events": rows,
            "total": total,
            "page": page,
            "query": query,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "actions": known_actions(db),
            "object_link": object_link,
        },
    )
