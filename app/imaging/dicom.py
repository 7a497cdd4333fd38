"""Reading what MammoRead needs from a DICOM dataset, deciding whether to accept it, decoding it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydicom import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import (
    UID,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLETransferSyntaxes,
)

from app.imaging import codestream

FOR_PROCESSING = "FOR PROCESSING"
VIEW_CODES = {
    "399162004": "CC",
    "399368009": "MLO",
    "399260004": "ML",
    "399352003": "LM",
    "399192003": "XCCL",
    "399101009": "XCCM",
    "399188001": "AT",
    "399196006": "SIO",
    "399227005": "FB",
    "399265009": "LMO",
}
VIEW_MEANINGS = {"cranio-caudal": "CC", "medio-lateral oblique": "MLO", "medio-lateral": "ML"}
# fastest first, per transfer syntax family (measured: see shared/notes/dicom-display.md)
PLUGIN_PREFERENCE = ("pyjpegls", "pylibjpeg", "gdcm", "pillow", "pydicom")


@dataclass(frozen=True)
class ImageMeta:
    laterality: str | None
    view: str | None
    rows: int
    columns: int
    bits_stored: int
    photometric: str
    presentation_intent: str | None
    modality: str
    manufacturer: str | None
    model: str | None
    pixel_spacing: float | None
    patient_age: int | None
    patient_sex: str | None
    transfer_syntax: str
    burned_in_annotation: bool = False


def read_meta(ds: Dataset) -> ImageMeta:
    return ImageMeta(
        laterality=laterality_of(ds),
        view=view_of(ds),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        bits_stored=int(ds.get("BitsStored", 16)),
        photometric=str(ds.get("PhotometricInterpretation", "")).strip(),
        presentation_intent=_text(ds, "PresentationIntentType"),
        modality=_text(ds, "Modality") or "",
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
        pixel_spacing=_spacing(ds),
        patient_age=age_in_years(_text(ds, "PatientAge")),
        patient_sex=(_text(ds, "PatientSex") or "")[:1].upper() or None,
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        burned_in_annotation=(_text(ds, "BurnedInAnnotation") or "").upper() == "YES",
    )


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip()[:64] or None


def laterality_of(ds: Dataset) -> str | None:
    """Image Laterality, falling back to (series) Laterality."""
    for keyword in ("ImageLaterality", "Laterality"):
        value = (_text(ds, keyword) or "").upper()
        if value in ("L", "R"):
            return value
    return None


def view_of(ds: Dataset) -> str | None:
    """View Position, falling back to the View Code Sequence."""
    position = (_text(ds, "ViewPosition") or "").upper()
    if position:
        return position[:16]
    for item in ds.get("ViewCodeSequence", []):
        code = str(item.get("CodeValue", "")).strip()
        meaning = str(item.get("CodeMeaning", "")).strip().lower()
        view = VIEW_CODES.get(code) or VIEW_MEANINGS.get(meaning)
        if view:
            return view
    return None


def age_in_years(value: str | None) -> int | None:
    match = re.fullmatch(r"(\d{1,3})([DWMY]?)", (value or "").strip().upper())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2) or "Y"
    return {"Y": number, "M": number // 12, "W": number // 52, "D": number // 365}[unit]


def _spacing(ds: Dataset) -> float | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value:
            try:
                return float(value[0])
            except (TypeError, ValueError, IndexError):
                continue
    return None


@dataclass(frozen=True)
class AcceptancePolicy:
    modalities: frozenset[str]
    accept_for_processing: bool


MAX_PIXELS = 64 * 2**20  # the largest mammography detectors give about 30 million
REQUIRED = (
    "SOPClassUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "Rows",
    "Columns",
)


def refusal(ds: Dataset, policy: AcceptancePolicy) -> str | None:
    """Why this dataset cannot be imported, in words an administrator can act on; or None.
    Values from the file are echoed only when they are codes (never free text)."""
    if "PixelData" not in ds:
        return "The file has no pixel data (not an image)."
    for keyword in REQUIRED:
        if not ds.get(keyword):
            return f"The file lacks {keyword}."
    modality = _code(ds, "Modality") or "none"
    if modality not in policy.modalities:
        allowed = ", ".join(sorted(policy.modalities))
        return f"Modality {modality} is not accepted here (accepted: {allowed})."
    return _pixel_format_refusal(ds, policy) or pixel_data_refusal(ds)


def _code(ds: Dataset, keyword: str) -> str | None:
    value = (_text(ds, keyword) or "").upper()
    return value if re.fullmatch(r"[A-Z0-9_ ]{1,16}", value) else None


def _pixel_format_refusal(ds: Dataset, policy: AcceptancePolicy) -> str | None:
    photometric = _code(ds, "PhotometricInterpretation")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return "Only greyscale (MONOCHROME1 or MONOCHROME2) images are accepted."
    if not 1 <= int(ds.get("BitsStored", 0) or 0) <= 16:
        return "Bits Stored must be 1 to 16."
    if int(ds.Rows) * int(ds.Columns) > MAX_PIXELS:
        return f"The image is larger than {MAX_PIXELS // 2**20} million pixels."
    if "ModalityLUTSequence" in ds:
        return "Images with a Modality LUT Sequence are not supported."
    intent = (_text(ds, "PresentationIntentType") or "").upper()
    if intent == FOR_PROCESSING and not policy.accept_for_processing:
        return "A 'for processing' image (raw detector data) is not for reading."
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        return "Only greyscale images are accepted (Samples per Pixel must be 1)."
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return "Multi-frame images (such as tomosynthesis) are not accepted yet."
    if int(ds.get("BitsAllocated", 16)) > 16:
        return "Images of more than 16 bits per pixel are not accepted."
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if decoding_plugin(syntax) is None:
        shown = syntax.name if re.fullmatch(r"[0-9.]{1,64}", str(syntax)) else "(invalid)"
        return f"Transfer syntax {shown or 'missing'} cannot be decoded here."
    return None


# What each compressed syntax's codestream is, and how to read the size it states.
CODESTREAMS = (
    (JPEGTransferSyntaxes, "JPEG", codestream.jpeg_frame),
    (JPEGLSTransferSyntaxes, "JPEG-LS", codestream.jpeg_frame),
    (JPEG2000TransferSyntaxes, "JPEG 2000", codestream.j2k_frame),
)


def expected_frame(ds: Dataset) -> codestream.Expected:
    return codestream.Expected(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        samples=int(ds.get("SamplesPerPixel", 1) or 1),
        bits_allocated=int(ds.get("BitsAllocated", 16) or 16),
    )


def pixel_data_refusal(ds: Dataset) -> str | None:
    """Whether the pixel data is what the header says, checked before any decoder runs (after
    the header checks): a decoder allocates what the codestream states, not the header."""
    expected = expected_frame(ds)
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    data = ds.PixelData
    if not syntax.is_compressed:
        return codestream.native_refusal(len(data), expected)
    try:
        frame = get_frame(data, 0, number_of_frames=1)
    except Exception:  # pydicom raises several kinds on bad encapsulation
        return "The compressed pixel data is not properly encapsulated (damaged or truncated)."
    try:
        if syntax in RLETransferSyntaxes:
            return codestream.rle_refusal(codestream.rle_segments(frame), expected)
        kind, read = next((k, r) for syntaxes, k, r in CODESTREAMS if syntax in syntaxes)
        return codestream.frame_refusal(kind, read(frame), expected, MAX_PIXELS)
    except codestream.CodestreamError as error:
        return f"The {_kind(syntax)} pixel data cannot be read before decoding: {error}."
    except StopIteration:
        return f"The codestream of {syntax.name} cannot be checked before decoding."


def _kind(syntax: UID) -> str:
    if syntax in RLETransferSyntaxes:
        return "RLE"
    return next((kind for syntaxes, kind, _ in CODESTREAMS if syntax in syntaxes), "compressed")


def decoding_plugin(syntax: UID) -> str | None:
    """The fastest installed decoder for a transfer syntax; "" for uncompressed data."""
    if syntax and not syntax.is_compressed and syntax.is_transfer_syntax:
        return ""
    try:
        decoder = get_decoder(syntax)
    except (NotImplementedError, KeyError, ValueError):
        return None
    if not decoder.is_available:
        return None
    available = decoder.available_plugins
    return next((name for name in PLUGIN_PREFERENCE if name in available), available[0])


def decode(ds: Dataset) -> np.ndarray:
    """The stored pixel values, decoded once, with the fastest decoder for the syntax."""
    plugin = decoding_plugin(UID(str(ds.file_meta.TransferSyntaxUID)))
    return pixel_array(ds, decoding_plugin=plugin or "")
