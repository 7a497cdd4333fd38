"""Pseudonymisation at import: pseudonymous identifiers and an allow-list of DICOM elements.

Identifiers: ``study_id``, ``series_id``, ``image_id`` are made from the original Study, Series
and SOP Instance UIDs by one of two schemes (setting ``pseudonym_scheme``):

- ``hmac`` (the default): HMAC-SHA256 of the UID under the pseudonymisation key (kept apart
  from the session secret), truncated to 32 hex characters (128 bits). Stable across imports
  with the same key; nobody without the key can re-link a dataset to its source UIDs.
- ``md5``: VinDr-Mammo's unsalted MD5 of the UID, only to reproduce VinDr's released ids
  (whoever holds the source UIDs can re-link such a dataset).

A file pseudonymised already keeps the ids it carries (scheme ``kept``): a VinDr release's
32-hex UIDs, or a MammoRead export's ``2.25.<decimal>`` UIDs. In the stored file the UIDs
become ``2.25.<the id as a decimal>``: a valid UID from which the hex id is recovered exactly.

Elements: every element not on the allow-list goes, private ones included; of the allowed
ones only acceptable values stay (:mod:`app.imaging.kept_values`), sequences keep known codes
and LUT data only, and compressed pixel data loses its comment and application segments
(:mod:`app.imaging.jpeg_segments`).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from pydicom import DataElement, Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

from app.imaging import kept_values
from app.imaging.dicom import ImageMeta
from app.imaging.jpeg_segments import CodestreamError, strip_pixel_data
from app.imaging.longitudinal import (
    BASIC_PROFILE,
    MODIFIED,
    MODIFIED_DATES_OPTION,
    PATIENT_CHARACTERISTICS_OPTION,
    Longitudinal,
    Woman,
    as_dicom_date,
)


def _keywords(text: str) -> frozenset[str]:
    return frozenset(text.split())


# VinDr-Mammo's released files keep 46 elements of these kinds: patient sex, age, size, weight;
# geometry and pixel format; display; compression flags; hashed UIDs; modality and body part;
# presentation intent; manufacturer and model; laterality and view.
DEFAULT_KEEP = _keywords(
    "SpecificCharacterSet ImageType SOPClassUID SOPInstanceUID Modality PresentationIntentType "
    "Manufacturer ManufacturerModelName PatientSex PatientAge PatientSize PatientWeight "
    "BodyPartExamined ViewPosition ImagerPixelSpacing FieldOfViewHorizontalFlip "
    "StudyInstanceUID SeriesInstanceUID PatientOrientation Laterality ImageLaterality "
    "ViewCodeSequence SamplesPerPixel PhotometricInterpretation NumberOfFrames Rows Columns "
    "PixelSpacing BitsAllocated BitsStored HighBit PixelRepresentation PixelPaddingValue "
    "PixelPaddingRangeLimit PixelIntensityRelationship PixelIntensityRelationshipSign "
    "WindowCenter WindowWidth RescaleIntercept RescaleSlope RescaleType "
    "WindowCenterWidthExplanation VOILUTFunction LossyImageCompression "
    "LossyImageCompressionRatio LossyImageCompressionMethod VOILUTSequence PresentationLUTShape "
    "PixelData"
)
# Inside allowed sequences only known codes (see kept_values.KNOWN_CODES), their modifier
# sequences and LUT data survive; never free text.
LUT_KEYWORDS = ("LUTDescriptor", "LUTData")
CODE_SEQUENCES = frozenset({"ViewModifierCodeSequence"})
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
# Never kept, whatever the configuration says (DICOM PS3.15 Annex E's obvious identifiers).
IDENTIFYING = _keywords(
    "PatientName PatientID OtherPatientIDs OtherPatientIDsSequence OtherPatientNames "
    "PatientBirthDate PatientBirthTime PatientAddress PatientTelephoneNumbers "
    "PatientMotherBirthName MedicalRecordLocator AccessionNumber StudyID InstitutionName "
    "InstitutionAddress InstitutionalDepartmentName ReferringPhysicianName "
    "PerformingPhysicianName PhysiciansOfRecord NameOfPhysiciansReadingStudy OperatorsName "
    "RequestingPhysician StationName DeviceSerialNumber StudyDate SeriesDate AcquisitionDate "
    "ContentDate StudyTime SeriesTime AcquisitionTime ContentTime AcquisitionDateTime "
    "StudyDescription SeriesDescription RequestAttributesSequence ReferencedPatientSequence "
    "AdditionalPatientHistory PatientComments ImageComments"
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
HMAC, MD5, KEPT = "hmac", "md5", "kept"
METHOD_NAMES = {HMAC: "keyed HMAC ids", MD5: "VinDr MD5 ids", KEPT: "ids kept"}
DEVICE_KEYWORDS = ("Manufacturer", "ManufacturerModelName")


class NotPseudonymisable(ValueError):
    """A file that cannot be pseudonymised safely; the message says why."""


def vindr_id(uid: str) -> str:
    return hashlib.md5(uid.strip().encode(), usedforsecurity=False).hexdigest()


def keyed_id(uid: str, key: bytes) -> str:
    return hmac.new(key, uid.strip().encode(), hashlib.sha256).hexdigest()[:32]


def id_as_uid(hex_id: str) -> str:
    return f"2.25.{int(hex_id, 16)}"


@dataclass(frozen=True)
class IdScheme:
    """How ids are made from UIDs: ``hmac`` under ``key``, or VinDr's ``md5``."""

    name: str
    key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.name not in (HMAC, MD5):
            raise ValueError(f"unknown pseudonym scheme {self.name!r} (hmac or md5)")
        if self.name == HMAC and not self.key:
            raise ValueError("the hmac pseudonym scheme needs a pseudonymisation key")

    def id_for(self, uid: str) -> str:
        return keyed_id(uid, self.key) if self.name == HMAC else vindr_id(uid)


