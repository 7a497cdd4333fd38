"""A fully crossed reader study's ratings: every reader rates every case in every treatment
(modality or session).

Built from long rows ``(reader, treatment, case, truth, rating)``, the layout of MRMCaov and
of the ratings table we import and export, already parsed (a list of mappings or tuples) with
the row number each came from. :func:`validate_rows` returns every problem, each naming its
row; :func:`study_from_rows` raises :class:`RatingsInvalid` (422 in the common error shape)
listing them all, or returns a :class:`ReaderStudy`. Higher ratings mean more suspicious.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.core.errors import Invalid

FIELDS = ("reader", "treatment", "case", "truth", "rating")
#: Below this many diseased or non-diseased cases no variance can be estimated.
MIN_PER_CLASS = 2


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with the rows: ``row`` is the row's number (``None`` for a problem of
    the table as a whole, such as a missing rating), ``field`` the column at fault."""

    row: int | None
    field: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


class RatingsInvalid(Invalid):
    """The rows do not make a fully crossed study; ``problems`` lists every reason."""

    code = "invalid_ratings"

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        first = self.problems[0].message if self.problems else ""
        super().__init__(
            f"The ratings table has {count} problem{'s' if count != 1 else ''}: {first}"
            + (" (and more, listed in details)" if count > 1 else ""),
            details=[problem.to_dict() for problem in self.problems],
        )


