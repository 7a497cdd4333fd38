"""The reference standard of a reader study as a file: one row per breast (or per lesion of a
breast) with the columns ``study_id, laterality, truth, source, follow_up_months, date`` and,
optionally, ``image_id, xmin, ymin, xmax, ymax`` for a lesion's box in the original pixel grid.
Comma-separated, UTF-8, a header first.

Pure: text in, the breasts' truths out, or one :class:`ReferenceTableInvalid` (a ValueError)
listing every problem by its line in the file (the header is line 1)."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.studies.states import Truth, TruthSource

COLUMNS = ("study_id", "laterality", "truth", "source", "follow_up_months", "date")
REQUIRED = ("study_id", "laterality", "truth", "source")
LESION_COLUMNS = ("image_id", "xmin", "ymin", "xmax", "ymax")
COORDINATES = ("xmin", "ymin", "xmax", "ymax")
#: A larger upload is refused before it is parsed.
MAX_REFERENCE_BYTES = 16 * 1024 * 1024
#: Rows beyond this refuse the table.
MAX_ROWS = 500_000
#: At most this many problems are listed; the rest are counted.
MAX_PROBLEMS = 200
#: The longest study or image id (the database's columns).
MAX_ID_LENGTH = 32
#: The longest follow-up taken (100 years).
MAX_FOLLOW_UP_MONTHS = 1200

LATERALITIES = {"r": "R", "right": "R", "l": "L", "left": "L"}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ReferenceProblem:
    """One thing wrong with the file: ``line`` as in the file (header 1; None for the file as
    a whole), ``field`` the column at fault (None when no one column is)."""

    line: int | None
    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


def problem_details(problems: list[ReferenceProblem]) -> list[dict[str, Any]]:
    """The details of an error: the first :data:`MAX_PROBLEMS` problems in line order, then
    one saying how many more there are."""
    ordered = sorted(problems, key=lambda p: (p.line or 0, p.field or ""))
    details = [problem.to_dict() for problem in ordered[:MAX_PROBLEMS]]
    if len(ordered) > MAX_PROBLEMS:
        more = len(ordered) - MAX_PROBLEMS
        details.append(
            {"line": None, "field": None, "message": f"... and {more} more problems not listed."}
        )
    return details


def problem_summary(problems: list[ReferenceProblem]) -> str:
    count = len(problems)
    first = min(problems, key=lambda p: p.line or 0)
    where = f"line {first.line}: " if first.line is not None else ""
    return (
        f"The reference standard has {count} problem{'s' if count != 1 else ''}; nothing was "
        f"imported. First, {where}{first.message}"
        + (" (every problem is listed in details)" if count > 1 else "")
    )


class ReferenceTableInvalid(ValueError):
    """The file is not a usable reference standard; ``problems`` lists every reason,
    ``details`` the listed ones (capped) in the API's shape."""

    def __init__(self, problems: list[ReferenceProblem]) -> None:
        self.problems = list(problems)
        self.details = problem_details(self.problems)
        super().__init__(problem_summary(self.problems))


@dataclass(frozen=True)
class Lesion:
    image_id: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    line: int

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "xmin": self.xmin,
            "ymin": self.ymin,
            "xmax": self.xmax,
            "ymax": self.ymax,
        }


