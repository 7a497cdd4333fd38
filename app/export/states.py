"""The states and kinds of exports and release imports, as enums (stored as their plain values).

Pure: the jobs, the models, the API shapes, the pages, the CLI and the templates all use these
names, so no state is spelled out as a string anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """An export job's progress (``ExportJob.status``): queued -> running -> done | failed |
    cancelled (running -> queued again when its run was interrupted and will be retried)."""

    QUEUED = "queued"  # waiting for a worker of the job queue
    RUNNING = "running"  # being written
    DONE = "done"  # its file is ready to download
    FAILED = "failed"  # ended with a message, its folder removed
    CANCELLED = "cancelled"  # someone cancelled it; its folder removed

    @classmethod
    def open(cls) -> tuple[JobStatus, ...]:
        """The states of a job that has not ended."""
        return (cls.QUEUED, cls.RUNNING)


class ProjectKind(StrEnum):
    """The kind of project an export reads (``ExportJob.project_kind``)."""

    READING = "reading"  # double reading with arbitration
    MASKING = "masking"  # the masking sort (CSAW-M)


class ExportFormat(StrEnum):
    """What an export writes (``ExportJob.format``), each for one kind of project."""

    VINDR = "vindr"  # reading: the VinDr-Mammo CSV pair
    JSON = "json"  # reading: the same content, nested
    READS = "reads"  # reading: every read with its provenance
    CSAW = "csaw"  # masking: labels in the CSAW-M layout, and the comparison log
    COMPARISONS = "comparisons"  # masking: the comparison log alone

    @property
    def kind(self) -> ProjectKind:
        """The kind of project this format exports."""
        return _FORMAT_KINDS[self]


_FORMAT_KINDS = {
    ExportFormat.VINDR: ProjectKind.READING,
    ExportFormat.JSON: ProjectKind.READING,
    ExportFormat.READS: ProjectKind.READING,
    ExportFormat.CSAW: ProjectKind.MASKING,
    ExportFormat.COMPARISONS: ProjectKind.MASKING,
}


class StartAs(StrEnum):
    """How an imported release's studies start (``release_import.import_release``)."""

    FINAL = "final"  # final, with the released labels (the study status ``StudyStatus.FINAL``)
    FIRST_READ = "first_read"  # each released label is a first read; reading goes on