@dataclass(frozen=True)
class Identifiers:
    study_id: str
    series_id: str
    image_id: str
    scheme: str  # "hmac", "md5", or "kept" when the file carried its ids


def identifiers(ds: Dataset, scheme: IdScheme) -> Identifiers:
    """The ids of a dataset, made by ``scheme``; unless it was pseudonymised already (a VinDr
    release file holds the hex ids; a MammoRead export holds them as ``2.25.<decimal>`` and
    says so), in which case the ids it carries are kept, so that a dataset exported and
    imported again keeps its ids."""
    ours = is_ours(ds)
    uids = [str(uid) for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)]
    carried = [carried_id(uid, ours) for uid in uids]
    ids = [found or scheme.id_for(uid) for found, uid in zip(carried, uids, strict=True)]
    return Identifiers(*ids, scheme=KEPT if all(carried) else scheme.name)


def carried_id(uid: str, ours: bool) -> str | None:
    """The id a pseudonymised UID carries, if it is one."""
    uid = uid.strip()
    if HEX_ID.fullmatch(uid):
        return uid
    if ours and uid.startswith("2.25.") and uid[5:].isdigit() and int(uid[5:]) < 2**128:
        return f"{int(uid[5:]):032x}"
    return None


def is_ours(ds: Dataset) -> bool:
    """The file says MammoRead pseudonymised it (an export imported again)."""
    return str(ds.get("DeidentificationMethod", "")).startswith(METHOD_PREFIX)


def woman_of(ds: Dataset, rule: Longitudinal | None) -> Woman | None:
    """The woman's key and shifted exam date under the longitudinal option (None when the
    option is off: then neither Patient ID nor any date is kept)."""
    if rule is None:
        return None
    modified = str(ds.get("LongitudinalTemporalInformationModified", "")).upper() == MODIFIED
    return rule.woman(
        _text(ds, "PatientID"),
        _text(ds, "IssuerOfPatientID"),
        _text(ds, "StudyDate"),
        ours=is_ours(ds),
        modified=modified,
    )


