"""Hostile and odd files: each is refused alone, with a reason that echoes no free text."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import pydicom
import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.imaging.importing import sources
from app.imaging.kit import ImagingKit
from app.imaging.models import QcFlag
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import dataset_bytes, exam_files, upload, zipped


@pytest.fixture
def admin_headers(client, admin) -> dict[str, str]:
    return bearer(client, "admin")


def altered(seed: int, **changes: object) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(exam_files(seed)[0][1]))
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return dataset_bytes(ds)


def test_odd_headers_are_refused_one_by_one(client, admin_headers) -> None:
    files = [
        ("no-study.dcm", altered(51, StudyInstanceUID=None)),
        ("no-class.dcm", altered(52, SOPClassUID=None)),
        ("palette.dcm", altered(53, PhotometricInterpretation="PALETTE COLOR")),
        ("huge.dcm", altered(54, Rows=65535, Columns=65535)),
        ("name-in-modality.dcm", altered(55, Modality="DOE^JANE MRN 4711")),
        ("bad-window.dcm", altered(56, WindowWidth=[0, 50], WindowCenter=[100, 200])),
        exam_files(57)[1],
    ]
    body = upload(client, files, admin_headers).json()
    outcomes = {o["name"]: o for o in body["outcomes"]}
    assert outcomes["no-study.dcm"]["reason"] == "The file lacks StudyInstanceUID."
    assert outcomes["no-class.dcm"]["reason"] == "The file lacks SOPClassUID."
    assert "greyscale" in outcomes["palette.dcm"]["reason"]
    assert "million pixels" in outcomes["huge.dcm"]["reason"]
    assert outcomes["name-in-modality.dcm"]["reason"].startswith("Modality none is not")
    assert "DOE" not in str(body)
    # presets that cannot be used are dropped; the image itself is fine
    assert outcomes["bad-window.dcm"]["status"] == "imported"
    assert body["imported"] == 2


def test_damaged_zip_members_are_refused_alone(client, admin_headers) -> None:
    good = exam_files(58)
    archive = bytearray(zipped({"a.dcm": good[0][1], "b.dcm": good[1][1]}))
    # corrupt the first member's compressed data (just after its local header and name)
    archive[40:60] = b"\xff" * 20
    body = upload(client, [("damaged.zip", bytes(archive)), good[2]], admin_headers).json()
    statuses = [(o["name"], o["status"]) for o in body["outcomes"]]
    assert ("damaged.zip/a.dcm", "rejected") in statuses
    assert statuses[-1] == (good[2][0], "imported")
    history = client.get("/api/v1/imports", headers=admin_headers).json()
    assert history[0]["rejected"] >= 1


def test_folder_housekeeping_files_are_skipped(client, admin_headers) -> None:
    files = [("DICOMDIR", b"dir"), (".DS_Store", b"x"), exam_files(59)[0]]
    body = upload(client, files, admin_headers).json()
    assert [o["status"] for o in body["outcomes"]] == ["imported"]


def test_identifying_keep_extras_are_refused(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, dicom_keep_extra="PatientName,AccessionNumber")
    with pytest.raises(ValueError, match="AccessionNumber, PatientName"):
        ImagingKit.from_settings(settings)
    kit = ImagingKit.from_settings(Settings(data_dir=tmp_path, dicom_keep_extra="KVP"))
    assert "KVP" in kit.keep


def test_burned_in_text_is_flagged(client, db, admin_headers) -> None:
    upload(client, [("b.dcm", altered(60, BurnedInAnnotation="YES"))], admin_headers)
    kinds = set(db.scalars(select(QcFlag.kind)))
    assert "burned_in_text" in kinds


def test_render_size_is_bounded_by_the_image(client, admin_headers) -> None:
    outcome = upload(client, [exam_files(61)[0]], admin_headers).json()["outcomes"][0]
    url = f"/api/v1/images/{outcome['image_id']}/render"
    assert client.get(f"{url}?width=416", headers=admin_headers).status_code == 200
    error = assert_error(client.get(f"{url}?width=417", headers=admin_headers), 422)
    assert "1 to 416" in error["message"]


def test_clearing_a_flag_through_another_study_is_404(client, db, admin_headers) -> None:
    from tests.helpers import login

    first = upload(client, exam_files(62)[:3], admin_headers).json()["outcomes"][0]["study_id"]
    second = upload(client, exam_files(63), admin_headers).json()["outcomes"][0]["study_id"]
    flag_id = db.scalar(select(QcFlag.id).where(QcFlag.kind == "missing_view"))
    csrf = login(client, "admin")
    response = client.post(
        f"/studies/{second}/flags/{flag_id}/clear", data={"csrf_token": csrf, "reason": "x"}
    )
    assert response.status_code == 404
    assert first != second


def zeros_zip(members: dict[str, tuple[bytes, int]]) -> bytes:
    """A zip of members that are a head and then zeros up to a size: written chunk by chunk,
    so a member of many megabytes costs a megabyte here and a few kilobytes in the zip."""
    buffer = io.BytesIO()
    zeros = bytes(2**20)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, (head, size) in members.items():
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(head)
                for start in range(len(head), size, len(zeros)):
                    member.write(zeros[: size - start])
    return buffer.getvalue()


def test_zip_members_are_streamed_not_read_whole(client, admin_headers) -> None:
    """Before, each member was read whole before the DICOM check: three 1 GiB members of a
    3 MB zip cost 21 s and 2.2 GB. Now a member that is not DICOM is refused after 132 bytes."""
    size = 64 * 2**20
    archive = zeros_zip({f"big-{i}.dcm": (b"", size) for i in range(3)})
    assert len(archive) < size // 100
    tracemalloc.start()
    started = time.monotonic()
    body = upload(client, [("bomb.zip", archive), exam_files(64)[0]], admin_headers).json()
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [o["reason"] for o in body["outcomes"][:3]] == [
        "Not a DICOM file (no DICM preamble)."
    ] * 3
    assert body["outcomes"][3]["status"] == "imported"
    assert peak < 16 * 2**20, peak
    assert elapsed < 10


def test_zip_members_over_the_file_limit_are_refused_unread(
    client, admin_headers, monkeypatch
) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 8 * 2**20)
    dicom_head = exam_files(65)[0][1][:132]
    good = exam_files(66)[0]
    archive = zeros_zip({"huge.dcm": (dicom_head, 32 * 2**20)})
    archive_with_good = zipped({good[0]: good[1]})
    tracemalloc.start()
    body = upload(
        client, [("huge.zip", archive), ("good.zip", archive_with_good)], admin_headers
    ).json()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reasons = {o["name"]: (o["status"], o["reason"]) for o in body["outcomes"]}
    assert reasons["huge.zip/huge.dcm"] == ("rejected", "The file is larger than 8 MB.")
    assert reasons[f"good.zip/{good[0]}"][0] == "imported"
    assert peak < 16 * 2**20, peak


def test_streamed_member_limits() -> None:
    """The running count: a member that yields more than it declares, or than the file limit,
    is refused as soon as it does (zipfile itself stops at the declared size)."""
    head = exam_files(67)[0][1][:132]
    stream = io.BytesIO(head + bytes(3 * 2**20))
    with pytest.raises(sources.Rejected, match="more than its declared size"):
        sources._streamed(stream, 2**20)
    assert len(sources._streamed(io.BytesIO(head + b"x"), 133)) == 133
    with pytest.raises(sources.Rejected, match="no DICM preamble"):
        sources._streamed(io.BytesIO(bytes(3 * 2**20)), 3 * 2**20)
    assert sources.head_refusal(b"PK\x03\x04" + bytes(200)).startswith("A zip archive")
