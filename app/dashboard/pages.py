"""The start page: what needs the signed-in person's attention."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.auth.deps import CurrentPrincipal, Db
from app.auth.users import list_users
from app.core.web import render
from app.imaging.service import imaging_summary
from app.reading.service import my_tasks
from app.reading.states import TaskKind, TaskStatus

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, principal: CurrentPrincipal, db: Db) -> HTMLResponse:
    tasks = my_tasks(db, principal.user)
    context: dict[str, object] = {
        "open_reads": sum(t.status in TaskStatus.open() and t.kind == TaskKind.READ for t in tasks),
        "open_arbitrations": sum(
            t.status in TaskStatus.open() and t.kind == TaskKind.ARBITRATE for t in tasks
        ),
    }
    if principal.user.is_admin:
        users = list_users(db)
        context["user_counts"] = {
            "active_readers": sum(u.is_active and not u.is_admin for u in users),
            "active_admins": sum(u.is_active and u.is_admin for u in users),
            "disabled": sum(not u.is_active for u in users),
        }
        context["imaging"] = imaging_summary(db)
    return render(request, "dashboard.html", context)
