"""One upload is one import batch, however many requests carry it; QC flags in words
(issue 11, broken 7)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.states import Role
from app.imaging.models import ImportBatch
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def send(client, files, headers, batch: int | None = None):
    return client.post(
        "/api/v1/images",
        files=[("files", (name, data, "application/dicom")) for name, data in files],
        data={} if batch is None else {"batch": str(batch)},
        headers=headers,
    )


def test_later_requests_of_an_upload_join_its_batch(client, db, admin) -> None:
    headers = bearer(client, "admin")
    first = send(client, exam_files(71), headers).json()
    second = send(client, exam_files(72), headers, batch=first["batch_id"]).json()
    assert second["batch_id"] == first["batch_id"]
    assert (first["imported"], second["imported"]) == (4, 4)
    batches = list(db.scalars(select(ImportBatch)))
    assert len(batches) == 1
    db.refresh(batches[0])
    assert (batches[0].imported, len(batches[0].outcomes)) == (8, 8)
    assert batches[0].finished_at is not None


def test_only_your_own_finished_batch_can_be_continued(client, accounts, admin) -> None:
    accounts.add("other", role=Role.ADMIN)
    mine = send(client, exam_files(73), bearer(client, "admin")).json()["batch_id"]
    other = bearer(client, "other")
    assert_error(send(client, exam_files(74), other, batch=mine), 422)
    assert_error(send(client, exam_files(74), other, batch=999999), 422)


def test_import_outcomes_name_their_flags_in_words(client, admin) -> None:
    body = send(client, exam_files(75, invert_view="R-CC"), bearer(client, "admin")).json()
    flagged = [o for o in body["outcomes"] if o["flags"]]
    assert flagged
    for outcome in flagged:
        assert len(outcome["flag_texts"]) == len(outcome["flags"])
        assert all("_" not in text for text in outcome["flag_texts"])
    assert any("Bright background" in t for o in flagged for t in o["flag_texts"])
