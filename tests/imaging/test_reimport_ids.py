"""Files pseudonymised already keep their ids when imported again (a dataset round trip)."""

from __future__ import annotations

import io

import pydicom
import pytest

from app.imaging.pseudonymise import carried_id, vindr_id
from tests.helpers import bearer
from tests.imaging.helpers import dataset_bytes, exam_files, upload


def test_a_stored_file_imported_again_is_the_same_image(client, app, admin) -> None:
    headers = bearer(client, "admin")
    first = upload(client, exam_files(41)[:1], headers).json()["outcomes"][0]
    key = f"images/{first['study_id']}/{first['image_id']}.dcm"
    stored = app.state.imaging.store.get(key)
    again = upload(client, [("exported.dicom", stored)], headers).json()["outcomes"][0]
    assert again["status"] == "already_present", again
    assert (again["study_id"], again["image_id"]) == (first["study_id"], first["image_id"])


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_release_files_with_hex_uids_keep_them(client, admin) -> None:
    ds = pydicom.dcmread(io.BytesIO(exam_files(42)[0][1]))
    ids = ["a" * 32, "b" * 32, "c" * 32]
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = ids
    ds.file_meta.MediaStorageSOPInstanceUID = ids[2]
    outcome = upload(client, [("x.dicom", dataset_bytes(ds))], bearer(client, "admin")).json()
    assert outcome["outcomes"][0]["study_id"] == ids[0]
    assert outcome["outcomes"][0]["image_id"] == ids[2]


def test_only_our_own_2_25_uids_are_read_back() -> None:
    hex_id = vindr_id("1.2.3.4")
    ours = f"2.25.{int(hex_id, 16)}"
    assert carried_id(ours, ours=True) == hex_id
    assert carried_id(ours, ours=False) is None  # a vendor's 2.25 UID is hashed like any UID
    assert carried_id("2.25.1" + "0" * 40, ours=True) is None  # beyond 128 bits
    assert carried_id("1.2.840.1", ours=True) is None
