"""A small seeded world for the API-wide tests: an admin, two readers, two imported exams, a
reading project with an assigned study and a masking project, so that operations taking ids
reach real code paths."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.auth.service import issue_api_token
from tests.helpers import bearer
from tests.imaging.helpers import exam_files, upload

ROLES = ("admin", "reader")


@dataclass
class World:
    admin: User
    reader: User
    headers: dict[str, dict[str, str]]  # role -> bearer headers
    study_ids: list[str]
    image_ids: list[str]
    reading_project_id: int
    masking_project_id: int


def seed_world(client, accounts, db: Session) -> World:
    admin = accounts.add("admin", Role.ADMIN)
    reader = accounts.add("reader1")
    other = accounts.add("reader2")
    admin_headers = bearer(client, "admin")
    files = [f for seed in (31, 32) for f in exam_files(seed)]
    imported = upload(client, files, admin_headers)
    assert imported.status_code == 200, imported.text
    outcomes = imported.json()["outcomes"]
    study_ids = sorted({o["study_id"] for o in outcomes})
    image_ids = [o["image_id"] for o in outcomes]
    reading = _post(client, "/api/v1/reading/projects", {"name": "Fuzz reading"}, admin_headers)
    project_id = reading["id"]
    base = f"/api/v1/reading/projects/{project_id}"
    pools = {"readers": [reader.id, other.id], "arbiters": [admin.id]}
    assert client.put(f"{base}/pools", json=pools, headers=admin_headers).status_code == 200
    _post(client, f"{base}/studies", {"study_ids": study_ids}, admin_headers, 200)
    _post(client, f"{base}/assign", {}, admin_headers, 200)
    masking = _post(
        client,
        "/api/v1/masking/projects",
        {
            "name": "Fuzz masking",
            "seed_list": [image_ids[0], image_ids[-1]],
            "reader_ids": [reader.id],
        },
        admin_headers,
    )
    return World(
        admin=admin,
        reader=reader,
        headers={"admin": admin_headers, "reader": bearer(client, "reader1")},
        study_ids=study_ids,
        image_ids=image_ids,
        reading_project_id=project_id,
        masking_project_id=masking["id"],
    )


def _post(client, url: str, body: dict, headers: dict[str, str], status: int = 201) -> dict:
    response = client.post(url, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


def fresh_headers(db: Session, app, user: User, role: str) -> dict[str, str]:
    """A new bearer token for ``user`` in ``role``, made usable again whatever a fuzzed request
    did to the account (disabled it, reset its password, changed its role)."""
    db.expire_all()
    account = db.get(User, user.id)
    assert account is not None
    account.is_active = True
    account.must_change_password = False
    account.role = Role(role)
    db.commit()
    token, _ = issue_api_token(db, app.state.auth_kit, account, label="fuzz", ip_address=None)
    return {"Authorization": f"Bearer {token}"}
