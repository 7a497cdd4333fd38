"""Which values of the allowed DICOM elements are kept: pure rules, no I/O.

An element being on the allow-list is not enough: devices put free text, even patient names,
into elements meant for codes. So coded and enumerated values are kept only in their defined
form (a known code, an enumerated or defined term, a number, a UID), free-text window names
only from a known vocabulary (others become a neutral ``WINDOW n``), and device names only when
configured and when they read as a known vendor's name and a model name. Person names are
never kept, whatever the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydicom import DataElement, Dataset
from pydicom.multival import MultiValue


def _terms(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Enumerated values and defined terms (PS3.3) of the allowed coded elements, as far as they
# make sense for mammography; anything else is dropped.
ENUMERATED: dict[str, frozenset[str]] = {
    "PresentationIntentType": frozenset({"FOR PRESENTATION", "FOR PROCESSING"}),
    "PatientSex": frozenset({"M", "F", "O"}),
    "BodyPartExamined": frozenset({"BREAST"}),
    "Laterality": frozenset({"L", "R"}),
    "ImageLaterality": frozenset({"L", "R", "B", "U"}),
    "FieldOfViewHorizontalFlip": frozenset({"YES", "NO"}),
    "PhotometricInterpretation": frozenset({"MONOCHROME1", "MONOCHROME2"}),
    "PixelIntensityRelationship": frozenset({"LIN", "LOG", "OTHER"}),
    "RescaleType": frozenset({"US", "OD", "HU", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT"}),
    "VOILUTFunction": frozenset({"LINEAR", "LINEAR_EXACT", "SIGMOID"}),
    "LossyImageCompression": frozenset({"00", "01"}),
    "LossyImageCompressionMethod": frozenset(
        {"ISO_10918_1", "ISO_14495_1", "ISO_15444_1", "ISO_15444_15", "ISO_18181_1"}
    ),
    "PresentationLUTShape": frozenset({"IDENTITY", "INVERSE"}),
}
# Mammographic view labels (ACR / MQSA, and those the View Code Sequence maps to).
VIEW_POSITIONS = _terms("CC MLO ML LM LMO FB SIO ISO XCC XCCL XCCM AT CV RL RM RI RS TAN ID NP")
ENUMERATED["ViewPosition"] = VIEW_POSITIONS
PATTERNS: dict[str, re.Pattern[str]] = {
    "SpecificCharacterSet": re.compile(r"|ISO_IR \d{1,3}|ISO 2022 IR \d{1,3}|GB18030|GBK"),
    "PatientAge": re.compile(r"\d{3}[DWMY]"),
    "PatientOrientation": re.compile(r"[APRLHF]{0,3}"),
    "Modality": re.compile(r"[A-Z0-9]{1,16}"),
}
# Image Type: value 1, value 2, then the defined terms of values 3 and on (PS3.3 C.8.11 and
# the breast tomosynthesis and contrast mammography modules).
IMAGE_TYPE_FIRST = frozenset({"ORIGINAL", "DERIVED"})
IMAGE_TYPE_SECOND = frozenset({"PRIMARY", "SECONDARY"})
IMAGE_TYPE_TERMS = frozenset(
    {
        "NONE",
        "POST_PROCESSED",
        "TOMOSYNTHESIS",
        "GENERATED_2D",
        "MIXED",
        "VOLUME",
        "PROJECTION",
        "LOW_ENERGY",
        "HIGH_ENERGY",
        "RECOMBINED",
        "SUBTRACTION",
        "ADDITION",
        "MAXIMUM",
        "MINIMUM",
        "MEAN",
        "MEDIAN",
        "LOCALIZER",
        "STEREO",
        "STEREO_SCOUT",
    }
)
# Window names that vendors write (Hologic NORMAL/HARDER/SOFTER and the like, numbered presets).
WINDOW_NAMES = frozenset(
    {"NORMAL", "HARDER", "SOFTER", "DEFAULT", "STANDARD", "LINEAR", "SIGMOID", "USER", "FULL"}
)
WINDOW_NUMBERED = re.compile(r"(WINDOW|PRESET|WL|VOI) ?\d{1,2}")
# Mammography view (CID 4014) and view modifier (CID 4015) codes, and the breast (CID 4013),
# as SNOMED CT ("SCT") and legacy SNOMED-RT ("SRT") codes. The meaning written is ours.
_CODES = (
    ("399162004", "R-10242", "cranio-caudal"),
    ("399368009", "R-10226", "medio-lateral oblique"),
    ("399260004", "R-10224", "medio-lateral"),
    ("399352003", "R-10228", "latero-medial"),
    ("399099002", "R-10230", "latero-medial oblique"),
    ("399196006", "R-10244", "caudo-cranial"),
    ("399188001", "R-102D0", "superolateral to inferomedial oblique"),
    ("441555000", "R-40AAA", "inferomedial to superolateral oblique"),
    ("399192008", "R-1024A", "cranio-caudal exaggerated laterally"),
    ("399101009", "R-1024B", "cranio-caudal exaggerated medially"),
    ("399265009", "R-102CF", "exaggerated cranio-caudal"),
    ("127457009", "G-8310", "tissue specimen from breast"),
    ("441752004", "P2-00161", "anterior compression"),
    ("399011000", "R-102D1", "axillary tail"),
    ("442580003", "R-40AB2", "axillary tissue"),
    ("399161006", "R-102D2", "cleavage"),
    ("399209000", "R-102D5", "implant displaced"),
    ("442593008", "R-40ABE", "infra-mammary fold"),
    ("399163009", "R-102D6", "magnification"),
    ("442581004", "R-40AB3", "nipple in profile"),
    ("414493004", "R-102CA", "rolled inferior"),
    ("399197002", "R-102D3", "rolled lateral"),
    ("399226006", "R-102D4", "rolled medial"),
    ("415670009", "R-102C9", "rolled superior"),
    ("399055006", "R-102D7", "spot compression"),
    ("399110001", "R-102C2", "tangential"),
    ("76752008", "T-04000", "breast"),
)
KNOWN_CODES: dict[tuple[str, str], str] = {
    **{("SCT", sct): meaning for sct, _, meaning in _CODES},
    **{("SRT", srt): meaning for _, srt, meaning in _CODES},
}

# Device names. A manufacturer is kept when its first word is a known vendor's and every
# other word is a vendor or company word; a model when each word is a known model-family or
# company word or a short word with a digit. Neither when it shares a word with the file's
# person names or patient ids.
VENDORS = _terms(
    "HOLOGIC LORAD GE SIEMENS FUJIFILM FUJI PHILIPS PLANMED IMS GIOTTO METALTRONICA "
    "CARESTREAM KODAK AGFA KONICA SECTRA CANON TOSHIBA INSTRUMENTARIUM ANALOGIC VILLA "
    "ITALRAY VIEWORKS RAYENCE ADANI MAMMOREAD GENERAL"
)
COMPANY_WORDS = _terms(
    "INC CORP CORPORATION CO COMPANY LTD LIMITED GMBH AG SA SPA S P A SRL OY AB KK LLC PLC "
    "NV BV MEDICAL SYSTEMS HEALTHCARE HEALTH HEALTHINEERS IMAGING TECHNOLOGIES TECHNOLOGY "
    "ELECTRIC ELECTRONICS SOLUTIONS INTERNATIONAL GROUP AMERICA EUROPE USA NORTH OF AND "
    "MINOLTA DIGITAL RADIOLOGY DIAGNOSTICS MAMMOGRAPHY SYNTHETIC"
)
MODEL_WORDS = _terms(
    "SELENIA DIMENSIONS 3DIMENSIONS LORAD AFFIRM SENOGRAPHE ESSENTIAL PRISTINA DS CRYSTAL "
    "CARE NOVA MAMMOMAT INSPIRATION REVELATION FUSION NOVATION BRILLIANT AMULET INNOVALITY "
    "ASPIRE CRISTALLE FDR MS HARMONY MICRODOSE MAMMO CLARITY NUANCE EXCEL SOPHIE IMAGE TOMO "
    "CLASS DIRECTVIEW CR DR DX CLASSIC ELITE REGIUS TOMOSYNTHESIS SYSTEM PLUS PRO DETECTOR "
    "HD SI FFDM DBT CONTRAST SPECTRAL CESM STEREO BIOPSY PHANTOM"
)
DEVICE_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .,&()/+_-]{0,63}")
WORD = re.compile(r"[A-Z0-9]+")
ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
UID_FORM = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))*")
CS_FORM = re.compile(r"[A-Z0-9_ ]{0,16}")


def screened(element: DataElement) -> DataElement | None:
    """A non-sequence element with only its acceptable values, or None to leave it out.
    Device names need the whole dataset: see :func:`device_names`."""
    keyword, vr = element.keyword, element.VR
    if vr == "PN":
        return None
    values = _strings(element.value)
    if keyword == "ImageType":
        return _replaced(element, image_type(values))
    if keyword == "WindowCenterWidthExplanation":
        return _replaced(element, window_names(values))
    if keyword in ENUMERATED:
        upper = [value.strip().upper() for value in values]
        return _replaced(element, upper) if all(v in ENUMERATED[keyword] for v in upper) else None
    rule = _value_rule(keyword, vr)
    if rule is None:
        return element
    return element if values and all(rule(value.strip()) for value in values) else None


def _value_rule(keyword: str, vr: str) -> Callable[[str], object] | None:
    if keyword in PATTERNS:
        return PATTERNS[keyword].fullmatch
    if vr in ("DS", "IS"):
        return NUMBER.fullmatch
    if vr == "UI":
        return lambda value: len(value) <= 64 and UID_FORM.fullmatch(value)
    if vr == "CS":
        return CS_FORM.fullmatch
    if vr == "AS":
        return PATTERNS["PatientAge"].fullmatch
    return None  # binary values, and free text an administrator chose to keep (README)


def _strings(value: object) -> list[str]:
    """The values of an element as text (a person name is one value, not its letters)."""
    if value is None or isinstance(value, bytes | bytearray):
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _replaced(element: DataElement, values: list[str]) -> DataElement | None:
    if not values:
        return None
    return DataElement(element.tag, element.VR, values if len(values) > 1 else values[0])


def image_type(values: Sequence[str]) -> list[str]:
    """Each value kept only when it is a term defined for its position; others emptied,
    trailing empty values left off."""
    kept = []
    for index, value in enumerate(values):
        value = value.strip().upper()
        allowed = (IMAGE_TYPE_FIRST, IMAGE_TYPE_SECOND)[index] if index < 2 else IMAGE_TYPE_TERMS
        kept.append(value if value in allowed else "")
    while kept and not kept[-1]:
        kept.pop()
    return kept


def window_names(values: Sequence[str]) -> list[str]:
    """Known window names as written; any other becomes ``WINDOW <n>`` (its position)."""
    return [
        value.strip() if _known_window(value) else f"WINDOW {number}"
        for number, value in enumerate(values, start=1)
    ]


def _known_window(value: str) -> bool:
    upper = value.strip().upper()
    return upper in WINDOW_NAMES or WINDOW_NUMBERED.fullmatch(upper) is not None


def known_code(item: Dataset) -> tuple[str, str, str] | None:
    """(scheme, value, meaning) of a code item that is a known mammography code."""
    scheme = str(item.get("CodingSchemeDesignator", "")).strip().upper()
    value = str(item.get("CodeValue", "")).strip().upper()
    meaning = KNOWN_CODES.get((scheme, value))
    return None if meaning is None else (scheme, value, meaning)


def view_position(value: str | None) -> str | None:
    """A view label for the database: one of the known labels, else None."""
    value = (value or "").strip().upper()
    return value if value in VIEW_POSITIONS else None


def enumerated(keyword: str, value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value if value in ENUMERATED[keyword] else None


# --- device names ---------------------------------------------------------------------------


def identifying_words(ds: Dataset) -> frozenset[str]:
    """The words of every person name (any depth) and patient id in a dataset."""
    words: set[str] = set()

    def collect(dataset: Dataset) -> None:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value or ():
                    collect(item)
            elif element.VR == "PN" or element.keyword in ID_KEYWORDS:
                for value in _strings(element.value):
                    words.update(WORD.findall(value.upper()))

    collect(ds)
    return frozenset(word for word in words if len(word) >= 2)


def device_names(
    manufacturer: str | None, model: str | None, keep: bool, identifying: frozenset[str]
) -> tuple[str | None, str | None]:
    """(manufacturer, model) as they may be kept; model only beside a kept manufacturer."""
    if not keep or not _is_vendor(manufacturer, identifying):
        return None, None
    return (manufacturer or "").strip(), model.strip() if _is_model(model, identifying) else None


def _device_words(text: str | None, identifying: frozenset[str]) -> list[str] | None:
    text = (text or "").strip()
    if not DEVICE_FORM.fullmatch(text):
        return None
    words = WORD.findall(text.upper())
    return None if not words or identifying.intersection(words) else words


def _is_vendor(text: str | None, identifying: frozenset[str]) -> bool:
    words = _device_words(text, identifying)
    return (
        words is not None
        and words[0] in VENDORS
        and all(word in VENDORS or word in COMPANY_WORDS for word in words[1:])
    )


def _is_model(text: str | None, identifying: frozenset[str]) -> bool:
    words = _device_words(text, identifying)
    return (
        words is not None
        and len(words) <= 6
        and all(
            word in MODEL_WORDS
            or word in VENDORS
            or word in COMPANY_WORDS
            or (len(word) <= 10 and any(c.isdigit() for c in word))
            for word in words
        )
    )
