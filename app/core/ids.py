"""Bounded integers for the API boundary: every id, count and offset a request carries fits
the database's INTEGER (PostgreSQL's is 32-bit), so a too-large one is refused with a 422 in
the common shape instead of failing in the database with a 500.

Use them for path and query parameters, form fields and request bodies alike, e.g.
``project_id: Id``, ``offset: Offset = 0``, ``user_ids: list[Id]``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_INT = 2**31 - 1  # the largest PostgreSQL INTEGER; SQLite's is larger

Id = Annotated[int, Field(ge=1, le=MAX_INT)]
"""A row id: 1 or more."""

Count = Annotated[int, Field(ge=0, le=MAX_INT)]
"""A count, version, number of seconds or seed stored in an INTEGER column: 0 or more."""

Offset = Annotated[int, Field(ge=0, le=MAX_INT)]
"""How many rows a page skips."""

MIN_INT = -(2**31)


def parse_integer(text: str) -> int:
    """A whole number typed into a form's text field; ValueError when it is not one or does
    not fit an INTEGER column."""
    number = int(text.strip())
    if not MIN_INT <= number <= MAX_INT:
        raise ValueError(f"{number} is out of range")
    return number
