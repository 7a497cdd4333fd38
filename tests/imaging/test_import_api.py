"""Import through the API: idempotent, complete or absent, with a reason for every refusal."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.encaps import encapsulate
from pydicom.uid import UID
from sqlalchemy import func, select

from app.imaging.kit import ImagingKit
from app.imaging.models import Image, ImportBatch, QcFlag, Study
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import (
    dataset_bytes,
    exam_files,
    pydicom_file,
    stored_keys,
    upload,
    zipped,
)


@pytest.fixture
def admin_headers(client, admin) -> dict[str, str]:
    return bearer(client, "admin")


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def test_import_a_four_view_exam(client, db, settings, admin_headers) -> None:
    response = upload(client, exam_files(1), admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["imported"], body["already_present"], body["rejected"]) == (4, 0, 0)
    study_ids = {o["study_id"] for o in body["outcomes"]}
    assert len(study_ids) == 1
    study_id = study_ids.pop()
    for outcome in body["outcomes"]:
        assert f"images/{study_id}/{outcome['image_id']}.dcm" in stored_keys(settings)
        assert outcome["flags"] == []
    detail = client.get(f"/api/v1/studies/{study_id}", headers=admin_headers).json()
    assert detail["views"] == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    assert detail["open_flags"] == []
    image = detail["images"][0]
    assert image["bits_stored"] == 12
    assert len(image["presets"]) >= 2
    assert image["presets"][0]["explanation"]
    assert image["pyramid_widths"][0] == 208


def test_import_is_idempotent(client, db, settings, admin_headers) -> None:
    files = exam_files(2)
    upload(client, files, admin_headers)
    before = (count(db, Image), count(db, Study), count(db, QcFlag), stored_keys(settings))
    again = upload(client, files, admin_headers).json()
    assert (again["imported"], again["already_present"]) == (0, 4)
    assert all(o["reason"] == "This image was imported before." for o in again["outcomes"])
    assert (count(db, Image), count(db, Study), count(db, QcFlag), stored_keys(settings)) == before


def md5(uid: object) -> str:
    return hashlib.md5(str(uid).encode(), usedforsecurity=False).hexdigest()


def test_vindr_identifiers(app, settings, client, admin_headers) -> None:
    """With the md5 scheme set, ids are VinDr's: the MD5 hex of the original UIDs."""
    md5_settings = settings.model_copy(update={"pseudonym_scheme": "md5"})
    app.state.imaging = ImagingKit.from_settings(md5_settings)
    name, data = exam_files(3)[0]
    original = pydicom.dcmread(io.BytesIO(data))
    outcome = upload(client, [(name, data)], admin_headers).json()["outcomes"][0]
    assert outcome["study_id"] == md5(original.StudyInstanceUID)
    assert outcome["image_id"] == md5(original.SOPInstanceUID)
    image = client.get(f"/api/v1/images/{outcome['image_id']}", headers=admin_headers).json()
    assert image["series_id"] == md5(original.SeriesInstanceUID)


