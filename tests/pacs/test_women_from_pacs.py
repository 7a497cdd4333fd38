"""Issue 13's "done when", end to end on each database: two women with two exams each, loaded
into a real Orthanc with real dates and record numbers, are retrieved through the product;
each woman's later exam is read with her prior offered beside it (24 months, from the shifted
dates); the export's split keeps each woman on one side; no real id or date is stored."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.imaging.longitudinal import dicom_date
from app.imaging.models import Study
from tests.export.test_export_api import READING, archive, export, tasks_of
from tests.helpers import bearer
from tests.imaging.test_phi import database_text
from tests.pacs.exams import two_women
from tests.pacs.helpers import add_source, found, retrieve
from tests.pacs.orthanc import Orthanc
from tests.reading.project_helpers import new_project
from tests.reading.test_reading_api import normal, submit


def test_two_women_from_the_pacs_read_with_priors_and_split_by_woman(
    client, db, accounts, admin, orthanc: Orthanc
) -> None:
    exams = two_women()
    orthanc.upload(data for e in exams for _, data in e.files)
    admin_h = bearer(client, "admin")
    source = add_source(client, admin_h, orthanc)
    listed = found(client, admin_h, source["id"], date_from="2019-01-01")
    job = retrieve(client, admin_h, source["id"], [s["study_uid"] for s in listed["studies"]])
    assert (job["status"], job["imported"]) == ("done", 16), job

    studies = list(db.scalars(select(Study).order_by(Study.study_date)))
    assert len(studies) == 4
    by_woman: dict[str, list[Study]] = {}
    for study in studies:
        by_woman.setdefault(study.patient_key, []).append(study)
    assert sorted(len(v) for v in by_woman.values()) == [2, 2]
    for first, second in by_woman.values():
        assert (second.study_date - first.study_date).days in (731, 732)  # as in the PACS
    for exam in exams:  # the interval survives, the real date does not
        assert all(s.study_date != dicom_date(exam.study_date) for s in studies)
    text = database_text(db)
    for exam in exams:
        assert exam.patient_id not in text
        assert exam.accession not in text
        assert exam.study_uid not in text
        assert dicom_date(exam.study_date).isoformat() not in text

    # each woman's later exam read in a project that shows priors
    for name in ("rd1", "rd2"):
        accounts.add(name)
    readers = {name: bearer(client, name) for name in ("rd1", "rd2")}
    users = {u["username"]: u["id"] for u in client.get("/api/v1/users", headers=admin_h).json()}
    ids = [s.study_id for s in studies]
    project_id = new_project(
        client,
        admin_h,
        name="Screening with priors",
        readers=[users["rd1"], users["rd2"]],
        study_ids=ids,
        rules={"show_priors": True},
        pairs=False,
    )
    later = {v[1].study_id: v[0].study_id for v in by_woman.values()}
    for study_id, task_id in tasks_of(client, readers["rd1"]).items():
        detail = client.get(f"{READING}/tasks/{task_id}", headers=readers["rd1"]).json()
        if study_id in later:
            assert [p["study_id"] for p in detail["priors"]] == [later[study_id]]
            assert detail["priors"][0]["months_before"] == 24
        else:
            assert detail["priors"] == []  # her first exam has no prior
    for name in ("rd1", "rd2"):
        for task_id in tasks_of(client, readers[name]).values():
            assert submit(client, readers[name], task_id, normal()).status_code == 200

    for seed in range(4):
        job = export(
            client, admin_h, project_id=project_id, format="json", split_ratio=0.5, split_seed=seed
        )
        exported = json.loads(archive(client, admin_h, job).read("annotations.json"))
        sides: dict[str, set[str]] = {}
        for study in exported["studies"]:
            sides.setdefault(study["patient_key"], set()).add(study["split"])
        assert len(sides) == 2
        assert all(len(side) == 1 for side in sides.values()), sides
