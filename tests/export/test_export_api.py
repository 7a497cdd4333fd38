"""Exports of a double-read project made through the API: background jobs, the VinDr files
opened with pandas as the release is, the JSON against its schema, every read."""

from __future__ import annotations

import io
import json
import threading
import time

import jsonschema
import pandas as pd
import pydicom
import pytest
from sqlalchemy import select

from app.export import jobs as jobs_module
from app.imaging.pseudonymise import carried_id
from app.jobs.queue import Running
from tests.export.exported_project import READING, Project, archive, export, tasks_of
from tests.helpers import assert_error, bearer, login
from tests.reading.test_reading_api import normal, submit


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


def left_running(db, project: Project, *, attempts: int, silent_for: float):
    """An export job running on another host, whose runner last beat ``silent_for`` s ago."""
    from datetime import timedelta

    from app.core.database import utcnow
    from app.export.models import ExportJob

    job = ExportJob(
        project_kind="reading",
        project_id=project.id,
        format="vindr",
        status="running",
        file_name="left.zip",
        attempts=attempts,
        owner="elsewhere:7:abc",
        heartbeat_at=utcnow() - timedelta(seconds=silent_for),
    )
    db.add(job)
    db.commit()
    return job


def test_a_job_left_by_a_stopped_server_runs_again_at_start_up(
    settings, db, client, project: Project
) -> None:
    """Its runner stopped (another host, silent for a minute): the next server to start
    queues it again, and it is built; a third run would have been its last."""
    from fastapi.testclient import TestClient

    from app.export.models import ExportJob
    from app.main import create_app

    left = left_running(db, project, attempts=1, silent_for=60)
    with TestClient(create_app(settings)) as second:
        job = wait_for_job(second, project.admin, left.id)
        assert job["status"] == "done", job
        assert archive(second, project.admin, job).namelist()
    db.expire_all()
    assert db.get(ExportJob, left.id).attempts == 2


def test_a_job_interrupted_too_often_fails_saying_so(settings, db, client, project) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app

    left = left_running(db, project, attempts=3, silent_for=60)
    with TestClient(create_app(settings)) as second:
        job = wait_for_job(second, project.admin, left.id)
    assert job["status"] == "failed"
    assert "interrupted 3 times" in job["error"]


def test_a_job_of_a_live_runner_is_left_to_it(settings, db, client, project) -> None:
    from fastapi.testclient import TestClient

    from app.export.models import ExportJob
    from app.main import create_app

    beating = left_running(db, project, attempts=1, silent_for=0)
    with TestClient(create_app(settings)):
        time.sleep(0.5)
    db.expire_all()
    job = db.get(ExportJob, beating.id)
    assert (job.status, job.owner, job.attempts) == ("running", "elsewhere:7:abc", 1)


def test_cancelling_a_queued_or_running_export(
    client, project: Project, db, app, monkeypatch
) -> None:
    from app.export.models import ExportJob

    headers = project.admin
    done = export(client, headers, project_id=project.id, format="json")
    refused = client.post(f"/api/v1/exports/{done['id']}/cancel", headers=headers)
    assert_error(refused, 409, "conflict")
    assert "has ended" in refused.json()["error"]["message"]
    assert_error(client.post("/api/v1/exports/999999/cancel", headers=headers), 404)

    # queued: ends at once (the row is queued by hand, as a busy queue leaves it)
    queued = ExportJob(project_kind="reading", project_id=project.id, format="json")
    db.add(queued)
    db.commit()
    response = client.post(f"/api/v1/exports/{queued.id}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert "Cancelled by admin" in response.json()["error"]

    # running: the runner stops at its next step, whichever process it is in
    running = ExportJob(
        project_kind="reading", project_id=project.id, format="json", file_name="r.zip"
    )
    db.add(running)
    db.commit()
    cancel = threading.Event()
    saver = jobs_module._progress_saver(app.state.session_factory, running.id)

    def progress(done: int, total: int) -> None:
        if not cancel.is_set():
            response = client.post(f"/api/v1/exports/{running.id}/cancel", headers=headers)
            assert response.status_code == 200
            assert response.json()["status"] == "running"
            cancel.set()
        saver(done, total)

    monkeypatch.setattr(jobs_module, "_progress_saver", lambda factory, job_id: progress)
    app.state.run_export(Running("export", running.id, "test"))
    job = client.get(f"/api/v1/exports/{running.id}", headers=headers).json()
    assert job["status"] == "cancelled"
    assert job["download"] is None
    assert not (app.state.settings.data_dir / "exports" / str(running.id)).exists()


def test_the_exports_page_cancels_a_queued_job(client, project: Project, db) -> None:
    from app.export.models import ExportJob

    queued = ExportJob(project_kind="reading", project_id=project.id, format="json")
    db.add(queued)
    db.commit()
    csrf = login(client, "admin")
    table = client.get("/exports/table").text
    assert f'action="/exports/{queued.id}/cancel"' in table
    assert 'hx-trigger="every 2s"' in table  # followed while open
    forged = client.post(f"/exports/{queued.id}/cancel", data={}, follow_redirects=False)
    assert forged.status_code == 403
    done = client.post(
        f"/exports/{queued.id}/cancel", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert done.status_code == 200
    assert f"Export {queued.id} cancelled." in done.text
    assert f'data-job="{queued.id}" data-status="cancelled"' in done.text
    again = client.post(f"/exports/{queued.id}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "has ended" in again.text


def wait_for_job(client, headers, job_id: int, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(f"/api/v1/exports/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


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
