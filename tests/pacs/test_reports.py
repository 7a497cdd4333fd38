"""Reads back to the PACS: a double-read study made final through the API, its final label and
each read written as DICOM SR (TID 1500) and GSPS, parsed back with pydicom, validated with
dicom3tools' dciodvfy, downloaded as a zip, and sent with STOW-RS to a real Orthanc."""

from __future__ import annotations

import io
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.imaging.pseudonymise import id_as_uid
from app.imaging.storage import dicom_key
from app.pacs import reports_service
from app.pacs.dicomweb import Connection, Pacs, PacsError
from app.pacs.reports_service import What
from app.pacs.states import AuthKind
from tests.helpers import CSRF_INPUT, assert_error, bearer, login
from tests.imaging.helpers import exam_files, upload, woman_exam_files
from tests.pacs.helpers import add_source
from tests.pacs.orthanc import PASSWORD, USERNAME, Orthanc
from tests.reading.project_helpers import new_project
from tests.reading.test_reading_api import next_task, normal, submit, suspicious

READING = "/api/v1/reading"
REPORTS = "/api/v1/pacs/reports"
DCIODVFY = Path("/usr/bin/dciodvfy")
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
GSPS_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"
PATIENT_ID, STUDY_DATE = "MRN-PACS-REPORTS-1", "20200401"  # the final study's, as acquired
BOX = (40.5, 60.0, 90.25, 120.0)  # the suspicious() box: xmin, ymin, xmax, ymax


@dataclass
class Case:
    admin: dict[str, str]
    readers: dict[str, dict[str, str]]
    project_id: int
    final_study: str  # read by rd1 (mass) and rd2 (normal), arbitrated (mass)
    open_study: str  # one read submitted: not final
    images: dict[str, dict[str, str]]  # study -> "R-CC" -> image id


@pytest.fixture
def case(client, accounts, admin) -> Case:
    users = {name: accounts.add(name).id for name in ("rd1", "rd2", "arb")}
    headers = {name: bearer(client, name) for name in users}
    admin_headers = bearer(client, "admin")
    studies, images = [], {}
    exams = (woman_exam_files(71, PATIENT_ID, STUDY_DATE, 54), exam_files(72))
    for files in exams:
        outcome = upload(client, files, admin_headers).json()["outcomes"][0]
        study = outcome["study_id"]
        detail = client.get(f"/api/v1/studies/{study}", headers=admin_headers).json()
        images[study] = {f"{i['laterality']}-{i['view']}": i["image_id"] for i in detail["images"]}
        studies.append(study)
    project_id = new_project(
        client,
        admin_headers,
        name="To the PACS",
        readers=[users["rd1"], users["rd2"]],
        arbiters=[users["arb"]],
        study_ids=studies,
    )
    final_study, open_study = studies
    tasks = {
        name: {
            t["study_id"]: t["id"]
            for t in client.get(f"{READING}/tasks", headers=headers[name]).json()
        }
        for name in ("rd1", "rd2")
    }
    mass = suspicious(images[final_study]["R-CC"])
    assert submit(client, headers["rd1"], tasks["rd1"][final_study], mass).status_code == 200
    assert submit(client, headers["rd2"], tasks["rd2"][final_study], normal()).status_code == 200
    arbitration = next_task(client, headers["arb"])
    assert arbitration["kind"] == "arbitrate"
    assert submit(client, headers["arb"], arbitration["id"], mass).status_code == 200
    one = suspicious(images[open_study]["L-MLO"])
    one["breasts"]["R"]["birads"], one["breasts"]["L"]["birads"] = 1, 4
    assert submit(client, headers["rd1"], tasks["rd1"][open_study], one).status_code == 200
    return Case(admin_headers, headers, project_id, final_study, open_study, images)


def download(client, case: Case, study: str, **params: str):
    return client.get(
        f"{REPORTS}/projects/{case.project_id}/studies/{study}.zip",
        params=params,
        headers=case.admin,
    )


