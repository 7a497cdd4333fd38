"""Building DICOM uploads for the imaging tests."""

from __future__ import annotations

import io
import zipfile

import pydicom
from pydicom.data import get_testdata_file

from app.imaging.kit import store_from_settings
from app.imaging.storage import IMAGES_DIR, PYRAMID_DIR, dicom_key
from app.imaging.synthetic import ExamOptions, synthetic_exam

SMALL = {"rows": 256, "columns": 208}


def dataset_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def exam_files(seed: int = 1, **options: object) -> list[tuple[str, bytes]]:
    """A synthetic four-view exam as (file name, bytes) uploads; small unless told otherwise."""
    datasets, _ = synthetic_exam(seed, ExamOptions(**{**SMALL, **options}))
    return [(f"{ds.ImageLaterality}_{ds.ViewPosition}.dcm", dataset_bytes(ds)) for ds in datasets]


def pydicom_file(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom test file {name} is missing (pydicom-data installed?)"
    with open(path, "rb") as handle:
        return handle.read()


def zipped(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def stored_keys(settings) -> list[str]:
    """Every stored image file and pyramid level, on disk or in the bucket (S3 variant)."""
    store = store_from_settings(settings)
    return sorted(key for top in (IMAGES_DIR, PYRAMID_DIR) for key, _ in store.listing(top))


def stored_bytes(settings, key: str) -> bytes:
    return store_from_settings(settings).get(key)


def stored_dicom(settings, study_id: str, image_id: str) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(stored_bytes(settings, dicom_key(study_id, image_id))))


def upload(client, files: list[tuple[str, bytes]], headers: dict[str, str]):
    return client.post(
        "/api/v1/images",
        files=[("files", (name, data, "application/dicom")) for name, data in files],
        headers=headers,
    )


# Two women with two exams each, with real dates and record numbers (the longitudinal tests,
# the priors, the patient-grouped splits and the PACS tests): (patient id, study date, age).
WOMEN_EXAMS: tuple[tuple[str, str, int], ...] = (
    ("MRN-A-1001", "20180312", 52),
    ("MRN-A-1001", "20200401", 54),
    ("MRN-B-2002", "20190105", 61),
    ("MRN-B-2002", "20210220", 63),
)


def woman_exam_files(
    seed: int, patient_id: str, study_date: str, age: int, **options: object
) -> list[tuple[str, bytes]]:
    """A four-view exam of one woman on one date (its own study UIDs: its own seed)."""
    return exam_files(
        seed,
        patient_id=patient_id,
        study_date=study_date,
        patient_age=age,
        accession_number=f"ACC-{seed:05d}",
        **options,
    )


def women_files(first_seed: int = 900) -> list[list[tuple[str, bytes]]]:
    """The four exams of ``WOMEN_EXAMS``, in that order."""
    return [
        woman_exam_files(first_seed + n, patient_id, day, age)
        for n, (patient_id, day, age) in enumerate(WOMEN_EXAMS)
    ]
