"""Sign-in throttling by client address (ASVS 2.2.1): a stranger hammering a user name never
locks out its owner signing in from elsewhere, and one address cannot try name after name."""

from __future__ import annotations

from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.auth.models import LoginFailures
from tests.helpers import PASSWORD, assert_error

STRANGER = "198.51.100.66"
OWNER = "192.0.2.10"


def sign_in(app, address: str, username: str, password: str = "wrong guess"):
    from fastapi.testclient import TestClient

    client = TestClient(app, client=(address, 50000))
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_a_stranger_cannot_lock_out_the_owner(app, db, admin) -> None:
    statuses = [sign_in(app, STRANGER, "admin").status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]
    db.execute(update(LoginFailures).values(count=app.state.auth_kit.policy.lockout_after))
    db.commit()
    locked = assert_error(sign_in(app, STRANGER, "admin", PASSWORD), 429, "too_many_requests")
    assert "locked" in locked["message"]

    assert sign_in(app, OWNER, "admin", PASSWORD).status_code == 200
    assert sign_in(app, OWNER, "admin").status_code == 401  # the owner's own budget is intact
    # the owner's success does not unlock the name for the stranger either
    assert_error(sign_in(app, STRANGER, "admin", PASSWORD), 429)


def test_one_address_trying_many_names_is_throttled(app, db, admin, reader) -> None:
    budget = app.state.auth_kit.throttle.per_address.slowdown_after
    assert budget > app.state.auth_kit.policy.lockout_after  # many names, but not unlimited
    statuses = [sign_in(app, STRANGER, f"name{n}").status_code for n in range(budget + 2)]
    assert statuses == [401] * budget + [429, 429]
    refused = assert_error(sign_in(app, STRANGER, "reader1", PASSWORD), 429)
    assert "your network address" in refused["message"]
    assert sign_in(app, OWNER, "reader1", PASSWORD).status_code == 200
    db.expire_all()
    details = db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "login.throttled")
    ).all()
    assert {d["throttled_by"] for d in details} == {"address"}


def test_a_success_does_not_reset_the_address_budget(app, admin, reader) -> None:
    budget = app.state.auth_kit.throttle.per_address.slowdown_after
    for n in range(budget - 1):
        assert sign_in(app, STRANGER, f"name{n}").status_code == 401
    # signing in to an account of one's own gives back that attempt only, not the failures
    assert sign_in(app, STRANGER, "reader1", PASSWORD).status_code == 200
    assert sign_in(app, STRANGER, "another").status_code == 401
    assert_error(sign_in(app, STRANGER, "yet.another"), 429)


def test_addresses_and_names_are_stored_only_as_digests(app, db, reader) -> None:
    sign_in(app, STRANGER, "reader1")
    sign_in(app, STRANGER, "ghost")
    db.expire_all()
    keys = db.scalars(select(LoginFailures.name_digest)).all()
    assert len(keys) == 3  # (address, reader1), (address, ghost), the address
    assert all(len(key) == 64 and STRANGER not in key for key in keys)
