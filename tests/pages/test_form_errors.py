"""A refused form comes back as its page, with the refusal's status and message (and what was
typed, where the page keeps it); the refusal changes nothing. One helper answers every form
(``app.core.web.form_or_error``): these pin each form's answer."""

from __future__ import annotations

from sqlalchemy import func, select

from app.auth.models import User
from app.masking.models import MaskingProject
from app.reading.models import ProjectMember, ReadingProject
from tests.helpers import PASSWORD, login
from tests.pages.site import build_site

UNKNOWN_USER = "999999"


def refused(response, status: int, template: str, *messages: str) -> None:
    assert response.status_code == status, response.text
    assert response.template.name == template
    for message in messages:
        assert message in response.text


def test_account_and_user_forms_answer_with_the_page(client, db, admin, reader) -> None:
    csrf = login(client, "admin")
    same = client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": PASSWORD,
            "repeat_password": PASSWORD,
        },
    )
    refused(same, 422, "auth/account.html", "must differ from the current one")
    yourself = client.post(
        f"/admin/users/{admin.id}/active", data={"csrf_token": csrf, "active": "false"}
    )
    refused(yourself, 403, "admin/users.html", "your own account")
    role = client.post(f"/admin/users/{reader.id}/role", data={"csrf_token": csrf, "role": "boss"})
    refused(role, 422, "admin/users.html", "Unknown role")
    db.expire_all()
    assert db.get(User, admin.id).is_active
    assert db.get(User, reader.id).role == "reader"


def test_project_forms_answer_with_the_page(client, db, accounts, admin, tmp_path) -> None:
    site = build_site(client, db, accounts, tmp_path / "release")
    csrf = login(client, "admin")
    projects = db.scalar(select(func.count()).select_from(ReadingProject))
    threshold = client.post(
        "/projects", data={"csrf_token": csrf, "name": "Pilot", "iou_threshold": "wide"}
    )
    refused(threshold, 422, "reading/projects.html", "The IoU threshold must be a number.")
    members = db.scalar(select(func.count()).select_from(ProjectMember))
    pools = client.post(
        f"/projects/{site.project_id}/pools",
        data={"csrf_token": csrf, "readers": [UNKNOWN_USER]},
    )
    refused(pools, 422, "reading/project.html", f"unknown user ids [{UNKNOWN_USER}]")
    assert db.scalar(select(func.count()).select_from(ProjectMember)) == members
    assert db.scalar(select(func.count()).select_from(ReadingProject)) == projects

    clear = f"/studies/{site.assigned}/flags/{site.flag_id}/clear"
    assert "Flag cleared" in client.post(clear, data={"csrf_token": csrf, "reason": "ok"}).text
    again = client.post(clear, data={"csrf_token": csrf, "reason": "ok"})
    refused(again, 409, "imaging/study.html", "already cleared")


def test_masking_and_export_forms_answer_with_the_page(
    client, db, accounts, admin, tmp_path
) -> None:
    site = build_site(client, db, accounts, tmp_path / "release")
    csrf = login(client, "admin")
    levels = client.post(
        "/masking/projects", data={"csrf_token": csrf, "name": "Typed", "levels": "eight"}
    )
    refused(levels, 422, "masking/index.html", "The levels must be a number.", 'value="Typed"')
    assert db.scalar(select(func.count()).select_from(MaskingProject)) == 1
    readers = client.post(
        f"/masking/projects/{site.masking_id}/readers",
        data={"csrf_token": csrf, "readers": [UNKNOWN_USER]},
    )
    refused(readers, 422, "masking/project.html", f"unknown user ids [{UNKNOWN_USER}]")

    for project, seed in [("reading:first", "0"), (f"reading:{site.project_id}", "x")]:
        bad = client.post(
            "/exports",
            data={"csrf_token": csrf, "project": project, "format": "vindr", "split_seed": seed},
        )
        refused(bad, 422, "export/exports.html", "Choose a project; the seed is a number.")
    missing = client.post(
        "/exports", data={"csrf_token": csrf, "project": "reading:999999", "format": "vindr"}
    )
    assert missing.status_code == 404
    assert missing.template.name == "export/exports.html"
    release = client.post(
        "/releases/import", data={"csrf_token": csrf, "project_name": "Second release"}
    )
    refused(
        release,
        422,
        "export/release.html",
        "Choose both CSV files of the release.",
        'value="Second release"',
    )
