"""The states and kinds of reading projects, as enums (stored as their plain values).

Pure: the rules, the schemas, the models, the pages and the templates all use these names, so
no state is spelled out as a string anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class StudyStatus(StrEnum):
    """Where a study stands in a reading project (``ProjectStudy.status``)."""

    UNASSIGNED = "unassigned"  # in the project, no reader yet
    READING = "reading"  # its two blinded reads are under way
    ARBITRATION = "arbitration"  # the reads disagreed: an arbiter decides
    FINAL = "final"  # its final label is set
    COMPLETE = "complete"  # a reader study's study: every reader has answered it in every session

    @property
    def display(self) -> str:
        """The state as pages name it."""
        return _STUDY_STATUS_NAMES[self]

    @classmethod
    def open(cls) -> tuple[StudyStatus, ...]:
        """The states of a study that is not final yet."""
        return (cls.UNASSIGNED, cls.READING, cls.ARBITRATION)


_STUDY_STATUS_NAMES = {
    StudyStatus.UNASSIGNED: "Unassigned",
    StudyStatus.READING: "In reading",
    StudyStatus.ARBITRATION: "Arbitration",
    StudyStatus.FINAL: "Final",
    StudyStatus.COMPLETE: "Read by all",
}


class ProjectDesign(StrEnum):
    """How a reading project is read (``ReadingProject.design``)."""

    DOUBLE_READ = "double_read"  # two blinded readers per study, an arbiter on discordance
    READER_STUDY = "reader_study"  # any number of readers per study, in one or two sessions

    @property
    def display(self) -> str:
        return "Double reading" if self is ProjectDesign.DOUBLE_READ else "Reader study"


class StudyLayout(StrEnum):
    """Who reads which study in a reader study (``ReadingProject.layout``)."""

    FULLY_CROSSED = "fully_crossed"  # every reader reads every study
    SPLIT_PLOT = "split_plot"  # the studies in blocks, each block read by its own readers


class TruthBasis(StrEnum):
    """What a project's reader figures are computed against (``ReadingProject.truth_basis``)."""

    REFERENCE = "reference"  # the imported reference standard (pathology, follow-up...)
    CONSENSUS = "consensus"  # the project's final (consensus) labels, labelled as such


class TaskKind(StrEnum):
    """What a task asks of its user (``ReadTask.kind``, ``ReadSubmission.kind``)."""

    READ = "read"  # one blinded read
    ARBITRATE = "arbitrate"  # settle two discordant reads


class TaskStatus(StrEnum):
    """A task's progress (``ReadTask.status``)."""

    PENDING = "pending"  # assigned, not opened
    IN_PROGRESS = "in_progress"  # opened, a draft may exist
    SUBMITTED = "submitted"  # answered, in the append-only log
    REASSIGNED = "reassigned"  # taken from its user and given to another

    @classmethod
    def open(cls) -> tuple[TaskStatus, ...]:
        """The states of a task its user still has to do."""
        return (cls.PENDING, cls.IN_PROGRESS)


class Pool(StrEnum):
    """A project's pools of users (``ProjectMember.pool``)."""

    READERS = "readers"
    ARBITERS = "arbiters"


class FinalSource(StrEnum):
    """How a study's final label came about (``ProjectStudy.final_source``)."""

    CONCORDANT = "concordant"  # two reads agreed and were merged
    ARBITRATION = "arbitration"  # an arbiter's read
    IMPORTED = "imported"  # a released dataset's label, imported with the study
