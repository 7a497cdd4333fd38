"""The states and kinds of masking projects, as enums (stored as their plain values).

Pure: the search engine, the models, the schemas, the pages and the templates all use these
names, so no state is spelled out as a string anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class SortMode(StrEnum):
    """How a project's readers place its images (``MaskingProject.mode``)."""

    FULL_SORT = "full_sort"  # each reader grows one sorted list from the seed list
    LEVELS = "levels"  # each image goes into one of the masking levels


class LevelRule(StrEnum):
    """How a level search picks its references (``MaskingProject.level_rule``)."""

    EXACT = "exact"  # a binary search over the level boundaries
    PAPER = "paper"  # CSAW-M's rule: a central start, a random seed of the level


# the rule a full sort's comparisons are logged under (``MaskingComparison.rule``; a level
# search's are logged under its LevelRule)
TERNARY_BINARY = "ternary_binary"


class Phase(StrEnum):
    """Which step of a search a pair is (``MaskingComparison.phase``)."""

    TERNARY = "ternary"  # full sort: one of the two ternary steps
    BINARY = "binary"  # full sort: binary search
    LEVEL = "level"  # a level search


class Answer(StrEnum):
    """A reader's answer to a pair (``MaskingComparison.answer``): which image hides a tumour
    more easily, or a refusal to judge the query."""

    QUERY = "query"  # the query image
    REFERENCE = "reference"  # the reference image
    SAME = "same"  # neither
    DISCARD = "discard"  # the query cannot be judged (with a DiscardReason)

    @classmethod
    def of_search(cls) -> tuple[Answer, ...]:
        """The answers that move a search (a discard ends it instead)."""
        return (cls.QUERY, cls.REFERENCE, cls.SAME)


class DiscardReason(StrEnum):
    """Why a query was discarded (``MaskingComparison.reason``)."""

    DISTORTED = "distorted"
    INCOMPLETE = "incomplete"
    OTHER = "other"


class Side(StrEnum):
    """The screen side the query is shown on (``MaskingComparison.query_side``)."""

    LEFT = "left"
    RIGHT = "right"


class OutcomeKind(StrEnum):
    """What an answer did (``MaskingComparison.outcome``, ``search.Outcome.kind``)."""

    CONTINUE = "continue"  # the search goes on
    PLACED = "placed"  # the query has its place (list index or level)
    ABORTED = "aborted"  # the answers contradicted each other: the image is retried later
    REPORTED = "reported"  # aborted too often: the image is reported, not placed
    DISCARDED = "discarded"  # the reader discarded the query
    PROBE = "probe"  # a consistency probe was answered: the search is untouched

    @classmethod
    def ending_a_search(cls) -> tuple[OutcomeKind, ...]:
        """The outcomes that end an attempt at placing an image by answering."""
        return (cls.PLACED, cls.ABORTED, cls.REPORTED)

    @classmethod
    def of_an_abort(cls) -> tuple[OutcomeKind, ...]:
        """The outcomes of an attempt the answers contradicted."""
        return (cls.ABORTED, cls.REPORTED)


class ImageRole(StrEnum):
    """An image's role in a project (``MaskingImage.role``)."""

    QUERY = "query"  # to place
    SEED = "seed"  # a reference only


class ComparisonKind(StrEnum):
    """What a served pair is (``MaskingComparison.kind``, the pending pair's ``kind``)."""

    SEARCH = "search"  # a step of the search placing the query
    PROBE = "probe"  # a pair answered before, shown again blind
