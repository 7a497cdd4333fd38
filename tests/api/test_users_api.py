"""User administration through the API: role checks, validation, audit."""

from __future__ import annotations

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import User
from tests.helpers import PASSWORD, assert_error, bearer


def test_admin_creates_user_with_generated_password(client, admin) -> None:
    headers = bearer(client, "admin")
    response = client.post(
        "/api/v1/users",
        json={"username": "Dr.Nguyen", "display_name": "Dr. Nguyễn Thị Hà"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["username"] == "dr.nguyen"
    assert created["display_name"] == "Dr. Nguyễn Thị Hà"
    assert created["role"] == "reader"
    assert created["must_change_password"] is True
    new_headers = bearer(client, "dr.nguyen", created["initial_password"])
    assert client.get("/api/v1/me", headers=new_headers).json()["must_change_password"] is True


def test_readers_cannot_administer(client, admin, reader) -> None:
    headers = bearer(client, "reader1")
    assert_error(client.get("/api/v1/users", headers=headers), 403, "forbidden")
    response = client.post("/api/v1/users", json={"username": "sneaky"}, headers=headers)
    assert_error(response, 403)
    assert_error(client.get("/api/v1/audit", headers=headers), 403)
    assert_error(
        client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=headers), 403
    )


def test_bad_user_input_changes_nothing(client, db, admin) -> None:
    headers = bearer(client, "admin")
    before = db.scalar(select(func.count()).select_from(User))
    cases = [
        ({"username": "<img src=x>"}, "username"),
        ({"username": "x" * 65}, "username"),
        ({"username": "'; DROP TABLE users; --"}, "username"),
        ({"username": "ok.name", "password": "short"}, "password"),
        ({"username": "ok.name", "display_name": "bad\u0000name"}, "display_name"),
        ({"username": "ok.name", "role": "superuser"}, "role"),
        ({"username": "x" * 500}, "username"),
    ]
    for body, field in cases:
        error = assert_error(client.post("/api/v1/users", json=body, headers=headers), 422)
        assert error["details"][0]["field"] == field, error
    duplicate = client.post("/api/v1/users", json={"username": "ADMIN"}, headers=headers)
    assert_error(duplicate, 409, "username_taken")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(User)) == before


def test_disable_enable_and_reset(client, db, admin, reader) -> None:
    headers = bearer(client, "admin")
    reader_headers = bearer(client, "reader1")
    response = client.patch(
        f"/api/v1/users/{reader.id}", json={"is_active": False}, headers=headers
    )
    assert response.json()["is_active"] is False
    assert_error(client.get("/api/v1/me", headers=reader_headers), 401)
    client.patch(f"/api/v1/users/{reader.id}", json={"is_active": True}, headers=headers)
    reset = client.post(f"/api/v1/users/{reader.id}/password", json={}, headers=headers)
    new_password = reset.json()["password"]
    assert_error(
        client.post("/api/v1/auth/token", data={"username": "reader1", "password": PASSWORD}), 401
    )
    bearer(client, "reader1", new_password)
    db.expire_all()
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"user.disabled", "user.enabled", "user.password_reset"} <= actions


def test_the_last_admin_stays(client, accounts, admin) -> None:
    headers = bearer(client, "admin")
    error = assert_error(
        client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=headers), 403
    )
    assert "your own" in error["message"]
    other = accounts.add("admin2", role=__import__("app.auth.models").auth.models.Role.ADMIN)
    other_headers = bearer(client, "admin2")
    client.patch(f"/api/v1/users/{admin.id}", json={"role": "reader"}, headers=other_headers)
    error = assert_error(
        client.patch(f"/api/v1/users/{other.id}", json={"role": "reader"}, headers=other_headers),
        403,
    )


def test_unknown_user_is_404(client, admin) -> None:
    headers = bearer(client, "admin")
    assert_error(client.get("/api/v1/users/9999", headers=headers), 404, "not_found")
    assert_error(client.get("/api/v1/users/abc", headers=headers), 422, "invalid")


def test_audit_api_lists_and_filters(client, admin, reader) -> None:
    headers = bearer(client, "admin")
    client.post("/api/v1/auth/token", data={"username": "reader1", "password": "Typo-Secret-42"})
    page = client.get("/api/v1/audit", params={"action": "login.failed"}, headers=headers).json()
    assert page["total"] == 1
    event = page["items"][0]
    assert event["actor_name"] == "reader1"
    assert event["details"]["reason"] == "wrong_password"
    assert event["ip_address"] == "testclient"
    assert "Typo-Secret-42" not in str(event)  # the typed password is never recorded
    everything = client.get("/api/v1/audit", headers=headers).json()
    assert everything["total"] >= 4
    assert [e["id"] for e in everything["items"]] == sorted(
        (e["id"] for e in everything["items"]), reverse=True
    )


def test_easily_guessed_passwords_are_refused_everywhere(client, db, admin, reader) -> None:
    headers = bearer(client, "admin")
    for weak in ["password12", "Password123", "1234567890", "qwertyuiop"]:
        response = client.post(
            "/api/v1/users", json={"username": "newbie", "password": weak}, headers=headers
        )
        error = assert_error(response, 422, "invalid")
        assert error["details"][0]["field"] == "password"
        assert "too easy to guess" in error["details"][0]["message"]
    reset = client.post(
        f"/api/v1/users/{reader.id}/password", json={"password": "password12"}, headers=headers
    )
    assert "too easy to guess" in assert_error(reset, 422)["details"][0]["message"]
    reader_headers = bearer(client, "reader1")
    body = {"current_password": PASSWORD, "new_password": "qwertyuiop"}
    change = client.post("/api/v1/me/password", json=body, headers=reader_headers)
    assert assert_error(change, 422)["details"][0]["field"] == "new_password"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(User)) == 2
    bearer(client, "reader1")  # the password in force is unchanged


def test_a_password_the_admin_chose_must_be_changed_at_first_sign_in(client, admin, reader):
    headers = bearer(client, "admin")
    chosen = "violet kayak under 9 lanterns"
    created = client.post(
        "/api/v1/users", json={"username": "newbie", "password": chosen}, headers=headers
    ).json()
    assert created["must_change_password"] is True
    newbie = bearer(client, "newbie", chosen)
    assert_error(client.get("/api/v1/users", headers=newbie), 403, "password_change_required")
    reset = client.post(
        f"/api/v1/users/{reader.id}/password", json={"password": chosen}, headers=headers
    )
    assert reset.json()["password"] == chosen
    reader_headers = bearer(client, "reader1", chosen)
    assert client.get("/api/v1/me", headers=reader_headers).json()["must_change_password"] is True


def test_a_password_chosen_on_the_users_page_must_be_changed_too(client, db, admin) -> None:
    from tests.helpers import login

    csrf = login(client, "admin")
    form = {"username": "dr.lan", "password": "violet kayak under 9 lanterns", "csrf_token": csrf}
    assert client.post("/admin/users", data=form).status_code == 200
    weak = client.post("/admin/users", data={**form, "username": "dr.le", "password": "password12"})
    assert weak.status_code == 422
    assert "too easy to guess" in weak.text
    db.expire_all()
    users = {u.username: u for u in db.scalars(select(User))}
    assert users["dr.lan"].must_change_password is True
    assert "dr.le" not in users