def objects(client, case: Case, study: str, **params: str) -> dict[str, Dataset]:
    response = download(client, case, study, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    zipped = zipfile.ZipFile(io.BytesIO(response.content))
    return {name: pydicom.dcmread(io.BytesIO(zipped.read(name))) for name in zipped.namelist()}


def stored_image(study: str, image_id: str) -> tuple[str, str]:
    """The Study and SOP Instance UIDs of a stored pseudonymised image."""
    return id_as_uid(study), id_as_uid(image_id)


def content_items(item: Dataset) -> list[Dataset]:
    found = []
    for child in item.get("ContentSequence", []):
        found.append(child)
        found.extend(content_items(child))
    return found


def name_of(item: Dataset) -> tuple[str, str]:
    code = item.ConceptNameCodeSequence[0]
    return code.CodingSchemeDesignator, code.CodeValue


def code_of(item: Dataset) -> tuple[str, str]:
    code = item.ConceptCodeSequence[0]
    return code.CodingSchemeDesignator, code.CodeValue


def measurement_groups(sr: Dataset) -> list[Dataset]:
    return [i for i in content_items(sr) if name_of(i) == ("DCM", "125007")]


def evaluations(group: Dataset, name: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        code_of(i) for i in group.ContentSequence if i.ValueType == "CODE" and name_of(i) == name
    ]


def validate(dataset: Dataset, folder: Path) -> list[str]:
    """dciodvfy's lines about the object: errors fail the test, warnings are returned."""
    path = folder / f"{dataset.SOPInstanceUID}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    run = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert not errors, "\n".join(lines)
    return [line for line in lines if line.startswith("Warning")]


def test_the_final_label_and_each_read_as_sr_and_gsps(app, client, case: Case) -> None:
    found = objects(client, case, case.final_study)
    study = case.final_study
    assert sorted(found) == sorted(
        f"{study}/{kind}-{who}.dcm"
        for kind in ("SR", "GSPS")
        for who in ("final", "r1", "r2", "arbiter")
    )
    study_uid, image_uid = stored_image(study, case.images[study]["R-CC"])
    image_uids = {stored_image(study, i)[1] for i in case.images[study].values()}
    stored = [
        pydicom.dcmread(io.BytesIO(app.state.imaging.store.get(dicom_key(study, image_id))))
        for image_id in case.images[study].values()
    ]
    assert {str(ds.SOPInstanceUID) for ds in stored} == image_uids  # the stored files' UIDs
    for ds in found.values():
        assert ds.StudyInstanceUID == study_uid == stored[0].StudyInstanceUID
        assert ds.PatientID == stored[0].PatientID != PATIENT_ID  # her pseudonymous key
        assert ds.StudyDate == stored[0].StudyDate != STUDY_DATE  # her shifted date
        assert ds.SeriesInstanceUID not in {str(s.SeriesInstanceUID) for s in stored}
    sr = found[f"{study}/SR-r1.dcm"]
    assert sr.SOPClassUID == SR_CLASS
    assert sr.Modality == "SR"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    evidence = {
        ref.ReferencedSOPInstanceUID
        for item in sr.CurrentRequestedProcedureEvidenceSequence
        for series in item.ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert evidence == image_uids
    observer = [i for i in content_items(sr) if name_of(i) == ("DCM", "121008")]
    assert [str(i.PersonName) for i in observer] == ["R1^"]  # a role, never a username
    assert "rd1" not in str(sr)
    groups = measurement_groups(sr)
    regions = [i for g in groups for i in g.ContentSequence if i.ValueType == "SCOORD"]
    assert len(regions) == 1
    region = regions[0]
    assert region.GraphicType == "POLYLINE"
    xmin, ymin, xmax, ymax = BOX
    points = [float(v) for v in region.GraphicData]
    assert points == [xmin, ymin, xmax, ymin, xmax, ymax, xmin, ymax, xmin, ymin]
    assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (
        image_uid
    )
    box_group = next(g for g in groups if any(i.ValueType == "SCOORD" for i in g.ContentSequence))
    assert evaluations(box_group, ("DCM", "121071")) == [("SCT", "129788004")]  # mass
    assert evaluations(box_group, ("DCM", "111005")) == [("SCT", "397144001")]  # BI-RADS 4
    assert evaluations(box_group, ("SCT", "363698007")) == [("SCT", "73056007")]  # right breast
    breasts = {
        evaluations(g, ("SCT", "363698007"))[0]: g
        for g in groups
        if not any(i.ValueType == "SCOORD" for i in g.ContentSequence)
    }
    right, left = breasts[("SCT", "73056007")], breasts[("SCT", "80248007")]
    assert evaluations(right, ("DCM", "111005")) == [("SCT", "397144001")]
    assert evaluations(left, ("DCM", "111005")) == [("SCT", "397140005")]  # BI-RADS 1
    assert evaluations(right, ("SCT", "129715009")) == [("SCT", "129717001")]  # density B
    r2_groups = measurement_groups(found[f"{study}/SR-r2.dcm"])
    assert not [i for g in r2_groups for i in g.ContentSequence if i.ValueType == "SCOORD"]
    final = found[f"{study}/SR-final.dcm"]
    assert final.CompletionFlag == "COMPLETE"
    assert final.VerificationFlag == "UNVERIFIED"
    devices = [i for i in content_items(final) if name_of(i) == ("DCM", "121013")]
    assert [i.TextValue for i in devices] == ["Final (consensus)"]
    assert len({ds.SOPInstanceUID for ds in found.values()}) == 8

    gsps = found[f"{study}/GSPS-arbiter.dcm"]
    assert gsps.SOPClassUID == GSPS_CLASS
    assert gsps.Modality == "PR"
    referenced = {
        ref.ReferencedSOPInstanceUID
        for series in gsps.ReferencedSeriesSequence
        for ref in series.ReferencedImageSequence
    }
    assert referenced == image_uids
    assert [layer.GraphicLayer for layer in gsps.GraphicLayerSequence] == ["ARBITER"]
    (annotation,) = gsps.GraphicAnnotationSequence
    assert annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID == image_uid
    (graphic,) = annotation.GraphicObjectSequence
    assert graphic.GraphicType == "POLYLINE"
    assert graphic.GraphicAnnotationUnits == "PIXEL"
    assert [float(v) for v in graphic.GraphicData] == points
    assert graphic.NumberOfGraphicPoints == 5
    assert annotation.TextObjectSequence[0].UnformattedTextValue == "Mass BI-RADS 4"
    voi = gsps.SoftcopyVOILUTSequence
    assert len(voi) == 4
    assert all(float(item.WindowWidth) > 0 for item in voi)
    assert "GraphicAnnotationSequence" not in found[f"{study}/GSPS-r2.dcm"]


def test_every_object_passes_dciodvfy(client, case: Case, tmp_path: Path) -> None:
    if not DCIODVFY.exists():
        pytest.skip("dicom3tools' dciodvfy is not installed")
    warnings: set[str] = set()
    for ds in objects(client, case, case.final_study).values():
        warnings |= set(validate(ds, tmp_path))
    # what is left: the pseudonymised study has no Study ID or Study Time to copy (DICOMDIR),
    # and a GSPS of both breasts has an empty series Laterality (R or L only: "unknown")
    for line in warnings:
        assert "DICOMDIR" in line or "attribute <Laterality>" in line, line


def test_what_and_refusals(client, case: Case) -> None:
    only_final = objects(client, case, case.final_study, what="final")
    assert sorted(n.rsplit("/", 1)[1] for n in only_final) == ["GSPS-final.dcm", "SR-final.dcm"]
    reads = objects(client, case, case.open_study, what="reads")
    assert sorted(n.rsplit("/", 1)[1] for n in reads) == ["GSPS-r1.dcm", "SR-r1.dcm"]
    (sr,) = [ds for n, ds in reads.items() if "SR-" in n]
    region = next(i for i in content_items(sr) if i.ValueType == "SCOORD")
    left_mlo = stored_image(case.open_study, case.images[case.open_study]["L-MLO"])[1]
    assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == (left_mlo)
    error = assert_error(download(client, case, case.open_study, what="final"), 409)
    assert error["code"] == "study_not_final"
    assert assert_error(
        client.post(
            f"{REPORTS}/projects/{case.project_id}/studies/{case.open_study}/send",
            json={"source_id": 1, "what": "final"},
            headers=case.admin,
        ),
        404,  # no such source: checked first
    )
    for headers in case.readers.values():  # readers never get reads, theirs or others'
        study_url = f"{REPORTS}/projects/{case.project_id}/studies/{case.final_study}"
        assert_error(client.get(f"{study_url}.zip", headers=headers), 403)
        assert_error(client.post(f"{study_url}/send", json={"source_id": 1}, headers=headers), 403)
    assert_error(download(client, case, "ffff"), 404)
    assert_error(
        client.get(f"{REPORTS}/projects/999/studies/{case.final_study}.zip", headers=case.admin),
        404,
    )


def test_sent_to_orthanc_with_stow(client, db, case: Case, orthanc: Orthanc) -> None:
    source = add_source(client, case.admin, orthanc)
    url = f"{REPORTS}/projects/{case.project_id}/studies/{case.final_study}/send"
    response = client.post(url, json={"source_id": source["id"], "what": "all"}, headers=case.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == 8
    assert all(sent["stored"] for sent in body["objects"])
    sent = {item["sop_instance_uid"]: item for item in body["objects"]}
    for uid, item in sent.items():
        stored = pydicom.dcmread(io.BytesIO(orthanc.instance_file(orthanc.instance_id(uid))))
        assert stored.SOPClassUID == (SR_CLASS if item["kind"] == "SR" else GSPS_CLASS)
        assert stored.StudyInstanceUID == id_as_uid(case.final_study)
    found = requests.get(
        f"{orthanc.dicomweb_url}/studies/{id_as_uid(case.final_study)}/instances",
        auth=orthanc.auth,
        timeout=30,
    ).json()
    assert {item["00080018"]["Value"][0] for item in found} == set(sent)
    again = client.post(url, json={"source_id": source["id"], "what": "final"}, headers=case.admin)
    assert again.status_code == 200, again.text  # the same objects again: same UIDs
    assert len(orthanc.instances()) == 8
    actions = [e.action for e in db.scalars(select(AuditEvent))]
    assert actions.count("pacs.reports_sent") == 2


def test_an_unreachable_pacs_is_a_clear_error(client, case: Case, orthanc: Orthanc) -> None:
    source = add_source(client, case.admin, orthanc, name="Gone", base_url="http://127.0.0.1:9/x")
    url = f"{REPORTS}/projects/{case.project_id}/studies/{case.final_study}/send"
    response = client.post(url, json={"source_id": source["id"]}, headers=case.admin)
    assert assert_error(response, 424)["code"] == "pacs_unreachable"
    wrong = add_source(client, case.admin, orthanc, name="Wrong password", secret="nope")
    response = client.post(url, json={"source_id": wrong["id"]}, headers=case.admin)
    assert assert_error(response, 424)["code"] == "pacs_credentials_refused"
    assert orthanc.instances() == []


def test_a_pacs_refusal_is_reported_object_by_object(app, db, case: Case, orthanc: Orthanc):
    """Objects STOWed to another study's URL are refused (PS3.18 10.5: their Study Instance
    UID does not match): the PACS's FailedSOPSequence comes back object by object."""
    built = reports_service.build(
        db, app.state.imaging.store, case.project_id, case.final_study, What.FINAL
    )
    link = Connection(
        orthanc.dicomweb_url, auth_kind=AuthKind.BASIC, username=USERNAME, secret=PASSWORD
    )
    pacs = Pacs(link)
    try:
        client = DICOMwebClient(orthanc.dicomweb_url, session=pacs.session)
        datasets = [written.dataset for written in built.objects]
        with pytest.raises(PacsError) as refused:
            reports_service.stow(client, link, datasets, study_uid="1.2.3.4")
    finally:
        pacs.close()
    error = refused.value
    assert error.code == "pacs_refused", error.message
    assert error.status_code == 424
    assert error.details is not None
    assert len(error.details) == 2
    assert not any(item["stored"] for item in error.details)
    assert all(item["reason"] for item in error.details), error.details
    assert orthanc.instances() == []


def test_the_study_review_page_offers_download_and_send(
    client, case: Case, orthanc: Orthanc
) -> None:
    source = add_source(client, case.admin, orthanc)
    review = f"/projects/{case.project_id}/studies/{case.final_study}"
    page = client.get(review, headers=case.admin)
    assert page.status_code == 200
    download = f"{REPORTS}/projects/{case.project_id}/studies/{case.final_study}.zip?what=all"
    send_page = f"/pacs/reports/projects/{case.project_id}/studies/{case.final_study}"
    assert f'href="{download}"' in page.text
    assert f'href="{send_page}"' in page.text
    form = client.get(send_page, headers=case.admin)
    assert form.status_code == 200, form.text
    assert f'<option value="{source["id"]}">Orthanc</option>' in form.text
    assert download in form.text
    for headers in case.readers.values():
        assert client.get(send_page, headers=headers).status_code == 403
    login(client, "admin")  # a browser's session: the form carries its CSRF token
    form = client.get(send_page)
    token = CSRF_INPUT.search(form.text).group(1)
    answer = client.post(
        send_page, data={"source_id": source["id"], "what": "final", "csrf_token": token}
    )
    assert answer.status_code == 200, answer.text
    assert "2 of 2 objects stored by Orthanc" in answer.text
    assert len(orthanc.instances()) == 2
    refused = client.post(
        f"/pacs/reports/projects/{case.project_id}/studies/{case.open_study}",
        data={"source_id": source["id"], "what": "final"},
        headers=case.admin,
    )
    assert refused.status_code == 409
    assert 'id="rv-pacs-error"' in refused.text
    assert "is not final" in refused.text
