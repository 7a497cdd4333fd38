"""The long ratings table as a file: one row per reader, treatment and case, with the columns
``reader, treatment, case, truth, rating`` (MRMCaov's layout; ``modality`` is taken for
``treatment``), comma-separated, UTF-8, a header first. Pure: bytes in, a
:class:`~app.stats.ratings.ReaderStudy` out, or one 422 listing every problem by line."""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

from app.core.errors import Invalid, field_error
from app.stats.ratings import FIELDS, ReaderStudy, study_from_rows

ALIASES = {"modality": "treatment"}
#: A larger upload is refused before it is parsed.
MAX_TABLE_BYTES = 64 * 1024 * 1024
#: Rows beyond this refuse the table (10 readers x 2 sessions x 5,000 cases fit 20 times over).
MAX_ROWS = 2_000_000


def read_ratings_csv(data: bytes, *, field: str = "ratings") -> ReaderStudy:
    """The study in ``data``; line numbers in the errors count the header as line 1."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise field_error(
            field, f"The ratings table is not UTF-8 text (byte {error.start} cannot be read)."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise field_error(field, "The ratings table is empty: it needs a header line.")
        names = [ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in header]
        missing = [name for name in FIELDS if name not in names]
        if missing:
            raise field_error(
                field,
                f"The ratings table's header lacks {', '.join(missing)}; it needs the columns "
                f"{', '.join(FIELDS)} (found: {', '.join(header) or 'none'}).",
            )
        doubled = sorted({name for name in FIELDS if names.count(name) > 1})
        if doubled:
            raise field_error(field, f"The header names {', '.join(doubled)} more than once.")
        where = {name: names.index(name) for name in FIELDS}
        rows: list[dict[str, str]] = []
        lines: list[int] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (a trailing newline, a spreadsheet's empty rows)
            if len(rows) >= MAX_ROWS:
                raise field_error(field, f"The ratings table has more than {MAX_ROWS} rows.")
            rows.append(
                {name: cells[i].strip() if i < len(cells) else "" for name, i in where.items()}
            )
            lines.append(reader.line_num)
    except csv.Error as error:
        raise field_error(
            field, f"The ratings table is not valid CSV at line {reader.line_num}: {error}."
        ) from None
    if not rows:
        raise Invalid("The ratings table has a header but no rows.", code="invalid_ratings")
    return study_from_rows(rows, lines)


def read_ratings_upload(stream: BinaryIO, *, field: str = "ratings") -> ReaderStudy:
    """The study in an uploaded file, read no further than :data:`MAX_TABLE_BYTES`."""
    data = stream.read(MAX_TABLE_BYTES + 1)
    if len(data) > MAX_TABLE_BYTES:
        raise field_error(field, f"The ratings table is over {MAX_TABLE_BYTES >> 20} MiB.")
    return read_ratings_csv(data, field=field)