@dataclass(frozen=True)
class BreastTruth:
    """One breast's reference standard; ``lines`` are the file's lines that gave it."""

    study_id: str
    laterality: str
    truth: Truth
    source: TruthSource
    follow_up_months: int | None
    truth_date: date | None
    lesions: tuple[Lesion, ...]
    lines: tuple[int, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.study_id, self.laterality


@dataclass(frozen=True)
class RowRef:
    """What a row names, even when other cells of it are wrong (for checks against the
    database): its line, study id, breast and lesion image, each None when unreadable."""

    line: int
    study_id: str | None
    laterality: str | None
    image_id: str | None


@dataclass
class ReferenceTable:
    """A checked file: the breasts from rows without problems, every problem found, and what
    every row names."""

    breasts: list[BreastTruth] = field(default_factory=list)
    problems: list[ReferenceProblem] = field(default_factory=list)
    rows: list[RowRef] = field(default_factory=list)


def decode_reference(data: bytes) -> str:
    """The file's text; ReferenceTableInvalid when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReferenceTableInvalid(
            [
                ReferenceProblem(
                    None, None, f"The file is not UTF-8 text (byte {error.start} cannot be read)."
                )
            ]
        ) from None


def parse_reference(text: str) -> list[BreastTruth]:
    """The breasts' truths in ``text``, in file order; ReferenceTableInvalid listing every
    problem otherwise."""
    table = check_reference(text)
    if table.problems:
        raise ReferenceTableInvalid(table.problems)
    return table.breasts


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


@dataclass
class _Row:
    line: int
    study_id: str
    laterality: str
    truth: Truth
    source: TruthSource
    follow_up_months: int | None
    truth_date: date | None
    lesion: Lesion | None


def check_reference(text: str) -> ReferenceTable:
    """Every problem of the file (nothing raised), with the breasts of its good rows."""
    table = ReferenceTable()
    problems = table.problems
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            problems.append(
                ReferenceProblem(None, None, "The file is empty: it needs a header line.")
            )
            return table
        header_line = reader.line_num
        names = [cell.strip().lower() for cell in header]
        known = set(COLUMNS) | set(LESION_COLUMNS)
        for name, cell in zip(names, header, strict=True):
            if name not in known:
                problems.append(
                    ReferenceProblem(
                        header_line,
                        cell.strip()[:40] or None,
                        f"Unknown column {_short(cell.strip())}; the columns are "
                        f"{', '.join(COLUMNS)} and optionally {', '.join(LESION_COLUMNS)}.",
                    )
                )
        for name in sorted({n for n in names if n in known and names.count(n) > 1}):
            problems.append(
                ReferenceProblem(header_line, name, f"The header names {name} more than once.")
            )
        for name in REQUIRED:
            if name not in names:
                problems.append(
                    ReferenceProblem(header_line, name, f"The header lacks the column {name}.")
                )
        lesion_named = [name for name in LESION_COLUMNS if name in names]
        if lesion_named and len(lesion_named) < len(LESION_COLUMNS):
            missing = [name for name in LESION_COLUMNS if name not in names]
            problems.append(
                ReferenceProblem(
                    header_line,
                    missing[0],
                    f"The lesion columns come together: the header lacks {', '.join(missing)}.",
                )
            )
        if problems:
            return table  # rows cannot be read against a header that is wrong
        where = {name: names.index(name) for name in names}
        rows: list[_Row] = []
        count = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (a trailing newline, a spreadsheet's empty rows)
            count += 1
            if count > MAX_ROWS:
                problems.append(
                    ReferenceProblem(reader.line_num, None, f"The file has over {MAX_ROWS} rows.")
                )
                return table
            row = _parse_row(reader.line_num, cells, where, len(header), table)
            if row is not None:
                rows.append(row)
    except csv.Error as error:
        problems.append(
            ReferenceProblem(reader.line_num, None, f"The file is not valid CSV here: {error}.")
        )
        return table
    if not table.rows:
        problems.append(ReferenceProblem(None, None, "The file has a header but no rows."))
        return table
    table.breasts = _breasts(rows, problems)
    return table


def _parse_row(
    line: int, cells: list[str], where: dict[str, int], width: int, table: ReferenceTable
) -> _Row | None:
    problems = table.problems
    before = len(problems)

    def cell(name: str) -> str:
        i = where.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def problem(name: str | None, message: str) -> None:
        problems.append(ReferenceProblem(line, name, message))

    if len(cells) > width:
        problem(None, f"The line has {len(cells)} cells; the header has {width}.")

    study_id = cell("study_id").lower()
    if not study_id:
        problem("study_id", "The study id is missing.")
    elif len(study_id) > MAX_ID_LENGTH:
        problem("study_id", f"The study id {_short(study_id)} is not a study id (too long).")

    raw_side = cell("laterality")
    laterality = LATERALITIES.get(raw_side.lower())
    if laterality is None:
        problem(
            "laterality",
            f"The laterality {_short(raw_side)} is not R, L, right or left."
            if raw_side
            else "The laterality is missing (R or L).",
        )

    truth = _enum(Truth, cell("truth"), "truth", problem)
    source = _enum(TruthSource, cell("source"), "source", problem)

    follow_up: int | None = None
    raw_follow_up = cell("follow_up_months")
    if raw_follow_up:
        try:
            follow_up = int(raw_follow_up)
        except ValueError:
            problem(
                "follow_up_months",
                f"The follow-up {_short(raw_follow_up)} is not a whole number of months.",
            )
        else:
            if not 1 <= follow_up <= MAX_FOLLOW_UP_MONTHS:
                problem(
                    "follow_up_months",
                    f"The follow-up of {follow_up} months is not between 1 and "
                    f"{MAX_FOLLOW_UP_MONTHS}.",
                )
                follow_up = None
    elif source is TruthSource.FOLLOW_UP:
        problem("follow_up_months", "A follow-up truth needs follow_up_months (1 or more).")

    truth_date: date | None = None
    raw_date = cell("date")
    if raw_date:
        try:
            if not ISO_DATE.fullmatch(raw_date):
                raise ValueError
            truth_date = date.fromisoformat(raw_date)
        except ValueError:
            problem("date", f"The date {_short(raw_date)} is not a date as YYYY-MM-DD.")

    lesion = _lesion(line, cell, problem)
    if lesion is not None and truth is Truth.NORMAL:
        problem("truth", "A normal breast has no lesions; this row gives one.")

    image_id = cell("image_id").lower() or None
    table.rows.append(
        RowRef(line, study_id or None, laterality, image_id if lesion is not None else None)
    )
    if len(problems) > before:
        return None
    assert laterality is not None
    assert truth is not None
    assert source is not None
    return _Row(line, study_id, laterality, truth, source, follow_up, truth_date, lesion)


def _enum(kind: Any, raw: str, name: str, problem: Any) -> Any:
    if not raw:
        problem(name, f"The {name} is missing.")
        return None
    try:
        return kind(raw.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        problem(name, f"Unknown {name} {_short(raw)}; it is one of {allowed}.")
        return None


def _lesion(line: int, cell: Any, problem: Any) -> Lesion | None:
    values = {name: cell(name) for name in LESION_COLUMNS}
    given = [name for name, value in values.items() if value]
    if not given:
        return None
    if len(given) < len(LESION_COLUMNS):
        missing = [name for name in LESION_COLUMNS if not values[name]]
        problem(
            missing[0],
            f"A lesion needs all of {', '.join(LESION_COLUMNS)}; this row lacks "
            f"{', '.join(missing)}.",
        )
        return None
    image_id = values["image_id"].lower()
    ok = True
    if len(image_id) > MAX_ID_LENGTH:
        problem("image_id", f"The image id {_short(image_id)} is not an image id (too long).")
        ok = False
    numbers: dict[str, float] = {}
    for name in COORDINATES:
        try:
            number = float(values[name])
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            problem(name, f"{name} {_short(values[name])} is not a number of pixels (0 or more).")
            ok = False
        else:
            numbers[name] = number
    if len(numbers) == len(COORDINATES):
        if numbers["xmin"] >= numbers["xmax"]:
            problem("xmax", "The box's xmax is not right of its xmin.")
            ok = False
        if numbers["ymin"] >= numbers["ymax"]:
            problem("ymax", "The box's ymax is not below its ymin.")
            ok = False
    if not ok:
        return None
    return Lesion(image_id, line=line, **numbers)


def _breasts(rows: list[_Row], problems: list[ReferenceProblem]) -> list[BreastTruth]:
    """The rows gathered per breast: several rows for a breast only when each gives a lesion,
    and all of them agreeing on its truth, source, follow-up and date."""
    groups: dict[tuple[str, str], list[_Row]] = {}
    for row in rows:
        groups.setdefault((row.study_id, row.laterality), []).append(row)
    breasts = []
    for (study_id, laterality), group in groups.items():
        first = group[0]
        bad = False
        for row in group[1:]:
            if first.lesion is None or row.lesion is None:
                problems.append(
                    ReferenceProblem(
                        row.line,
                        "laterality",
                        f"Breast {laterality} of study {_short(study_id)} is given again (first "
                        f"on line {first.line}); a breast has several rows only when each "
                        "gives a lesion.",
                    )
                )
                bad = True
                continue
            for name in ("truth", "source", "follow_up_months", "truth_date"):
                if getattr(row, name) != getattr(first, name):
                    column = "date" if name == "truth_date" else name
                    problems.append(
                        ReferenceProblem(
                            row.line,
                            column,
                            f"The {column} of breast {laterality} of study {_short(study_id)} "
                            f"conflicts with line {first.line} "
                            f"({getattr(row, name)} against {getattr(first, name)}).",
                        )
                    )
                    bad = True
        if bad:
            continue
        breasts.append(
            BreastTruth(
                study_id=study_id,
                laterality=laterality,
                truth=first.truth,
                source=first.source,
                follow_up_months=first.follow_up_months,
                truth_date=first.truth_date,
                lesions=tuple(row.lesion for row in group if row.lesion is not None),
                lines=tuple(row.line for row in group),
            )
        )
    return breasts
