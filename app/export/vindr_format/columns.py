"""The VinDr-Mammo release's files: their names, columns and values, and the facts of one
image that both files repeat on each of its rows."""

from __future__ import annotations

from dataclasses import dataclass

from app.reading.rules import NO_FINDING, VINDR_ASSOCIATED, VINDR_GRADED

BREAST_FILE = "breast-level_annotations.csv"
FINDING_FILE = "finding_annotations.csv"

IMAGE_COLUMNS = (
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
)
COORDINATE_COLUMNS = ("xmin", "ymin", "xmax", "ymax")
BREAST_HEADER = (*IMAGE_COLUMNS, "split")
FINDING_HEADER = (
    *IMAGE_COLUMNS,
    "finding_categories",
    "finding_birads",
    *COORDINATE_COLUMNS,
    "split",
)

GRADED = VINDR_GRADED
ASSOCIATED = VINDR_ASSOCIATED
VINDR_CATEGORIES = (NO_FINDING, *GRADED, *ASSOCIATED)
SPLITS = ("training", "test")

# The release's values only: BI-RADS 0 and 6 do not occur in it, and are refused on import.
RELEASE_BREAST_BIRADS = (1, 2, 3, 4, 5)
RELEASE_FINDING_BIRADS = (3, 4, 5)
RELEASE_DENSITIES = ("A", "B", "C", "D")
VIEW_ORDER = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
# Offending values are quoted in messages, cut to about this many characters.
SHOWN_LENGTH = 60


@dataclass(frozen=True)
class ImageFacts:
    """What the release says about one image (``height``, ``width``: DICOM Rows, Columns)."""

    study_id: str
    series_id: str
    image_id: str
    laterality: str
    view_position: str
    height: int
    width: int
