"""The user's own settings (/api/v1/me/preferences): per user, typed, partial updates."""

from __future__ import annotations

from tests.helpers import bearer


def test_preferences_default_then_kept_per_user(client, reader, admin) -> None:
    mine = bearer(client, "reader1")
    theirs = bearer(client, "admin")
    assert client.get("/api/v1/me/preferences", headers=mine).json() == {
        "hanging": "grid",
        "linked": False,
        "priors": "off",
    }
    changed = client.patch("/api/v1/me/preferences", json={"hanging": "row"}, headers=mine)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"hanging": "row", "linked": False, "priors": "off"}
    linked = client.patch("/api/v1/me/preferences", json={"linked": True}, headers=mine)
    assert linked.json() == {"hanging": "row", "linked": True, "priors": "off"}
    priors = client.patch("/api/v1/me/preferences", json={"priors": "eight"}, headers=mine)
    assert priors.json() == {"hanging": "row", "linked": True, "priors": "eight"}
    assert client.get("/api/v1/me/preferences", headers=mine).json()["hanging"] == "row"
    # another user's settings are their own
    assert client.get("/api/v1/me/preferences", headers=theirs).json()["hanging"] == "grid"


def test_preferences_refuse_unknown_values(client, reader) -> None:
    mine = bearer(client, "reader1")
    bad = client.patch("/api/v1/me/preferences", json={"hanging": "3x3"}, headers=mine)
    assert bad.status_code == 422
    assert (
        client.patch("/api/v1/me/preferences", json={"priors": "9"}, headers=mine).status_code
        == 422
    )
    extra = client.patch("/api/v1/me/preferences", json={"theme": "light"}, headers=mine)
    assert extra.status_code == 422
    assert client.get("/api/v1/me/preferences").status_code == 401
