"""The states and kinds of imaging, as enums (stored as their plain values).

Pure: the importer, the QC checks, the models, the schemas, the pages and the templates all use
these names, so no state is spelled out as a string anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class OutcomeStatus(StrEnum):
    """What became of one file of an import (``ImportBatch.outcomes``, the import report)."""

    IMPORTED = "imported"  # stored, with its study
    ALREADY_PRESENT = "already_present"  # the same image was imported before: nothing changed
    REJECTED = "rejected"  # refused, with the reason
    # a batch's last outcome only: its server stopped midway (written by the sweep), or the
    # image store stopped answering (written by the import, which stops there)
    INTERRUPTED = "interrupted"

    @classmethod
    def of_a_file(cls) -> tuple[OutcomeStatus, ...]:
        """The outcomes an import gives a file (and counts on its batch)."""
        return (cls.IMPORTED, cls.ALREADY_PRESENT, cls.REJECTED)


class ImportFileStatus(StrEnum):
    """One file of a queued import (``ImportFile.status``): queued -> running -> done. Its
    outcome is written when done; the batch ends when its last file is done."""

    QUEUED = "queued"  # staged in the store, waiting for a worker
    RUNNING = "running"  # a worker imports it (again, after a worker that stopped)
    DONE = "done"  # its outcome is written, its staged copy removed


class PyramidFormat(StrEnum):
    """How an image's display pyramid is stored (``Image.pyramid_format``)."""

    # one uncompressed .npy file per level, level 0 included (images imported before 0013)
    NPY = "npy"
    # a Zarr v3 group: each level one sharded array of 512x512 compressed tiles, read a tile at
    # a time; level 0 is read from the stored DICOM itself when its pixels are stored plainly
    ZARR = "zarr"


class ImportChannel(StrEnum):
    """How an import came in (``ImportBatch.channel``)."""

    API = "api"  # POST /api/v1/images (the import page sends its files there too)
    CLI = "cli"  # mammoread import
    DEMO = "demo"  # mammoread demo: synthetic exams
    RELEASE = "release"  # the DICOM files of a VinDr-format release being imported
    PACS = "pacs"  # retrieved from a configured DICOMweb source (app.pacs)
    RECEIVE = "receive"  # pushed to mammoread receive (C-STORE)


class QcKind(StrEnum):
    """A quality problem found at import (``QcFlag.kind``); ``app.imaging.qc`` finds them and
    says what each means (``qc.KINDS``). The column stays text, not this enum: a row may hold
    a kind this version does not know, and the dataset statistics count it too."""

    LATERALITY_MISMATCH = "laterality_mismatch"
    INVERTED_INTENSITY = "inverted_intensity"
    MISSING_VIEW = "missing_view"
    DUPLICATE_VIEW = "duplicate_view"
    UNKNOWN_VIEW = "unknown_view"
    FOR_PROCESSING = "for_processing"
    BURNED_IN_TEXT = "burned_in_text"


class Completeness(StrEnum):
    """The studies page's filter on a study's views (its ``complete`` query parameter):
    complete is the four standard views, once each (no open view flag)."""

    COMPLETE = "yes"
    INCOMPLETE = "no"

    @property
    def wanted(self) -> bool:
        """The ``complete`` of a study query (``StudyQuery.complete``)."""
        return self is Completeness.COMPLETE

    @classmethod
    def named(cls, text: str | None) -> Completeness | None:
        """The filter ``text`` names, or None (any study)."""
        try:
            return cls(text or "")
        except ValueError:
            return None
