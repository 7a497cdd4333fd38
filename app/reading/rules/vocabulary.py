"""The finding categories a box may carry (VinDr-Mammo's by default) and their text form."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NO_FINDING = "No Finding"


@dataclass(frozen=True)
class Category:
    """A finding category; graded lesions carry a finding BI-RADS, associated features none."""

    name: str
    graded: bool


@dataclass(frozen=True)
class Vocabulary:
    """The categories a box may carry, in display (and merge) order."""

    categories: tuple[Category, ...]
    _index: Mapping[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        categories = tuple(self.categories)
        names = [category.name for category in categories]
        if not names:
            raise ValueError("A vocabulary needs at least one category.")
        if len(set(names)) != len(names):
            raise ValueError("A vocabulary lists each category once.")
        if NO_FINDING in names:
            raise ValueError(f"{NO_FINDING!r} is not a box category: an image without boxes is.")
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(names)})

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def get(self, name: str) -> Category | None:
        index = self._index.get(name)
        return None if index is None else self.categories[index]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(category.name for category in self.categories)

    def is_graded(self, categories: Iterable[str]) -> bool:
        """A box is a graded lesion when any of its categories is graded."""
        return any((found := self.get(name)) is not None and found.graded for name in categories)

    def is_associated_only(self, categories: Iterable[str]) -> bool:
        """A box with only (known) associated features carries no finding BI-RADS."""
        found = [self.get(name) for name in categories]
        return bool(found) and all(item is not None and not item.graded for item in found)

    def in_order(self, names: Iterable[str]) -> tuple[str, ...]:
        """Distinct names in vocabulary order; unknown names last, alphabetically."""
        unique = set(names)
        known = sorted((name for name in unique if name in self), key=self._index.__getitem__)
        return (*known, *sorted(name for name in unique if name not in self))

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "graded": c.graded} for c in self.categories]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Vocabulary:
        categories = []
        for item in data:
            name, graded = item.get("name"), item.get("graded")
            if not isinstance(name, str) or not name or not isinstance(graded, bool):
                raise ValueError(f"A category needs a name and graded true/false; got {item!r}.")
            categories.append(Category(name, graded))
        return cls(tuple(categories))


def vocabulary_to_text(data: Sequence[Mapping[str, Any]]) -> str:
    """One category per line; a trailing ``*`` marks a graded lesion (the project form)."""
    return "\n".join(str(c["name"]) + ("*" if c.get("graded") else "") for c in data)


def vocabulary_from_text(text: str) -> list[dict[str, Any]]:
    """The inverse of :func:`vocabulary_to_text`; blank lines are ignored."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [{"name": line.rstrip("*").strip(), "graded": line.endswith("*")} for line in lines]


# VinDr-Mammo's finding categories: graded lesions carry a finding BI-RADS, associated
# features do not.
VINDR_GRADED = (
    "Mass",
    "Suspicious Calcification",
    "Asymmetry",
    "Focal Asymmetry",
    "Global Asymmetry",
    "Architectural Distortion",
)
VINDR_ASSOCIATED = (
    "Skin Thickening",
    "Skin Retraction",
    "Nipple Retraction",
    "Suspicious Lymph Node",
)
DEFAULT_VOCABULARY = Vocabulary(
    tuple(Category(name, True) for name in VINDR_GRADED)
    + tuple(Category(name, False) for name in VINDR_ASSOCIATED)
)
