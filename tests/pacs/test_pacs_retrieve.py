"""Query and retrieve against a real Orthanc: searches by modality and dates, accession
numbers and pasted patient ids; two women x two exams retrieved through the one import path
(and again: nothing changes); a search over the cap; a retrieval failing halfway (an instance
gone, the PACS stopping) ends partial, keeps what arrived, lists the rest, and resumes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.imaging.models import Image, ImportBatch, Study
from app.imaging.states import ImportChannel
from app.pacs import dicomweb, service
from app.pacs.models import PacsRetrieval
from tests.helpers import assert_error, bearer
from tests.pacs.exams import exam, not_mammography, two_women
from tests.pacs.helpers import RETRIEVALS, add_source, found, resume, retrieve, search, wait
from tests.pacs.orthanc import Orthanc


@pytest.fixture
def exams(orthanc: Orthanc):
    loaded = two_women()
    orthanc.upload(data for e in [*loaded, not_mammography()] for _, data in e.files)
    return loaded


@pytest.fixture
def headers(client, admin) -> dict[str, str]:
    return bearer(client, "admin")


@pytest.fixture
def source(client, headers, orthanc: Orthanc) -> dict:
    return add_source(client, headers, orthanc)


def uids(result: dict) -> set[str]:
    return {study["study_uid"] for study in result["studies"]}


def test_search_by_modality_and_dates_accessions_and_pasted_patient_ids(
    client, headers, source, exams
) -> None:
    everything = found(client, headers, source["id"])
    assert uids(everything) == {e.study_uid for e in exams}  # MG only: the OT exam is not
    assert everything["capped"] is False
    assert everything["message"] == "4 studies match."
    first = next(s for s in everything["studies"] if s["study_uid"] == exams[0].study_uid)
    assert first == {
        "study_uid": exams[0].study_uid,
        "study_date": "2019-03-01",
        "accession_number": "ACC-1001",
        "patient_id": "MR-PACS-001",
        "modalities": ["MG"],
        "series": 4,
        "instances": 4,
    }
    anything = found(client, headers, source["id"], modality="")
    assert len(anything["studies"]) == 5

    dated = found(client, headers, source["id"], date_from="2020-01-01", date_to="2021-12-31")
    assert uids(dated) == {exams[1].study_uid, exams[2].study_uid}
    since = found(client, headers, source["id"], date_from="2021-06-01")
    assert uids(since) == {exams[3].study_uid}

    by_accession = found(
        client, headers, source["id"], accession_numbers=["ACC-1002", "ACC-2001", "ACC-9999"]
    )
    assert uids(by_accession) == {exams[1].study_uid, exams[2].study_uid}
    assert by_accession["queries"] == 3

    pasted = service.pasted("MR-PACS-002\n\n  MR-PACS-404 ,MR-PACS-002\r\n")
    by_patient = found(client, headers, source["id"], patient_ids=list(pasted))
    assert uids(by_patient) == {exams[2].study_uid, exams[3].study_uid}
    assert by_patient["queries"] == 2  # the repeated id asked once

    for criteria, field in (
        ({"patient_ids": ["MR-*"]}, "patient_ids"),
        ({"date_from": "2022-01-01", "date_to": "2021-01-01"}, "date_to"),
        ({"modality": "M G"}, "modality"),
    ):
        error = assert_error(search(client, headers, source["id"], **criteria), 422)
        assert error["details"][0]["field"] == field


def test_two_women_retrieved_through_the_import_then_again_idempotently(
    client, headers, source, exams, db
) -> None:
    study_uids = sorted(uids(found(client, headers, source["id"])))
    job = retrieve(client, headers, source["id"], study_uids)
    assert job["status"] == "done", job
    assert (job["imported"], job["already_present"], job["rejected"], job["failed"]) == (
        16,
        0,
        0,
        0,
    )
    assert job["instances"] == 16
    assert job["studies"] == 4
    assert job["studies_pending"] == 0
    assert job["failures"] == []
    assert job["error"] is None
    assert job["source_name"] == "Orthanc"

    studies = client.get("/api/v1/studies", headers=headers).json()
    assert studies["total"] == 4
    assert all(
        len(s.get("images", [])) == 4 or s.get("image_count", 4) == 4 for s in studies["items"]
    )
    assert db.scalar(select(func.count()).select_from(Image)) == 16
    # pseudonymised by the import: two women (their keys), no real id or date kept
    keys = db.execute(select(Study.patient_key, func.count()).group_by(Study.patient_key)).all()
    assert sorted(count for _, count in keys) == [2, 2]
    assert all(key and not key.startswith("MR-PACS") for key, _ in keys)
    dates = {d.strftime("%Y%m%d") for d in db.scalars(select(Study.study_date)) if d}
    assert not dates & {e.study_date for e in exams}
    batch = db.get(ImportBatch, job["import_batches"][0])
    assert batch.channel == ImportChannel.PACS
    assert batch.imported == 16
    # a job that is done keeps no UIDs: nothing is left to resume
    row = db.get(PacsRetrieval, job["id"])
    assert row.study_uids == []
    assert row.pending_uids == []
    assert row.failures == []

    again = retrieve(client, headers, source["id"], study_uids)
    assert again["status"] == "done"
    assert (again["imported"], again["already_present"]) == (0, 16)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Image)) == 16
    assert_error(client.post(f"{RETRIEVALS}/{again['id']}/resume", headers=headers), 409)
    listed = client.get(RETRIEVALS, headers=headers).json()
    assert [j["id"] for j in listed] == [again["id"], job["id"]]


def test_a_search_over_the_cap_says_so(client, headers, source, orthanc: Orthanc, app) -> None:
    # 12 one-image studies, the cap at 5
    for seed in range(12):
        one = exam(600 + seed, f"MR-CAP-{seed:02d}", f"202301{seed + 10:02d}", f"CAP-{seed}")
        orthanc.upload([one.files[0][1]])
    app.state.settings.pacs_search_cap = 5
    result = found(client, headers, source["id"], date_from="2023-01-01")
    assert result["capped"] is True
    assert result["cap"] == 5
    assert len(result["studies"]) == 5
    assert "Narrow the search" in result["message"]
    narrow = found(client, headers, source["id"], date_from="2023-01-19")
    assert narrow["capped"] is False
    assert len(narrow["studies"]) == 3
    # nor may one retrieval ask for more than the cap
    too_many = client.post(
        RETRIEVALS,
        json={"source_id": source["id"], "study_uids": [f"1.2.{n}" for n in range(6)]},
        headers=headers,
    )
    assert_error(too_many, 422)


def test_an_instance_gone_ends_partial_and_resume_brings_it(
    client, headers, source, exams, orthanc: Orthanc, db, monkeypatch
) -> None:
    study_uids = sorted(uids(found(client, headers, source["id"])))
    missing_uid = exams[2].files[1][0]
    orthanc_id = orthanc.instance_id(missing_uid)
    kept = orthanc.instance_file(orthanc_id)
    real = dicomweb.Pacs.instances_of

    def listed_then_deleted(self, study_uid):
        listed = real(self, study_uid)
        if study_uid == exams[2].study_uid and orthanc_id in orthanc.instances():
            orthanc.delete_instance(orthanc_id)  # listed, then gone: its fetch is a 404
        return listed

    monkeypatch.setattr(dicomweb.Pacs, "instances_of", listed_then_deleted)
    job = retrieve(client, headers, source["id"], study_uids)
    assert job["status"] == "partial", job
    assert (job["imported"], job["failed"]) == (15, 1)
    assert [f["sop_uid"] for f in job["failures"]] == [missing_uid]
    assert job["failures"][0]["study_uid"] == exams[2].study_uid
    assert "404" in job["failures"][0]["reason"]
    assert job["resumable"] is True
    assert "resume" in job["error"]
    assert db.scalar(select(func.count()).select_from(Image)) == 15

    orthanc.upload([kept])
    resumed = resume(client, headers, job["id"])
    assert resumed["status"] == "done", resumed
    assert (resumed["imported"], resumed["failed"], resumed["runs"]) == (16, 0, 2)
    assert len(resumed["import_batches"]) == 2
    # the resume fetched the one missing instance only
    first = db.get(ImportBatch, resumed["import_batches"][0])
    assert (first.imported, first.rejected) == (15, 0)  # what did not arrive is not a file
    second = db.get(ImportBatch, resumed["import_batches"][1])
    assert (second.imported, second.already_present) == (1, 0)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Image)) == 16


def test_a_pacs_that_stops_answering_midway_and_the_resume(
    client, headers, source, exams, orthanc: Orthanc, app, db, monkeypatch
) -> None:
    study_uids = [e.study_uid for e in exams]
    app.state.settings.pacs_timeout_seconds = 1.0
    fetched = []
    real = dicomweb.Pacs.instance_bytes

    def fetch_then_stop(self, study, series, sop):
        data = real(self, study, series, sop)
        fetched.append(sop)
        if len(fetched) == 6:  # the PACS freezes after the sixth instance
            orthanc.pause()
        return data

    monkeypatch.setattr(dicomweb.Pacs, "instance_bytes", fetch_then_stop)
    response = client.post(
        RETRIEVALS, json={"source_id": source["id"], "study_uids": study_uids}, headers=headers
    )
    assert response.status_code == 202, response.text
    try:
        job = wait(client, headers, response.json())
    finally:
        orthanc.resume()
    assert job["status"] == "partial", job
    assert job["imported"] == 6
    # the rest of the second study is listed, the two studies after it are pending
    assert job["studies_pending"] == 2
    assert [f["study_uid"] for f in job["failures"]] == [exams[1].study_uid] * 2
    assert "did not answer within 1 s" in job["error"]
    assert db.scalar(select(func.count()).select_from(Image)) == 6

    monkeypatch.setattr(dicomweb.Pacs, "instance_bytes", real)
    resumed = resume(client, headers, job["id"])
    assert resumed["status"] == "done", resumed
    assert (resumed["imported"], resumed["already_present"], resumed["failed"]) == (16, 0, 0)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Image)) == 16


def test_retrieval_requests_are_checked(client, headers, source) -> None:
    for uids_given in ([], ["not-a-uid"], ["1." * 40 + "1"]):
        response = client.post(
            RETRIEVALS, json={"source_id": source["id"], "study_uids": uids_given}, headers=headers
        )
        assert_error(response, 422)
    assert_error(
        client.post(RETRIEVALS, json={"source_id": 999, "study_uids": ["1.2.3"]}, headers=headers),
        404,
    )
    assert_error(client.get(f"{RETRIEVALS}/999", headers=headers), 404)
    assert_error(client.post(f"{RETRIEVALS}/999/resume", headers=headers), 404)