def pseudonymise(
    ds: Dataset,
    ids: Identifiers,
    keep: Iterable[str] = DEFAULT_KEEP,
    *,
    keep_device_names: bool = True,
    blackout: bool = False,
    woman: Woman | None = None,
) -> Dataset:
    """A new dataset holding only the allowed elements and acceptable values, with the UIDs
    replaced and compressed pixel data stripped of comments. The original dataset is not
    changed. :class:`NotPseudonymisable` when that cannot be done (a malformed codestream).

    ``woman`` (the longitudinal option): the Patient ID becomes her key and the Study Date
    her shifted date, and the file says its dates were modified."""
    allowed = frozenset(keep) - frozenset(DEVICE_KEYWORDS)
    method = f"{METHOD_PREFIX} allow-list, {METHOD_NAMES[ids.scheme]}"  # LO: at most 64
    if blackout:
        method += ", corner blackout"
    clean = Dataset()
    for element in ds:
        if element.keyword in allowed and not element.tag.is_private:
            kept = _scrubbed(element)
            if kept is not None:
                clean.add(copy.copy(kept))  # the original dataset's elements stay its own
    _add_device_names(clean, ds, frozenset(keep), keep_device_names)
    clean.StudyInstanceUID = id_as_uid(ids.study_id)
    clean.SeriesInstanceUID = id_as_uid(ids.series_id)
    clean.SOPInstanceUID = id_as_uid(ids.image_id)
    clean.PatientIdentityRemoved = "YES"
    clean.DeidentificationMethod = method
    _add_longitudinal(clean, woman)
    if "SOPClassUID" not in clean:
        raise NotPseudonymisable("The SOP Class UID is not a valid UID.")
    clean.file_meta = _file_meta(ds, clean)
    if "PixelData" in clean and clean.file_meta.TransferSyntaxUID.is_encapsulated:
        clean["PixelData"] = _stripped_pixels(ds)
    return clean


def _add_longitudinal(clean: Dataset, woman: Woman | None) -> None:
    codes = [BASIC_PROFILE, PATIENT_CHARACTERISTICS_OPTION]
    if woman is not None:
        if woman.patient_key:
            clean.PatientID = woman.patient_key
        if woman.study_date:
            clean.StudyDate = as_dicom_date(woman.study_date)
        clean.LongitudinalTemporalInformationModified = MODIFIED
        codes.insert(1, MODIFIED_DATES_OPTION)
    items = []
    for scheme, value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
        items.append(item)
    clean.DeidentificationMethodCodeSequence = items


def _add_device_names(clean: Dataset, ds: Dataset, keep: frozenset[str], on: bool) -> None:
    manufacturer, model = device_names(ds, on)
    if manufacturer and "Manufacturer" in keep:
        clean.Manufacturer = manufacturer
    if model and "ManufacturerModelName" in keep:
        clean.ManufacturerModelName = model


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return None if value is None else str(value)


def device_names(ds: Dataset, keep_device_names: bool) -> tuple[str | None, str | None]:
    """(manufacturer, model) of a dataset as they may be kept (the stored file and the
    database hold the same)."""
    return kept_values.device_names(
        _text(ds, "Manufacturer"),
        _text(ds, "ManufacturerModelName"),
        keep_device_names,
        kept_values.identifying_words(ds),
    )


def screened_meta(meta: ImageMeta, ds: Dataset, keep_device_names: bool) -> ImageMeta:
    """What the database records of an image, held to the rules of the stored file: device
    names, view label and presentation intent only in an acceptable form."""
    manufacturer, model = device_names(ds, keep_device_names)
    return replace(
        meta,
        manufacturer=manufacturer,
        model=model,
        view=kept_values.view_position(meta.view),
        presentation_intent=kept_values.enumerated(
            "PresentationIntentType", meta.presentation_intent
        ),
    )


def _scrubbed(element: DataElement) -> DataElement | None:
    if element.VR != "SQ":
        return kept_values.screened(element) if element.keyword != "PixelData" else element
    items = [item for item in map(_scrubbed_item, element.value) if item is not None]
    return DataElement(element.tag, "SQ", items) if items else None


def _scrubbed_item(item: Dataset) -> Dataset | None:
    """A sequence item reduced to a known code (with our meaning) or to LUT data; None when
    nothing acceptable is left."""
    clean = Dataset()
    if "CodeValue" in item or "CodingSchemeDesignator" in item:
        code = kept_values.known_code(item)
        if code is None:
            return None
        clean.CodingSchemeDesignator, clean.CodeValue, clean.CodeMeaning = code
    for keyword in LUT_KEYWORDS:
        if keyword in item:
            clean[keyword] = copy.deepcopy(item[keyword])
    for element in item:
        if element.VR == "SQ" and element.keyword in CODE_SEQUENCES:
            scrubbed = _scrubbed(element)
            if scrubbed is not None:
                clean.add(scrubbed)
    return clean if len(clean) else None


def _stripped_pixels(ds: Dataset) -> DataElement:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    try:
        data = strip_pixel_data(ds.PixelData, ds.file_meta.TransferSyntaxUID, frames, samples)
    except CodestreamError as error:
        raise NotPseudonymisable(str(error)) from None
    return DataElement(0x7FE00010, "OB", data, is_undefined_length=True)


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
