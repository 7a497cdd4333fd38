"""Exports of a double-read project made through the API: background jobs, the VinDr files
opened with pandas as the release is, the JSON against its schema, every read."""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass

import jsonschema
import pandas as pd
import pydicom
import pytest
from sqlalchemy import select

from app.imaging.pseudonymise import carried_id
from tests.helpers import assert_error, bearer, finished_export, login
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


def test_vindr_files_open_with_pandas_like_the_release(client, project: Project) -> None:
    job = export(
        client,
        project.admin,
        project_id=project.id,
        format="vindr",
        include_non_final=True,
        with_images=True,
    )
    zipped = archive(client, project.admin, job)
    breast = pd.read_csv(zipped.open("breast-level_annotations.csv"))
    finding = pd.read_csv(zipped.open("finding_annotations.csv"))
    assert list(breast.columns) == [
        "study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
        "breast_birads", "breast_density", "split",
    ]  # fmt: skip
    assert len(breast) == 8  # two final studies, four images each
    assert set(breast["study_id"]) == set(project.studies[:2])
    assert set(breast["breast_birads"]) == {"BI-RADS 1", "BI-RADS 4"}
    assert set(breast["split"]) <= {"training", "test"}
    boxed = finding[finding["finding_birads"].notna()]
    assert len(boxed) == 1
    box = boxed.iloc[0]
    assert box["image_id"] == project.images[project.studies[1]]["R-CC"]
    assert eval(box["finding_categories"]) == ["Mass"]  # noqa: S307 - VinDr's str(list) cell
    assert (box["xmin"], box["xmax"]) == (40.5, 90.25)
    assert (finding["finding_categories"] == "['No Finding']").sum() == 7
    non_final = pd.read_csv(zipped.open("non_final_studies.csv"))
    assert set(non_final["status"]) == {"arbitration"}
    assert set(non_final["study_id"]) == {project.studies[2]}
    dicoms = [n for n in zipped.namelist() if n.startswith("images/")]
    assert len(dicoms) == 8
    ds = pydicom.dcmread(io.BytesIO(zipped.read(dicoms[0])))
    study_dir, file_name = dicoms[0].split("/")[1:]
    assert carried_id(str(ds.StudyInstanceUID), ours=True) == study_dir
    assert f"{carried_id(str(ds.SOPInstanceUID), ours=True)}.dicom" == file_name
    assert "PatientName" not in ds


