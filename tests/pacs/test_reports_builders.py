"""The SR and GSPS builders alone (no database): codes of every kind, a box past the image's
edge clipped, several categories, a custom category with accents, a breast not imaged, the
probability of malignancy, a MONOCHROME1 image; each object valid for dciodvfy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset

from app.imaging.synthetic import ExamOptions, synthetic_exam
from app.pacs.gsps import build_gsps
from app.pacs.reports import (
    PRIVATE_SCHEME,
    Evidence,
    ReadToWrite,
    Role,
    category_code,
    completed,
    named_uid,
)
from app.pacs.sr import build_sr
from app.reading.rules.label import parse_label
from tests.pacs.test_reports import DCIODVFY, code_of, content_items, evaluations, name_of

ROWS, COLUMNS = 256, 208


@pytest.fixture(scope="module")
def evidence() -> Evidence:
    datasets, _ = synthetic_exam(73, ExamOptions(rows=ROWS, columns=COLUMNS))
    images = {}
    for index, ds in enumerate(datasets):
        del ds.PixelData
        for keyword in ("PatientName", "StudyID", "StudyTime", "ReferringPhysicianName"):
            ds.pop(keyword, None)  # as pseudonymisation leaves them
        ds.PhotometricInterpretation = "MONOCHROME1"
        images[f"image{index}"] = completed(ds)
    laterality = {key: str(ds.ImageLaterality) for key, ds in images.items()}
    return Evidence(images, laterality)


def read(evidence: Evidence) -> ReadToWrite:
    right = next(key for key, lat in evidence.laterality.items() if lat == "R")
    label = parse_label(
        {
            "breasts": {
                "R": {"birads": 5, "density": "D", "probability": 85},
                "L": {"not_imaged": True, "birads": None, "density": None},
            },
            "boxes": [
                {
                    "id": "edge",
                    "image_id": right,
                    "xmin": -3.5,
                    "ymin": 10.0,
                    "xmax": 50.0,
                    "ymax": ROWS + 20.0,
                    "categories": ["Suspicious Calcification", "Skin Retraction", "Amas étoilé"],
                    "birads": 5,
                },
                {
                    "id": "elsewhere",
                    "image_id": "not-in-this-study",
                    "xmin": 1.0,
                    "ymin": 1.0,
                    "xmax": 2.0,
                    "ymax": 2.0,
                    "categories": ["Mass"],
                    "birads": 3,
                },
            ],
        }
    )
    return ReadToWrite(Role.READER_2, "R2", label, "read:42", 3, "r2")


def valid(dataset: Dataset, folder: Path) -> list[str]:
    path = folder / "object.dcm"
    dataset.save_as(path, enforce_file_format=True)
    run = subprocess.run([str(DCIODVFY), str(path)], capture_output=True, text=True, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    assert not [line for line in lines if line.startswith("Error")], "\n".join(lines)
    return lines


def test_codes_clipping_and_private_scheme(evidence: Evidence, tmp_path: Path) -> None:
    sr = build_sr(read(evidence), evidence, project_id=7)
    again = pydicom.dcmread(_saved(sr, tmp_path))
    groups = [i for i in content_items(again) if name_of(i) == ("DCM", "125007")]
    boxes = [g for g in groups if any(i.ValueType == "SCOORD" for i in g.ContentSequence)]
    assert len(boxes) == 1  # the box on another study's image is left out
    (box,) = boxes
    region = next(i for i in box.ContentSequence if i.ValueType == "SCOORD")
    assert [float(v) for v in region.GraphicData] == [
        0.0, 10.0, 50.0, 10.0, 50.0, ROWS, 0.0, ROWS, 0.0, 10.0,
    ]  # fmt: skip
    finding = next(i for i in box.ContentSequence if name_of(i) == ("DCM", "121071"))
    assert code_of(finding) == ("SCT", "309587003")  # the first category is the finding
    assert evaluations(box, ("DCM", "121071"))[1:] == [
        ("SCT", "129796009"),
        (PRIVATE_SCHEME, category_code("Amas étoilé").value),
    ]
    assert evaluations(box, ("DCM", "111005")) == [("SCT", "397145000")]
    breasts = [g for g in groups if g not in boxes]
    assert len(breasts) == 1  # the left breast was not imaged: no group
    assert evaluations(breasts[0], ("SCT", "129715009")) == [("SCT", "129719003")]
    probability = next(i for i in breasts[0].ContentSequence if i.ValueType == "NUM")
    assert float(probability.MeasuredValueSequence[0].NumericValue) == 85.0
    schemes = [i.CodingSchemeDesignator for i in again.CodingSchemeIdentificationSequence]
    assert schemes == [PRIVATE_SCHEME]
    assert again.SpecificCharacterSet == "ISO_IR 192"
    assert "Amas étoilé" in str(again)
    valid(sr, tmp_path)


def test_gsps_of_monochrome1_images(evidence: Evidence, tmp_path: Path) -> None:
    gsps = build_gsps(read(evidence), evidence, project_id=7)
    again = pydicom.dcmread(_saved(gsps, tmp_path))
    assert again.PresentationLUTShape == "INVERSE"
    (annotation,) = again.GraphicAnnotationSequence
    text = annotation.TextObjectSequence[0].UnformattedTextValue
    assert text.startswith("Suspicious Calcification + Skin Retraction + Amas étoilé")
    assert text.endswith("BI-RADS 5")
    assert [layer.GraphicLayer for layer in again.GraphicLayerSequence] == ["R2"]
    valid(gsps, tmp_path)


def test_uids_are_stable_and_distinct(evidence: Evidence) -> None:
    first = build_sr(read(evidence), evidence, project_id=7)
    second = build_sr(read(evidence), evidence, project_id=7)
    other_project = build_sr(read(evidence), evidence, project_id=8)
    assert first.SOPInstanceUID == second.SOPInstanceUID != other_project.SOPInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert named_uid("a", "bc") != named_uid("ab", "c")
    assert len(named_uid("x")) <= 64


def _saved(dataset: Dataset, folder: Path) -> Path:
    path = folder / f"{dataset.SOPInstanceUID}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path
