"""The accounts API: tokens, /me, the common error shape, login throttling."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from app.audit.models import AuditEvent
from app.auth.models import ApiToken, LoginFailures
from app.core.database import utcnow
from tests.helpers import PASSWORD, assert_error, bearer


def audit_actions(db) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_token_then_me(client, reader) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "Reader1", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("mr_")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "reader1"
    assert me.json()["role"] == "reader"
    assert me.json()["authenticated_by"] == "token"
    assert "password_hash" not in me.text


def test_token_is_stored_only_as_a_digest(client, db, reader) -> None:
    token = bearer(client, "reader1")["Authorization"].split()[1]
    stored = db.scalars(select(ApiToken.token_digest)).all()
    assert len(stored) == 1
    assert token not in stored[0]
    assert len(stored[0]) == 64


def test_wrong_password_and_unknown_user_look_the_same(client, db, reader) -> None:
    wrong = client.post("/api/v1/auth/token", data={"username": "reader1", "password": "nope"})
    unknown = client.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope"})
    assert assert_error(wrong, 401, "invalid_credentials") == assert_error(
        unknown, 401, "invalid_credentials"
    )
    assert audit_actions(db)[-2:] == ["login.failed", "login.failed"]


def test_odd_usernames_get_a_safe_401(client, db) -> None:
    for name in ["<script>alert(1)</script>", "' OR 1=1 --", "ñandú", "x" * 300, ""]:
        response = client.post("/api/v1/auth/token", data={"username": name, "password": "p"})
        if len(name) > 200 or not name:
            assert_error(response, 422, "invalid")
        else:
            assert_error(response, 401, "invalid_credentials")
        assert "<script>" not in response.text
    assert db.scalar(select(func.count()).select_from(LoginFailures)) <= 1


def test_disabled_user_is_refused(client, db, admin, reader) -> None:
    headers = bearer(client, "reader1")
    admin_headers = bearer(client, "admin")
    client.patch(f"/api/v1/users/{reader.id}", json={"is_active": False}, headers=admin_headers)
    assert_error(client.get("/api/v1/me", headers=headers), 401, "invalid_token")
    right = client.post("/api/v1/auth/token", data={"username": "reader1", "password": PASSWORD})
    wrong = client.post("/api/v1/auth/token", data={"username": "reader1", "password": "x"})
    # a guesser must not learn that a password was right for a disabled account
    assert assert_error(right, 401, "invalid_credentials") == assert_error(wrong, 401)
    reasons = db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "login.failed")
    ).all()
    assert [r["reason"] for r in reasons] == ["disabled", "wrong_password"]


def test_revoked_token_is_refused(client, reader) -> None:
    headers = bearer(client, "reader1")
    assert client.delete("/api/v1/auth/tokens/current", headers=headers).status_code == 204
    assert_error(client.get("/api/v1/me", headers=headers), 401, "invalid_token")


def test_revoke_by_id_only_own_tokens(client, accounts, reader) -> None:
    accounts.add("reader2")
    mine = bearer(client, "reader1")
    theirs = bearer(client, "reader2")
    their_id = client.get("/api/v1/auth/tokens", headers=theirs).json()[0]["id"]
    assert_error(client.delete(f"/api/v1/auth/tokens/{their_id}", headers=mine), 404)
    assert client.get("/api/v1/me", headers=theirs).status_code == 200
    assert client.delete(f"/api/v1/auth/tokens/{their_id}", headers=theirs).status_code == 204


def test_expired_token_is_refused(client, db, reader) -> None:
    headers = bearer(client, "reader1")
    db.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert_error(client.get("/api/v1/me", headers=headers), 401, "invalid_token")


def test_garbage_tokens_are_refused(client) -> None:
    for value in ["Bearer ", "Bearer mr_nope", "Bearer ' OR 1=1"]:
        assert_error(client.get("/api/v1/me", headers={"Authorization": value}), 401)
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_failed_logins_slow_down_then_lock(client, db, reader) -> None:
    def attempt(password: str = "wrong"):
        return client.post("/api/v1/auth/token", data={"username": "reader1", "password": password})

    for _ in range(3):
        assert_error(attempt(), 401)
    throttled = attempt(PASSWORD)  # even the right password waits its turn
    assert_error(throttled, 429, "too_many_requests")
    assert int(throttled.headers["Retry-After"]) >= 1

    db.execute(update(LoginFailures).values(count=10))
    db.commit()
    locked = attempt(PASSWORD)
    error = assert_error(locked, 429)
    assert "locked" in error["message"]
    assert 800 <= int(locked.headers["Retry-After"]) <= 900

    db.execute(update(LoginFailures).values(last_failure_at=utcnow() - timedelta(minutes=16)))
    db.commit()
    assert attempt(PASSWORD).status_code == 200
    assert db.get(LoginFailures, "reader1") is None
    assert "login.locked" in audit_actions(db)


def test_unknown_names_lock_exactly_like_real_ones(client) -> None:
    for _ in range(3):  # in turns: both names' last failure is equally far back
        for name in ("reader1", "ghost"):
            client.post("/api/v1/auth/token", data={"username": name, "password": "x"})
    real = client.post("/api/v1/auth/token", data={"username": "reader1", "password": "x"})
    ghost = client.post("/api/v1/auth/token", data={"username": "ghost", "password": "x"})
    assert real.status_code == ghost.status_code == 429
    # the same answer; only the seconds left may differ by the time one request takes
    waits = [
        int(re.search(r"in (\d+) seconds", r.json()["error"]["message"]).group(1))
        for r in (real, ghost)
    ]
    assert abs(waits[0] - waits[1]) <= 1, waits
    same = [re.sub(r"in \d+ seconds", "in N seconds", r.text) for r in (real, ghost)]
    assert same[0] == same[1]


def test_change_own_password(client, reader) -> None:
    headers = bearer(client, "reader1")
    body = {"current_password": "wrong", "new_password": "a brand new secret"}
    error = assert_error(client.post("/api/v1/me/password", json=body, headers=headers), 422)
    assert error["details"][0]["field"] == "current_password"
    body["current_password"] = PASSWORD
    assert client.post("/api/v1/me/password", json=body, headers=headers).status_code == 204
    # the token used for the change ends with the change, like every other credential
    assert_error(client.get("/api/v1/me", headers=headers), 401)
    bearer(client, "reader1", "a brand new secret")


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_when_database_is_gone(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.helpers import test_settings

    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    app = create_app(test_settings(tmp_path, url))
    with TestClient(app) as client:
        assert_error(client.get("/healthz"), 503, "unavailable")


def test_unknown_route_and_method_use_the_error_shape(client, reader) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.put("/api/v1/me"), 405, "method_not_allowed")


def test_openapi_documents_the_api(client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in ["/api/v1/auth/token", "/api/v1/me", "/api/v1/users", "/api/v1/audit", "/healthz"]:
        assert path in paths
    assert not any(path.startswith("/admin") or path == "/login" for path in paths)
    assert "ErrorResponse" in schema["components"]["schemas"]


def test_parallel_guesses_cannot_outrun_the_throttle(app, db, reader) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from app.auth.service import authenticate
    from app.core.errors import AppError

    kit = app.state.auth_kit

    def guess(_: int) -> int:
        with app.state.session_factory() as session:
            try:
                authenticate(session, kit, "reader1", "guess", ip_address=None, channel="api")
            except AppError as error:
                return error.status_code
        return 200

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(guess, range(24)))
    assert set(statuses) <= {401, 429}, statuses
    checked = statuses.count(401)
    assert 1 <= checked <= kit.policy.slowdown_after
    db.expire_all()
    (row,) = db.scalars(select(LoginFailures)).all()
    assert row.count == checked  # every checked guess was counted, none lost


def test_a_password_typed_as_user_name_is_never_stored(client, db, reader) -> None:
    client.post("/api/v1/auth/token", data={"username": "hunter2hunter2", "password": "x"})
    client.post("/api/v1/auth/token", data={"username": "Pa$$w0rd!", "password": "x"})
    db.expire_all()
    stored = " ".join(
        str(value)
        for event in db.scalars(select(AuditEvent))
        for value in (event.actor_name, event.details, event.object_id)
    )
    stored += " ".join(db.scalars(select(LoginFailures.name_digest)))
    assert "hunter2" not in stored
    assert "pa$$" not in stored.lower()


def test_temporary_password_must_be_changed_first(client, admin) -> None:
    admin_headers = bearer(client, "admin")
    created = client.post(
        "/api/v1/users", json={"username": "newbie", "role": "admin"}, headers=admin_headers
    ).json()
    headers = bearer(client, "newbie", created["initial_password"])
    assert client.get("/api/v1/me", headers=headers).json()["must_change_password"] is True
    assert_error(client.get("/api/v1/users", headers=headers), 403, "password_change_required")
    body = {"current_password": created["initial_password"], "new_password": "my own secret!"}
    assert client.post("/api/v1/me/password", json=body, headers=headers).status_code == 204
    fresh = bearer(client, "newbie", "my own secret!")
    assert client.get("/api/v1/users", headers=fresh).status_code == 200


def test_guessing_the_current_password_is_throttled(client, reader) -> None:
    headers = bearer(client, "reader1")
    body = {"current_password": "guess", "new_password": "another fine secret"}
    statuses = [
        client.post("/api/v1/me/password", json=body, headers=headers).status_code for _ in range(5)
    ]
    assert statuses[:3] == [422, 422, 422]
    assert statuses[3:] == [429, 429]


def test_api_answers_are_not_cached(client, reader) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "reader1", "password": PASSWORD})
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/static/css/app.css").headers.get("cache-control") != "no-store"


def test_naive_audit_timestamps_are_a_clear_422(client, admin) -> None:
    headers = bearer(client, "admin")
    response = client.get("/api/v1/audit", params={"since": "2020-01-01T00:00:00"}, headers=headers)
    error = assert_error(response, 422, "invalid")
    assert error["details"][0]["field"] == "since"
    ok = client.get("/api/v1/audit", params={"since": "2020-01-01T00:00:00Z"}, headers=headers)
    assert ok.status_code == 200


def test_unexpected_errors_keep_the_shape_and_the_headers(app, reader) -> None:
    from fastapi.testclient import TestClient

    def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/v1/explode", explode)
    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/explode")
        assert_error(response, 500, "internal_error")
        assert "boom" not in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page = client.get("/explode")
        assert page.status_code == 500
        assert "text/html" in page.headers["content-type"]
        assert page.headers["cache-control"] == "no-store"
