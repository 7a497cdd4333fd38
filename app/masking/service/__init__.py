"""Pairwise masking sort, by use case: projects (``projects``, ``reader_pool``), serving pairs
(``serving``, the stored ``pending`` pair), answers and undo (``answers``), progress
(``reader_progress``); ``lookup`` finds projects, images and readers for all of them.

Every answer is appended to the comparison log and the reader's search state is updated in
the same transaction, serialised on the reader's row: two tabs or a double key press cannot
apply an answer twice or interleave. The search rules themselves live in ``search`` (pure).

Callers use ``from app.masking import service`` and ``service.NAME``: the names below.
"""

from app.masking.service.answers import (
    DISCARD,
    DISCARD_REASONS,
    MAX_NOTE,
    Answered,
    Undone,
    answer_comparison,
    undo_last,
)
from app.masking.service.lookup import (
    can_view_study,
    get_project,
    image_count,
    images_by_pk,
    list_projects,
    project_images,
    reader_of,
    readers,
    reading_in,
    rule_name,
    setup_for,
)
from app.masking.service.pending import PendingPair
from app.masking.service.projects import NewProject, create_project
from app.masking.service.reader_pool import set_readers
from app.masking.service.reader_progress import RECENT_ANSWERS, Progress, progress
from app.masking.service.serving import Served, next_pair

__all__ = [
    "DISCARD",
    "DISCARD_REASONS",
    "MAX_NOTE",
    "RECENT_ANSWERS",
    "Answered",
    "NewProject",
    "PendingPair",
    "Progress",
    "Served",
    "Undone",
    "answer_comparison",
    "can_view_study",
    "create_project",
    "get_project",
    "image_count",
    "images_by_pk",
    "list_projects",
    "next_pair",
    "progress",
    "project_images",
    "reader_of",
    "readers",
    "reading_in",
    "rule_name",
    "set_readers",
    "setup_for",
    "undo_last",
]