def test_json_export_follows_its_schema(client, project: Project) -> None:
    schema = client.get("/api/v1/export/schemas/vindr-json", headers=project.admin).json()
    job = export(client, project.admin, project_id=project.id, format="json")
    document = json.loads(archive(client, project.admin, job).read("annotations.json"))
    jsonschema.validate(document, schema)
    assert [s["study_id"] for s in document["studies"]] == project.studies[:2]
    findings = [f for s in document["studies"] for i in s["images"] for f in i["findings"]]
    assert findings == [
        {
            "categories": ["Mass"],
            "birads": 4,
            "xmin": 40.5,
            "ymin": 60.0,
            "xmax": 90.25,
            "ymax": 120.0,
        }
    ]
    broken = {**document, "studies": [{"study_id": "nope"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_every_read_with_provenance_and_final_rows_equal_the_vindr_rows(
    client, project: Project
) -> None:
    reads = pd.read_csv(
        archive(
            client,
            project.admin,
            export(client, project.admin, project_id=project.id, format="reads"),
        ).open("reads.csv"),
        dtype=str,
        keep_default_na=False,
    )
    assert list(reads.columns[:5]) == ["study_id", "series_id", "image_id", "rad_id", "role"]
    assert set(reads["role"]) == {"reader_1", "reader_2", "final"}
    assert set(reads[reads["role"] != "final"]["rad_id"]) == {"R1", "R2"}
    assert (reads[reads["role"] == "reader_1"]["study_id"].nunique()) == 3
    vindr = pd.read_csv(
        archive(
            client,
            project.admin,
            export(client, project.admin, project_id=project.id, format="vindr"),
        ).open("finding_annotations.csv"),
        dtype=str,
        keep_default_na=False,
    )
    final = reads[reads["role"] == "final"][list(vindr.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(final, vindr)


def test_an_empty_project_exports_headers_only(client, admin) -> None:
    headers = bearer(client, "admin")
    project_id = client.post(f"{READING}/projects", json={"name": "Empty"}, headers=headers).json()[
        "id"
    ]
    zipped = archive(
        client, headers, export(client, headers, project_id=project_id, format="vindr")
    )
    assert zipped.read("breast-level_annotations.csv").decode().count("\n") == 1
    assert zipped.read("finding_annotations.csv").decode().startswith("study_id,series_id,")
    empty_json = json.loads(
        archive(
            client, headers, export(client, headers, project_id=project_id, format="json")
        ).read("annotations.json")
    )
    assert empty_json["studies"] == []


def test_exports_are_for_admins_and_refuse_bad_requests(client, project: Project) -> None:
    reader = project.readers["rd1"]
    assert_error(
        client.post(
            "/api/v1/exports", json={"project_id": project.id, "format": "vindr"}, headers=reader
        ),
        403,
    )
    assert_error(client.get(f"{READING}/projects/{project.id}/agreement", headers=reader), 403)
    wrong_kind = client.post(
        "/api/v1/exports", json={"project_id": project.id, "format": "csaw"}, headers=project.admin
    )
    assert assert_error(wrong_kind, 422)["details"][0]["field"] == "format"
    missing = client.post(
        "/api/v1/exports", json={"project_id": 999, "format": "vindr"}, headers=project.admin
    )
    assert_error(missing, 404)
    assert_error(client.get("/api/v1/exports/999/download", headers=project.admin), 404)


def test_exports_page_starts_a_job_and_offers_the_download(client, project: Project) -> None:
    csrf = login(client, "admin")
    page = client.get("/exports")
    assert f'value="reading:{project.id}"' in page.text
    started = client.post(
        "/exports",
        data={"csrf_token": csrf, "project": f"reading:{project.id}", "format": "vindr"},
        follow_redirects=False,
    )
    assert started.status_code == 303
    for _ in range(200):
        table = client.get("/exports/table").text
        if 'data-status="done"' in table:
            break
        time.sleep(0.05)
    assert "/download" in table
    assert "export-pilot-vindr.zip" in table
    refused = client.post("/exports", data={"csrf_token": csrf, "project": "", "format": "vindr"})
    assert refused.status_code == 422


def test_a_study_keeps_its_split_as_the_dataset_grows(client, db, project: Project) -> None:
    from app.reading.models import ProjectStudy

    def splits() -> dict[str, str | None]:
        db.expire_all()
        rows = db.scalars(select(ProjectStudy).where(ProjectStudy.project_id == project.id))
        return {ps.study.study_id: ps.split for ps in rows}

    first = pd.read_csv(
        archive(
            client,
            project.admin,
            export(client, project.admin, project_id=project.id, format="vindr", split_seed=3),
        ).open("breast-level_annotations.csv")
    )
    stored = splits()
    assert stored[project.studies[2]] is None  # not final: no split yet
    assert {s: stored[s] for s in project.studies[:2]} == dict(
        first.groupby("study_id")["split"].first()
    )
    arbiter = project.readers["arb"]
    task = next(iter(tasks_of(client, arbiter).values()))
    assert submit(client, arbiter, task, normal()).status_code == 200
    export(client, project.admin, project_id=project.id, format="vindr", split_seed=99)
    grown = splits()
    assert {s: grown[s] for s in project.studies[:2]} == {s: stored[s] for s in project.studies[:2]}
    assert grown[project.studies[2]] in ("training", "test")


def test_jobs_left_by_a_stopped_server_are_marked_failed(settings, db, admin) -> None:
    from fastapi.testclient import TestClient

    from app.export.models import ExportJob
    from app.main import create_app

    db.add(ExportJob(project_kind="reading", project_id=1, format="vindr", status="running"))
    db.commit()
    with TestClient(create_app(settings)):
        pass
    db.expire_all()
    job = db.scalar(select(ExportJob))
    assert job.status == "failed"
    assert "stopped" in job.error


def test_reads_of_studies_not_final_carry_their_split_and_keep_it(client, project: Project) -> None:
    def read_csv(job, name: str) -> pd.DataFrame:
        opened = archive(client, project.admin, job).open(name)
        return pd.read_csv(opened, dtype=str, keep_default_na=False)

    reads = read_csv(
        export(client, project.admin, project_id=project.id, format="reads"), "reads.csv"
    )
    pending = project.studies[2]  # in arbitration: not final
    assert (reads["study_id"] == pending).sum() > 0
    per_study = reads.groupby("study_id")["split"].agg(set).to_dict()
    assert all(len(splits) == 1 for splits in per_study.values()), per_study
    assert {next(iter(s)) for s in per_study.values()} <= {"training", "test"}
    arbiter = project.readers["arb"]
    task = next(iter(tasks_of(client, arbiter).values()))
    assert submit(client, arbiter, task, normal()).status_code == 200
    vindr = read_csv(
        export(client, project.admin, project_id=project.id, format="vindr", split_seed=5),
        "breast-level_annotations.csv",
    )
    assert set(vindr[vindr["study_id"] == pending]["split"]) == per_study[pending]
