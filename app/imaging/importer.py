"""Import: one code path for browser uploads, the API and the CLI.

Each file is accepted whole or not at all: its stored files are written first (each as a
``.part`` draft renamed when whole) and removed again if the database transaction fails, and a
refusal leaves nothing behind. A crash in between leaves only drafts, files without a row and
an unfinished batch whose lease goes stale: ``app.imaging.sweep`` finds and ends them. One bad file
never stops the batch. Importing the same image again changes nothing and says so.

The code is in ``app.imaging.importing``, one module per topic; this module is its entry point
and names what callers use.
"""

from __future__ import annotations

from app.imaging.importing.batch import import_sources
from app.imaging.importing.one_file import import_one
from app.imaging.importing.preparing import Prepared, prepare
from app.imaging.importing.report import ImportReport, Outcome, Progress
from app.imaging.importing.sources import (
    Rejected,
    Source,
    expand,
    head_refusal,
    inflation_refusal,
    is_housekeeping,
)
from app.imaging.importing.view_flags import refresh_view_flags

__all__ = [
    "ImportReport",
    "Outcome",
    "Prepared",
    "Progress",
    "Rejected",
    "Source",
    "expand",
    "head_refusal",
    "import_one",
    "import_sources",
    "inflation_refusal",
    "is_housekeeping",
    "prepare",
    "refresh_view_flags",
]
