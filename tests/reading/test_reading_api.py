"""Double reading end to end through the API: blind reads, concordance, arbitration."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.reading.models import FinalLabelHistory, ReadSubmission
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import exam_files, upload


@dataclass
class Setup:
    admin: dict[str, str]
    r1: dict[str, str]
    r2: dict[str, str]
    arbiter: dict[str, str]
    outsider: dict[str, str]
    project_id: int
    study_id: str
    images: dict[str, str]  # "R-CC" -> image_id
    users: dict[str, int]


@pytest.fixture
def setup(client, accounts, admin) -> Setup:
    users = {name: accounts.add(name).id for name in ("rd1", "rd2", "arb", "rd3", "outsider")}
    headers = {name: bearer(client, name) for name in users}
    admin_headers = bearer(client, "admin")
    body = upload(client, exam_files(71), admin_headers).json()
    study_id = body["outcomes"][0]["study_id"]
    detail = client.get(f"/api/v1/studies/{study_id}", headers=admin_headers).json()
    images = {f"{i['laterality']}-{i['view']}": i["image_id"] for i in detail["images"]}
    project = client.post("/api/v1/reading/projects", json={"name": "Pilot"}, headers=admin_headers)
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    pools = {"readers": [users["rd1"], users["rd2"], users["rd3"]], "arbiters": [users["arb"]]}
    assert (
        client.put(
            f"/api/v1/reading/projects/{project_id}/pools", json=pools, headers=admin_headers
        ).status_code
        == 200
    )
    added = client.post(
        f"/api/v1/reading/projects/{project_id}/studies",
        json={"study_ids": [study_id]},
        headers=admin_headers,
    )
    assert added.json() == {"added": 1}
    pairs = {"pairs": [{"study_id": study_id, "readers": [users["rd1"], users["rd2"]]}]}
    assert (
        client.post(
            f"/api/v1/reading/projects/{project_id}/assign", json=pairs, headers=admin_headers
        ).status_code
        == 200
    )
    return Setup(
        admin_headers,
        headers["rd1"],
        headers["rd2"],
        headers["arb"],
        headers["outsider"],
        project_id,
        study_id,
        images,
        users,
    )


def normal(note: str = "") -> dict:
    breast = {"birads": 1, "density": "B"}
    return {"breasts": {"R": dict(breast), "L": dict(breast)}, "boxes": [], "note": note}


def suspicious(image_id: str) -> dict:
    label = normal()
    label["breasts"]["R"]["birads"] = 4
    label["boxes"] = [
        {
            "id": "b1",
            "image_id": image_id,
            "xmin": 40.5,
            "ymin": 60.0,
            "xmax": 90.25,
            "ymax": 120.0,
            "categories": ["Mass"],
            "birads": 4,
        }
    ]
    return label


def next_task(client, headers) -> dict:
    response = client.get("/api/v1/reading/next", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def submit(client, headers, task_id: int, label: dict):
    current = client.get(f"/api/v1/reading/tasks/{task_id}", headers=headers).json()
    return client.post(
        f"/api/v1/reading/tasks/{task_id}/submit",
        json={"label": label, "version": current["version"]},
        headers=headers,
    )


def study_status(client, setup: Setup) -> str:
    """The study's state, as only an admin sees it (a reader's replies never tell)."""
    url = f"/api/v1/reading/projects/{setup.project_id}/studies/{setup.study_id}"
    return client.get(url, headers=setup.admin).json()["status"]


def test_concordant_reads_become_final(client, db, setup: Setup) -> None:
    t1, t2 = next_task(client, setup.r1), next_task(client, setup.r2)
    first = submit(client, setup.r1, t1["id"], normal("first"))
    assert first.json()["status"] == "submitted"
    assert study_status(client, setup) == "reading"
    second = submit(client, setup.r2, t2["id"], normal("second"))
    assert second.json()["status"] == "submitted"
    assert second.json()["label"]["note"] == "second"
    assert study_status(client, setup) == "final"
    final = client.get(
        f"/api/v1/reading/projects/{setup.project_id}/studies/{setup.study_id}", headers=setup.admin
    ).json()
    assert final["final_source"] == "concordant"
    assert final["final_label"]["breasts"]["R"] == {"birads": 1, "density": "B"}
    assert db.scalar(select(func.count()).select_from(ReadSubmission)) == 2


def test_discordant_reads_go_to_arbitration(client, db, setup: Setup) -> None:
    t1, t2 = next_task(client, setup.r1), next_task(client, setup.r2)
    submit(client, setup.r1, t1["id"], suspicious(setup.images["R-CC"]))
    result = submit(client, setup.r2, t2["id"], normal()).json()
    assert result["status"] == "submitted"
    assert study_status(client, setup) == "arbitration"
    task = next_task(client, setup.arbiter)
    assert task["kind"] == "arbitrate"
    detail = client.get(f"/api/v1/reading/tasks/{task['id']}", headers=setup.arbiter).json()
    assert sorted(r["slot"] for r in detail["other_reads"]) == [1, 2]
    kinds = {d["kind"] for d in detail["discordances"]}
    assert "birads" in kinds
    assert "finding" in kinds
    assert "rd1" not in str(detail["other_reads"])  # the arbiter sees reads, not names
    done = submit(client, setup.arbiter, task["id"], suspicious(setup.images["R-CC"]))
    assert done.json()["status"] == "submitted"
    assert done.json()["kind"] == "arbitrate"
    assert study_status(client, setup) == "final"
    final = client.get(
        f"/api/v1/reading/projects/{setup.project_id}/studies/{setup.study_id}", headers=setup.admin
    ).json()
    assert final["final_source"] == "arbitration"
    assert final["final_label"]["boxes"][0]["xmin"] == 40.5
    progress = client.get(
        f"/api/v1/reading/projects/{setup.project_id}/progress", headers=setup.admin
    ).json()
    assert progress["by_status"]["final"] == 1
    assert progress["discordance_rates"]["birads"] == 1.0
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"read.submitted", "arbitration.submitted"} <= actions


def test_invalid_reads_are_refused_with_every_problem(client, db, setup: Setup) -> None:
    task = next_task(client, setup.r1)
    label = normal()
    label["breasts"]["L"]["density"] = None
    label["breasts"]["R"]["birads"] = 4  # no lesion box
    response = submit(client, setup.r1, task["id"], label)
    error = assert_error(response, 422, "read_invalid")
    fields = {d["field"] for d in error["details"]}
    assert "breasts.L.density" in fields
    assert any(f.startswith("breasts.R") for f in fields)
    assert db.scalar(select(func.count()).select_from(ReadSubmission)) == 0
    again = client.get(f"/api/v1/reading/tasks/{task['id']}", headers=setup.r1).json()
    assert again["status"] == "in_progress"
    junk = client.post(
        f"/api/v1/reading/tasks/{task['id']}/submit",
        json={"label": {"breasts": "x"}, "version": again["version"]},
        headers=setup.r1,
    )
    assert_error(junk, 422)


def test_blinding_on_every_route(client, setup: Setup) -> None:
    t1 = next_task(client, setup.r1)
    draft = client.put(
        f"/api/v1/reading/tasks/{t1['id']}/draft",
        json={"label": suspicious(setup.images["R-CC"]), "version": t1["version"]},
        headers=setup.r1,
    )
    assert draft.status_code == 200
    for headers in (setup.r2, setup.outsider, setup.arbiter):
        assert_error(client.get(f"/api/v1/reading/tasks/{t1['id']}", headers=headers), 404)
        assert_error(
            client.put(
                f"/api/v1/reading/tasks/{t1['id']}/draft",
                json={"label": normal(), "version": 1},
                headers=headers,
            ),
            404,
        )
        assert_error(
            client.post(
                f"/api/v1/reading/tasks/{t1['id']}/submit",
                json={"label": normal(), "version": 1},
                headers=headers,
            ),
            404,
        )
        assert_error(
            client.post(f"/api/v1/reading/tasks/{t1['id']}/activity", headers=headers), 404
        )
        listed = client.get("/api/v1/reading/tasks", headers=headers).json()
        assert t1["id"] not in [t["id"] for t in listed]
        assert "Mass" not in str(listed)
        for path in (
            f"/api/v1/reading/projects/{setup.project_id}/progress",
            f"/api/v1/reading/projects/{setup.project_id}/studies/{setup.study_id}",
            f"/api/v1/studies/{setup.study_id}",
            "/api/v1/reading/projects",
        ):
            assert_error(client.get(path, headers=headers), 403)
    r2_task = next_task(client, setup.r2)
    r2_view = client.get(f"/api/v1/reading/tasks/{r2_task['id']}", headers=setup.r2).json()
    assert r2_view["draft"]["boxes"] == []
    assert r2_view["other_reads"] == []
    assert "Mass" not in str(r2_view["draft"])
    image_id = setup.images["R-CC"]
    assert client.get(f"/api/v1/images/{image_id}/render", headers=setup.r2).status_code == 200
    assert_error(client.get(f"/api/v1/images/{image_id}/render", headers=setup.outsider), 404)
    assert_error(client.get(f"/api/v1/images/{image_id}", headers=setup.outsider), 404)


def test_version_conflict_and_double_submit(client, db, setup: Setup) -> None:
    task = next_task(client, setup.r1)
    url = f"/api/v1/reading/tasks/{task['id']}"
    first = client.put(
        f"{url}/draft",
        json={"label": normal("tab A"), "version": task["version"]},
        headers=setup.r1,
    )
    assert first.status_code == 200
    stale = client.put(
        f"{url}/draft",
        json={"label": normal("tab B"), "version": task["version"]},
        headers=setup.r1,
    )
    error = assert_error(stale, 409, "version_conflict")
    assert "another tab" in error["message"]
    assert client.get(url, headers=setup.r1).json()["draft"]["note"] == "tab A"
    version = first.json()["version"]
    once = client.post(
        f"{url}/submit", json={"label": normal(), "version": version}, headers=setup.r1
    )
    twice = client.post(
        f"{url}/submit", json={"label": normal(), "version": version}, headers=setup.r1
    )
    assert once.json()["repeated"] is False
    assert twice.json()["repeated"] is True
    assert db.scalar(select(func.count()).select_from(ReadSubmission)) == 1


def test_reassignment_keeps_the_draft_and_tells_the_reader(client, setup: Setup) -> None:
    task = next_task(client, setup.r1)
    client.put(
        f"/api/v1/reading/tasks/{task['id']}/draft",
        json={"label": normal("half done"), "version": task["version"]},
        headers=setup.r1,
    )
    same_study = client.post(
        f"/api/v1/reading/tasks/{task['id']}/reassign",
        json={"user_id": setup.users["rd2"]},
        headers=setup.admin,
    )
    assert_error(same_study, 422)
    moved = client.post(
        f"/api/v1/reading/tasks/{task['id']}/reassign",
        json={"user_id": setup.users["rd3"]},
        headers=setup.admin,
    )
    assert moved.status_code == 200, moved.text
    gone = client.get(f"/api/v1/reading/tasks/{task['id']}", headers=setup.r1)
    assert assert_error(gone, 409, "reassigned")["message"].startswith("This case was reassigned")
    r3 = bearer(client, "rd3")
    fresh = next_task(client, r3)
    assert fresh["study_id"] == setup.study_id
    assert (
        client.get(f"/api/v1/reading/tasks/{fresh['id']}", headers=r3).json()["draft"]["note"] == ""
    )


def test_reopen_keeps_history(client, db, setup: Setup) -> None:
    t1, t2 = next_task(client, setup.r1), next_task(client, setup.r2)
    submit(client, setup.r1, t1["id"], normal())
    submit(client, setup.r2, t2["id"], normal())
    url = f"/api/v1/reading/projects/{setup.project_id}/studies/{setup.study_id}/reopen"
    assert_error(client.post(url, json={"reason": ""}, headers=setup.admin), 422)
    reopened = client.post(
        url, json={"reason": "Missed calcifications at review"}, headers=setup.admin
    )
    assert reopened.json()["status"] == "arbitration"
    (history,) = db.scalars(select(FinalLabelHistory)).all()
    assert history.source == "concordant"
    assert history.reason == "Missed calcifications at review"
    assert next_task(client, setup.arbiter)["kind"] == "arbitrate"


def test_balanced_assignment_never_pairs_a_reader_with_themselves(client, setup: Setup) -> None:
    body = upload(client, exam_files(72) + exam_files(73), setup.admin).json()
    study_ids = sorted({o["study_id"] for o in body["outcomes"]})
    client.post(
        f"/api/v1/reading/projects/{setup.project_id}/studies",
        json={"study_ids": study_ids},
        headers=setup.admin,
    )
    assigned = client.post(
        f"/api/v1/reading/projects/{setup.project_id}/assign", json={}, headers=setup.admin
    )
    assert assigned.json() == {"assigned": 2}
    progress = client.get(
        f"/api/v1/reading/projects/{setup.project_id}/progress", headers=setup.admin
    ).json()
    open_counts = sorted(r["open_tasks"] for r in progress["readers"])
    assert open_counts == [2, 2, 2]  # 6 reads over 3 readers (the first study's included)


def test_next_case_when_nothing_is_left(client, setup: Setup) -> None:
    assert_error(client.get("/api/v1/reading/next", headers=setup.outsider), 404, "worklist_empty")


def test_project_vocabulary_and_rules_are_checked(client, admin) -> None:
    headers = bearer(client, "admin")
    custom = [{"name": "Mass", "graded": True}, {"name": "Skin Thickening", "graded": False}]
    made = client.post(
        "/api/v1/reading/projects",
        json={
            "name": "Custom",
            "vocabulary": custom,
            "rules": {"birads_match": "screening", "iou_threshold": 0.5},
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert [c["name"] for c in made.json()["vocabulary"]] == ["Mass", "Skin Thickening"]
    assert made.json()["rules"]["birads_match"] == "screening"
    bad_rules = client.post(
        "/api/v1/reading/projects",
        json={"name": "Bad", "rules": {"iou_threshold": 2}},
        headers=headers,
    )
    assert assert_error(bad_rules, 422)["details"][0]["field"] == "rules"
    bad_vocabulary = client.post(
        "/api/v1/reading/projects",
        json={"name": "Bad", "vocabulary": [{"name": ""}]},
        headers=headers,
    )
    assert assert_error(bad_vocabulary, 422)["details"][0]["field"] == "vocabulary"
    assert_error(
        client.post("/api/v1/reading/projects", json={"name": "Custom"}, headers=headers),
        409,
        "name_taken",
    )


def test_reading_time_is_measured_on_the_server(client, db, setup: Setup) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from app.reading.models import ReadTask

    task = next_task(client, setup.r1)
    url = f"/api/v1/reading/tasks/{task['id']}"
    began = time.monotonic()
    opened = client.get(url, headers=setup.r1).json()
    assert opened["started_at"] is not None

    def real_seconds() -> float:
        """Wall time this test has really spent since the task opened: the server counts it
        too, and a loaded machine can spend seconds between two requests."""
        return time.monotonic() - began

    def step_back(seconds: int) -> None:
        db.expire_all()
        current = db.get(ReadTask, task["id"]).last_activity_at
        moved = current - timedelta(seconds=seconds)
        db.execute(update(ReadTask).where(ReadTask.id == task["id"]).values(last_activity_at=moved))
        db.commit()

    step_back(30)  # 30 s of reading, then a save
    saved = client.put(
        f"{url}/draft", json={"label": normal(), "version": opened["version"]}, headers=setup.r1
    ).json()
    assert 29 <= saved["active_seconds"] <= 31 + real_seconds()
    step_back(600)  # a ten-minute break is not reading time
    again = client.post(f"{url}/activity", headers=setup.r1)
    assert again.status_code == 204
    after = client.get(url, headers=setup.r1).json()
    assert after["active_seconds"] == saved["active_seconds"]
    done = submit(client, setup.r1, task["id"], normal()).json()
    assert done["status"] == "submitted"
    submission = db.scalar(select(ReadSubmission))
    assert submission.started_at is not None
    assert submission.submitted_at >= submission.started_at
    # the 30 s stepped back plus the real time between requests; never the ten-minute break
    assert 29 <= submission.active_seconds <= 31 + real_seconds()


def test_simultaneous_writes_take_turns(app, client, db, setup: Setup) -> None:
    """Two tabs saving the same version: one wins, one gets 409. Both reads submitted at the
    same moment: the study still moves on (final or arbitration), never stuck in reading."""
    from concurrent.futures import ThreadPoolExecutor

    from app.audit.service import Actor
    from app.auth.models import User
    from app.core.errors import AppError
    from app.reading import service
    from app.reading.models import ProjectStudy

    t1, t2 = next_task(client, setup.r1), next_task(client, setup.r2)
    version = client.get(f"/api/v1/reading/tasks/{t1['id']}", headers=setup.r1).json()["version"]

    def save(note: str) -> int:
        with app.state.session_factory() as session:
            user = session.get(User, setup.users["rd1"])
            try:
                service.save_draft(session, user, t1["id"], normal(note), version)
            except AppError as error:
                return error.status_code
            return 200

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(save, ["tab A", "tab B"]))
    assert statuses == [200, 409]

    def submit_read(args: tuple[str, int]) -> str:
        name, task_id = args
        with app.state.session_factory() as session:
            user = session.get(User, setup.users[name])
            current = session.get(ReadTask, task_id).version
            result = service.submit(session, Actor(user, None), task_id, normal(), current)
            return result.study_status

    from app.reading.models import ReadTask

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(submit_read, [("rd1", t1["id"]), ("rd2", t2["id"])]))
    db.expire_all()
    assert db.scalar(select(ProjectStudy.status)) == "final"


def test_a_box_outside_its_image_is_refused_on_submit(client, db, setup: Setup) -> None:
    task = next_task(client, setup.r1)
    detail = client.get(f"/api/v1/reading/tasks/{task['id']}", headers=setup.r1).json()
    image = next(i for i in detail["images"] if i["image_id"] == setup.images["R-CC"])
    width, height = image["columns"], image["rows"]
    label = suspicious(setup.images["R-CC"])
    label["boxes"][0].update(xmin=width + 100, xmax=width + 180, ymin=10, ymax=60)
    refused = submit(client, setup.r1, task["id"], label)
    error = assert_error(refused, 422, "read_invalid")
    [problem] = error["details"]
    assert problem["field"] == "boxes.b1"
    assert problem["message"].startswith("Mass box lies entirely outside its image")
    assert f"the image is {width} x {height} pixels" in problem["message"]
    assert db.scalar(select(func.count()).select_from(ReadSubmission)) == 0
    label["boxes"][0].update(xmin=-4.5, xmax=60, ymin=-2, ymax=60)  # partly outside: allowed
    accepted = submit(client, setup.r1, task["id"], label)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["label"]["boxes"][0]["xmin"] == -4.5


def test_studies_keep_the_order_given(client, db, setup: Setup) -> None:
    from app.imaging.models import Study
    from app.reading.models import ProjectStudy

    body = upload(client, exam_files(74) + exam_files(75) + exam_files(76), setup.admin).json()
    imported = list(dict.fromkeys(o["study_id"] for o in body["outcomes"]))
    given = [imported[2], imported[0], imported[2].upper(), imported[1], setup.study_id]
    added = client.post(
        f"/api/v1/reading/projects/{setup.project_id}/studies",
        json={"study_ids": given},
        headers=setup.admin,
    )
    assert added.json() == {"added": 3}
    order = db.scalars(
        select(Study.study_id)
        .join(ProjectStudy, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == setup.project_id)
        .order_by(ProjectStudy.id)
    ).all()
    assert order == [setup.study_id, imported[2], imported[0], imported[1]]


def test_admins_list_a_projects_tasks_and_reassign_by_those_ids(client, setup: Setup) -> None:
    url = f"/api/v1/reading/projects/{setup.project_id}/tasks"
    assert_error(client.get(url, headers=setup.r1), 403)
    listed = client.get(url, headers=setup.admin)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 2
    by_user = {t["user"]["username"]: t for t in page["items"]}
    assert set(by_user) == {"rd1", "rd2"}
    first = by_user["rd1"]
    assert first["user"]["id"] == setup.users["rd1"]
    assert (first["study_id"], first["kind"], first["slot"]) == (setup.study_id, "read", 1)
    assert first["status"] == "pending"
    assert first["assigned_at"] is not None
    assert first["submitted_at"] is None

    mine = client.get(f"{url}?user_id={setup.users['rd1']}", headers=setup.admin).json()
    assert [t["id"] for t in mine["items"]] == [first["id"]]
    moved = client.post(
        f"/api/v1/reading/tasks/{first['id']}/reassign",
        json={"user_id": setup.users["rd3"]},
        headers=setup.admin,
    )
    assert moved.status_code == 200, moved.text
    old = client.get(f"{url}?status=reassigned", headers=setup.admin).json()
    assert [t["id"] for t in old["items"]] == [first["id"]]
    fresh = client.get(f"{url}?status=pending&kind=read", headers=setup.admin).json()
    assert {t["user"]["username"] for t in fresh["items"]} == {"rd2", "rd3"}
    assert fresh["items"][0]["id"] == moved.json()["id"]  # newest first
    paged = client.get(f"{url}?limit=1&offset=1", headers=setup.admin).json()
    assert paged["total"] == 3
    assert len(paged["items"]) == 1
    none = client.get(f"{url}?study_id=ffff&kind=arbitrate", headers=setup.admin).json()
    assert none == {"total": 0, "items": []}
    assert_error(client.get(f"{url}?status=lost", headers=setup.admin), 422)
    assert_error(client.get(f"{url}?user_id={2**40}", headers=setup.admin), 422)
    assert_error(client.get("/api/v1/reading/projects/9999/tasks", headers=setup.admin), 404)


def test_my_tasks_filter_by_project(client, setup: Setup) -> None:
    other = client.post("/api/v1/reading/projects", json={"name": "Other"}, headers=setup.admin)
    other_id = other.json()["id"]
    client.put(
        f"/api/v1/reading/projects/{other_id}/pools",
        json={"readers": [setup.users["rd1"], setup.users["rd3"]]},
        headers=setup.admin,
    )
    client.post(
        f"/api/v1/reading/projects/{other_id}/studies",
        json={"study_ids": [setup.study_id]},
        headers=setup.admin,
    )
    client.post(f"/api/v1/reading/projects/{other_id}/assign", json={}, headers=setup.admin)
    everything = client.get("/api/v1/reading/tasks", headers=setup.r1).json()
    assert sorted(t["project_id"] for t in everything) == sorted([setup.project_id, other_id])
    for project_id in (setup.project_id, other_id):
        only = client.get(f"/api/v1/reading/tasks?project_id={project_id}", headers=setup.r1)
        assert [t["project_id"] for t in only.json()] == [project_id]
    theirs = client.get(f"/api/v1/reading/tasks?project_id={other_id}", headers=setup.r2)
    assert theirs.json() == []  # rd2 has no task there, and never sees anyone else's
    too_big = client.get(f"/api/v1/reading/tasks?project_id={2**40}", headers=setup.r1)
    assert_error(too_big, 422)
