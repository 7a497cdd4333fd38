"""Pseudonymisation at import: VinDr identifiers and an allow-list of DICOM elements.

Identifiers follow VinDr-Mammo: ``study_id``, ``series_id``, ``image_id`` are the MD5 hex digests
of the original Study, Series and SOP Instance UIDs, so re-imports match and ids line up with the
released dataset. In the stored file those UIDs become ``2.25.<the digest as a decimal>``: a
valid UID from which the hex id is recovered exactly. Every element not on the allow-list goes,
private ones and sequences included; the allowed sequences are codes only.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pydicom import DataElement, Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

# VinDr-Mammo's released files keep 46 elements of these kinds: patient sex, age, size, weight;
# geometry and pixel format; display; compression flags; hashed UIDs; modality and body part;
# presentation intent; manufacturer and model; laterality and view.
DEFAULT_KEEP = frozenset(
    {
        "SpecificCharacterSet",
        "ImageType",
        "SOPClassUID",
        "SOPInstanceUID",
        "Modality",
        "PresentationIntentType",
        "Manufacturer",
        "ManufacturerModelName",
        "PatientSex",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "BodyPartExamined",
        "ViewPosition",
        "ImagerPixelSpacing",
        "FieldOfViewHorizontalFlip",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "PatientOrientation",
        "Laterality",
        "ImageLaterality",
        "ViewCodeSequence",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "NumberOfFrames",
        "Rows",
        "Columns",
        "PixelSpacing",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PixelPaddingValue",
        "PixelPaddingRangeLimit",
        "PixelIntensityRelationship",
        "PixelIntensityRelationshipSign",
        "WindowCenter",
        "WindowWidth",
        "RescaleIntercept",
        "RescaleSlope",
        "RescaleType",
        "WindowCenterWidthExplanation",
        "VOILUTFunction",
        "LossyImageCompression",
        "LossyImageCompressionRatio",
        "LossyImageCompressionMethod",
        "VOILUTSequence",
        "PresentationLUTShape",
        "PixelData",
    }
)
# Inside allowed sequences only these survive (codes and LUT data, never free text about people).
SEQUENCE_ITEM_KEEP = frozenset(
    {
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "ViewModifierCodeSequence",
        "LUTDescriptor",
        "LUTData",
    }
)
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
# Never kept, whatever the configuration says (DICOM PS3.15 Annex E's obvious identifiers).
IDENTIFYING = frozenset(
    {
        "PatientName",
        "PatientID",
        "OtherPatientIDs",
        "OtherPatientIDsSequence",
        "OtherPatientNames",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "PatientMotherBirthName",
        "MedicalRecordLocator",
        "AccessionNumber",
        "StudyID",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy",
        "OperatorsName",
        "RequestingPhysician",
        "StationName",
        "DeviceSerialNumber",
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "StudyTime",
        "SeriesTime",
        "AcquisitionTime",
        "ContentTime",
        "AcquisitionDateTime",
        "StudyDescription",
        "SeriesDescription",
        "RequestAttributesSequence",
        "ReferencedPatientSequence",
        "AdditionalPatientHistory",
        "PatientComments",
        "ImageComments",
    }
)


def keep_set(extra: Iterable[str]) -> frozenset[str]:
    """The allow-list plus configured extras; identifying keywords are refused outright."""
    extra = frozenset(extra)
    refused = sorted(extra & IDENTIFYING)
    if refused:
        raise ValueError(
            f"MAMMOREAD_DICOM_KEEP_EXTRA names identifying elements: {', '.join(refused)}"
        )
    return DEFAULT_KEEP | extra


METHOD_PREFIX = "MammoRead"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def vindr_id(uid: str) -> str:
    return hashlib.md5(uid.strip().encode(), usedforsecurity=False).hexdigest()


def id_as_uid(hex_id: str) -> str:
    return f"2.25.{int(hex_id, 16)}"


@dataclass(frozen=True)
class Identifiers:
    study_id: str
    series_id: str
    image_id: str


def identifiers(ds: Dataset) -> Identifiers:
    """The VinDr ids of a dataset: MD5 digests of its UIDs, unless it was pseudonymised
    already (a VinDr release file holds the hex ids; a MammoRead export holds them as
    ``2.25.<decimal>`` and says so), in which case the ids it carries are kept, so that a
    dataset exported and imported again keeps its ids."""
    ours = str(ds.get("DeidentificationMethod", "")).startswith(METHOD_PREFIX)
    return Identifiers(
        *(
            carried_id(str(uid), ours) or vindr_id(str(uid))
            for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        )
    )


def carried_id(uid: str, ours: bool) -> str | None:
    """The id a pseudonymised UID carries, if it is one."""
    uid = uid.strip()
    if HEX_ID.fullmatch(uid):
        return uid
    if ours and uid.startswith("2.25.") and uid[5:].isdigit() and int(uid[5:]) < 2**128:
        return f"{int(uid[5:]):032x}"
    return None


def pseudonymise(
    ds: Dataset, ids: Identifiers, keep: Iterable[str] = DEFAULT_KEEP, *, blackout: bool = False
) -> Dataset:
    """A new dataset holding only the allowed elements, with the UIDs replaced."""
    allowed = frozenset(keep)
    method = f"{METHOD_PREFIX} allow-list, VinDr MD5 ids"  # LO: at most 64 characters
    if blackout:
        method += ", corner blackout"
    clean = Dataset()
    for element in ds:
        if element.keyword in allowed and not element.tag.is_private:
            clean.add(_scrubbed(element))
    clean.StudyInstanceUID = id_as_uid(ids.study_id)
    clean.SeriesInstanceUID = id_as_uid(ids.series_id)
    clean.SOPInstanceUID = id_as_uid(ids.image_id)
    clean.PatientIdentityRemoved = "YES"
    clean.DeidentificationMethod = method
    clean.file_meta = _file_meta(ds, clean)
    return clean


def _scrubbed(element: DataElement) -> DataElement:
    if element.VR != "SQ":
        return element
    element = copy.deepcopy(element)
    _scrub_items(element)
    return element


def _scrub_items(element: DataElement) -> None:
    for item in element.value:
        for inner in list(item):
            if inner.keyword not in SEQUENCE_ITEM_KEEP or inner.tag.is_private:
                del item[inner.tag]
            elif inner.VR == "SQ":
                _scrub_items(inner)


def _file_meta(original: Dataset, clean: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = clean.SOPClassUID
    meta.MediaStorageSOPInstanceUID = clean.SOPInstanceUID
    meta.TransferSyntaxUID = original.file_meta.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def black_out_corners(pixels: np.ndarray, fraction: float, value: int = 0) -> np.ndarray:
    """Blank square corners (burned-in text) of ``fraction`` of the shorter side."""
    out = pixels.copy()
    size = int(min(out.shape[:2]) * fraction)
    if size <= 0:
        return out
    for rows in (slice(0, size), slice(-size, None)):
        for columns in (slice(0, size), slice(-size, None)):
            out[rows, columns] = value
    return out
