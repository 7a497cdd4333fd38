"""Priors on the reading screen, through the API: a project that shows priors gives each task
the woman's earlier exams (images only, the interval in months) and lets its reader see their
pixels; a project that does not, or another reader, gets nothing."""

from __future__ import annotations

from tests.helpers import assert_error, bearer
from tests.imaging.helpers import upload, women_files
from tests.reading.project_helpers import new_project

READING = "/api/v1/reading"


def project_with(client, admin_h, users, study_ids, *, priors: bool, name: str) -> int:
    rules = {"show_priors": priors}
    return new_project(client, admin_h, name=name, readers=users, study_ids=study_ids, rules=rules)


def task_of(client, headers, project_id: int) -> dict:
    tasks = client.get(f"{READING}/tasks", headers=headers).json()
    task = next(t for t in tasks if t["project_id"] == project_id)
    return client.get(f"{READING}/tasks/{task['id']}", headers=headers).json()


def test_a_project_with_priors_shows_the_womans_earlier_exam(client, accounts, admin) -> None:
    ids = [accounts.add(name).id for name in ("rp1", "rp2", "rp3", "rp4")]
    admin_h = bearer(client, "admin")
    exams = [upload(client, files, admin_h).json()["outcomes"] for files in women_files(980)]
    studies = [o[0]["study_id"] for o in exams]
    # the later exam of each woman, read in a project with priors by rp1 and rp2
    shown = project_with(client, admin_h, ids[:2], [studies[1]], priors=True, name="With priors")
    hidden = project_with(client, admin_h, ids[2:], [studies[3]], priors=False, name="No priors")

    rp1 = bearer(client, "rp1")
    detail = task_of(client, rp1, shown)
    assert len(detail["priors"]) == 1
    prior = detail["priors"][0]
    assert prior["study_id"] == studies[0]
    assert prior["months_before"] == 24  # 2018-03-12 -> 2020-04-01, from the shifted dates
    assert {i["image_id"] for i in prior["images"]} == {o["image_id"] for o in exams[0]}
    assert set(prior) == {"study_id", "months_before", "images"}  # images only: no label
    image_id = prior["images"][0]["image_id"]
    assert client.get(f"/api/v1/images/{image_id}/render?width=64", headers=rp1).status_code == 200
    assert client.get(f"/api/v1/images/{image_id}/raw?level=0", headers=rp1).status_code == 200

    # a project without priors: none given, and the earlier exam's pixels stay closed
    rp3 = bearer(client, "rp3")
    assert task_of(client, rp3, hidden)["priors"] == []
    other_prior = exams[2][0]["image_id"]
    assert_error(client.get(f"/api/v1/images/{other_prior}/render?width=64", headers=rp3), 404)
    # nor may rp3 see the first woman's prior (no task on her)
    assert_error(client.get(f"/api/v1/images/{image_id}/render?width=64", headers=rp3), 404)


def test_the_earliest_exam_has_no_prior_and_later_ones_are_not_priors(
    client, accounts, admin
) -> None:
    ids = [accounts.add(name).id for name in ("rq1", "rq2")]
    admin_h = bearer(client, "admin")
    exams = [upload(client, files, admin_h).json()["outcomes"] for files in women_files(990)]
    first = exams[0][0]["study_id"]
    project = project_with(client, admin_h, ids, [first], priors=True, name="Earliest")
    rq1 = bearer(client, "rq1")
    assert task_of(client, rq1, project)["priors"] == []
    later = exams[1][0]["image_id"]  # her later exam is not a prior of the earlier one
    assert_error(client.get(f"/api/v1/images/{later}/render?width=64", headers=rq1), 404)


def test_a_box_on_a_prior_is_refused(client, accounts, admin) -> None:
    """Never part of the read: the API refuses a box on a prior's image, as on any image
    outside the study."""
    ids = [accounts.add(name).id for name in ("rs1", "rs2")]
    admin_h = bearer(client, "admin")
    exams = [upload(client, files, admin_h).json()["outcomes"] for files in women_files(995)]
    project = project_with(
        client, admin_h, ids, [exams[1][0]["study_id"]], priors=True, name="Box on prior"
    )
    rs1 = bearer(client, "rs1")
    detail = task_of(client, rs1, project)
    prior_image = detail["priors"][0]["images"][0]["image_id"]
    breast = {"birads": 4, "density": "B"}
    label = {
        "breasts": {"R": dict(breast), "L": {"birads": 1, "density": "B"}},
        "boxes": [
            {
                "id": "b1",
                "image_id": prior_image,
                "xmin": 10,
                "ymin": 10,
                "xmax": 50,
                "ymax": 50,
                "categories": ["Mass"],
                "birads": 4,
            }
        ],
        "note": "",
    }
    refused = client.post(
        f"{READING}/tasks/{detail['id']}/submit",
        json={"label": label, "version": detail["version"]},
        headers=rs1,
    )
    error = assert_error(refused, 422)
    assert "image" in error["message"].lower() or any(
        "image" in str(d).lower() for d in error["details"]
    ), error
