"""Nothing identifying survives import: not in stored files, the database, or any answer.

Markers are planted in every place devices are known to put identifying text: the 35 PHI
elements (and the 3 UIDs) of the synthetic exam, and inside what the allow-list keeps: comment
and application segments of JPEG, JPEG-LS and JPEG 2000 codestreams (and a JP2 wrapper's
boxes), window explanations, Image Type values, coded values in the View Code Sequence,
device names and other coded or enumerated elements."""

from __future__ import annotations

import io
import re
from datetime import date

import numpy as np
import pydicom
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless
from sqlalchemy import select

from app.imaging.dicom import decode
from app.imaging.kit import ImagingKit
from app.imaging.longitudinal import dicom_date
from app.imaging.models import Image, Study
from app.imaging.synthetic import PHI_VALUES, ExamOptions, synthetic_exam
from app.imaging.synthetic.dataset import PHI_BIRTH_DATE, PHI_STUDY_DATE
from app.models import Base
from tests.helpers import bearer, login
from tests.imaging.helpers import (
    SMALL,
    dataset_bytes,
    exam_files,
    stored_bytes,
    stored_dicom,
    stored_keys,
    upload,
)
from tests.imaging.phi_markers import (
    baseline_jpeg,
    j2k_with_text,
    jp2_wrapped,
    jpeg_with_text,
    planted_frames,
)

# One marker per place, in the form the place allows (CS values are short upper-case words).
JPEG_LS_SEGMENTS = "JLS-SEGMENT DOE^JANE 0815"
J2K_SEGMENTS = "J2K-COMMENT DOE^JANE 0816"
JPEG_SEGMENTS = "JPG-COMMENT DOE^JANE 0817"
WINDOW = "DOE JANE WINDOW"
IMAGE_TYPE = "JANE DOE 4711X"
CODE_VALUE = "4711471147"
CODE_MEANING = "view of Jane Doe"
CODE_SCHEME = "DOEJANE77"
MODIFIER_CODE = "4711000815"
MANUFACTURER = "Jane Doe Clinic"
MODEL = "Doe Jane X4711"
VIEW_POSITION = "JANEDOEVIEW"
INTENT = "FOR JANE DOE"
RESCALE_TYPE = "JANE DOE HU"
BODY_PART = "JANEDOEBREAST"
INTENSITY = "JANEDOE LOG"
LUT_EXPLANATION = "LUT of Jane Doe"
MARKERS = (
    JPEG_LS_SEGMENTS,
    J2K_SEGMENTS,
    JPEG_SEGMENTS,
    WINDOW,
    IMAGE_TYPE,
    CODE_VALUE,
    CODE_MEANING,
    CODE_SCHEME,
    MODIFIER_CODE,
    MANUFACTURER,
    MODEL,
    VIEW_POSITION,
    INTENT,
    RESCALE_TYPE,
    BODY_PART,
    INTENSITY,
    LUT_EXPLANATION,
)


