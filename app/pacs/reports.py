"""Reads back to the PACS, the pure part shared by the SR and the GSPS builders: which read is
written (the final label or one reader's read), the codes its content is written with, and the
boxes as closed polylines in the referenced image's pixel grid.

Coding. Standard codes wherever DICOM (PS3.16) or SNOMED CT has one:

* breast BI-RADS assessment: SNOMED CT "Mammography assessment (Category 0..5)" (397138000,
  397140005, 397141009, 397143007, 397144001, 397145000; the concepts of DICOM CID 6026/6027)
  under the concept name DCM 111005 "Assessment Category"; category 6 has no international
  SNOMED CT code and is written in the private scheme below;
* breast density: DICOM CID 6000 (SCT 129716005, 129717001, 129718006, 129719003) under
  SCT 129715009 "Breast composition";
* finding categories: SNOMED CT from DICOM CID 6016 / 6014 where one fits (mass, asymmetry,
  focal asymmetry, architectural distortion, skin thickening, skin retraction, calcification,
  nipple retraction); VinDr's "Global Asymmetry", "Suspicious Lymph Node" and every custom
  category of a project's vocabulary in the private scheme;
* the probability of malignancy some protocols ask for: a private concept, in percent.

The private coding scheme is ``99MMRD`` ("MammoRead local codes"), declared in each object's
Coding Scheme Identification Sequence. A custom category's code value is ``C`` and the first 12
hex digits of the SHA-256 of its name (so the same name always has the same code); its meaning
is the name itself.

Coordinates. A box is written in the image's original pixel grid, DICOM's convention for SR
SCOORD and GSPS PIXEL units alike (0,0 is the top left corner of the top left pixel, columns
then rows), clipped to the image: VinDr boxes may reach a few pixels past the edge, which
neither object may carry (negative coordinates are invalid).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from pydicom import Dataset
from pydicom.sr.coding import Code

from app.reading.rules.label import Box, Label

PRIVATE_SCHEME = "99MMRD"
PRIVATE_SCHEME_NAME = "MammoRead local codes"
MANUFACTURER = "MammoRead"
MODEL = "MammoRead reads to PACS"
SR_SERIES_NUMBER = 9101
PR_SERIES_NUMBER = 9102
SR_SERIES_DESCRIPTION = "MammoRead reads (SR)"
PR_SERIES_DESCRIPTION = "MammoRead reads (boxes)"
MAX_MEANING = 64  # LO
MAX_TEXT = 1024  # ST
CHARACTER_SET = "ISO_IR 192"  # UTF-8: a custom category may be in any script


def private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning[:MAX_MEANING])


ASSESSMENT_CATEGORY = Code("111005", "DCM", "Assessment Category")
BREAST_COMPOSITION = Code("129715009", "SCT", "Breast composition")
FINDING = Code("121071", "DCM", "Finding")
RIGHT_BREAST = Code("73056007", "SCT", "Right breast")
LEFT_BREAST = Code("80248007", "SCT", "Left breast")
BREAST = Code("76752008", "SCT", "Breast")
RIGHT = Code("24028007", "SCT", "Right")
LEFT = Code("7771000", "SCT", "Left")
MAMMOGRAPHY_PROCEDURE = Code("71651007", "SCT", "Mammography")
PROBABILITY_OF_MALIGNANCY = private("P-MALIGNANCY", "Probability of malignancy")
PERCENT = Code("%", "UCUM", "percent")

BREAST_SITES = {"R": RIGHT_BREAST, "L": LEFT_BREAST}
LATERALITY_CODES = {"R": RIGHT, "L": LEFT}

BIRADS_CODES: dict[int, Code] = {
    0: Code("397138000", "SCT", "Mammography assessment (Category 0)"),
    1: Code("397140005", "SCT", "Mammography assessment (Category 1)"),
    2: Code("397141009", "SCT", "Mammography assessment (Category 2)"),
    3: Code("397143007", "SCT", "Mammography assessment (Category 3)"),
    4: Code("397144001", "SCT", "Mammography assessment (Category 4)"),
    5: Code("397145000", "SCT", "Mammography assessment (Category 5)"),
    6: private("BIRADS-6", "Mammography assessment (Category 6)"),
}

DENSITY_CODES: dict[str, Code] = {
    "A": Code("129716005", "SCT", "Almost entirely fat"),
    "B": Code("129717001", "SCT", "Scattered fibroglandular densities"),
    "C": Code("129718006", "SCT", "Heterogeneously dense"),
    "D": Code("129719003", "SCT", "Extremely dense"),
}

# VinDr-Mammo's categories (app.reading.rules.vocabulary), matched without regard to case
CATEGORY_CODES: dict[str, Code] = {
    "mass": Code("129788004", "SCT", "Mammographic breast mass"),
    "suspicious calcification": Code("309587003", "SCT", "Calcification of breast"),
    "asymmetry": Code("129790003", "SCT", "Asymmetric breast tissue"),
    "focal asymmetry": Code("129789007", "SCT", "Focal asymmetric breast tissue"),
    "global asymmetry": private("GLOBAL-ASYM", "Global asymmetry"),
    "architectural distortion": Code("129792006", "SCT", "Architectural distortion of breast"),
    "skin thickening": Code("129797000", "SCT", "Skin thickening of breast"),
    "skin retraction": Code("129796009", "SCT", "Skin retraction of breast"),
    "nipple retraction": Code("271955004", "SCT", "Nipple retraction"),
    "suspicious lymph node": private("SUSP-LN", "Suspicious lymph node"),
}


def category_code(name: str) -> Code:
    """The code of a finding category: standard or private for VinDr's, private for custom."""
    known = CATEGORY_CODES.get(name.strip().lower())
    if known is not None:
        return known
    digest = hashlib.sha256(name.encode()).hexdigest()[:12].upper()
    return private(f"C{digest}", name)


