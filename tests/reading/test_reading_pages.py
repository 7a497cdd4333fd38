"""Reading pages: the worklist and next case, projects for administrators."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.models import Role
from app.reading.models import ReadTask
from tests.helpers import bearer, login
from tests.imaging.helpers import exam_files, upload
from tests.reading import test_reading_api as reading
from tests.reading.test_reading_api import next_task, normal, submit

setup = reading.setup  # the fixture: a project with one study assigned to rd1 and rd2


def test_admin_runs_a_project_from_the_pages(client, db, accounts, admin) -> None:
    readers = [accounts.add(name) for name in ("rd1", "rd2")]
    arbiter = accounts.add("arb", Role.READER)
    body = upload(client, exam_files(81) + exam_files(82), bearer(client, "admin")).json()
    csrf = login(client, "admin")
    created = client.post(
        "/projects",
        data={
            "csrf_token": csrf,
            "name": "Screening 2026",
            "birads_match": "exact",
            "iou_threshold": "0.3",
            "max_birads_rule": "error",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    project_url = created.headers["location"]
    duplicate = client.post("/projects", data={"csrf_token": csrf, "name": "Screening 2026"})
    assert duplicate.status_code == 409
    assert "exists already" in duplicate.text
    pools = client.post(
        f"{project_url}/pools",
        data={
            "csrf_token": csrf,
            "readers": [str(r.id) for r in readers],
            "arbiters": [str(arbiter.id)],
        },
    )
    assert "Pools saved." in pools.text
    unknown = client.post(
        f"{project_url}/studies", data={"csrf_token": csrf, "study_ids": "nope " + "0" * 32}
    )
    assert unknown.status_code == 422
    assert "Unknown study ids (2)" in unknown.text
    page = client.get(project_url)
    assert page.text.count('name="pick"') == 2
    picked = client.post(
        f"{project_url}/studies",
        data={"csrf_token": csrf, "pick": [body["outcomes"][0]["study_id"]]},
    )
    assert "1 studies added." in picked.text
    added = client.post(f"{project_url}/studies", data={"csrf_token": csrf, "all_complete": "1"})
    assert "1 studies added." in added.text
    first_study = body["outcomes"][0]["study_id"]
    pair = client.post(
        f"{project_url}/studies/{first_study}/pair",
        data={"csrf_token": csrf, "reader1": readers[0].id, "reader2": readers[0].id},
    )
    assert pair.status_code == 422
    assert "two different readers" in pair.text
    pair = client.post(
        f"{project_url}/studies/{first_study}/pair",
        data={"csrf_token": csrf, "reader1": readers[0].id, "reader2": readers[1].id},
    )
    assert "assigned to the chosen pair" in pair.text
    assigned = client.post(f"{project_url}/assign", data={"csrf_token": csrf})
    assert "1 studies assigned" in assigned.text
    assert db.scalar(select(ReadTask.id).where(ReadTask.user_id == readers[0].id)) is not None
    fragment = client.get(f"{project_url}/progress")
    assert 'id="progress"' in fragment.text
    assert "<html" not in fragment.text
    listing = client.get("/projects")
    assert "Screening 2026" in listing.text


def test_reader_worklist_and_next_case(client, db, accounts, admin) -> None:
    test_admin_runs_a_project_from_the_pages(client, db, accounts, admin)
    client.cookies.clear()
    login(client, "rd1")
    worklist = client.get("/reading")
    assert "Pending (2)" in worklist.text
    first = client.get("/reading/next", follow_redirects=False)
    assert first.headers["location"].startswith("/reading/tasks/")
    screen = client.get(first.headers["location"])
    assert 'id="reading"' in screen.text
    assert client.get("/projects").status_code == 403
    other = db.scalar(
        select(ReadTask.id).where(
            ReadTask.user_id
            != db.scalar(
                select(ReadTask.user_id).where(
                    ReadTask.id == int(first.headers["location"].split("/")[-1])
                )
            )
        )
    )
    assert client.get(f"/reading/tasks/{other}").status_code == 404


def test_empty_worklist_says_so(client, reader) -> None:
    login(client, "reader1")
    response = client.get("/reading/next")
    assert "Nothing left to read" in response.text


def test_a_finished_worklist_is_all_done_without_a_next_action(client, setup) -> None:
    """Nothing left: the worklist says so and offers no "Next case"; N (the hidden button, an
    htmx request to /reading/next) says there is nothing left, or opens a case assigned since."""
    in_place = {"HX-Request": "true"}
    task = next_task(client, setup.r1)
    login(client, "rd1")
    worklist = client.get("/reading").text
    assert 'id="next-case"' in worklist
    assert 'id="all-done"' not in worklist
    asked = client.get("/reading/next", headers=in_place, follow_redirects=False)
    assert asked.status_code == 204
    assert asked.headers["HX-Redirect"] == f"/reading/tasks/{task['id']}"

    assert submit(client, setup.r1, task["id"], normal()).status_code == 200
    worklist = client.get("/reading").text
    assert 'id="all-done"' in worklist
    assert "Nothing left to read" in worklist
    assert 'id="next-case"' not in worklist
    assert 'href="/reading/next"' not in worklist  # no Next link or button
    hidden = worklist.split('id="nothing-left"')[1].split(">")[0]
    assert 'data-key="n"' in hidden
    assert "hidden" in worklist.split('id="nothing-left"')[0].rsplit("<button", 1)[1]
    # a page load of /reading/next (a link, a boosted link) lands on the worklist
    for headers in ({}, {**in_place, "HX-Boosted": "true"}):
        page = client.get("/reading/next", headers=headers, follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/reading"
    said = client.get("/reading/next", headers=in_place)
    assert said.status_code == 200
    assert said.text.startswith("Nothing left to read (checked at ")
    assert "<" not in said.text  # a line of text for the status region
