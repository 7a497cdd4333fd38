"""Signed-in browsers through the API: list them, end one, end all the others (issue 11)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import UserSession
from tests.helpers import assert_error, bearer, csrf_token, login


def live_sessions(db, user_id: int) -> int:
    db.expire_all()
    statement = select(func.count(UserSession.id)).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    return db.scalar(statement)


def test_a_browser_ends_its_other_sessions(app, client, db, reader) -> None:
    for _ in range(2):
        with TestClient(app) as elsewhere:
            login(elsewhere, "reader1")
    csrf = login(client, "reader1")
    assert live_sessions(db, reader.id) == 3
    listed = client.get("/api/v1/auth/sessions").json()
    assert len(listed) == 3
    assert [s["current"] for s in listed].count(True) == 1
    assert "token" not in str(listed[0].keys())
    ended = client.delete("/api/v1/auth/sessions/others", headers={"X-CSRF-Token": csrf})
    assert ended.status_code == 200, ended.text
    assert ended.json() == {"ended": 2}
    assert live_sessions(db, reader.id) == 1
    assert client.get("/api/v1/me").status_code == 200  # this browser stays signed in
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "sessions.ended_others"))
    (event,) = events.all()
    assert event.actor_id == reader.id
    assert event.details == {"ended": 2}
    assert client.get("/account").text.count("End all other sessions") == 0  # nothing left


def test_a_token_ends_every_session_and_one_by_id(app, client, db, reader, admin) -> None:
    with TestClient(app) as browser:
        login(browser, "reader1")
        csrf_token(browser)
    headers = bearer(client, "reader1")
    (listed,) = client.get("/api/v1/auth/sessions", headers=headers).json()
    assert listed["current"] is False
    others = bearer(client, "admin")
    assert_error(client.delete(f"/api/v1/auth/sessions/{listed['id']}", headers=others), 404)
    gone = client.delete(f"/api/v1/auth/sessions/{listed['id']}", headers=headers)
    assert gone.status_code == 204
    assert live_sessions(db, reader.id) == 0
    with TestClient(app) as browser:
        login(browser, "reader1")
    ended = client.delete("/api/v1/auth/sessions/others", headers=headers)
    assert ended.json() == {"ended": 1}
    assert live_sessions(db, reader.id) == 0
