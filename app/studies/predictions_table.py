"""A model's predictions for a reader study as files (the AI as a reader).

``scores``: one row per exam as public mammography model benchmarks lay it out, the columns
``study_id, left_malignant, right_malignant`` and, optionally, ``left_benign, right_benign``
(checked, not kept). Every score is a finite number in [0, 1].

``boxes`` (optional): VinDr-Mammo's finding layout plus a score, the columns ``study_id,
image_id, laterality, finding_categories, finding_birads, xmin, ymin, xmax, ymax, score``;
``finding_categories`` and ``finding_birads`` are read as the VinDr release reader reads them
(``['Mass']``, ``BI-RADS 4`` or empty).

Comma-separated, UTF-8, a header first. Pure: text in, the scores and boxes out, or one
:class:`PredictionsTableInvalid` (a ValueError) listing every problem by its file and line
(the header is line 1)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.reading.rules import NO_FINDING, VINDR_ASSOCIATED, VINDR_GRADED

SCORE_COLUMNS = ("study_id", "left_malignant", "right_malignant")
SCORE_OPTIONAL = ("left_benign", "right_benign")
BOX_COLUMNS = (
    "study_id",
    "image_id",
    "laterality",
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "score",
)
COORDINATES = ("xmin", "ymin", "xmax", "ymax")
#: A larger upload is refused before it is parsed.
MAX_PREDICTIONS_BYTES = 16 * 1024 * 1024
#: Rows beyond this refuse the file.
MAX_ROWS = 500_000
#: At most this many problems are listed; the rest are counted.
MAX_PROBLEMS = 200
#: The longest study or image id (the database's columns).
MAX_ID_LENGTH = 32
LATERALITIES = {"L": "L", "R": "R"}

SCORES_FILE = "scores"
BOXES_FILE = "boxes"

#: VinDr-Mammo's finding vocabulary (the reading rules'), "No Finding" aside: a box is a finding.
CATEGORIES = (*VINDR_GRADED, *VINDR_ASSOCIATED)
#: A finding's BI-RADS as the VinDr release writes it (3 to 5; the cell may be empty).
FINDING_BIRADS = {f"BI-RADS {n}": n for n in (3, 4, 5)}


class _Bad(ValueError):
    """A cell's value is wrong: ``reason`` completes "<column> ...; got <value>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_categories(cell: str) -> tuple[str, ...]:
    """A VinDr ``finding_categories`` cell: a list of names as Python writes it,
    ``['Mass', 'Asymmetry']``. The VinDr release reader (app.export.vindr_format) sits in a
    layer above this one, so its reader is not imported; this one reads the same cells."""
    names = cell[2:-2].split("', '")
    if not (cell.startswith("['") and cell.endswith("']")) or str(names) != cell:
        raise _Bad("must be a list of category names as Python writes it, like ['Mass']")
    for name in names:
        if name == NO_FINDING:
            raise _Bad(f"names {NO_FINDING!r}; a box is a finding")
        if name not in CATEGORIES:
            raise _Bad(
                f"names an unknown category {_short(name)}; the VinDr-Mammo findings are "
                + ", ".join(CATEGORIES)
            )
        if names.count(name) > 1:
            raise _Bad(f"lists {name!r} twice")
    return tuple(names)


def _read_birads(cell: str) -> int | None:
    """A VinDr ``finding_birads`` cell: ``BI-RADS 3`` to ``BI-RADS 5``, or empty."""
    if cell == "":
        return None
    if cell not in FINDING_BIRADS:
        raise _Bad("must be " + ", ".join(map(repr, FINDING_BIRADS)) + " or empty")
    return FINDING_BIRADS[cell]


@dataclass(frozen=True)
class PredictionProblem:
    """One thing wrong: ``file`` scores or boxes, ``line`` as in that file (header 1; None
    for the file as a whole), ``field`` the column at fault (None when no one column is)."""

    file: str
    line: int | None
    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


def _order(problem: PredictionProblem) -> tuple[int, int, str]:
    return (problem.file != SCORES_FILE, problem.line or 0, problem.field or "")


def problem_details(problems: list[PredictionProblem]) -> list[dict[str, Any]]:
    """The first :data:`MAX_PROBLEMS` problems (scores first, then boxes, in line order),
    then one saying how many more there are."""
    ordered = sorted(problems, key=_order)
    details = [problem.to_dict() for problem in ordered[:MAX_PROBLEMS]]
    if len(ordered) > MAX_PROBLEMS:
        more = len(ordered) - MAX_PROBLEMS
        details.append(
            {
                "file": None,
                "line": None,
                "field": None,
                "message": f"... and {more} more problems not listed.",
            }
        )
    return details


