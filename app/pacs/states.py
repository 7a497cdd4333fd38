"""The states and kinds of PACS exchange, as enums (stored as their plain values).

Pure: the models, the jobs, the API shapes, the pages and the templates all use these names, so
no state is spelled out as a string anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class AuthKind(StrEnum):
    """How MammoRead signs in to a DICOMweb source (``PacsSource.auth_kind``)."""

    NONE = "none"  # no credentials
    BASIC = "basic"  # HTTP Basic: username and password
    BEARER = "bearer"  # an access token sent as "Authorization: Bearer ..."


class RetrievalStatus(StrEnum):
    """A retrieval job's progress (``PacsRetrieval.status``):
    queued -> running -> done | partial | failed; partial and failed ones can be resumed."""

    QUEUED = "queued"  # waiting for this server's retrieval thread
    RUNNING = "running"  # fetching and importing
    DONE = "done"  # every instance of every study was fetched (imported, present or refused)
    PARTIAL = "partial"  # some arrived, the rest is listed: resume fetches only that
    FAILED = "failed"  # nothing arrived (or the job could not run); resume tries again

    @classmethod
    def open(cls) -> tuple[RetrievalStatus, ...]:
        """The states of a job that has not ended."""
        return (cls.QUEUED, cls.RUNNING)

    @classmethod
    def resumable(cls) -> tuple[RetrievalStatus, ...]:
        """The states of a job that ended with something still missing."""
        return (cls.PARTIAL, cls.FAILED)


class InstanceOutcome(StrEnum):
    """What became of one instance of a retrieval (its counts on the job row)."""

    IMPORTED = "imported"  # fetched and imported
    ALREADY_PRESENT = "already_present"  # fetched; the same image was imported before
    REJECTED = "rejected"  # fetched; the import refused it (modality, QC policy...)
    FAILED = "failed"  # not fetched (the PACS did not deliver it): listed, retried on resume
