"""A study's ratings as RJafroc's JAFROC Excel workbook (pure), read in R with
``RJafroc::DfReadDataFile(file, newExcelFileFormat = FALSE)`` as ROC data (no localisation).

The layout, as RJafroc 2.1.x's old-format reader (``ReadJAFROCOldFormat``) reads it:

* sheet ``TRUTH``: ``CaseID, LesionID, Weight``, one row per case; a non-diseased case has
  LesionID 0 and Weight 0, a diseased case LesionID 1 and Weight 1 (its one "lesion" is the
  case). CaseID and LesionID must be whole numbers.
* sheet ``FP``: ``ReaderID, ModalityID, CaseID, FP_Rating``, one row per reader, modality and
  non-diseased case.
* sheet ``TP``: ``ReaderID, ModalityID, CaseID, LesionID, TP_Rating``, one row per reader,
  modality and diseased case (LesionID 1).

The reader finds the three sheets by name and reads them by column position, so a fourth sheet
is ignored: ``Key`` maps the numbers back to MammoRead's labels. Cases are numbered 1..K in
the rows' order (as in :func:`app.studies.ratings_export.imrmc_text`); readers are numbered
1..J in the rows' order, because that reader turns ReaderID into an integer; modalities keep
their labels (text is allowed there).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

TRUTH_SHEET = "TRUTH"
FP_SHEET = "FP"
TP_SHEET = "TP"
KEY_SHEET = "Key"
TRUTH_COLUMNS = ("CaseID", "LesionID", "Weight")
FP_COLUMNS = ("ReaderID", "ModalityID", "CaseID", "FP_Rating")
TP_COLUMNS = ("ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating")
KEY_COLUMNS = ("Kind", "ID", "MammoRead label")

_FIELDS = ("reader", "treatment", "case", "truth", "rating")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what an .xlsx cell cannot hold
_SHOWN = 5  # missing readings named in an error


@dataclass(frozen=True)
class _Study:
    readers: list[str]
    treatments: list[str]
    cases: list[str]
    truth: dict[str, int]
    rating: dict[tuple[str, str, str], float]


def jafroc_workbook(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The ``.xlsx`` bytes of the JAFROC workbook (sheets ``TRUTH``, ``FP``, ``TP``, ``Key``)
    for the long rows (keys reader, treatment, case, truth 0/1, rating). Raises
    :class:`ValueError` naming the problem when the rows are not a fully crossed ROC study:
    no rows, a missing key, a truth other than 0/1 or that changes within a case, a rating
    that is not a finite number, a reading given twice or missing, no diseased or no
    non-diseased case, or modality labels an Excel reader cannot keep apart."""
    study = _study(rows)
    reader_id = {reader: j for j, reader in enumerate(study.readers, start=1)}
    case_id = {case: k for k, case in enumerate(study.cases, start=1)}

    book = Workbook(write_only=True)
    truth = book.create_sheet(TRUTH_SHEET)
    truth.append(TRUTH_COLUMNS)
    for case in study.cases:
        diseased = study.truth[case]
        truth.append((case_id[case], diseased, diseased))

    fp = book.create_sheet(FP_SHEET)
    fp.append(FP_COLUMNS)
    tp = book.create_sheet(TP_SHEET)
    tp.append(TP_COLUMNS)
    for treatment in study.treatments:
        for reader in study.readers:
            for case in study.cases:
                rating = study.rating[(reader, treatment, case)]
                ids = (reader_id[reader], treatment, case_id[case])
                if study.truth[case]:
                    tp.append((*ids, 1, rating))
                else:
                    fp.append((*ids, rating))

    key = book.create_sheet(KEY_SHEET)
    key.append(KEY_COLUMNS)
    for case in study.cases:
        key.append(("case", case_id[case], case))
    for reader in study.readers:
        key.append(("reader", reader_id[reader], reader))
    for treatment in study.treatments:
        key.append(("modality", treatment, treatment))

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _study(rows: Sequence[Mapping[str, Any]]) -> _Study:
    if not rows:
        raise ValueError("No ratings: a JAFROC workbook needs at least one row.")
    readers: dict[str, None] = {}
    treatments: dict[str, None] = {}
    cases: dict[str, None] = {}
    truth: dict[str, int] = {}
    rating: dict[tuple[str, str, str], float] = {}
    for index, row in enumerate(rows, start=1):
        missing = [field for field in _FIELDS if field not in row]
        if missing:
            raise ValueError(f"Row {index} has no {', '.join(missing)}.")
        reader, case = _label(row["reader"], "reader", index), _label(row["case"], "case", index)
        treatment = _label(row["treatment"], "treatment", index).strip()
        if not treatment:
            raise ValueError(f"Row {index}: the treatment is blank.")
        value = _truth(row["truth"], index)
        if truth.setdefault(case, value) != value:
            raise ValueError(
                f"Row {index}: case {case!r} has truth {value} here and {truth[case]} before."
            )
        cell = (reader, treatment, case)
        if cell in rating:
            raise ValueError(
                f"Row {index}: reader {reader!r} rated case {case!r} in treatment "
                f"{treatment!r} twice."
            )
        rating[cell] = _rating(row["rating"], index)
        readers[reader] = treatments[treatment] = cases[case] = None
    study = _Study(list(readers), list(treatments), list(cases), truth, rating)
    _check_crossed(study)
    return study


def _check_crossed(study: _Study) -> None:
    absent = [
        (reader, treatment, case)
        for treatment in study.treatments
        for reader in study.readers
        for case in study.cases
        if (reader, treatment, case) not in study.rating
    ]
    if absent:
        named = "; ".join(
            f"reader {r!r}, treatment {t!r}, case {c!r}" for r, t, c in absent[:_SHOWN]
        )
        if len(absent) > _SHOWN:
            named += f"; and {len(absent) - _SHOWN} more"
        raise ValueError(
            f"Every reader must rate every case in every treatment; {len(absent)} "
            f"rating(s) missing: {named}."
        )
    diseased = sum(study.truth.values())
    if diseased == 0 or diseased == len(study.cases):
        raise ValueError(
            "ROC data needs at least one diseased (truth 1) and one non-diseased (truth 0) case; "
            f"these rows have {diseased} diseased of {len(study.cases)}."
        )


def _label(value: Any, field: str, index: int) -> str:
    text = str(value)
    if _CONTROL.search(text):
        raise ValueError(f"Row {index}: the {field} {text!r} holds a control character.")
    return text


def _truth(value: Any, index: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if number not in (0.0, 1.0):
        raise ValueError(f"Row {index}: truth must be 0 or 1, not {value!r}.")
    return int(number)


def _rating(value: Any, index: int) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"Row {index}: the rating must be a finite number, not {value!r}.")
    return number
