"""The DICOM side: deterministic UIDs, the mammography header (identity, with identifying
values on request, view, display), the pixels in the chosen transfer syntax, and files."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from app.imaging.synthetic.options import (
    FOR_PRESENTATION_SOP_CLASS,
    FOR_PROCESSING_SOP_CLASS,
    PATIENT_ORIENTATION,
    UID_NAMESPACE,
    ExamOptions,
)

VIEW_CODES: Final = {
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
}

# Name-based (version 5) UUIDs as "2.25.<integer>" UIDs: deterministic, and valid UUID-derived
# UIDs. (pydicom's generate_uid ignores entropy_srcs when prefix is None: it returns a random
# UUID then.)
_UUID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mammoread:synthetic-mammography")


def _name_uid(*parts: str) -> UID:
    return UID(f"2.25.{uuid.uuid5(_UUID_NAMESPACE, '/'.join(parts)).int}")


IMPLEMENTATION_CLASS_UID: Final = _name_uid(UID_NAMESPACE, "implementation", "1")
IMPLEMENTATION_VERSION_NAME: Final = "MAMMOREAD_SYN1"

# Identifying values placed when ``with_phi=True``; a pseudonymiser must remove every one.
PHI_NAME: Final = "DOE^JANE"
PHI_MRN: Final = "MRN-4711-SECRET"
PHI_OTHER_MRN: Final = "MRN-ALT-0815-SECRET"
PHI_ACCESSION: Final = "ACC-99812"
PHI_INSTITUTION: Final = "St. Example Hospital"
PHI_BIRTH_DATE: Final = "19700101"
PHI_STUDY_DATE: Final = "20240315"
PHI_TIME: Final = "101502.4711"
PHI_VALUES: Final[tuple[str, ...]] = (
    PHI_NAME,
    PHI_MRN,
    PHI_OTHER_MRN,
    PHI_ACCESSION,
    PHI_INSTITUTION,
    PHI_BIRTH_DATE,
    PHI_STUDY_DATE,
    PHI_TIME,
    "ROE^JANE^MAIDEN",
    "12 Secret Lane, Springfield",
    "1 Hospital Road, Exampletown",
    "WHO^REFERRING^DR",
    "MEDIC^PERFORMING",
    "TECH^OPERATOR",
    "STUDY-5521",
    "SN-DEVICE-31337",
    "REQ-PROC-77123",
    "555-0147-SECRET",
)

# (explanation, centre, width) as fractions of the stored range.
WINDOWS: Final = (("NORMAL", 0.43, 0.78), ("HARDER", 0.47, 0.52), ("SOFTER", 0.42, 0.98))


def _uid(options: ExamOptions, seed: int, *parts: str) -> UID:
    return _name_uid(options.uid_namespace, str(seed), *parts)


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = meaning
    return item


def _file_meta(sop_class: UID, sop_instance: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def _identity(ds: Dataset, seed: int, age: int, options: ExamOptions) -> None:
    """Patient and study identity: empty Type 2 elements unless PHI was asked for."""
    ds.PatientName = ""
    ds.PatientID = options.patient_id or f"SYN-{seed:06d}"
    if options.issuer_of_patient_id:
        ds.IssuerOfPatientID = options.issuer_of_patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.PatientAge = f"{options.patient_age or age:03d}Y"
    ds.StudyDate = ds.StudyTime = ""
    if options.study_date:
        for prefix in ("Study", "Series", "Acquisition", "Content"):
            setattr(ds, f"{prefix}Date", options.study_date)
            setattr(ds, f"{prefix}Time", "101500")
    ds.AccessionNumber = options.accession_number or ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    if options.with_phi:
        _add_phi(ds)


def _add_phi(ds: Dataset) -> None:
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_MRN
    ds.OtherPatientIDs = PHI_OTHER_MRN
    ds.OtherPatientNames = "ROE^JANE^MAIDEN"
    ds.PatientBirthDate = PHI_BIRTH_DATE
    ds.PatientAddress = "12 Secret Lane, Springfield"
    ds.PatientTelephoneNumbers = "555-0147-SECRET"
    for prefix in ("Study", "Series", "Acquisition", "Content"):
        setattr(ds, f"{prefix}Date", PHI_STUDY_DATE)
        setattr(ds, f"{prefix}Time", PHI_TIME)
    ds.AcquisitionDateTime = PHI_STUDY_DATE + PHI_TIME
    ds.AccessionNumber = PHI_ACCESSION
    ds.InstitutionName = PHI_INSTITUTION
    ds.InstitutionAddress = "1 Hospital Road, Exampletown"
    ds.ReferringPhysicianName = "WHO^REFERRING^DR"
    ds.PerformingPhysicianName = "MEDIC^PERFORMING"
    ds.OperatorsName = "TECH^OPERATOR"
    ds.StudyID = "STUDY-5521"
    ds.StudyDescription = f"Bilateral screening {PHI_NAME}"
    ds.DeviceSerialNumber = "SN-DEVICE-31337"
    _add_phi_sequences(ds)
    block = ds.private_block(0x0011, "MAMMOREAD SYNTHETIC", create=True)
    block.add_new(0x01, "LO", PHI_NAME)
    block.add_new(0x02, "LO", f"{PHI_MRN} {PHI_INSTITUTION}")


def _add_phi_sequences(ds: Dataset) -> None:
    other = Dataset()
    other.PatientID = PHI_OTHER_MRN
    other.IssuerOfPatientID = PHI_INSTITUTION
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = PHI_INSTITUTION
    patient = Dataset()
    patient.PatientName = PHI_NAME
    patient.AccessionNumber = PHI_ACCESSION
    request = Dataset()
    request.AccessionNumber = PHI_ACCESSION
    request.RequestedProcedureID = "REQ-PROC-77123"
    request.IssuerOfAccessionNumberSequence = Sequence([issuer])
    request.ReferencedPatientSequence = Sequence([patient])
    ds.RequestAttributesSequence = Sequence([request])


def _image_tags(ds: Dataset, label: str, options: ExamOptions) -> None:
    laterality, view = label[0], label[2:]
    ds.Modality = "MG"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = options.presentation_intent
    ds.BodyPartExamined = "BREAST"
    ds.Laterality = ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.ViewCodeSequence = Sequence([_code_item(*VIEW_CODES[view])])
    ds.PatientOrientation = list(PATIENT_ORIENTATION[label])
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.SeriesDescription = f"{laterality} {view}"
    ds.Manufacturer = options.manufacturer
    ds.ManufacturerModelName = options.model
    spacing = [options.pixel_spacing_mm, options.pixel_spacing_mm]
    ds.ImagerPixelSpacing = ds.PixelSpacing = spacing
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"


def _display_tags(ds: Dataset, options: ExamOptions) -> None:
    top = (1 << options.bits_stored) - 1
    inverse = options.photometric == "MONOCHROME1"
    centres = [round((1 - c if inverse else c) * top) for _, c, _ in WINDOWS]
    ds.WindowCenter = centres
    ds.WindowWidth = [round(w * top) for _, _, w in WINDOWS]
    ds.WindowCenterWidthExplanation = [name for name, _, _ in WINDOWS]
    ds.VOILUTFunction = options.voi_function
    ds.PresentationLUTShape = "INVERSE" if inverse else "IDENTITY"
    if options.voi_lut_sequence:
        ds.VOILUTSequence = Sequence([_voi_lut_item(options.bits_stored, inverse)])


def _voi_lut_item(bits_stored: int, inverse: bool) -> Dataset:
    """A sigmoid-shaped VOI LUT covering every stored value, output in bits_stored bits."""
    entries = 1 << bits_stored
    top = entries - 1
    centre = 1 - WINDOWS[0][1] if inverse else WINDOWS[0][1]
    values = np.arange(entries, dtype=np.float64) / top
    curve = 1 / (1 + np.exp(-4 * (values - centre) / WINDOWS[0][2]))
    curve = (curve - curve.min()) / (curve.max() - curve.min())
    item = Dataset()
    item.add_new(0x00283002, "US", [entries % 65536, 0, bits_stored])
    item.LUTExplanation = "SYNTHETIC SIGMOID"
    item.add_new(0x00283006, "OW", np.round(curve * top).astype("<u2").tobytes())
    return item


def image_dataset(
    seed: int, age: int, label: str, copy: int, number: int, options: ExamOptions
) -> Dataset:
    """Header of one image (view ``label``, e.g. ``"R-CC"``); UIDs depend only on the seed, the
    view and the copy number."""
    for_processing = options.presentation_intent == "FOR PROCESSING"
    sop_class = FOR_PROCESSING_SOP_CLASS if for_processing else FOR_PRESENTATION_SOP_CLASS
    sop_instance = _uid(options, seed, "image", label, str(copy))
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_instance)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_instance
    ds.StudyInstanceUID = _uid(options, seed, "study")
    ds.SeriesInstanceUID = _uid(options, seed, "series", label, str(copy))
    ds.SeriesNumber, ds.InstanceNumber = number, 1
    _identity(ds, seed, age, options)
    _image_tags(ds, label, options)
    _display_tags(ds, options)
    return ds


def attach_pixels(ds: Dataset, pixels: NDArray[np.uint16], options: ExamOptions) -> None:
    top = (1 << options.bits_stored) - 1
    if options.photometric == "MONOCHROME1":
        pixels = np.uint16(top) - pixels
    ds.set_pixel_data(pixels, options.photometric, options.bits_stored, generate_instance_uid=False)
    if options.transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(options.transfer_syntax, pixels, generate_instance_uid=False)


def write_exam(datasets: list[Dataset], directory: Path) -> list[Path]:
    """Save each dataset as ``<directory>/<SOPInstanceUID>.dcm``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        path = directory / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