def problem_summary(problems: list[PredictionProblem]) -> str:
    count = len(problems)
    first = min(problems, key=_order)
    where = f"{first.file}" + (f", line {first.line}" if first.line is not None else "")
    return (
        f"The predictions have {count} problem{'s' if count != 1 else ''}; nothing was "
        f"imported. First, {where}: {first.message}"
        + (" (every problem is listed in details)" if count > 1 else "")
    )


class PredictionsTableInvalid(ValueError):
    """The files are not usable predictions; ``problems`` lists every reason, ``details``
    the listed ones (capped) in the API's shape."""

    def __init__(self, problems: list[PredictionProblem]) -> None:
        self.problems = list(problems)
        self.details = problem_details(self.problems)
        super().__init__(problem_summary(self.problems))


@dataclass(frozen=True)
class ExamScores:
    """One exam's malignancy scores per breast, from ``line`` of the scores file."""

    study_id: str
    left: float
    right: float
    line: int


@dataclass(frozen=True)
class PredictedBox:
    study_id: str
    image_id: str
    laterality: str
    categories: tuple[str, ...]
    birads: int | None
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float
    line: int


@dataclass(frozen=True)
class RowRef:
    """What a row names even when other cells are wrong (for checks against the database)."""

    file: str
    line: int
    study_id: str | None
    laterality: str | None = None
    image_id: str | None = None


@dataclass
class PredictionsTable:
    exams: list[ExamScores] = field(default_factory=list)
    boxes: list[PredictedBox] = field(default_factory=list)
    problems: list[PredictionProblem] = field(default_factory=list)
    rows: list[RowRef] = field(default_factory=list)


def decode_predictions(data: bytes, file: str) -> str:
    """The file's text; PredictionsTableInvalid when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PredictionsTableInvalid(
            [
                PredictionProblem(
                    file,
                    None,
                    None,
                    f"The file is not UTF-8 text (byte {error.start} cannot be read).",
                )
            ]
        ) from None


def parse_predictions(scores: str, boxes: str | None = None) -> PredictionsTable:
    """The checked files; PredictionsTableInvalid listing every problem otherwise."""
    table = check_predictions(scores, boxes)
    if table.problems:
        raise PredictionsTableInvalid(table.problems)
    return table


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


Problem = Callable[[str | None, str], None]
Cell = Callable[[str], str]


def _rows(
    text: str,
    file: str,
    required: Sequence[str],
    optional: Sequence[str],
    problems: list[PredictionProblem],
    each: Callable[[int, Cell, Problem], None],
) -> None:
    """Read ``text``'s header, then call ``each(line, cell, problem)`` per non-blank row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            problems.append(
                PredictionProblem(file, None, None, "The file is empty: it needs a header line.")
            )
            return
        header_line = reader.line_num
        at_header = len(problems)
        names = [cell.strip().lower() for cell in header]
        known = set(required) | set(optional)
        for name, cell in zip(names, header, strict=True):
            if name not in known:
                problems.append(
                    PredictionProblem(
                        file,
                        header_line,
                        cell.strip()[:40] or None,
                        f"Unknown column {_short(cell.strip())}; the columns are "
                        f"{', '.join(required)}"
                        + (f" and optionally {', '.join(optional)}." if optional else "."),
                    )
                )
        for name in sorted({n for n in names if n in known and names.count(n) > 1}):
            problems.append(
                PredictionProblem(
                    file, header_line, name, f"The header names {name} more than once."
                )
            )
        for name in required:
            if name not in names:
                problems.append(
                    PredictionProblem(
                        file, header_line, name, f"The header lacks the column {name}."
                    )
                )
        if len(problems) > at_header:
            return  # rows cannot be read against a header that is wrong
        where = {name: names.index(name) for name in names}
        count = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            line = reader.line_num
            if count > MAX_ROWS:
                problems.append(
                    PredictionProblem(file, line, None, f"The file has over {MAX_ROWS} rows.")
                )
                return

            def cell(name: str, cells: list[str] = cells) -> str:
                i = where.get(name)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            def problem(name: str | None, message: str, line: int = line) -> None:
                problems.append(PredictionProblem(file, line, name, message))

            if len(cells) > len(header):
                problem(None, f"The line has {len(cells)} cells; the header has {len(header)}.")
            each(line, cell, problem)
    except csv.Error as error:
        problems.append(
            PredictionProblem(
                file, reader.line_num, None, f"The file is not valid CSV here: {error}."
            )
        )
        return
    if count == 0:
        problems.append(PredictionProblem(file, None, None, "The file has a header but no rows."))


