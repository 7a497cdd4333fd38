"""The project rule "breast not imaged" in the project's settings (issue 11, reading leftovers):
the project page's settings form sets it as creation and PATCH do, with the same validation,
only while no read is submitted (409 ``settings_locked``), and it cannot be turned off while the
project holds a study with a breast without any image (409 ``breast_not_imaged_needed``)."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEvent
from tests.helpers import assert_error, csrf_token, login
from tests.reading.test_incomplete_api import RIGHT, World, _add, _project, _read, _submit, world

__all__ = ["world"]  # the fixture


def _rules(client, world: World, project_id: int) -> dict:
    url = f"/api/v1/reading/projects/{project_id}/settings"
    return client.get(url, headers=world.admin).json()["rules"]


def _patch(client, world: World, project_id: int, rules: dict):
    url = f"/api/v1/reading/projects/{project_id}"
    return client.patch(url, json={"rules": rules}, headers=world.admin)


def _form(client, **fields: str) -> dict[str, str]:
    """The settings form as the page sends it (an unticked box sends nothing)."""
    return {
        "csrf_token": csrf_token(client),
        "birads_match": "exact",
        "iou_threshold": "0.3",
        "max_birads_rule": "error",
        "idle_limit_seconds": "60",
        "vocabulary": "Mass*\nSkin Thickening",
        "instructions": "",
        **fields,
    }


def _read_complete_study(client, world: World, project_id: int) -> None:
    """nr1 submits a read of the project's complete study: the settings are locked."""
    pools = {"readers": [world.users["nr1"], world.users["nr2"]]}
    client.put(f"/api/v1/reading/projects/{project_id}/pools", json=pools, headers=world.admin)
    client.post(f"/api/v1/reading/projects/{project_id}/assign", json={}, headers=world.admin)
    task = _read(client, world.r1)
    done = _submit(client, world.r1, task, {"breasts": {"R": RIGHT, "L": RIGHT}})
    assert done.status_code == 200, done.text


def test_patch_sets_the_rule_with_the_creation_checks(client, db, world: World) -> None:
    project_id = _project(client, world, "Patched")
    changed = _patch(client, world, project_id, {"breast_not_imaged": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["rules"]["breast_not_imaged"] is True
    assert changed.json()["rules"]["iou_threshold"] == 0.3  # the others keep their values
    # now the project takes a study with a breast without any image (with an override)
    assert _add(client, world, project_id, [world.right_only], "left mastectomy").status_code == 200
    (detail,) = assert_error(_patch(client, world, project_id, {"breast_not_imaged": "yes"}), 422)[
        "details"
    ]
    assert detail["field"] == "rules"
    assert "breast_not_imaged must be true or false" in detail["message"]
    assert _rules(client, world, project_id)["breast_not_imaged"] is True  # nothing applied
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "project.settings_changed")
    ).all()
    assert [e.details["changed"] for e in events] == [["rules"]]


def test_the_rule_stays_while_a_study_needs_it(client, db, world: World) -> None:
    project_id = _project(client, world, "Needs it", breast_not_imaged=True)
    assert _add(client, world, project_id, [world.right_only], "left mastectomy").status_code == 200
    error = assert_error(
        _patch(client, world, project_id, {"breast_not_imaged": False, "iou_threshold": 0.5}),
        409,
        "breast_not_imaged_needed",
    )
    assert world.right_only in error["message"]
    assert [(d["field"], d["study_id"]) for d in error["details"]] == [
        ("rules.breast_not_imaged", world.right_only)
    ]
    rules = _rules(client, world, project_id)
    assert rules["breast_not_imaged"] is True
    assert rules["iou_threshold"] == 0.3  # nothing half-applied
    # the page's form says the same and keeps the rule
    login(client, "admin")
    refused = client.post(f"/projects/{project_id}/settings", data=_form(client))
    assert refused.status_code == 409
    assert "must stay allowed" in refused.text
    assert _rules(client, world, project_id)["breast_not_imaged"] is True
    # a project without such a study turns it off
    other = _project(client, world, "Does not need it", breast_not_imaged=True)
    assert _add(client, world, other, [world.complete]).status_code == 200
    off = _patch(client, world, other, {"breast_not_imaged": False})
    assert off.status_code == 200, off.text
    assert off.json()["rules"]["breast_not_imaged"] is False


def test_the_rule_is_locked_once_a_read_is_submitted(client, world: World) -> None:
    project_id = _project(client, world, "Locked")
    assert _add(client, world, project_id, [world.complete]).status_code == 200
    _read_complete_study(client, world, project_id)
    assert_error(
        _patch(client, world, project_id, {"breast_not_imaged": True}), 409, "settings_locked"
    )
    login(client, "admin")
    refused = client.post(
        f"/projects/{project_id}/settings", data=_form(client, breast_not_imaged="1")
    )
    assert refused.status_code == 409
    assert "can no longer change" in refused.text
    assert _rules(client, world, project_id)["breast_not_imaged"] is False
    page = client.get(f"/projects/{project_id}").text
    assert 'id="settings-form"' not in page
    fact = page.split('id="fact-not-imaged">')[1].split("</dd>")[0]
    assert fact.startswith("not allowed")


def test_the_settings_form_sets_and_clears_the_rule(client, world: World) -> None:
    project_id = _project(client, world, "From the form")
    login(client, "admin")
    page = client.get(f"/projects/{project_id}").text
    box = page.split('id="s-not-imaged"')[1].split(">")[0]
    assert 'name="breast_not_imaged"' in box
    assert "checked" not in box
    form = _form(client)
    saved = client.post(
        f"/projects/{project_id}/settings",
        data={**form, "breast_not_imaged": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert _rules(client, world, project_id)["breast_not_imaged"] is True
    page = client.get(f"/projects/{project_id}").text
    assert "checked" in page.split('id="s-not-imaged"')[1].split(">")[0]
    assert 'id="rule-not-imaged"' in page  # the studies card says what the rule allows
    # an unticked box sends nothing: the rule is off again
    cleared = client.post(f"/projects/{project_id}/settings", data=form, follow_redirects=False)
    assert cleared.status_code == 303, cleared.text
    assert _rules(client, world, project_id)["breast_not_imaged"] is False
