"""PACS sources through the API: configured, their secret encrypted at rest and never sent
back, tested against a real Orthanc (answering, wrong password, unreachable, not DICOMweb)."""

from __future__ import annotations

import stat

from sqlalchemy import text

from app.core.config import Settings
from app.pacs.credentials import KEY_FILE, Vault, vault
from tests.helpers import assert_error, bearer, login
from tests.pacs.helpers import SOURCES, add_source, wait
from tests.pacs.orthanc import PASSWORD, Orthanc, free_port


def test_a_source_keeps_its_secret_encrypted_and_never_shows_it(
    client, admin, db, settings: Settings, orthanc: Orthanc
) -> None:
    headers = bearer(client, "admin")
    replies = []
    source = add_source(client, headers, orthanc)
    replies.append(source)
    assert source["secret_set"] is True
    assert source["auth_kind"] == "basic"
    assert source["username"] == "mammoread"
    assert "secret" not in source
    assert "secret_encrypted" not in source

    stored = db.execute(text("SELECT secret_encrypted FROM pacs_sources")).scalar_one()
    assert stored
    assert PASSWORD not in stored
    assert vault(settings).open(stored) == PASSWORD
    # the key is a file of its own, 0600, apart from the session secret
    key_file = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Vault(b"another key").seal(PASSWORD) != stored

    for url in (SOURCES, f"{SOURCES}/{source['id']}"):
        reply = client.get(url, headers=headers)
        assert reply.status_code == 200
        replies.append(reply.text)
    # renamed: the secret stays; "" removes it, which HTTP Basic refuses
    renamed = client.patch(f"{SOURCES}/{source['id']}", json={"name": "Main PACS"}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Main PACS"
    assert renamed.json()["secret_set"] is True
    replies.append(renamed.text)
    moved = client.patch(
        f"{SOURCES}/{source['id']}",
        json={"base_url": "http://elsewhere.example/dicom-web"},
        headers=headers,
    )
    error = assert_error(moved, 422, "invalid")
    assert error["details"][0]["field"] == "secret"  # a stored secret never goes to a new host
    replies.append(moved.text)
    cleared = client.patch(f"{SOURCES}/{source['id']}", json={"secret": ""}, headers=headers)
    assert_error(cleared, 422, "invalid")
    replies.append(cleared.text)
    checked = client.post(f"{SOURCES}/{source['id']}/test", headers=headers)
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is True
    replies.append(checked.text)
    # no sign-in: the secret goes
    opened = client.patch(f"{SOURCES}/{source['id']}", json={"auth_kind": "none"}, headers=headers)
    assert opened.status_code == 200
    assert opened.json()["secret_set"] is False
    assert db.execute(text("SELECT secret_encrypted FROM pacs_sources")).scalar_one() is None
    audit = db.execute(text("SELECT details FROM audit_events")).scalars().all()
    assert not any(PASSWORD in str(details) for details in audit)
    assert not any(PASSWORD in str(reply) for reply in replies)

    duplicate = client.post(
        SOURCES,
        json={"name": "Main PACS", "base_url": orthanc.dicomweb_url},
        headers=headers,
    )
    assert_error(duplicate, 409, "pacs_source_exists")
    assert client.delete(f"{SOURCES}/{source['id']}", headers=headers).status_code == 204
    assert client.get(SOURCES, headers=headers).json() == []


def test_wrong_password_unreachable_and_not_dicomweb_are_named(
    client, admin, orthanc: Orthanc
) -> None:
    headers = bearer(client, "admin")
    wrong = add_source(client, headers, orthanc, name="Wrong", secret="not-the-password")
    error = assert_error(
        client.post(f"{SOURCES}/{wrong['id']}/test", headers=headers),
        424,
        "pacs_credentials_refused",
    )
    assert "refused MammoRead's credentials" in error["message"]
    assert "not-the-password" not in error["message"]

    nobody = add_source(
        client, headers, orthanc, name="Gone", base_url=f"http://127.0.0.1:{free_port()}/dicom-web"
    )
    error = assert_error(
        client.post(f"{SOURCES}/{nobody['id']}/test", headers=headers), 424, "pacs_unreachable"
    )
    assert "cannot be reached" in error["message"]
    # a search and a retrieval from it say the same, in the same shape
    assert_error(
        client.post("/api/v1/pacs/search", json={"source_id": nobody["id"]}, headers=headers),
        424,
        "pacs_unreachable",
    )

    job = client.post(
        "/api/v1/pacs/retrievals",
        json={"source_id": nobody["id"], "study_uids": ["1.2.3"]},
        headers=headers,
    )
    assert job.status_code == 202, job.text
    ended = wait(client, headers, job.json())
    assert ended["status"] == "failed"
    assert "cannot be reached" in ended["error"]
    assert ended["studies_pending"] == 1
    assert ended["resumable"] is True

    elsewhere = add_source(client, headers, orthanc, name="Elsewhere", base_url=orthanc.url + "/x")
    assert_error(
        client.post(f"{SOURCES}/{elsewhere['id']}/test", headers=headers), 424, "pacs_not_dicomweb"
    )


def test_bad_sources_are_refused_field_by_field(client, admin) -> None:
    headers = bearer(client, "admin")
    for body, field in (
        ({"name": "A", "base_url": "ftp://pacs/dicom-web"}, "base_url"),
        ({"name": "A", "base_url": "http://user:pw@pacs/dicom-web"}, "base_url"),
        ({"name": "A", "base_url": "http://pacs/dicom-web?x=1"}, "base_url"),
        ({"name": "A", "base_url": "http://pacs", "wado_root": "pacs"}, "wado_root"),
        ({"name": " ", "base_url": "http://pacs"}, "name"),
        ({"name": "A", "base_url": "http://pacs", "auth_kind": "basic"}, "username"),
        ({"name": "A", "base_url": "http://pacs", "auth_kind": "bearer"}, "secret"),
        (
            {"name": "A", "base_url": "http://pacs", "auth_kind": "bearer", "secret": "a\nb"},
            "secret",
        ),
    ):
        error = assert_error(client.post(SOURCES, json=body, headers=headers), 422)
        assert error["details"][0]["field"] == field, (body, error)
    assert_error(client.get(f"{SOURCES}/999", headers=headers), 404, "not_found")


def test_only_administrators_see_sources(client, admin, reader) -> None:
    headers = bearer(client, "reader1")
    assert_error(client.get(SOURCES, headers=headers), 403, "forbidden")
    assert_error(
        client.post("/api/v1/pacs/search", json={"source_id": 1}, headers=headers),
        403,
        "forbidden",
    )
    # a browser session must carry its CSRF token
    login(client, "admin")
    refused = client.post(SOURCES, json={"name": "A", "base_url": "http://pacs"})
    assert_error(refused, 403, "csrf_failed")