@dataclass(frozen=True, eq=False)
class ReaderStudy:
    """Ratings of a fully crossed study.

    ``scores[t, r, c]`` is reader ``readers[r]``'s rating of case ``cases[c]`` in treatment
    ``treatments[t]``; ``truth[c]`` is 1 for a diseased case, 0 for a non-diseased one. Labels
    are strings in the order they first appear in the rows. The arrays are read-only.
    """

    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]
    truth: NDArray[np.int8]
    scores: NDArray[np.float64]

    def __post_init__(self) -> None:
        truth = np.array(self.truth, dtype=np.int8)
        scores = np.array(self.scores, dtype=np.float64)
        shape = (len(self.treatments), len(self.readers), len(self.cases))
        if scores.shape != shape:
            raise ValueError(f"scores must have shape {shape}; got {scores.shape}.")
        if truth.shape != (len(self.cases),) or not np.all((truth == 0) | (truth == 1)):
            raise ValueError("truth must hold 0 or 1 for each case.")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores must be finite.")
        for name, labels in (
            ("treatments", self.treatments),
            ("readers", self.readers),
            ("cases", self.cases),
        ):
            if len(set(labels)) != len(labels) or not labels:
                raise ValueError(f"{name} must be distinct and not empty.")
        truth.flags.writeable = False
        scores.flags.writeable = False
        object.__setattr__(self, "truth", truth)
        object.__setattr__(self, "scores", scores)

    @property
    def n_diseased(self) -> int:
        return int(self.truth.sum())

    @property
    def n_normal(self) -> int:
        return len(self.cases) - self.n_diseased

    def subset(
        self, *, treatments: Sequence[str] | None = None, readers: Sequence[str] | None = None
    ) -> ReaderStudy:
        """The same cases with only the given treatments and readers, in the order given."""
        t_index = [self.treatments.index(t) for t in (treatments or self.treatments)]
        r_index = [self.readers.index(r) for r in (readers or self.readers)]
        return ReaderStudy(
            tuple(self.treatments[i] for i in t_index),
            tuple(self.readers[j] for j in r_index),
            self.cases,
            self.truth,
            self.scores[np.ix_(t_index, r_index)],
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """The long rows (reader, treatment, case, truth, rating), by reader, treatment, case."""
        return [
            {
                "reader": reader,
                "treatment": treatment,
                "case": case,
                "truth": int(self.truth[c]),
                "rating": float(self.scores[t, r, c]),
            }
            for r, reader in enumerate(self.readers)
            for t, treatment in enumerate(self.treatments)
            for c, case in enumerate(self.cases)
        ]


Row = Mapping[str, Any] | Sequence[Any]


def validate_rows(
    rows: Iterable[Row], row_numbers: Sequence[int] | None = None
) -> list[RowProblem]:
    """Every problem of the rows: first each row's own (a missing value, a truth other than
    0/1, a rating that is not a finite number), in row order; then a repeated (reader,
    treatment, case), a case whose truth differs between rows (at the rows of the rarer
    value), a missing rating ("reader X treatment Y case Z has no rating."), too few
    diseased or non-diseased cases (at least 2 of each). Empty when the rows make a study."""
    return _collect(rows, row_numbers)[0]


def study_from_rows(rows: Iterable[Row], row_numbers: Sequence[int] | None = None) -> ReaderStudy:
    """The study the rows describe; :class:`RatingsInvalid` listing every problem if any.

    A row is a mapping with the keys ``reader, treatment, case, truth, rating`` or a sequence
    in that order. ``row_numbers[i]`` is the number reported for row ``i`` (a CSV's line
    number); by default rows are numbered from 1. Labels are compared as strings (a CSV's
    ``1`` and an int ``1`` are the same reader); ratings may be numbers or numeric text.
    """
    problems, study = _collect(rows, row_numbers)
    if problems or study is None:
        raise RatingsInvalid(problems)
    return study


@dataclass
class _Parsed:
    number: int
    reader: str
    treatment: str
    case: str
    truth: int
    rating: float


def _collect(
    rows: Iterable[Row], row_numbers: Sequence[int] | None
) -> tuple[list[RowProblem], ReaderStudy | None]:
    rows = list(rows)
    if row_numbers is not None and len(row_numbers) != len(rows):
        raise ValueError(f"{len(row_numbers)} row numbers for {len(rows)} rows.")
    numbers_ = list(row_numbers) if row_numbers is not None else list(range(1, len(rows) + 1))
    problems: list[RowProblem] = []
    if not rows:
        return [RowProblem(None, None, "the table has no rows.")], None

    parsed: list[_Parsed] = []
    present: set[tuple[str, str, str]] = set()
    readers: dict[str, None] = {}
    treatments: dict[str, None] = {}
    cases: dict[str, None] = {}
    for number, row in zip(numbers_, rows, strict=True):
        labels, item = _parse_row(number, row, problems)
        if labels is not None:
            # A row with a bad truth or rating still names its cell: no "missing" for it.
            present.add(labels)
            readers.setdefault(labels[0])
            treatments.setdefault(labels[1])
            cases.setdefault(labels[2])
        if item is not None:
            parsed.append(item)

    first_row: dict[tuple[str, str, str], int] = {}
    rows_by_truth: dict[str, dict[int, list[int]]] = {}
    for item in parsed:
        key = (item.reader, item.treatment, item.case)
        if key in first_row:
            problems.append(
                RowProblem(
                    item.number,
                    None,
                    f"row {item.number} repeats reader {item.reader} treatment "
                    f"{item.treatment} case {item.case} (first at row {first_row[key]}).",
                )
            )
        else:
            first_row[key] = item.number
        rows_by_truth.setdefault(item.case, {}).setdefault(item.truth, []).append(item.number)
    for case, by_truth in rows_by_truth.items():
        if len(by_truth) > 1:
            # The value on fewer rows is the one at fault.
            odd, usual = sorted(by_truth, key=lambda value: (len(by_truth[value]), -value))
            problems.append(
                RowProblem(
                    by_truth[odd][0],
                    "truth",
                    f"case {case} has truth {odd} at {_rows(by_truth[odd])} but {usual} at "
                    f"{_rows(by_truth[usual])}.",
                )
            )
    truth_of = {
        case: max(by_truth, key=lambda value: len(by_truth[value]))
        for case, by_truth in rows_by_truth.items()
    }

    for reader in readers:
        for treatment in treatments:
            for case in cases:
                if (reader, treatment, case) not in present:
                    problems.append(
                        RowProblem(
                            None,
                            None,
                            f"reader {reader} treatment {treatment} case {case} has no rating.",
                        )
                    )

    diseased = sum(1 for truth in truth_of.values() if truth == 1)
    normal = len(truth_of) - diseased
    for count, kind in ((diseased, "diseased (truth 1)"), (normal, "non-diseased (truth 0)")):
        if parsed and count < MIN_PER_CLASS:
            problems.append(
                RowProblem(
                    None,
                    "truth",
                    f"{count} {kind} case{'s' if count != 1 else ''}: at least "
                    f"{MIN_PER_CLASS} are needed.",
                )
            )
    if problems:
        return problems, None

    t_index = {label: k for k, label in enumerate(treatments)}
    r_index = {label: k for k, label in enumerate(readers)}
    c_index = {label: k for k, label in enumerate(cases)}
    scores = np.empty((len(t_index), len(r_index), len(c_index)))
    for item in parsed:
        scores[t_index[item.treatment], r_index[item.reader], c_index[item.case]] = item.rating
    truth_array = np.array([truth_of[case] for case in cases], dtype=np.int8)
    study = ReaderStudy(tuple(treatments), tuple(readers), tuple(cases), truth_array, scores)
    return [], study


def _rows(numbers_: list[int], shown: int = 5) -> str:
    listed = ", ".join(str(n) for n in numbers_[:shown])
    more = f" and {len(numbers_) - shown} more" if len(numbers_) > shown else ""
    return f"row{'s' if len(numbers_) > 1 else ''} {listed}{more}"


def _parse_row(
    number: int, row: Row, problems: list[RowProblem]
) -> tuple[tuple[str, str, str] | None, _Parsed | None]:
    """The row's (reader, treatment, case) when all three are there, and the parsed row when
    nothing is wrong with it."""
    if isinstance(row, Mapping):
        values = [row.get(name) for name in FIELDS]
    elif isinstance(row, Sequence) and not isinstance(row, str | bytes):
        if len(row) != len(FIELDS):
            problems.append(
                RowProblem(
                    number,
                    None,
                    f"row {number} has {len(row)} values; expected {len(FIELDS)} "
                    f"({', '.join(FIELDS)}).",
                )
            )
            return None, None
        values = list(row)
    else:
        problems.append(RowProblem(number, None, f"row {number} is not a row: {row!r}."))
        return None, None
    before = len(problems)
    labels: list[str] = []
    for name, value in zip(FIELDS[:3], values[:3], strict=True):
        text = _label(value)
        if text is None:
            problems.append(RowProblem(number, name, f"row {number}: {name} is missing."))
        labels.append(text or "")
    truth = _truth(values[3])
    if truth is None:
        problems.append(
            RowProblem(
                number, "truth", f"row {number}: truth must be 0 or 1; got {_shown(values[3])}."
            )
        )
    rating = _rating(values[4])
    if rating is None:
        problems.append(
            RowProblem(
                number,
                "rating",
                f"row {number}: rating must be a finite number; got {_shown(values[4])}.",
            )
        )
    cell = (labels[0], labels[1], labels[2]) if all(labels) else None
    if len(problems) > before or truth is None or rating is None:
        return cell, None
    return cell, _Parsed(number, labels[0], labels[1], labels[2], truth, rating)


def _label(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _truth(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Number):
        return int(value) if value in (0, 1) else None  # type: ignore[operator]
    if isinstance(value, str) and value.strip() in ("0", "1", "0.0", "1.0"):
        return int(float(value.strip()))
    return None


def _rating(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "nothing"
    return repr(value)
