"""Pages through the browser path: sign-in, CSRF, sessions, account and user administration."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.auth.deps import SESSION_COOKIE
from app.auth.models import User, UserSession
from app.core.database import utcnow
from tests.helpers import CSRF_INPUT, PASSWORD, csrf_token, login


def test_pages_need_a_session(client) -> None:
    for path in ["/", "/account", "/admin/users", "/admin/audit"]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_login_page_is_clean(client) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert 'autocomplete="current-password"' in page.text
    assert "https://" not in page.text  # nothing loaded from the internet
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    headers = page.headers
    assert headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


def test_sign_in_and_out(client, db, reader) -> None:
    csrf = login(client, "reader1")
    session_cookie = client.cookies.get(SESSION_COOKIE)
    assert session_cookie
    dashboard = client.get("/")
    assert "Dr. Rea Der" in dashboard.text
    assert "/admin/users" not in dashboard.text  # no admin navigation for readers
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    # the old cookie no longer works even if replayed
    client.cookies.set(SESSION_COOKIE, session_cookie)
    assert client.get("/", follow_redirects=False).status_code == 303
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["login", "logout"]


def test_wrong_password_shows_a_form_error(client, reader) -> None:
    page = client.get("/login")
    token = CSRF_INPUT.search(page.text).group(1)
    response = client.post(
        "/login", data={"username": "reader1", "password": "nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong user name or password, or the account is disabled." in response.text
    assert 'value="reader1"' in response.text
    assert SESSION_COOKIE not in client.cookies


def test_login_form_needs_its_csrf_token(client, reader) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"username": "reader1", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert "expired" in response.text
    assert SESSION_COOKIE not in client.cookies


def test_no_open_redirect_after_login(client, reader) -> None:
    page = client.get("/login", params={"next": "//evil.example/"})
    assert 'name="next" value="/"' in page.text
    token = CSRF_INPUT.search(page.text).group(1)
    response = client.post(
        "/login",
        data={
            "username": "reader1",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_state_changes_need_the_csrf_token(client, db, admin, reader) -> None:
    csrf = login(client, "admin")
    url = f"/admin/users/{reader.id}/active"
    for headers, data in [
        ({}, {"active": "false"}),
        ({}, {"active": "false", "csrf_token": "wrong"}),
        ({"X-CSRF-Token": "wrong"}, {"active": "false"}),
    ]:
        response = client.post(url, data=data, headers=headers)
        assert response.status_code == 403
        assert "CSRF" in response.text
    db.expire_all()
    assert db.get(User, reader.id).is_active
    # htmx sends it as a header
    confirmed = {"active": "false", "confirm": "yes"}
    response = client.post(url, data=confirmed, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    db.expire_all()
    assert not db.get(User, reader.id).is_active


def test_api_with_cookie_session_needs_csrf_header(client, reader) -> None:
    csrf = login(client, "reader1")
    assert client.get("/api/v1/me").json()["authenticated_by"] == "session"
    response = client.post("/api/v1/auth/tokens/current")
    assert response.status_code in (403, 405)
    body = {"current_password": PASSWORD, "new_password": "another good secret"}
    refused = client.post("/api/v1/me/password", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    accepted = client.post("/api/v1/me/password", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 204
    assert client.get("/api/v1/me").status_code == 200  # this session survives the change


def test_idle_and_expired_sessions_end(client, db, reader) -> None:
    login(client, "reader1")
    db.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=3)))
    db.commit()
    assert client.get("/", follow_redirects=False).status_code == 303
    login(client, "reader1")
    db.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert client.get("/", follow_redirects=False).status_code == 303


def test_readers_get_403_on_admin_pages(client, reader) -> None:
    login(client, "reader1")
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert "administrator" in response.text
    assert "<html" in response.text


def test_admin_creates_disables_and_resets(client, db, admin) -> None:
    csrf = login(client, "admin")
    page = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": "Dr.B",
            "display_name": "Dr. B <b>",
            "role": "reader",
        },
    )
    assert page.status_code == 200
    assert "User dr.b created." in page.text
    assert "Dr. B &lt;b&gt;" in page.text  # escaped, never rendered as markup
    assert 'id="revealed-password"' in page.text
    user = db.scalar(select(User).where(User.username == "dr.b"))
    # disabling and resetting a password ask for a confirmation first (issue 11)
    asked = client.post(
        f"/admin/users/{user.id}/active",
        data={"csrf_token": csrf, "active": "false"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/admin/users/{user.id}/confirm/disable"
    db.refresh(user)
    assert user.is_active
    confirmed = {"csrf_token": csrf, "active": "false", "confirm": "yes"}
    client.post(f"/admin/users/{user.id}/active", data=confirmed)
    db.refresh(user)
    assert not user.is_active
    client.post(f"/admin/users/{user.id}/active", data={"csrf_token": csrf, "active": "true"})
    db.refresh(user)
    assert user.is_active
    asked = client.post(f"/admin/users/{user.id}/password", data={"csrf_token": csrf})
    assert "Reset the password of dr.b" in asked.text
    reset = client.post(
        f"/admin/users/{user.id}/password", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert "must change it" in reset.text
    role = client.post(f"/admin/users/{user.id}/role", data={"csrf_token": csrf, "role": "admin"})
    assert "is now admin" in role.text


def test_admin_form_errors_name_the_field(client, db, admin) -> None:
    csrf = login(client, "admin")
    page = client.post(
        "/admin/users", data={"csrf_token": csrf, "username": "<script>", "role": "reader"}
    )
    assert page.status_code == 422
    assert 'aria-invalid="true"' in page.text
    assert "may contain only letters" in page.text
    assert "<script>" not in page.text.split("<main", 1)[1]
    assert db.scalar(select(User).where(User.username == "<script>")) is None


def test_account_password_change_and_tokens(client, reader) -> None:
    csrf = login(client, "reader1")
    mismatch = client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "one new secret",
            "repeat_password": "other new secret",
        },
    )
    assert mismatch.status_code == 422
    assert "differ" in mismatch.text
    page = client.post("/account/tokens", data={"csrf_token": csrf, "label": "export script"})
    assert 'id="new-token"' in page.text
    assert "<td>export script</td>" in page.text
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "one new secret",
            "repeat_password": "one new secret",
        },
    )
    assert changed.status_code == 200
    assert "Password changed" in changed.text
    assert "<td>export script</td>" not in changed.text  # tokens end with a password change


def test_must_change_password_after_reset(client, db, admin, reader, accounts) -> None:
    csrf = login(client, "admin")
    client.post(f"/admin/users/{reader.id}/password", data={"csrf_token": csrf, "confirm": "yes"})
    db.refresh(reader)
    assert reader.must_change_password


def test_error_pages_are_html(client, reader) -> None:
    login(client, "reader1")
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Not found" in response.text


def test_request_body_limit(tmp_path, database_url) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.helpers import test_settings

    app = create_app(test_settings(tmp_path / "var", database_url, max_upload_mb=1))
    with TestClient(app) as client:
        big = b"x" * (1024 * 1024 + 1)
        response = client.post(
            "/api/v1/auth/token",
            content=big,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        def chunks():
            for _ in range(3):
                yield b"x" * (512 * 1024)

        streamed = client.post(
            "/api/v1/auth/token",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status_code == 413
        assert "1 MB" in streamed.json()["error"]["message"]
    app.state.engine.dispose()


def test_csrf_token_helper_reads_session_token(client, reader) -> None:
    login(client, "reader1")
    assert len(csrf_token(client)) > 20


def test_signing_in_again_replaces_the_earlier_session(client, db, reader) -> None:
    login(client, "reader1")
    # a second sign-in form posted from the same browser (say, a tab left open)
    client.cookies.set("mammoread_login_csrf", "tab-token", path="/login")
    again = client.post(
        "/login",
        data={"username": "reader1", "password": PASSWORD, "csrf_token": "tab-token"},
        follow_redirects=False,
    )
    assert again.status_code == 303
    db.expire_all()
    live = db.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
    assert len(live) == 1


def test_error_page_shows_the_message_once(client, reader) -> None:
    login(client, "reader1")
    page = client.get("/admin/users")
    assert page.status_code == 403
    assert "{&#39;code&#39;" not in page.text
    assert "{'code'" not in page.text
    assert page.text.count("This needs an administrator account.") == 1


def test_temporary_password_sends_pages_to_the_account(client, db, admin) -> None:
    csrf = login(client, "admin")
    page = client.post(
        "/admin/users", data={"csrf_token": csrf, "username": "newbie", "role": "reader"}
    )
    password = re.search(r'id="revealed-password">([^<]+)<', page.text).group(1)
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "newbie", password)
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/account?must_change=1"
