"""The kinds of a reader study's evidence, as enums (stored as their plain values). Pure."""

from __future__ import annotations

from enum import StrEnum


class Truth(StrEnum):
    """What a breast (or a lesion) really is, by the reference standard."""

    MALIGNANT = "malignant"
    BENIGN = "benign"
    NORMAL = "normal"

    @property
    def positive(self) -> bool:
        """Whether it counts as diseased in the ROC analysis (cancer against no cancer)."""
        return self is Truth.MALIGNANT


class TruthSource(StrEnum):
    """How the reference standard was established."""

    PATHOLOGY = "pathology"  # biopsy or surgical pathology
    FOLLOW_UP = "follow_up"  # cancer-free follow-up of at least ``follow_up_months``
    CONSENSUS = "consensus"  # an expert panel

    @property
    def display(self) -> str:
        return {"pathology": "Pathology", "follow_up": "Follow-up", "consensus": "Consensus"}[
            self.value
        ]