def code(value: str, scheme: str, meaning: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def plant_header(ds: pydicom.Dataset, number: int) -> None:
    """Markers in allowed elements, spread over the four images."""
    ds.WindowCenterWidthExplanation = ["NORMAL", WINDOW, "SOFTER"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", IMAGE_TYPE]
    ds.Manufacturer, ds.ManufacturerModelName = MANUFACTURER, MODEL
    view = ds.ViewCodeSequence[0]
    if number == 0:
        view.CodeValue, view.CodeMeaning = CODE_VALUE, CODE_MEANING
    elif number == 1:
        view.CodingSchemeDesignator = CODE_SCHEME
        view.ViewModifierCodeSequence = Sequence([code(MODIFIER_CODE, "SCT", CODE_MEANING)])
        ds.RescaleType, ds.BodyPartExamined = RESCALE_TYPE, BODY_PART
    elif number == 2:
        ds.ViewPosition, ds.PixelIntensityRelationship = VIEW_POSITION, INTENSITY
        ds.VOILUTSequence[0].LUTExplanation = LUT_EXPLANATION
    else:
        ds.PresentationIntentType = INTENT


def planted_exam(seed: int) -> list[tuple[str, bytes]]:
    """A four-view exam with PHI everywhere: R-CC and L-CC in JPEG-LS, R-MLO in JPEG 2000
    wrapped in a JP2 file, L-MLO in baseline JPEG (same UIDs: the same seed)."""
    options = {**SMALL, "with_phi": True, "voi_lut_sequence": True}
    jls = synthetic_exam(seed, ExamOptions(**options, transfer_syntax=JPEGLSLossless))[0]
    j2k = synthetic_exam(seed, ExamOptions(**options, transfer_syntax=JPEG2000Lossless))[0]
    plain = synthetic_exam(seed, ExamOptions(**options))[0]
    datasets = [jls[0], jls[1], j2k[2], plain[3]]
    for ds in datasets[:2]:
        planted_frames(ds, lambda frame: jpeg_with_text(frame, JPEG_LS_SEGMENTS.encode()))
    text = J2K_SEGMENTS.encode()
    rows, columns = int(datasets[2].Rows), int(datasets[2].Columns)
    planted_frames(
        datasets[2], lambda frame: jp2_wrapped(j2k_with_text(frame, text), rows, columns, 12, text)
    )
    baseline_jpeg(datasets[3], JPEG_SEGMENTS.encode())
    names = [f"{ds.ImageLaterality}_{ds.ViewPosition}.dcm" for ds in datasets]
    for number, ds in enumerate(datasets):
        plant_header(ds, number)
    return [(name, dataset_bytes(ds)) for name, ds in zip(names, datasets, strict=True)]


def identifying_strings(files: list[tuple[str, bytes]]) -> set[str]:
    strings = set(PHI_VALUES) | set(MARKERS)
    # the real exam and birth dates in every form a database row, a JSON answer or a page
    # could spell them (the longitudinal option keeps only shifted dates)
    for text in (PHI_STUDY_DATE, PHI_BIRTH_DATE):
        day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        strings |= {day.isoformat(), repr(day), day.strftime("%d %b %Y"), day.strftime("%b %d")}
    for _, data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        strings |= {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}
    return {s for s in strings if len(s) >= 4}


def database_text(db) -> str:
    db.expire_all()
    dump = []
    for table in Base.metadata.sorted_tables:
        dump += [repr(tuple(row)) for row in db.execute(select(table))]
    return "\n".join(dump)


def test_phi_is_gone_everywhere(client, db, settings, admin) -> None:
    files = planted_exam(21)
    secrets = identifying_strings(files)
    assert any(value.encode() in files[0][1] for value in PHI_VALUES)  # the input really has PHI
    everything = b"".join(data for _, data in files)
    assert [m for m in MARKERS if m.encode() not in everything] == []  # and every marker

    headers = bearer(client, "admin")
    body = upload(client, files, headers).json()
    assert body["imported"] == 4, body
    real_day = dicom_date(PHI_STUDY_DATE)

    # stored files, DICOM and pyramid alike, read as bytes and as parsed DICOM
    keys = stored_keys(settings)
    assert keys
    for key in keys:
        raw = stored_bytes(settings, key)
        leaked = [s for s in secrets if s.encode() in raw]
        assert leaked == [], f"{key} holds {leaked}"
    for path in settings.data_dir.rglob("*"):  # nothing else on disk holds them either
        if path.is_file() and path.suffix in (".dcm", ".npy"):
            raw = path.read_bytes()
            assert [s for s in secrets if s.encode() in raw] == [], path.name
    for key in (key for key in keys if key.endswith(".dcm")):
        ds = pydicom.dcmread(io.BytesIO(stored_bytes(settings, key)))
        assert not any(element.tag.is_private for element in ds)
        assert "PatientName" not in ds
        assert ds.PatientIdentityRemoved == "YES"
        # the woman's pseudonymous key and her shifted exam date, and no other date or time
        assert re.fullmatch(r"[0-9a-f]{32}", ds.PatientID)
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert "113107" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        shift = real_day - dicom_date(ds.StudyDate)
        assert 365 <= shift.days <= 3650
        dated = [e.keyword for e in ds.iterall() if e.VR in ("DA", "DT", "TM")]
        assert dated == ["StudyDate"]
        study = db.scalar(select(Study).where(Study.patient_key == ds.PatientID))
        assert study is not None
        assert study.study_date == dicom_date(ds.StudyDate)
        assert ds.StudyInstanceUID.startswith("2.25.")

    # the pixels went through unchanged, compressed as they came
    for (_, data), outcome in zip(files, body["outcomes"], strict=True):
        original = pydicom.dcmread(io.BytesIO(data))
        stored = stored_dicom(settings, outcome["study_id"], outcome["image_id"])
        assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert np.array_equal(decode(stored), decode(original))

    # every row of every table
    text = database_text(db)
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


def test_what_is_kept_in_place_of_free_text(client, db, settings, admin) -> None:
    files = planted_exam(22)
    body = upload(client, files, bearer(client, "admin")).json()
    outcome = body["outcomes"][1]
    stored = stored_dicom(settings, outcome["study_id"], outcome["image_id"])
    assert list(stored.WindowCenterWidthExplanation) == ["NORMAL", "WINDOW 2", "SOFTER"]
    assert list(stored.ImageType) == ["ORIGINAL", "PRIMARY"]
    assert "ViewCodeSequence" not in stored  # its scheme was not a coding scheme
    assert "Manufacturer" not in stored
    assert "ManufacturerModelName" not in stored
    image = db.scalar(select(Image).where(Image.image_id == outcome["image_id"]))
    assert (image.manufacturer, image.model) == (None, None)
    assert [w["explanation"] for w in image.display["windows"]] == ["NORMAL", "WINDOW 2", "SOFTER"]
    first = body["outcomes"][0]
    cc = stored_dicom(settings, first["study_id"], first["image_id"])
    assert "ViewCodeSequence" not in cc  # an unknown code value


def device_exam(seed: int, manufacturer: str, model: str) -> list[tuple[str, bytes]]:
    files = []
    for name, data in exam_files(seed, with_phi=True)[:1]:
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.Manufacturer, ds.ManufacturerModelName = manufacturer, model
        files.append((name, dataset_bytes(ds)))
    return files


def stored_device(settings, outcome) -> tuple[str | None, str | None]:
    ds = stored_dicom(settings, outcome["study_id"], outcome["image_id"])
    return ds.get("Manufacturer"), ds.get("ManufacturerModelName")


def test_device_names_are_kept_when_they_read_as_one(app, client, db, settings, admin) -> None:
    headers = bearer(client, "admin")
    good = upload(client, device_exam(23, "HOLOGIC, Inc.", "Selenia Dimensions"), headers)
    outcome = good.json()["outcomes"][0]
    assert stored_device(settings, outcome) == ("HOLOGIC, Inc.", "Selenia Dimensions")
    image = db.scalar(select(Image).where(Image.image_id == outcome["image_id"]))
    assert (image.manufacturer, image.model) == ("HOLOGIC, Inc.", "Selenia Dimensions")
    # a model sharing a word with the patient's name goes; the vendor stays
    named = upload(client, device_exam(24, "GE MEDICAL SYSTEMS", "Senographe DOE"), headers)
    assert stored_device(settings, named.json()["outcomes"][0]) == ("GE MEDICAL SYSTEMS", None)

    app.state.imaging = ImagingKit.from_settings(
        settings.model_copy(update={"keep_device_names": False})
    )
    off = upload(client, device_exam(25, "HOLOGIC, Inc.", "Selenia Dimensions"), headers)
    outcome = off.json()["outcomes"][0]
    assert stored_device(settings, outcome) == (None, None)
    db.expire_all()
    image = db.scalar(select(Image).where(Image.image_id == outcome["image_id"]))
    assert (image.manufacturer, image.model) == (None, None)
