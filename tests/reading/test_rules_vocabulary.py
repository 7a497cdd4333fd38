"""The finding vocabulary and its text form, tested directly."""

from __future__ import annotations

import pytest

from app.reading.rules import (
    DEFAULT_VOCABULARY,
    Category,
    Vocabulary,
    vocabulary_from_text,
    vocabulary_to_text,
)
from tests.reading.rules_helpers import (
    ASSOCIATED,
    GRADED,
)


def test_default_vocabulary_is_vindr_without_no_finding() -> None:
    assert GRADED == [
        "Mass",
        "Suspicious Calcification",
        "Asymmetry",
        "Focal Asymmetry",
        "Global Asymmetry",
        "Architectural Distortion",
    ]
    assert ASSOCIATED == [
        "Skin Thickening",
        "Skin Retraction",
        "Nipple Retraction",
        "Suspicious Lymph Node",
    ]
    assert "No Finding" not in DEFAULT_VOCABULARY
    assert DEFAULT_VOCABULARY.get("Mass") == Category("Mass", True)
    assert DEFAULT_VOCABULARY.get("Tumour") is None


def test_box_kinds() -> None:
    vocab = DEFAULT_VOCABULARY
    assert vocab.is_graded(["Skin Retraction", "Mass"])
    assert not vocab.is_associated_only(["Skin Retraction", "Mass"])
    assert vocab.is_associated_only(["Skin Retraction", "Nipple Retraction"])
    assert not vocab.is_graded(["Skin Retraction"])
    assert not vocab.is_associated_only([])
    assert not vocab.is_associated_only(["Skin Retraction", "Tumour"])


def test_vocabulary_order_and_json() -> None:
    vocab = DEFAULT_VOCABULARY
    assert vocab.in_order(["Zeta", "Skin Thickening", "Mass", "Alpha", "Mass"]) == (
        "Mass",
        "Skin Thickening",
        "Alpha",
        "Zeta",
    )
    assert Vocabulary.from_json(vocab.to_json()) == vocab


@pytest.mark.parametrize(
    "categories",
    [(), (Category("Mass", True), Category("Mass", False)), (Category("No Finding", False),)],
)
def test_bad_vocabularies(categories: tuple[Category, ...]) -> None:
    with pytest.raises(ValueError, match="categor"):
        Vocabulary(categories)


def test_vocabulary_text_round_trip() -> None:
    text = vocabulary_to_text(DEFAULT_VOCABULARY.to_json())
    assert "Mass*" in text.splitlines()
    assert "Skin Thickening" in text.splitlines()
    assert vocabulary_from_text(text + "\n\n") == DEFAULT_VOCABULARY.to_json()
