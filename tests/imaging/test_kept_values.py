"""The rules for values of allowed elements: pure, tested directly."""

from __future__ import annotations

import pydicom
import pytest
from pydicom import DataElement
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from app.imaging import kept_values as kv

NO_WORDS: frozenset[str] = frozenset()
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")


@pytest.mark.parametrize(
    ("values", "kept"),
    [
        (["ORIGINAL", "PRIMARY"], ["ORIGINAL", "PRIMARY"]),
        (["DERIVED", "SECONDARY", "POST_PROCESSED"], ["DERIVED", "SECONDARY", "POST_PROCESSED"]),
        (["ORIGINAL", "PRIMARY", "", ""], ["ORIGINAL", "PRIMARY"]),
        (["ORIGINAL", "PRIMARY", "JANE DOE", "NONE"], ["ORIGINAL", "PRIMARY", "", "NONE"]),
        (["JANE", "PRIMARY"], ["", "PRIMARY"]),
        (["DOE"], []),
    ],
)
def test_image_type_keeps_defined_terms_in_place(values: list[str], kept: list[str]) -> None:
    assert kv.image_type(values) == kept


def test_window_names_outside_the_vocabulary_become_neutral() -> None:
    names = ["NORMAL", "Dr Who's window", "window 3", "softer", "PRESET 12"]
    assert kv.window_names(names) == ["NORMAL", "WINDOW 2", "window 3", "softer", "PRESET 12"]


@pytest.mark.parametrize(
    ("scheme", "value", "kept"),
    [
        ("SCT", "399162004", True),
        ("SRT", "R-10242", True),
        ("sct", "399368009", True),
        ("SCT", "4711471147", False),  # the form of a SNOMED code, not a known view
        ("DOE", "399162004", False),
        ("SRT", "399162004", False),  # an SCT value under the SRT scheme
    ],
)
def test_only_known_mammography_codes_are_kept(scheme: str, value: str, kept: bool) -> None:
    item = pydicom.Dataset()
    item.CodingSchemeDesignator, item.CodeValue, item.CodeMeaning = scheme, value, "Jane Doe"
    found = kv.known_code(item)
    assert (found is not None) == kept
    if found:
        assert "Jane" not in found[2]


@pytest.mark.parametrize(
    ("manufacturer", "model", "kept"),
    [
        ("HOLOGIC, Inc.", "Selenia Dimensions", ("HOLOGIC, Inc.", "Selenia Dimensions")),
        (
            "GE MEDICAL SYSTEMS",
            "Senographe Pristina",
            ("GE MEDICAL SYSTEMS", "Senographe Pristina"),
        ),
        (
            "Siemens Healthineers",
            "MAMMOMAT Revelation",
            ("Siemens Healthineers", "MAMMOMAT Revelation"),
        ),
        ("FUJIFILM Corporation", "FDR MS-3500", ("FUJIFILM Corporation", "FDR MS-3500")),
        ("MammoRead Synthetic", "Phantom 1", ("MammoRead Synthetic", "Phantom 1")),
        ("HOLOGIC", "Jane Doe", ("HOLOGIC", None)),  # not model words
        ("Jane Doe", "Selenia", (None, None)),  # not a vendor: no model either
        ("Hologic Jane", "Selenia", (None, None)),  # a vendor followed by other words
        ("DOE^JANE", "Selenia", (None, None)),
        ("HOLOGIC", "x" * 80, ("HOLOGIC", None)),
        (None, "Selenia", (None, None)),
    ],
)
def test_device_names(manufacturer: str | None, model: str, kept: object) -> None:
    kept = (manufacturer, model) if kept == "same" else kept
    assert kv.device_names(manufacturer, model, True, NO_WORDS) == kept
    assert kv.device_names(manufacturer, model, False, NO_WORDS) == (None, None)


def test_device_names_sharing_a_word_with_the_patient_go() -> None:
    ds = pydicom.Dataset()
    ds.PatientName = "Selenia^Ann"
    ds.PatientID = "4711"
    words = kv.identifying_words(ds)
    assert kv.device_names("HOLOGIC", "Selenia Dimensions", True, words) == ("HOLOGIC", None)
    assert kv.device_names("HOLOGIC", "DS 4711", True, words) == ("HOLOGIC", None)
    assert kv.device_names("HOLOGIC", "Dimensions", True, words) == ("HOLOGIC", "Dimensions")


@pytest.mark.parametrize(
    ("keyword", "vr", "value", "kept"),
    [
        ("PresentationIntentType", "CS", "FOR PRESENTATION", "FOR PRESENTATION"),
        ("PresentationIntentType", "CS", "for presentation", "FOR PRESENTATION"),
        ("PresentationIntentType", "CS", "FOR JANE DOE", None),
        ("ViewPosition", "CS", "MLO", "MLO"),
        ("ViewPosition", "CS", "JANEDOE", None),
        ("PatientAge", "AS", "054Y", "054Y"),
        ("PatientAge", "AS", "DOE", None),
        ("PatientSex", "CS", "F", "F"),
        ("PixelSpacing", "DS", ["0.1", "0.1"], ["0.1", "0.1"]),
        ("SOPClassUID", "UI", "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2"),
        ("SOPClassUID", "UI", "1.2.DOE", None),
        ("KVP", "DS", "28", "28"),  # an administrator's extra: kept in the form of its VR
        ("PatientName", "PN", "DOE^JANE", None),  # person names never
    ],
)
def test_screened_values(keyword: str, vr: str, value: object, kept: object) -> None:
    element = DataElement(pydicom.datadict.tag_for_keyword(keyword), vr, value)
    result = kv.screened(element)
    if kept is None:
        assert result is None
    else:
        assert result is not None
        assert kv._strings(result.value) == kv._strings(kept)


def test_numbers_that_are_not_numbers_go() -> None:
    ds = pydicom.Dataset()
    ds.add(RawDataElement(Tag(0x00280030), "DS", 7, b"0.1\\DOE", 0, False, True))
    ds.add(RawDataElement(Tag(0x00181164), "DS", 8, b"0.1\\0.1 ", 0, False, True))
    assert kv.screened(ds["PixelSpacing"]) is None
    assert kv.screened(ds["ImagerPixelSpacing"]) is not None


def test_database_view_and_intent() -> None:
    assert kv.view_position("mlo") == "MLO"
    assert kv.view_position("JANE DOE") is None
    assert kv.enumerated("PresentationIntentType", "FOR JANE") is None
