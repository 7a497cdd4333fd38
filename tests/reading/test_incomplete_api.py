"""Incomplete studies (issue 11, broken 5) through the API and the project page: refused, all or
nothing, unless overridden with a recorded reason; "breast not imaged" where a project allows it."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from importlib import resources

import jsonschema
import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.imaging.models import QcFlag, Study
from app.reading.models import ProjectStudy
from tests.helpers import assert_error, bearer, csrf_token, finished_export, login
from tests.imaging.helpers import exam_files, upload

SCHEMA = resources.files("app.export").joinpath("schemas/vindr.schema.json")


@dataclass
class World:
    admin: dict[str, str]
    r1: dict[str, str]
    r2: dict[str, str]
    users: dict[str, int]
    complete: str  # four views, no open flag
    right_only: str  # R-CC and R-MLO only: the left breast has no image
    three_views: str  # L-MLO missing


def _study(client, headers, files) -> str:
    body = upload(client, files, headers).json()
    return body["outcomes"][0]["study_id"]


@pytest.fixture
def world(client, db, accounts, admin) -> World:
    users = {name: accounts.add(name).id for name in ("nr1", "nr2")}
    admin_headers = bearer(client, "admin")
    complete = _study(client, admin_headers, exam_files(81))
    right = [f for f in exam_files(82) if f[0].startswith("R")]
    three = [f for f in exam_files(83) if f[0] != "L_MLO.dcm"]
    assert len(right) == 2
    assert len(three) == 3
    world = World(
        admin_headers,
        bearer(client, "nr1"),
        bearer(client, "nr2"),
        users,
        complete,
        _study(client, admin_headers, right),
        _study(client, admin_headers, three),
    )
    # the synthetic complete exam may carry open flags of its own: this test wants none
    study_pk = db.scalar(select(Study.id).where(Study.study_id == complete))
    for flag in db.scalars(select(QcFlag).where(QcFlag.study_pk == study_pk)):
        db.delete(flag)
    db.commit()
    return world


def _project(client, world: World, name: str, **rules: object) -> int:
    body = {"name": name, "rules": rules} if rules else {"name": name}
    response = client.post("/api/v1/reading/projects", json=body, headers=world.admin)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _add(client, world: World, project_id: int, ids: list[str], reason: str | None = None):
    body: dict[str, object] = {"study_ids": ids}
    if reason is not None:
        body["override_reason"] = reason
    return client.post(
        f"/api/v1/reading/projects/{project_id}/studies", json=body, headers=world.admin
    )


def _in_project(db, project_id: int) -> dict[str, str | None]:
    rows = db.execute(
        select(Study.study_id, ProjectStudy.admission_override)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project_id)
    )
    return dict(rows.all())


def test_an_incomplete_study_refuses_the_whole_request(client, db, world: World) -> None:
    project_id = _project(client, world, "Strict")
    response = _add(client, world, project_id, [world.complete, world.three_views])
    error = assert_error(response, 422, "incomplete_studies")
    assert world.three_views in error["message"]
    assert "missing L-MLO" in error["message"]
    (detail,) = error["details"]
    assert detail["study_id"] == world.three_views
    assert detail["field"] == "study_ids"
    assert "missing L-MLO" in detail["reasons"]
    # its open "missing view" flag says the same: not listed twice
    assert not any("A standard view is missing" in reason for reason in detail["reasons"])
    assert detail["override_allowed"] is True
    assert _in_project(db, project_id) == {}  # all or nothing
    # the complete one alone is fine
    assert _add(client, world, project_id, [world.complete]).json() == {"added": 1}


def test_an_open_qc_flag_alone_refuses_a_four_view_study(client, db, world: World) -> None:
    study_pk = db.scalar(select(Study.id).where(Study.study_id == world.complete))
    db.add(QcFlag(study_pk=study_pk, kind="burned_in_text", detail="Text at the top left."))
    db.commit()
    project_id = _project(client, world, "Flags")
    error = assert_error(_add(client, world, project_id, [world.complete]), 422)
    (detail,) = error["details"]
    assert detail["reasons"] == ["open QC flag: Text burned into the pixels (Text at the top left)"]
    assert "Nothing was added: 1 study is not complete." in error["message"]


def test_the_override_adds_them_with_its_reason_recorded(client, db, world: World) -> None:
    project_id = _project(client, world, "Overridden")
    reason = "  L-MLO retaken at another site; reading the three views  "
    response = _add(client, world, project_id, [world.complete, world.three_views], reason)
    assert response.status_code == 200, response.text
    assert response.json() == {"added": 2}
    assert _in_project(db, project_id) == {
        world.complete: None,
        world.three_views: reason.strip(),
    }
    event = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "project.studies_admitted_incomplete")
    )
    assert event is not None
    assert event.object_id == str(project_id)
    assert world.three_views in str(event.details)
    assert reason.strip() in str(event.details)
    url = f"/api/v1/reading/projects/{project_id}/studies/{world.three_views}"
    assert client.get(url, headers=world.admin).json()["admission_override"] == reason.strip()
    url = f"/api/v1/reading/projects/{project_id}/studies/{world.complete}"
    assert client.get(url, headers=world.admin).json()["admission_override"] is None


def test_a_blank_or_overlong_reason_is_no_override(client, db, world: World) -> None:
    project_id = _project(client, world, "Blank")
    assert_error(_add(client, world, project_id, [world.three_views], "   "), 422)
    assert_error(_add(client, world, project_id, [world.three_views], "x" * 2001), 422)
    assert _in_project(db, project_id) == {}


def test_a_breast_without_images_needs_the_project_rule(client, db, world: World) -> None:
    project_id = _project(client, world, "No missing breasts")
    error = assert_error(
        _add(client, world, project_id, [world.right_only], "only the right side was imaged"),
        422,
        "incomplete_studies",
    )
    (detail,) = error["details"]
    assert detail["override_allowed"] is False
    assert "left breast has no image" in detail["blocker"]
    assert _in_project(db, project_id) == {}


def test_the_rule_is_part_of_the_project_rules(client, world: World) -> None:
    plain = client.get(
        f"/api/v1/reading/projects/{_project(client, world, 'Plain')}", headers=world.admin
    ).json()
    assert plain["rules"]["breast_not_imaged"] is False
    allows = _project(client, world, "Allows", breast_not_imaged=True)
    body = client.get(f"/api/v1/reading/projects/{allows}", headers=world.admin).json()
    assert body["rules"]["breast_not_imaged"] is True
    bad = client.post(
        "/api/v1/reading/projects",
        json={"name": "Bad", "rules": {"breast_not_imaged": "yes"}},
        headers=world.admin,
    )
    assert assert_error(bad, 422)["details"][0]["field"] == "rules"
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "not_imaged" in schema["BreastIn"]["properties"]
    assert "not_imaged" in schema["BreastOut"]["properties"]
    assert "override_reason" in schema["StudiesIn"]["properties"]


def _read(client, headers) -> dict:
    task = client.get("/api/v1/reading/next", headers=headers)
    assert task.status_code == 200, task.text
    return client.get(f"/api/v1/reading/tasks/{task.json()['id']}", headers=headers).json()


def _submit(client, headers, task: dict, label: dict):
    return client.post(
        f"/api/v1/reading/tasks/{task['id']}/submit",
        json={"label": label, "version": task["version"]},
        headers=headers,
    )


def _archive(client, world: World, project_id: int, export_format: str) -> zipfile.ZipFile:
    job = finished_export(client, world.admin, project_id=project_id, format=export_format)
    response = client.get(job["download"], headers=world.admin)
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(response.content))


RIGHT = {"birads": 1, "density": "B"}
NOT_IMAGED = {"birads": None, "density": None, "not_imaged": True}


def test_readers_answer_a_breast_without_images_not_imaged(client, db, world: World) -> None:
    project_id = _project(client, world, "Single breast", breast_not_imaged=True)
    added = _add(client, world, project_id, [world.right_only], "mastectomy on the left")
    assert added.json() == {"added": 1}
    pools = {"readers": [world.users["nr1"], world.users["nr2"]]}
    client.put(f"/api/v1/reading/projects/{project_id}/pools", json=pools, headers=world.admin)
    assign = client.post(
        f"/api/v1/reading/projects/{project_id}/assign", json={}, headers=world.admin
    )
    assert assign.status_code == 200, assign.text
    first, second = _read(client, world.r1), _read(client, world.r2)
    assert first["rules"]["breast_not_imaged"] is True
    assert "mastectomy" not in str(first)  # the override's reason is for administrators
    # grading the breast without an image is refused, and so is "not imaged" for the other one
    graded = _submit(client, world.r1, first, {"breasts": {"R": RIGHT, "L": RIGHT}})
    fields = {d["field"] for d in assert_error(graded, 422, "read_invalid")["details"]}
    assert fields == {"breasts.L.not_imaged"}
    wrong = _submit(client, world.r1, first, {"breasts": {"R": NOT_IMAGED, "L": NOT_IMAGED}})
    fields = {d["field"] for d in assert_error(wrong, 422, "read_invalid")["details"]}
    assert fields == {"breasts.R.not_imaged"}
    label = {"breasts": {"R": RIGHT, "L": NOT_IMAGED}, "boxes": [], "note": ""}
    first = client.get(f"/api/v1/reading/tasks/{first['id']}", headers=world.r1).json()
    done = _submit(client, world.r1, first, label)
    assert done.status_code == 200, done.text
    assert done.json()["label"]["breasts"]["L"] == NOT_IMAGED
    assert done.json()["label"]["breasts"]["R"] == RIGHT  # VinDr's shape for an imaged breast
    assert _submit(client, world.r2, second, label).status_code == 200
    study = client.get(
        f"/api/v1/reading/projects/{project_id}/studies/{world.right_only}", headers=world.admin
    ).json()
    assert study["status"] == "final"
    assert study["final_source"] == "concordant"
    assert study["final_label"]["breasts"]["L"] == NOT_IMAGED
    # "not imaged" is never a BI-RADS pair of the agreement figures: one breast was compared
    report = client.get(
        f"/api/v1/reading/projects/{project_id}/agreement", headers=world.admin
    ).json()
    birads = next(item for item in report["items"] if item["item"] == "breast BI-RADS")
    assert birads["pairs"] == 1
    # exports: VinDr's CSV has rows for the right breast's images only; the JSON says "not imaged"
    vindr = _archive(client, world, project_id, "vindr")
    breast_csv = vindr.read("breast-level_annotations.csv").decode()
    assert breast_csv.count(world.right_only) == 2
    assert ",L," not in breast_csv
    nested = json.loads(_archive(client, world, project_id, "json").read("annotations.json"))
    jsonschema.validate(nested, json.loads(SCHEMA.read_text()))
    (study,) = nested["studies"]
    assert study["breasts"] == [
        {"laterality": "L", "birads": None, "density": None, "not_imaged": True},
        {"laterality": "R", "birads": 1, "density": "B"},
    ]


def test_not_imaged_is_refused_where_the_project_does_not_allow_it(
    client, db, world: World
) -> None:
    project_id = _project(client, world, "Allows nothing")
    assert _add(client, world, project_id, [world.complete]).json() == {"added": 1}
    pools = {"readers": [world.users["nr1"], world.users["nr2"]]}
    client.put(f"/api/v1/reading/projects/{project_id}/pools", json=pools, headers=world.admin)
    client.post(f"/api/v1/reading/projects/{project_id}/assign", json={}, headers=world.admin)
    task = _read(client, world.r1)
    response = _submit(client, world.r1, task, {"breasts": {"R": RIGHT, "L": NOT_IMAGED}})
    (detail,) = assert_error(response, 422, "read_invalid")["details"]
    assert detail["field"] == "breasts.L.not_imaged"
    assert "does not allow" in detail["message"]


def test_the_page_refuses_with_each_study_and_keeps_the_form(client, db, world: World) -> None:
    project_id = _project(client, world, "Page")
    login(client, "admin")
    token = csrf_token(client)
    url = f"/projects/{project_id}/studies"
    refused = client.post(
        url,
        data={"csrf_token": token, "study_ids": f"{world.complete}\n{world.three_views}"},
    )
    assert refused.status_code == 422
    assert 'id="admission-refusals"' in refused.text
    assert world.three_views[:12] in refused.text
    assert "missing L-MLO" in refused.text
    assert world.three_views in refused.text.split('id="study-ids"')[1].split("</textarea>")[0]
    assert _in_project(db, project_id) == {}
    added = client.post(
        url,
        data={
            "csrf_token": token,
            "study_ids": f"{world.complete}\n{world.three_views}",
            "override_reason": "read anyway",
        },
        follow_redirects=True,
    )
    assert added.status_code == 200
    assert "incomplete: override" in added.text
    assert _in_project(db, project_id)[world.three_views] == "read anyway"


def test_the_create_form_sets_the_rule(client, db, world: World) -> None:
    login(client, "admin")
    token = csrf_token(client)
    response = client.post(
        "/projects",
        data={"csrf_token": token, "name": "From the page", "breast_not_imaged": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    projects = client.get("/api/v1/reading/projects", headers=world.admin).json()
    (made,) = [p for p in projects if p["name"] == "From the page"]
    assert made["rules"]["breast_not_imaged"] is True


def test_the_arbiter_answers_not_imaged_too(client, db, accounts, world: World) -> None:
    arbiter = accounts.add("narb").id
    project_id = _project(client, world, "Arbitrated single breast", breast_not_imaged=True)
    _add(client, world, project_id, [world.right_only], "left mastectomy")
    pools = {"readers": [world.users["nr1"], world.users["nr2"]], "arbiters": [arbiter]}
    client.put(f"/api/v1/reading/projects/{project_id}/pools", json=pools, headers=world.admin)
    client.post(f"/api/v1/reading/projects/{project_id}/assign", json={}, headers=world.admin)
    benign = {"birads": 2, "density": "B"}
    for headers, right in ((world.r1, RIGHT), (world.r2, benign)):
        task = _read(client, headers)
        label = {"breasts": {"R": right, "L": NOT_IMAGED}}
        assert _submit(client, headers, task, label).status_code == 200
    url = f"/api/v1/reading/projects/{project_id}/studies/{world.right_only}"
    study = client.get(url, headers=world.admin).json()
    assert study["status"] == "arbitration"
    assert [(d["kind"], d["laterality"]) for d in study["discordances"]] == [("birads", "R")]
    arbiter_headers = bearer(client, "narb")
    task = _read(client, arbiter_headers)
    assert task["draft"]["breasts"]["L"] == NOT_IMAGED  # what both readers agreed on
    done = _submit(client, arbiter_headers, task, {"breasts": {"R": benign, "L": NOT_IMAGED}})
    assert done.status_code == 200, done.text
    final = client.get(url, headers=world.admin).json()
    assert final["status"] == "final"
    assert final["final_label"]["breasts"] == {"R": benign, "L": NOT_IMAGED}
