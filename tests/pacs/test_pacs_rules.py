"""The PACS pieces that need no PACS: pasted ids, QIDO filters, UID checks, the credentials
vault; and a retrieval whose server stopped is ended when next looked at, then resumed."""

from __future__ import annotations

import socket
from datetime import date

import pytest

from app.core.database import utcnow
from app.core.errors import Conflict, Invalid
from app.pacs import jobs, service
from app.pacs.credentials import Vault
from app.pacs.models import PacsRetrieval
from app.pacs.states import RetrievalStatus
from tests.helpers import bearer
from tests.pacs.exams import two_women
from tests.pacs.helpers import RETRIEVALS, add_source, resume
from tests.pacs.orthanc import Orthanc


def test_pasted_ids_split_on_lines_commas_semicolons_and_tabs() -> None:
    assert service.pasted(" A1 \r\nB2,C3;D4\tE5\n\n,") == ("A1", "B2", "C3", "D4", "E5")
    assert service.pasted("") == ()


def test_qido_filters() -> None:
    criteria = service.Criteria(modality="mg", date_from=date(2020, 1, 2), date_to=None)
    assert service._filters(criteria) == {"ModalitiesInStudy": "MG", "StudyDate": "20200102-"}
    assert service._filters(service.Criteria(modality="", date_to=date(2021, 3, 4))) == {
        "StudyDate": "-20210304"
    }
    with pytest.raises(Invalid):
        service._filters(service.Criteria(date_from=date(2021, 1, 1), date_to=date(2020, 1, 1)))
    assert service._ids("patient_ids", ["a", " a ", "", "b"], "patient id") == ["a", "b"]
    for bad in ("x*", "x?", "a\\b", "x" * 65, "a\x00b"):
        with pytest.raises(Invalid):
            service._ids("patient_ids", [bad], "patient id")


def test_study_uids_are_checked() -> None:
    assert jobs.check_uids([" 1.2.3 ", "1.2.3", "2.25.7"], 5) == ["1.2.3", "2.25.7"]
    for bad in ([], ["1.2.a"], ["1..2"], ["." + "1" * 10], ["1" * 65]):
        with pytest.raises(Invalid):
            jobs.check_uids(bad, 5)
    with pytest.raises(Invalid):
        jobs.check_uids(["1.1", "1.2", "1.3"], 2)


def test_the_vault_refuses_a_secret_sealed_under_another_key() -> None:
    sealed = Vault(b"key one").seal("s3cret")
    assert "s3cret" not in sealed
    assert Vault(b"key one").open(sealed) == "s3cret"
    with pytest.raises(Conflict, match="cannot be decrypted"):
        Vault(b"key two").open(sealed)


def test_a_retrieval_whose_server_stopped_ends_and_resumes(
    client, admin, db, orthanc: Orthanc
) -> None:
    headers = bearer(client, "admin")
    exams = two_women()[:1]
    orthanc.upload(data for e in exams for _, data in e.files)
    source = add_source(client, headers, orthanc)
    # a job left running by a process that is gone (this host, a pid that does not exist)
    job = PacsRetrieval(
        source_id=source["id"],
        status=RetrievalStatus.RUNNING,
        studies=1,
        study_uids=[exams[0].study_uid],
        pending_uids=[exams[0].study_uid],
        failures=[],
        batch_ids=[],
        runs=1,
        owner=f"{socket.gethostname()}:4194303:dead00",
        heartbeat_at=utcnow(),
    )
    db.add(job)
    db.commit()
    listed = client.get(RETRIEVALS, headers=headers).json()
    assert listed[0]["status"] == "failed"
    assert listed[0]["error"] == jobs.STOPPED
    assert listed[0]["resumable"] is True
    resumed = resume(client, headers, job.id)
    assert resumed["status"] == "done", resumed
    assert resumed["imported"] == 4
