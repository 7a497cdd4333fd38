"""Synthetic exams for the PACS tests: women with dated exams, as DICOM files."""

from __future__ import annotations

from dataclasses import dataclass

from app.imaging.synthetic import ExamOptions, synthetic_exam
from tests.imaging.helpers import SMALL, dataset_bytes


@dataclass(frozen=True)
class Exam:
    patient_id: str
    study_date: str  # YYYYMMDD
    accession: str
    study_uid: str
    files: list[tuple[str, bytes]]  # (SOP Instance UID, bytes)


def exam(seed: int, patient_id: str, study_date: str, accession: str, **options: object) -> Exam:
    modality = options.pop("modality", None)
    datasets, _ = synthetic_exam(
        seed,
        ExamOptions(
            **{**SMALL, **options},
            patient_id=patient_id,
            study_date=study_date,
            accession_number=accession,
        ),
    )
    if modality:
        for ds in datasets:
            ds.Modality = modality
    return Exam(
        patient_id,
        study_date,
        accession,
        str(datasets[0].StudyInstanceUID),
        [(str(ds.SOPInstanceUID), dataset_bytes(ds)) for ds in datasets],
    )


def two_women() -> list[Exam]:
    """Two women with two four-view exams each, two years apart."""
    return [
        exam(501, "MR-PACS-001", "20190301", "ACC-1001"),
        exam(502, "MR-PACS-001", "20210302", "ACC-1002"),
        exam(503, "MR-PACS-002", "20200610", "ACC-2001"),
        exam(504, "MR-PACS-002", "20220611", "ACC-2002"),
    ]


def not_mammography() -> Exam:
    """A third woman's exam whose series say modality OT (a search for MG leaves it out)."""
    return exam(505, "MR-PACS-003", "20210101", "ACC-3001", modality="OT")
