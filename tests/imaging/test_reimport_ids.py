"""Pseudonymous ids: keyed by default, VinDr's MD5 on request, and files pseudonymised already
keep their ids when imported again (a dataset round trip). Each image records its scheme."""

from __future__ import annotations

import hashlib
import hmac
import io
import stat

import pydicom
import pytest
from sqlalchemy import select

from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.pseudonymise import IdScheme, carried_id, identifiers, vindr_id
from tests.helpers import bearer
from tests.imaging.helpers import dataset_bytes, exam_files, upload


def stored_dataset(app, outcome) -> pydicom.Dataset:
    key = f"images/{outcome['study_id']}/{outcome['image_id']}.dcm"
    return pydicom.dcmread(io.BytesIO(app.state.imaging.store.get(key)))


def image_row(db, image_id: str) -> Image:
    db.expire_all()
    return db.scalars(select(Image).where(Image.image_id == image_id)).one()


def hmac_id(key: bytes, uid: object) -> str:
    """The specification: HMAC-SHA256 of the UID under the key, first 32 hex characters."""
    return hmac.new(key, str(uid).encode(), hashlib.sha256).hexdigest()[:32]


def test_ids_are_keyed_by_default(app, client, db, settings, admin) -> None:
    name, data = exam_files(43)[0]
    original = pydicom.dcmread(io.BytesIO(data))
    outcome = upload(client, [(name, data)], bearer(client, "admin")).json()["outcomes"][0]

    key_file = settings.data_dir / "pseudonym_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip().encode()
    assert key != settings.secret_bytes
    assert outcome["study_id"] == hmac_id(key, original.StudyInstanceUID)
    assert outcome["image_id"] == hmac_id(key, original.SOPInstanceUID)
    assert outcome["image_id"] != vindr_id(str(original.SOPInstanceUID))
    image = image_row(db, outcome["image_id"])
    assert image.series_id == hmac_id(key, original.SeriesInstanceUID)
    assert image.pseudonym_scheme == "hmac"
    assert "keyed HMAC" in stored_dataset(app, outcome).DeidentificationMethod


def test_the_md5_scheme_reproduces_vindr_ids(app, client, db, settings, admin) -> None:
    app.state.imaging = ImagingKit.from_settings(
        settings.model_copy(update={"pseudonym_scheme": "md5"})
    )
    name, data = exam_files(44)[0]
    original = pydicom.dcmread(io.BytesIO(data))
    outcome = upload(client, [(name, data)], bearer(client, "admin")).json()["outcomes"][0]
    assert (
        outcome["image_id"]
        == hashlib.md5(str(original.SOPInstanceUID).encode(), usedforsecurity=False).hexdigest()
    )
    assert image_row(db, outcome["image_id"]).pseudonym_scheme == "md5"
    assert "VinDr MD5" in stored_dataset(app, outcome).DeidentificationMethod


def test_auto_keeps_md5_for_an_installation_whose_images_were_named_by_md5(
    app, client, db, settings, admin
) -> None:
    """A new installation gets keyed ids; one upgraded from before keyed ids (its images named
    by md5) keeps md5, so a source file imported again is still recognised, not doubled."""
    assert settings.pseudonym_scheme == "auto"
    engine = app.state.engine
    assert ImagingKit.from_settings(settings, engine).pseudonyms.name == "hmac"
    md5 = ImagingKit.from_settings(settings.model_copy(update={"pseudonym_scheme": "md5"}))
    app.state.imaging = md5
    name, data = exam_files(45)[0]
    first = upload(client, [(name, data)], bearer(client, "admin")).json()["outcomes"][0]
    assert first["status"] == "imported"

    app.state.imaging = ImagingKit.from_settings(settings, engine)  # a restart on "auto"
    assert app.state.imaging.pseudonyms.name == "md5"
    again = upload(client, [(name, data)], bearer(client, "admin")).json()["outcomes"][0]
    assert again["status"] == "already_present"
    assert again["image_id"] == first["image_id"]
    explicit = settings.model_copy(update={"pseudonym_scheme": "hmac"})
    assert ImagingKit.from_settings(explicit, engine).pseudonyms.name == "hmac"


def test_keyed_ids_are_stable_per_key_and_differ_between_keys() -> None:
    ds = pydicom.dcmread(io.BytesIO(exam_files(45)[0][1]))
    one = identifiers(ds, IdScheme("hmac", b"installation one"))
    assert identifiers(ds, IdScheme("hmac", b"installation one")) == one
    other = identifiers(ds, IdScheme("hmac", b"installation two"))
    assert {one.study_id, one.image_id}.isdisjoint({other.study_id, other.image_id})
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in (one.study_id, one.image_id))
    assert one.scheme == "hmac"
    with pytest.raises(ValueError, match="key"):
        IdScheme("hmac", b"")


def test_a_stored_file_imported_again_is_the_same_image(client, app, admin) -> None:
    headers = bearer(client, "admin")
    first = upload(client, exam_files(41)[:1], headers).json()["outcomes"][0]
    key = f"images/{first['study_id']}/{first['image_id']}.dcm"
    stored = app.state.imaging.store.get(key)
    again = upload(client, [("exported.dicom", stored)], headers).json()["outcomes"][0]
    assert again["status"] == "already_present", again
    assert (again["study_id"], again["image_id"]) == (first["study_id"], first["image_id"])
    # another installation, with another key, keeps the ids an exported file carries
    carried = identifiers(pydicom.dcmread(io.BytesIO(stored)), IdScheme("hmac", b"elsewhere"))
    assert (carried.study_id, carried.image_id) == (first["study_id"], first["image_id"])
    assert carried.scheme == "kept"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_release_files_with_hex_uids_keep_them(client, db, admin) -> None:
    ds = pydicom.dcmread(io.BytesIO(exam_files(42)[0][1]))
    ids = ["a" * 32, "b" * 32, "c" * 32]
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = ids
    ds.file_meta.MediaStorageSOPInstanceUID = ids[2]
    outcome = upload(client, [("x.dicom", dataset_bytes(ds))], bearer(client, "admin")).json()
    assert outcome["outcomes"][0]["study_id"] == ids[0]
    assert outcome["outcomes"][0]["image_id"] == ids[2]
    assert image_row(db, ids[2]).pseudonym_scheme == "kept"


def test_only_our_own_2_25_uids_are_read_back() -> None:
    hex_id = vindr_id("1.2.3.4")
    ours = f"2.25.{int(hex_id, 16)}"
    assert carried_id(ours, ours=True) == hex_id
    assert carried_id(ours, ours=False) is None  # a vendor's 2.25 UID is hashed like any UID
    assert carried_id("2.25.1" + "0" * 40, ours=True) is None  # beyond 128 bits
    assert carried_id("1.2.840.1", ours=True) is None
