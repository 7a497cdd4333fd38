"""A double-read project of three exams ready to export (two final, one in arbitration),
made through the API: the ``project`` fixture of the export tests."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import pytest

from tests.helpers import bearer, finished_export
from tests.imaging.helpers import exam_files, upload
from tests.reading.test_reading_api import normal, submit, suspicious

READING = "/api/v1/reading"


@dataclass
class Project:
    id: int
    admin: dict[str, str]
    readers: dict[str, dict[str, str]]
    studies: list[str]  # final, final, arbitration
    images: dict[str, dict[str, str]]  # study -> "R-CC" -> image id


def tasks_of(client, headers) -> dict[str, int]:
    tasks = client.get(f"{READING}/tasks", headers=headers).json()
    return {t["study_id"]: t["id"] for t in tasks if t["status"] != "submitted"}


@pytest.fixture
def project(client, accounts, admin) -> Project:
    for name in ("rd1", "rd2", "arb"):
        accounts.add(name)
    admin_headers = bearer(client, "admin")
    headers = {name: bearer(client, name) for name in ("rd1", "rd2", "arb")}
    files = [f for seed in (61, 62, 63) for f in exam_files(seed)]
    outcomes = upload(client, files, admin_headers).json()["outcomes"]
    studies = list(dict.fromkeys(o["study_id"] for o in outcomes))
    images: dict[str, dict[str, str]] = {}
    for study in studies:
        detail = client.get(f"/api/v1/studies/{study}", headers=admin_headers).json()
        images[study] = {f"{i['laterality']}-{i['view']}": i["image_id"] for i in detail["images"]}
    project_id = client.post(
        f"{READING}/projects", json={"name": "Export pilot"}, headers=admin_headers
    ).json()["id"]
    users = {
        u["username"]: u["id"] for u in client.get("/api/v1/users", headers=admin_headers).json()
    }
    client.put(
        f"{READING}/projects/{project_id}/pools",
        json={"readers": [users["rd1"], users["rd2"]], "arbiters": [users["arb"]]},
        headers=admin_headers,
    )
    client.post(
        f"{READING}/projects/{project_id}/studies",
        json={"study_ids": studies},
        headers=admin_headers,
    )
    client.post(f"{READING}/projects/{project_id}/assign", json={}, headers=admin_headers)
    labels = {
        studies[0]: (normal(), normal()),
        studies[1]: (
            suspicious(images[studies[1]]["R-CC"]),
            suspicious(images[studies[1]]["R-CC"]),
        ),
        studies[2]: (suspicious(images[studies[2]]["R-CC"]), normal()),
    }
    for slot, name in enumerate(("rd1", "rd2")):
        mine = tasks_of(client, headers[name])
        for study, task_id in mine.items():
            response = submit(client, headers[name], task_id, labels[study][slot])
            assert response.status_code == 200, response.text
    return Project(project_id, admin_headers, headers, studies, images)


def export(client, headers, **body) -> dict:
    job = finished_export(client, headers, **body)
    assert job["done"] == job["total"]  # the progress survives the end of the job
    return job


def archive(client, headers, job) -> zipfile.ZipFile:
    response = client.get(job["download"], headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))
