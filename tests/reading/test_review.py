"""The admin's review of a study (page and API), project settings (page form and PATCH),
and the audit trail around them: links from audit objects, sign-out, export downloads."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.audit.routes import object_link
from tests.helpers import assert_error, bearer, finished_export, login
from tests.reading import test_reading_api as reading
from tests.reading.test_reading_api import Setup, next_task, normal, submit, suspicious

setup = reading.setup  # the fixture: a project with one study read by rd1 and rd2


def review_url(setup: Setup) -> str:
    return f"/api/v1/reading/projects/{setup.project_id}/studies/{setup.study_id}"


def discordant(client, setup: Setup) -> tuple[dict, dict]:
    t1, t2 = next_task(client, setup.r1), next_task(client, setup.r2)
    assert submit(client, setup.r1, t1["id"], normal("r1 note")).status_code == 200
    assert submit(client, setup.r2, t2["id"], suspicious(setup.images["R-CC"])).status_code == 200
    return t1, t2


def test_review_api_shows_reads_discordances_arbitration_and_history(client, setup: Setup):
    before = client.get(review_url(setup), headers=setup.admin)
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["reads"] == []
    assert body["history"] == []
    assert body["final_label"] is None
    assert {t["slot"] for t in body["open_tasks"]} == {1, 2}
    assert len(body["images"]) == 4
    assert body["project_id"] == setup.project_id

    t1, t2 = discordant(client, setup)
    body = client.get(review_url(setup), headers=setup.admin).json()
    assert body["status"] == "arbitration"
    assert [(r["slot"], r["user"]["username"], r["task_id"]) for r in body["reads"]] == [
        (1, "rd1", t1["id"]),
        (2, "rd2", t2["id"]),
    ]
    assert body["reads"][0]["label"]["note"] == "r1 note"
    assert body["reads"][1]["label"]["boxes"][0]["categories"] == ["Mass"]
    assert all(isinstance(r["active_seconds"], float) for r in body["reads"])
    assert body["discordances"]
    assert [(t["kind"], t["user"]["username"]) for t in body["open_tasks"]] == [
        ("arbitrate", "arb")
    ]

    arbitration = next_task(client, setup.arbiter)
    final = suspicious(setup.images["R-CC"])
    assert submit(client, setup.arbiter, arbitration["id"], final).status_code == 200
    body = client.get(review_url(setup), headers=setup.admin).json()
    assert body["status"] == "final"
    assert body["final_source"] == "arbitration"
    assert body["final_label"]["boxes"][0]["id"] == "b1"
    assert body["finalized_at"]
    assert [r["slot"] for r in body["reads"]] == [1, 2, 0]
    assert body["reads"][2]["kind"] == "arbitrate"

    reopened = client.post(
        f"{review_url(setup)}/reopen", json={"reason": "second look"}, headers=setup.admin
    )
    assert reopened.status_code == 200
    body = client.get(review_url(setup), headers=setup.admin).json()
    assert body["final_label"] is None
    [history] = body["history"]
    assert history["reason"] == "second look"
    assert history["source"] == "arbitration"
    assert history["reopened_by"]["username"] == "admin"
    assert history["label"]["boxes"][0]["id"] == "b1"


def test_readers_never_see_the_review(client, setup: Setup) -> None:
    discordant(client, setup)
    for headers in (setup.r1, setup.r2, setup.arbiter, setup.outsider):
        assert_error(client.get(review_url(setup), headers=headers), 403)
    login(client, "rd1")
    page = client.get(f"/projects/{setup.project_id}/studies/{setup.study_id}")
    assert page.status_code == 403
    assert "rd2" not in page.text


def test_review_page_lists_reads_and_is_linked_from_the_project(client, setup: Setup) -> None:
    discordant(client, setup)
    login(client, "admin")
    project = client.get(f"/projects/{setup.project_id}")
    link = f'href="/projects/{setup.project_id}/studies/{setup.study_id}"'
    assert link in project.text
    page = client.get(f"/projects/{setup.project_id}/studies/{setup.study_id}")
    assert page.status_code == 200
    for text in ("Reader 1", "Reader 2", "r1 note", "Discordances", "Not final yet", "Mass"):
        assert text in page.text, text
    assert 'data-layer="1"' in page.text
    assert 'data-layer="2"' in page.text
    assert 'id="review"' in page.text
    assert "data-review=" in page.text
    missing = client.get(f"/projects/{setup.project_id}/studies/{'0' * 32}")
    assert missing.status_code == 404


def test_settings_change_until_a_read_is_submitted(client, db, setup: Setup) -> None:
    url = f"/api/v1/reading/projects/{setup.project_id}"
    shown = client.get(f"{url}/settings", headers=setup.admin).json()
    assert shown["editable"] is True
    assert shown["locked_reason"] is None
    change = {
        "rules": {"iou_threshold": 0.5},
        "vocabulary": [
            {"name": "Mass", "graded": True},
            {"name": "Skin Thickening", "graded": False},
        ],
        "instructions": "Read both views.",
        "idle_limit_seconds": 120,
    }
    assert_error(client.patch(url, json=change, headers=setup.r1), 403)
    changed = client.patch(url, json=change, headers=setup.admin)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["rules"]["iou_threshold"] == 0.5
    assert body["rules"]["birads_match"] == "exact"  # the others keep their values
    assert [c["name"] for c in body["vocabulary"]] == ["Mass", "Skin Thickening"]
    assert body["instructions"] == "Read both views."
    assert body["idle_limit_seconds"] == 120
    task = client.get(
        f"/api/v1/reading/tasks/{next_task(client, setup.r1)['id']}", headers=setup.r1
    )
    assert task.json()["rules"]["iou_threshold"] == 0.5
    assert_error(client.patch(url, json={"rules": {"iou_threshold": 0}}, headers=setup.admin), 422)
    assert_error(client.patch(url, json={"colour": "red"}, headers=setup.admin), 422)
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "project.settings_changed")
    ).all()
    assert [e.details["changed"] for e in events] == [
        ["vocabulary", "rules", "instructions", "idle_limit_seconds"]
    ]

    t1 = next_task(client, setup.r1)
    assert submit(client, setup.r1, t1["id"], normal()).status_code == 200
    assert_error(
        client.patch(url, json={"instructions": "late"}, headers=setup.admin),
        409,
        "settings_locked",
    )
    shown = client.get(f"{url}/settings", headers=setup.admin).json()
    assert shown["editable"] is False
    assert "submitted" in shown["locked_reason"]
    assert shown["instructions"] == "Read both views."


def test_settings_form_on_the_project_page(client, setup: Setup) -> None:
    csrf = login(client, "admin")
    page = client.get(f"/projects/{setup.project_id}")
    assert 'id="settings-form"' in page.text
    saved = client.post(
        f"/projects/{setup.project_id}/settings",
        data={
            "csrf_token": csrf,
            "birads_match": "screening",
            "iou_threshold": "0.4",
            "max_birads_rule": "warning",
            "idle_limit_seconds": "90",
            "vocabulary": "Mass*\nSkin Thickening",
            "instructions": "Compare with priors.",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    project = client.get(f"/api/v1/reading/projects/{setup.project_id}", headers=setup.admin)
    body = project.json()
    assert body["rules"]["iou_threshold"] == 0.4
    assert body["rules"]["birads_match"] == "screening"
    assert body["rules"]["max_birads_rule"] == "warning"
    assert body["vocabulary"] == [
        {"name": "Mass", "graded": True},
        {"name": "Skin Thickening", "graded": False},
    ]
    assert body["idle_limit_seconds"] == 90
    bad = client.post(
        f"/projects/{setup.project_id}/settings",
        data={"csrf_token": csrf, "iou_threshold": "wide", "idle_limit_seconds": "90"},
    )
    assert bad.status_code == 422
    assert "IoU threshold must be a number" in bad.text

    t1 = next_task(client, setup.r1)
    assert submit(client, setup.r1, t1["id"], normal()).status_code == 200
    page = client.get(f"/projects/{setup.project_id}")
    assert 'id="settings-form"' not in page.text
    assert 'id="settings-locked"' in page.text
    assert "Compare with priors." in page.text
    refused = client.post(
        f"/projects/{setup.project_id}/settings",
        data={"csrf_token": csrf, "iou_threshold": "0.3", "idle_limit_seconds": "60"},
    )
    assert refused.status_code == 409
    assert "can no longer change" in refused.text


def test_the_creation_form_keeps_its_vocabulary(client, admin) -> None:
    csrf = login(client, "admin")
    created = client.post(
        "/projects",
        data={
            "csrf_token": csrf,
            "name": "Own words",
            "iou_threshold": "0.3",
            "vocabulary": "Mass*\nCalcification*\nNipple Retraction\n",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    project_id = int(created.headers["location"].rstrip("/").split("/")[-1].split("?")[0])
    body = client.get(f"/api/v1/reading/projects/{project_id}", headers=bearer(client, "admin"))
    assert body.json()["vocabulary"] == [
        {"name": "Mass", "graded": True},
        {"name": "Calcification", "graded": True},
        {"name": "Nipple Retraction", "graded": False},
    ]
    bad = client.post(
        "/projects",
        data={"csrf_token": csrf, "name": "Twice", "vocabulary": "Mass*\nMass"},
    )
    assert bad.status_code == 422
    assert "vocabulary" in bad.text.lower()
    assert "Mass*\nMass" in bad.text  # the form comes back with what was typed


def test_audit_objects_link_to_what_they_name(client, db, setup: Setup) -> None:
    t1, _ = discordant(client, setup)
    assert object_link("read_task", str(t1["id"])) == f"/review/tasks/{t1['id']}"
    assert object_link("reading_project", "3") == "/projects/3"
    assert object_link("masking_project", "4") == "/masking/projects/4"
    assert object_link("user", "5") == "/admin/users#user-5"
    assert object_link("export_job", "6") == "/exports"
    assert object_link("session", "7") is None
    assert object_link("read_task", "x") is None
    login(client, "admin")
    page = client.get("/admin/audit")
    assert f'href="/review/tasks/{t1["id"]}"' in page.text
    assert f'href="/projects/{setup.project_id}"' in page.text
    hop = client.get(f"/review/tasks/{t1['id']}", follow_redirects=False)
    assert hop.status_code == 303
    assert hop.headers["location"] == f"/projects/{setup.project_id}/studies/{setup.study_id}"
    assert client.get(hop.headers["location"]).status_code == 200
    assert client.get("/review/tasks/999999", follow_redirects=False).status_code == 404
    client.cookies.clear()
    login(client, "rd1")
    assert client.get(f"/review/tasks/{t1['id']}", follow_redirects=False).status_code == 403


def test_sign_out_and_export_downloads_are_audited(client, db, setup: Setup) -> None:
    job = finished_export(client, setup.admin, project_id=setup.project_id, format="reads")
    via_api = client.get(job["download"], headers=setup.admin)
    assert via_api.status_code == 200
    csrf = login(client, "admin")
    via_page = client.get(job["download"])
    assert via_page.status_code == 200
    assert_error(client.get(job["download"], headers=setup.r1), 403)
    downloads = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.downloaded").order_by(AuditEvent.id)
    ).all()
    assert [(e.actor_name, e.object_type, e.object_id, e.details["via"]) for e in downloads] == [
        ("admin", "export_job", str(job["id"]), "token"),
        ("admin", "export_job", str(job["id"]), "session"),
    ]
    assert downloads[0].details["file"] == job["file_name"]
    page = client.get("/admin/audit?action=export.downloaded")
    assert page.text.count('href="/exports"') >= 2
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "logout")).all()
    assert event.actor_name == "admin"
    assert event.object_type == "session"
