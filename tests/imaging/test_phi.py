"""Nothing identifying survives import: not in stored files, the database, or any answer."""

from __future__ import annotations

import io

import pydicom
from sqlalchemy import select

from app.imaging.synthetic import PHI_VALUES
from app.models import Base
from tests.helpers import bearer, login
from tests.imaging.helpers import exam_files, upload


def identifying_strings(files: list[tuple[str, bytes]]) -> set[str]:
    strings = set(PHI_VALUES)
    for _, data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        strings |= {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}
    return {s for s in strings if len(s) >= 4}


def test_phi_is_gone_everywhere(client, db, settings, admin) -> None:
    files = exam_files(21, with_phi=True)
    secrets = identifying_strings(files)
    assert any(value.encode() in files[0][1] for value in PHI_VALUES)  # the input really has PHI

    headers = bearer(client, "admin")
    body = upload(client, files, headers).json()
    assert body["imported"] == 4

    # stored files, DICOM and pyramid alike, read as bytes and as parsed DICOM
    for path in settings.data_dir.rglob("*"):
        if path.is_file() and path.suffix in (".dcm", ".npy"):
            raw = path.read_bytes()
            leaked = [s for s in secrets if s.encode() in raw]
            assert leaked == [], f"{path.name} holds {leaked}"
    for path in settings.data_dir.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        assert not any(element.tag.is_private for element in ds)
        assert "PatientName" not in ds
        assert "PatientID" not in ds
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.StudyInstanceUID.startswith("2.25.")

    # every row of every table
    db.expire_all()
    dump = []
    for table in Base.metadata.sorted_tables:
        dump += [repr(tuple(row)) for row in db.execute(select(table))]
    text = "\n".join(dump)
    assert [s for s in secrets if s in text] == []

    # every answer an admin can get
    study_id = body["outcomes"][0]["study_id"]
    image_id = body["outcomes"][0]["image_id"]
    answers = [
        client.get(url, headers=headers).text
        for url in [
            "/api/v1/studies",
            f"/api/v1/studies/{study_id}",
            f"/api/v1/images/{image_id}",
            "/api/v1/imports",
            "/api/v1/audit",
        ]
    ]
    login(client, "admin")
    answers += [client.get(url).text for url in ["/studies", f"/studies/{study_id}", "/imports"]]
    answers.append(str(body))
    for answer in answers:
        assert [s for s in secrets if s in answer] == []