def _score(raw: str, name: str, problem: Problem) -> float | None:
    """A probability in [0, 1]; a problem naming the column otherwise."""
    if not raw:
        problem(name, f"The score {name} is missing.")
        return None
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not 0 <= number <= 1:
        problem(name, f"The score {name} {_short(raw)} is not a number between 0 and 1.")
        return None
    return number


def _study_id(cell: Cell, problem: Problem) -> str | None:
    study_id = cell("study_id").lower()
    if not study_id:
        problem("study_id", "The study id is missing.")
        return None
    if len(study_id) > MAX_ID_LENGTH:
        problem("study_id", f"The study id {_short(study_id)} is not a study id (too long).")
        return None
    return study_id


def check_predictions(scores: str, boxes: str | None = None) -> PredictionsTable:
    """Every problem of both files (nothing raised), with their good rows."""
    table = PredictionsTable()
    problems = table.problems
    first_line: dict[str, int] = {}

    def score_row(line: int, cell: Cell, problem: Problem) -> None:
        before = len(problems)
        study_id = _study_id(cell, problem)
        table.rows.append(RowRef(SCORES_FILE, line, study_id))
        left = _score(cell("left_malignant"), "left_malignant", problem)
        right = _score(cell("right_malignant"), "right_malignant", problem)
        for name in SCORE_OPTIONAL:
            if cell(name):
                _score(cell(name), name, problem)
        if study_id is not None:
            if study_id in first_line:
                problem(
                    "study_id",
                    f"Study {_short(study_id)} is given again (first on line "
                    f"{first_line[study_id]}); one row per exam.",
                )
            else:
                first_line[study_id] = line
        if len(problems) == before:
            assert study_id is not None
            assert left is not None
            assert right is not None
            table.exams.append(ExamScores(study_id, left, right, line))

    _rows(scores, SCORES_FILE, SCORE_COLUMNS, SCORE_OPTIONAL, problems, score_row)
    if boxes is not None:
        _rows(boxes, BOXES_FILE, BOX_COLUMNS, (), problems, lambda *a: _box_row(table, *a))
    return table


def _vindr(reader: Callable[[str], Any], raw: str, name: str, problem: Problem) -> Any:
    try:
        return reader(raw), True
    except _Bad as bad:
        problem(name, f"{name} {bad.reason}; got {_short(raw)}.")
        return None, False


def _box_row(table: PredictionsTable, line: int, cell: Cell, problem: Problem) -> None:
    problems = table.problems
    before = len(problems)
    study_id = _study_id(cell, problem)
    image_id = cell("image_id").lower()
    if not image_id:
        problem("image_id", "The image id is missing.")
    elif len(image_id) > MAX_ID_LENGTH:
        problem("image_id", f"The image id {_short(image_id)} is not an image id (too long).")
        image_id = ""
    raw_side = cell("laterality")
    laterality = LATERALITIES.get(raw_side.upper())
    if laterality is None:
        problem("laterality", f"The laterality {_short(raw_side)} is not L or R.")
    table.rows.append(RowRef(BOXES_FILE, line, study_id, laterality, image_id or None))
    categories, _ = _vindr(
        _read_categories, cell("finding_categories"), "finding_categories", problem
    )
    birads, _ = _vindr(_read_birads, cell("finding_birads"), "finding_birads", problem)
    numbers: dict[str, float] = {}
    for name in COORDINATES:
        raw = cell(name)
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            problem(name, f"{name} {_short(raw)} is not a number of pixels (0 or more).")
        else:
            numbers[name] = number
    if len(numbers) == len(COORDINATES):
        if numbers["xmin"] >= numbers["xmax"]:
            problem("xmax", "The box's xmax is not right of its xmin.")
        if numbers["ymin"] >= numbers["ymax"]:
            problem("ymax", "The box's ymax is not below its ymin.")
    score = _score(cell("score"), "score", problem)
    if len(problems) == before:
        assert study_id is not None
        assert laterality is not None
        assert score is not None
        table.boxes.append(
            PredictedBox(
                study_id,
                image_id,
                laterality,
                categories,
                birads,
                score=score,
                line=line,
                **numbers,
            )
        )
