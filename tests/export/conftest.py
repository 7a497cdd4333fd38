"""A synthetic VinDr-format release (never real rows): DICOM files whose UIDs hold the hex ids,
as the released files do, and the two CSVs written by hand with the csv module."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from tests.export.exported_project import project  # noqa: F401 (the fixture, for every module)
from tests.imaging.helpers import dataset_bytes, exam_files

BREAST_HEADER = (
    "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,"
    "breast_density,split"
)
FINDING_HEADER = (
    "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,"
    "breast_density,finding_categories,finding_birads,xmin,ymin,xmax,ymax,split"
)
# per study: image order in the files, breast labels, boxes {view: [(categories, birads, box)]}
STUDIES = [
    {
        "order": ["L-CC", "L-MLO", "R-CC", "R-MLO"],
        "breasts": {"L": (1, "B"), "R": (1, "B")},
        "boxes": {},
        "split": "training",
    },
    {
        "order": ["R-MLO", "L-CC", "R-CC", "L-MLO"],
        "breasts": {"L": (1, "C"), "R": (4, "C")},
        "boxes": {
            "R-CC": [(["Mass", "Suspicious Calcification"], 4, (10.5, 20.25, 60.0, 90.125))],
            "R-MLO": [(["Mass"], 4, (12.0, 30.0, 58.75, 88.0))],
        },
        "split": "test",
    },
    {
        "order": ["L-CC", "L-MLO", "R-CC", "R-MLO"],
        "breasts": {"L": (2, "A"), "R": (1, "A")},
        "boxes": {"L-MLO": [(["Skin Thickening"], None, (-3.5, 0.0, 40.0, 22.0))]},
        "split": "training",
    },
    {
        "order": ["L-CC", "L-MLO", "R-CC", "R-MLO"],
        "breasts": {"L": (1, "D"), "R": (3, "D")},
        "boxes": {
            "R-MLO": [
                (["Focal Asymmetry"], 3, (100.0, 120.0, 180.0, 200.0)),
                (["Suspicious Lymph Node"], None, (2.0, 5.0, 30.0, 33.0)),
            ]
        },
        "split": "training",
    },
]


def hex_id(*parts: object) -> str:
    return hashlib.md5(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


@dataclass
class Release:
    dicom_dir: Path
    breast_csv: str
    finding_csv: str
    image_ids: list[str]


def _dicom_files(folder: Path, index: int) -> dict[str, tuple[str, str, str, int, int]]:
    """Write one exam; view name -> (study id, series id, image id, rows, columns)."""
    study_id = hex_id("study", index)
    facts = {}
    for _, data in exam_files(900 + index):
        ds = pydicom.dcmread(io.BytesIO(data))
        view = f"{ds.ImageLaterality}-{ds.ViewPosition}"
        series_id, image_id = hex_id("series", index), hex_id("image", index, view)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_id, series_id, image_id
        ds.file_meta.MediaStorageSOPInstanceUID = image_id
        target = folder / study_id / f"{image_id}.dicom"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(dataset_bytes(ds))
        facts[view] = (study_id, series_id, image_id, int(ds.Rows), int(ds.Columns))
    return facts


def build_release(folder: Path, studies: list[dict] = STUDIES) -> Release:
    breast, finding = io.StringIO(), io.StringIO()
    breast.write(BREAST_HEADER + "\n")
    finding.write(FINDING_HEADER + "\n")
    breast_writer = csv.writer(breast, lineterminator="\n")
    finding_writer = csv.writer(finding, lineterminator="\n")
    image_ids = []
    for index, study in enumerate(studies):
        facts = _dicom_files(folder, index)
        for view in study["order"]:
            study_id, series_id, image_id, rows, columns = facts[view]
            image_ids.append(image_id)
            lat, position = view.split("-")
            birads, density = study["breasts"][lat]
            ids = [study_id, series_id, image_id, lat, position, rows, columns]
            labels = [f"BI-RADS {birads}", f"DENSITY {density}"]
            breast_writer.writerow([*ids, *labels, study["split"]])
            boxes = study["boxes"].get(view, [])
            if not boxes:
                finding_writer.writerow(
                    [*ids, *labels, "['No Finding']", "", "", "", "", "", study["split"]]
                )
            for categories, box_birads, (x0, y0, x1, y1) in boxes:
                finding_writer.writerow(
                    [
                        *ids,
                        *labels,
                        str(categories),
                        f"BI-RADS {box_birads}" if box_birads else "",
                        repr(x0),
                        repr(y0),
                        repr(x1),
                        repr(y1),
                        study["split"],
                    ]
                )
    return Release(folder, breast.getvalue(), finding.getvalue(), image_ids)


def release_files(
    release: Release,
    breast_csv: str | None = None,
    finding_csv: str | None = None,
    dicom: bool = True,
) -> list[tuple[str, tuple[str, bytes]]]:
    """The multipart fields of ``POST /api/v1/releases`` (and the page) for ``release``."""
    files = [
        ("breast_csv", ("breast.csv", (breast_csv or release.breast_csv).encode())),
        ("finding_csv", ("finding.csv", (finding_csv or release.finding_csv).encode())),
    ]
    if dicom:
        files += [
            ("dicom", (path.name, path.read_bytes()))
            for path in sorted(release.dicom_dir.rglob("*.dicom"))
        ]
    return files


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return build_release(tmp_path / "release")