def uses_private_codes(label: Label) -> bool:
    """Whether an object written from this label carries a code of the private scheme."""
    codes = [category_code(name) for box in label.boxes for name in box.categories]
    codes += [BIRADS_CODES[b.birads] for b in label.breasts.values() if b.birads is not None]
    codes += [BIRADS_CODES[box.birads] for box in label.boxes if box.birads is not None]
    probability = any(b.probability is not None for b in label.breasts.values())
    return probability or any(code.scheme_designator == PRIVATE_SCHEME for code in codes)


def coding_scheme_identification() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = MANUFACTURER
    return item


class Role(StrEnum):
    FINAL = "final"
    READER_1 = "reader1"
    READER_2 = "reader2"
    ARBITER = "arbiter"


@dataclass(frozen=True)
class ReadToWrite:
    """One read to write as an SR and a GSPS.

    ``observer``: the pseudonymous name the objects carry ("R1", "R2", "Arbiter", "Final
    (consensus)"), never a username: the PACS's users need the role, not who it was, and
    readers' identities stay inside MammoRead like everywhere else it exports reads.
    ``key``: what makes the objects' UIDs (same read, same UIDs: sending twice replaces).
    ``number``: the instance number within each series."""

    role: Role
    observer: str
    label: Label
    key: str
    number: int
    file_stem: str

    @property
    def is_final(self) -> bool:
        return self.role == Role.FINAL

    @property
    def person_name(self) -> str:
        """The observer as a DICOM person name: the role as a family name alone ("R1^")."""
        return f"{self.observer.replace('^', ' ').replace('=', ' ')}^"


@dataclass(frozen=True)
class Evidence:
    """The study's stored (pseudonymised) images, by image id, read without pixel data."""

    images: Mapping[str, Dataset]
    laterality: Mapping[str, str] = field(default_factory=dict)  # image id -> "R"/"L"

    @property
    def ordered(self) -> list[Dataset]:
        return [self.images[image_id] for image_id in sorted(self.images)]

    @property
    def study_uid(self) -> str:
        return str(self.ordered[0].StudyInstanceUID)


# Type 2 attributes the SR and GSPS copy from their first image; pseudonymisation removed
# them, so the header copies get them empty (in memory only: nothing is put back)
EMPTY_TYPE_2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def completed(header: Dataset) -> Dataset:
    """A stored image's header with the type 2 attributes it lacks present and empty."""
    for keyword in EMPTY_TYPE_2:
        if keyword not in header:
            setattr(header, keyword, "")
    return header


UID_NAMESPACE = uuid.UUID("5b0c3c56-8f0e-4c1e-9a53-6d3c1a7f2e10")  # MammoRead's reads


def named_uid(*parts: object) -> str:
    """A UID derived from a name-based (SHA-1, version 5) UUID of ``parts``, as PS3.5 B.2
    allows ("2.25." and the UUID as a decimal): the same parts, the same UID."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, chr(31).join(map(str, parts))).int}"


def object_uid(evidence: Evidence, *parts: object) -> str:
    """A UID made from the study's (pseudonymised) UID and ``parts``: the same every time, so
    a read sent twice replaces itself rather than piling up in the PACS."""
    return named_uid(evidence.study_uid, *parts)


def series_uid(evidence: Evidence, project_id: int, modality: str) -> str:
    return object_uid(evidence, "mammoread-reads", project_id, modality)


def clipped(box: Box, columns: int, rows: int) -> tuple[float, float, float, float] | None:
    """The box within the image's pixel grid, or None when nothing of it is on the image."""
    xmin, xmax = max(0.0, min(box.xmin, box.xmax)), min(float(columns), max(box.xmin, box.xmax))
    ymin, ymax = max(0.0, min(box.ymin, box.ymax)), min(float(rows), max(box.ymin, box.ymax))
    if xmax <= xmin or ymax <= ymin:
        return None
    return xmin, ymin, xmax, ymax


def polyline(corners: tuple[float, float, float, float]) -> np.ndarray:
    """The closed polyline of a box: five (column, row) points, the first repeated last."""
    xmin, ymin, xmax, ymax = corners
    return np.array(
        [[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]], dtype=float
    )


def drawn_boxes(label: Label, evidence: Evidence) -> list[tuple[Box, Dataset, np.ndarray]]:
    """The label's boxes that fall on an image of the study, with that image and polyline."""
    drawn = []
    for box in label.boxes:
        image = evidence.images.get(box.image_id)
        if image is None:
            continue
        corners = clipped(box, int(image.Columns), int(image.Rows))
        if corners is not None:
            drawn.append((box, image, polyline(corners)))
    return drawn


def box_text(box: Box) -> str:
    """The words drawn beside a box: "Mass BI-RADS 4" (Unformatted Text Value, ST)."""
    words = " + ".join(box.categories) if box.categories else "Finding"
    suffix = f" BI-RADS {box.birads}" if box.birads is not None else ""
    return words[: MAX_TEXT - len(suffix)] + suffix