def test_bad_files_are_refused_one_by_one(client, db, settings, admin_headers) -> None:
    good = exam_files(4)[0]
    truncated = exam_files(5)[0][1]
    no_pixels = pydicom.dcmread(io.BytesIO(exam_files(6)[0][1]))
    del no_pixels.PixelData
    odd_syntax = pydicom.dcmread(io.BytesIO(exam_files(7)[0][1]))
    odd_syntax.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2
    odd_syntax.PixelData = encapsulate([b"\0" * 64])
    processing = exam_files(8, presentation_intent="FOR PROCESSING")[0][1]
    files = [
        ("notes.txt", b"just some text, not an image"),
        ("truncated.dcm", truncated[: len(truncated) // 2]),
        ("no-pixels.dcm", dataset_bytes(no_pixels)),
        ("mpeg.dcm", dataset_bytes(odd_syntax)),
        ("ct.dcm", pydicom_file("CT_small.dcm")),
        ("processing.dcm", processing),
        good,
    ]
    body = upload(client, files, admin_headers).json()
    reasons = {o["name"]: o["reason"] for o in body["outcomes"] if o["status"] == "rejected"}
    assert reasons == {
        "notes.txt": "Not a DICOM file (no DICM preamble).",
        "truncated.dcm": "The pixel data could not be decoded (damaged or truncated).",
        "no-pixels.dcm": "The file has no pixel data (not an image).",
        "mpeg.dcm": "Transfer syntax MPEG2 Main Profile / Main Level cannot be decoded here.",
        "ct.dcm": "Modality CT is not accepted here (accepted: MG).",
        "processing.dcm": "A 'for processing' image (raw detector data) is not for reading.",
    }
    assert body["imported"] == 1
    assert count(db, Image) == 1
    image_id = body["outcomes"][-1]["image_id"]
    assert all(image_id in path for path in stored_keys(settings))


def test_zip_uploads_and_unsafe_archives(client, db, settings, admin_headers) -> None:
    exam = dict(exam_files(9))
    archive = zipped({f"exam/{name}": data for name, data in exam.items()})
    evil = zipped({"../../escape.dcm": exam_files(10)[0][1], "/abs.dcm": exam_files(11)[0][1]})
    bomb = zipped({"bomb.dcm": b"\0" * (3 * 2**20)})
    client.app.state.imaging.__dict__["max_unzipped_bytes"] = 2 * 2**20  # frozen: test knob
    body = upload(
        client, [("exam.zip", archive), ("evil.zip", evil), ("bomb.zip", bomb)], admin_headers
    ).json()
    statuses = {o["name"]: (o["status"], o["reason"]) for o in body["outcomes"]}
    assert sum(s == "imported" for s, _ in statuses.values()) == 4
    assert statuses["evil.zip/../../escape.dcm"][0] == "rejected"
    assert "Unsafe path" in statuses["evil.zip/../../escape.dcm"][1]
    assert "Unsafe path" in statuses["evil.zip//abs.dcm"][1]
    assert "zip bomb" in statuses["bomb.zip"][1]
    assert not (settings.data_dir.parent / "escape.dcm").exists()
    assert count(db, Image) == 4


def test_oversized_upload_is_refused(tmp_path, database_url, admin) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.helpers import test_settings

    app = create_app(test_settings(tmp_path / "var", database_url, max_upload_mb=1))
    with TestClient(app) as client:
        headers = bearer(client, "admin")
        response = upload(client, exam_files(12, rows=1024, columns=832), headers)
        assert_error(response, 413, "payload_too_large")
        with app.state.session_factory() as session:
            assert session.scalar(select(func.count()).select_from(Image)) == 0
    app.state.engine.dispose()


def test_only_admins_import(client, reader, admin) -> None:
    headers = bearer(client, "reader1")
    assert_error(upload(client, exam_files(13), headers), 403)
    assert_error(client.get("/api/v1/studies", headers=headers), 403)


def test_render_and_raw(client, admin_headers) -> None:
    outcome = upload(client, exam_files(14), admin_headers).json()["outcomes"][0]
    url = f"/api/v1/images/{outcome['image_id']}"
    png = client.get(f"{url}/render", headers=admin_headers)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert "immutable" in png.headers["cache-control"]
    picture = PILImage.open(io.BytesIO(png.content))
    assert picture.size == (208, 256)
    assert picture.mode == "L"
    small = client.get(
        f"{url}/render?width=104&flip=true&format=jpeg&preset=1", headers=admin_headers
    )
    assert small.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(small.content)).size == (104, 128)
    cached = client.get(
        f"{url}/render", headers={**admin_headers, "If-None-Match": png.headers["etag"]}
    )
    assert cached.status_code == 304
    raw = client.get(f"{url}/raw?level=0", headers=admin_headers)
    assert raw.headers["content-encoding"] == "gzip"
    width, height = int(raw.headers["x-image-width"]), int(raw.headers["x-image-height"])
    pixels = np.frombuffer(raw.content, dtype="<u2").reshape(height, width)  # client inflated it
    assert pixels.max() < 4096
    assert pixels.max() > pixels.min()


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("ww=0&wc=100", 422, "ww"),
        ("ww=-5&wc=100", 422, "ww"),
        ("wc=100", 422, "ww"),
        ("width=100000", 422, "width"),
        ("width=0", 422, "width"),
        ("preset=9", 422, "preset"),
        ("format=gif", 422, "format"),
    ],
)
def test_bad_render_requests(client, admin_headers, query: str, status: int, field: str) -> None:
    outcome = upload(client, exam_files(15), admin_headers).json()["outcomes"][0]
    response = client.get(
        f"/api/v1/images/{outcome['image_id']}/render?{query}", headers=admin_headers
    )
    error = assert_error(response, status)
    assert error["details"][0]["field"] == field


def test_unknown_ids_are_404(client, admin_headers) -> None:
    assert_error(client.get("/api/v1/images/" + "0" * 32 + "/render", headers=admin_headers), 404)
    assert_error(client.get("/api/v1/studies/nope", headers=admin_headers), 404)


def test_qc_flags_for_a_flawed_exam(client, db, admin_headers) -> None:
    files = exam_files(16, flip_view="L-CC", omit_view="R-MLO", invert_view="R-CC")
    body = upload(client, files, admin_headers).json()
    study_id = body["outcomes"][0]["study_id"]
    detail = client.get(f"/api/v1/studies/{study_id}", headers=admin_headers).json()
    assert detail["open_flags"] == ["inverted_intensity", "laterality_mismatch", "missing_view"]
    flagged = client.get("/api/v1/studies?flag=missing_view", headers=admin_headers).json()
    assert [s["study_id"] for s in flagged["items"]] == [study_id]
    complete = client.get("/api/v1/studies?complete=true", headers=admin_headers).json()
    assert complete["total"] == 0
    missing = next(f for f in detail["flags"] if f["kind"] == "missing_view")
    refused = client.post(
        f"/api/v1/qc-flags/{missing['id']}/clear", json={"reason": ""}, headers=admin_headers
    )
    assert_error(refused, 422)
    cleared = client.post(
        f"/api/v1/qc-flags/{missing['id']}/clear",
        json={"reason": "R-MLO was not taken (mastectomy)"},
        headers=admin_headers,
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["clear_reason"] == "R-MLO was not taken (mastectomy)"
    assert (
        "missing_view"
        not in client.get(f"/api/v1/studies/{study_id}", headers=admin_headers).json()["open_flags"]
    )


def test_a_later_import_resolves_a_missing_view(client, admin_headers) -> None:
    files = exam_files(17)
    upload(client, files[:3], admin_headers)
    first = client.get("/api/v1/studies?flag=missing_view", headers=admin_headers).json()
    assert first["total"] == 1
    upload(client, files[3:], admin_headers)
    after = client.get("/api/v1/studies?flag=missing_view", headers=admin_headers).json()
    assert after["total"] == 0


def test_import_history(client, db, admin_headers) -> None:
    upload(client, exam_files(18), admin_headers)
    upload(client, [("x.txt", b"nope")], admin_headers)
    history = client.get("/api/v1/imports", headers=admin_headers).json()
    assert [(b["imported"], b["rejected"]) for b in history] == [(0, 1), (4, 0)]
    assert count(db, ImportBatch) == 2
