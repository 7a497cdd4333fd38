"""What a synthetic exam is made of: the views and their orientation, the SOP classes and
transfer syntaxes offered, :class:`ExamOptions` (checked on construction) and the ground-truth
:class:`Finding` record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

FOR_PRESENTATION_SOP_CLASS: Final = UID("1.2.840.10008.5.1.4.1.1.1.2")
FOR_PROCESSING_SOP_CLASS: Final = UID("1.2.840.10008.5.1.4.1.1.1.2.1")
SUPPORTED_TRANSFER_SYNTAXES: Final = (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)
VIEWS: Final = ("R-CC", "L-CC", "R-MLO", "L-MLO")
PATIENT_ORIENTATION: Final = {
    "R-CC": ("P", "L"),
    "L-CC": ("A", "R"),
    "R-MLO": ("P", "FL"),
    "L-MLO": ("A", "FR"),
}
# Default of ``ExamOptions.uid_namespace``: the exams' UIDs are derived from it and the seed.
UID_NAMESPACE: Final = "mammoread-synthetic"


@dataclass(frozen=True)
class Finding:
    """A ground-truth finding on one image, in that image's own (stored) pixel grid.

    ``x`` and ``y`` are the centre in pixels (column, row) and ``radius`` the mass radius or
    the calcification cluster radius in pixels.
    """

    kind: str  # "mass" | "calcification"
    view: str  # "CC" | "MLO"
    laterality: str  # "L" | "R"
    x: float
    y: float
    radius: float
    spiculated: bool = False


@dataclass(frozen=True)
class ExamOptions:
    """How to build an exam. View labels are ``"R-CC"``, ``"L-CC"``, ``"R-MLO"``, ``"L-MLO"``.

    ``findings`` random lesions are placed per exam; each lies in one breast and is drawn on both
    of its views, so it yields two :class:`Finding` records. ``placed_findings`` are drawn exactly
    where given (on the image matching their view and laterality). QC helpers: ``flip_view``
    mirrors that view's pixels (header unchanged), ``invert_view`` stores it with inverted
    intensities (header unchanged), ``omit_view`` leaves it out and ``duplicate_view`` adds a
    second copy with its own series and SOP Instance UID. ``voi_lut_sequence`` adds a VOI LUT
    Sequence (which takes precedence over the windows in most viewers).
    """

    rows: int = 4096
    columns: int = 3328
    bits_stored: int = 12
    photometric: str = "MONOCHROME2"
    transfer_syntax: str = ExplicitVRLittleEndian
    voi_function: str = "LINEAR"
    presentation_intent: str = "FOR PRESENTATION"
    with_phi: bool = False
    manufacturer: str = "MammoRead Synthetic"
    model: str = "Phantom 1"
    findings: int = 0
    placed_findings: tuple[Finding, ...] = ()
    density: str | None = None
    pixel_spacing_mm: float = 0.1
    voi_lut_sequence: bool = False
    flip_view: str | None = None
    invert_view: str | None = None
    omit_view: str | None = None
    duplicate_view: str | None = None
    uid_namespace: str = UID_NAMESPACE
    # a woman's identity and exam date, for priors: ``patient_id`` (default ``SYN-<seed>``),
    # its issuer, the exam's date (``YYYYMMDD``, also the series, acquisition and content
    # dates), accession number and age in years (default drawn from the seed)
    patient_id: str | None = None
    issuer_of_patient_id: str | None = None
    study_date: str | None = None
    accession_number: str | None = None
    patient_age: int | None = None

    def __post_init__(self) -> None:
        check(self.rows >= 64 and self.columns >= 64, "rows and columns must be >= 64")
        check(8 <= self.bits_stored <= 16, "bits_stored must be 8..16")
        check(self.photometric in ("MONOCHROME1", "MONOCHROME2"), "bad photometric")
        check(self.transfer_syntax in SUPPORTED_TRANSFER_SYNTAXES, "unsupported syntax")
        check(self.voi_function in ("LINEAR", "LINEAR_EXACT", "SIGMOID"), "bad VOI function")
        check(
            self.presentation_intent in ("FOR PRESENTATION", "FOR PROCESSING"),
            "bad presentation intent",
        )
        check(self.findings >= 0, "findings must be >= 0")
        check(
            self.study_date is None or (len(self.study_date) == 8 and self.study_date.isdigit()),
            "study_date must be YYYYMMDD",
        )
        check(self.patient_age is None or 0 < self.patient_age < 130, "bad patient_age")
        check(self.density in (None, "A", "B", "C", "D"), "density must be A-D or None")
        for label in (self.flip_view, self.invert_view, self.omit_view, self.duplicate_view):
            check(label is None or label in VIEWS, f"unknown view {label!r}")
        for finding in self.placed_findings:
            check(finding.kind in ("mass", "calcification"), f"bad kind {finding.kind!r}")
            check(f"{finding.laterality}-{finding.view}" in VIEWS, "bad finding view")


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
