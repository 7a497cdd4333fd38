"""What an import says: each file's outcome and the report of a batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.imaging.states import OutcomeStatus, QcKind


@dataclass(frozen=True)
class Outcome:
    """What became of one file: its name as sent, the outcome and its reason, and when known
    the ids it was (or was already) stored under and the QC flags raised."""

    name: str
    status: OutcomeStatus
    reason: str | None = None
    study_id: str | None = None
    image_id: str | None = None
    flags: tuple[QcKind, ...] = ()


@dataclass
class ImportReport:
    """A batch's outcomes, file by file, in the order the files came."""

    batch_id: int
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: OutcomeStatus) -> int:
        """How many files had this outcome."""
        return sum(outcome.status == status for outcome in self.outcomes)

    def summary(self) -> dict[str, int]:
        """The files by outcome, keyed by the outcomes' values (as the batch row counts them)."""
        return {s.value: self.count(s) for s in OutcomeStatus.of_a_file()}


Progress = Callable[[Outcome], None]  # told of each file's outcome as it comes
