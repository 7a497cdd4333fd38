"""Reading the release's files: each record as a row of checked cells, and the problems found
on the way, each with its file and physical line."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.export.vindr_format.columns import (
    BREAST_FILE,
    BREAST_HEADER,
    COORDINATE_COLUMNS,
    FINDING_HEADER,
    RELEASE_BREAST_BIRADS,
    RELEASE_DENSITIES,
    RELEASE_FINDING_BIRADS,
    SHOWN_LENGTH,
    SPLITS,
    VINDR_CATEGORIES,
)
from app.export.vindr_format.writing import birads_text, categories_text, density_text
from app.reading.rules import COORDINATE_LIMIT, NO_FINDING

Source = Iterable[str]


@dataclass(frozen=True)
class Problem:
    """Something wrong in a release file; ``line`` is the 1-based physical line (header = 1)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.message}"


# --- parsing: cells ---------------------------------------------------------------------------


class _Bad(Exception):
    """A cell's value is wrong: ``reason`` completes "<column> ...; got <value>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_HEX_ID = re.compile(r"[0-9a-f]{32}")
_POSITIVE = re.compile(r"[1-9][0-9]*")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def shown(value: str) -> str:
    """The offending value for a message: quoted, cut to about SHOWN_LENGTH characters."""
    if len(value) > SHOWN_LENGTH:
        value = value[: SHOWN_LENGTH - 3] + "..."
    return repr(value)


def _or_list(texts: Sequence[str]) -> str:
    return ", ".join(texts[:-1]) + " or " + texts[-1]


def _hex_id(cell: str) -> str:
    if not _HEX_ID.fullmatch(cell):
        raise _Bad("must be 32 lowercase hexadecimal characters (an MD5 digest)")
    return cell


def _choice(choices: Mapping[str, Any], allow_empty: bool = False) -> Callable[[str], Any]:
    """A parser for one of ``choices`` (text -> value), or empty -> None when allowed."""
    wanted = [repr(text) for text in choices] + (["empty"] if allow_empty else [])

    def parse(cell: str) -> Any:
        if allow_empty and cell == "":
            return None
        if cell not in choices:
            raise _Bad(f"must be {_or_list(wanted)}")
        return choices[cell]

    return parse


def _positive_int(cell: str) -> int:
    if not _POSITIVE.fullmatch(cell):
        raise _Bad("must be a positive whole number (pixels)")
    return int(cell)


def _coordinate(cell: str) -> float | None:
    """A float within the label's limit; empty -> None (whether allowed is the row's say)."""
    if cell == "":
        return None
    number = float(cell) if _NUMBER.fullmatch(cell) else math.nan
    if not math.isfinite(number) or abs(number) > COORDINATE_LIMIT:
        raise _Bad(f"must be a number within +-{COORDINATE_LIMIT:g} (pixels) or empty")
    return number


def _categories(cell: str) -> tuple[str, ...]:
    names = _category_list(cell)
    for name in names:
        if name not in VINDR_CATEGORIES:
            raise _Bad(
                f"names an unknown category {shown(name)}; the VinDr-Mammo vocabulary is "
                + ", ".join(VINDR_CATEGORIES)
            )
    for name in names:
        if names.count(name) > 1:
            raise _Bad(f"lists {name!r} twice")
    if NO_FINDING in names and len(names) > 1:
        raise _Bad(f"combines {NO_FINDING!r} with other categories")
    return tuple(names)


def _category_list(cell: str) -> list[str]:
    """The names of a cell written as Python writes a list of strings, ``['Mass', 'Asymmetry']``."""
    names = cell[2:-2].split("', '")
    if not (cell.startswith("['") and cell.endswith("']")) or categories_text(names) != cell:
        raise _Bad(
            "must be a list of category names as Python writes it, like ['Mass', 'Asymmetry']"
        )
    return names


_PARSERS: dict[str, Callable[[str], Any]] = {
    "study_id": _hex_id,
    "series_id": _hex_id,
    "image_id": _hex_id,
    "laterality": _choice({"L": "L", "R": "R"}),
    "view_position": _choice({"CC": "CC", "MLO": "MLO"}),
    "height": _positive_int,
    "width": _positive_int,
    "breast_birads": _choice({birads_text(n): n for n in RELEASE_BREAST_BIRADS}),
    "breast_density": _choice({density_text(d): d for d in RELEASE_DENSITIES}),
    "finding_categories": _categories,
    "finding_birads": _choice(
        {birads_text(n): n for n in RELEASE_FINDING_BIRADS}, allow_empty=True
    ),
    **dict.fromkeys(COORDINATE_COLUMNS, _coordinate),
    "split": _choice({split: split for split in SPLITS}),
}


# --- parsing: lines and rows ------------------------------------------------------------------


class Line(NamedTuple):
    """A CSV record: its first physical line, its cells, or the CSV module's complaint."""

    number: int
    cells: list[str]
    error: str = ""


@dataclass
class Row:
    """A well-formed record: raw ``cells`` by column and the ``values`` of its valid cells."""

    file: str
    line: int
    cells: dict[str, str]
    values: dict[str, Any]


def csv_lines(source: Source) -> Iterator[Line]:
    lines = io.StringIO(source, newline="") if isinstance(source, str) else source
    reader = csv.reader(lines, strict=True)
    end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Line(end + 1, [], f"unreadable CSV ({error})")
            if reader.line_num == end:
                return
        else:
            yield Line(end + 1, cells)
        end = reader.line_num


def header_problem(first: Line | None, file: str, header: Sequence[str]) -> str | None:
    expected = ",".join(header)
    if first is None:
        return f"the file is empty; its first line must be the header {expected!r}"
    if not first.error and first.cells == list(header):
        return None
    got = first.error or ",".join(first.cells)
    message = f"the header must be exactly {expected!r}; got {shown(got)}"
    other = FINDING_HEADER if file == BREAST_FILE else BREAST_HEADER
    if first.cells == list(other):
        message += " (the header of the other file: were the two files swapped?)"
    elif first.cells and first.cells[0].startswith("\ufeff"):
        message += " (the file starts with a byte-order mark: save it as UTF-8 without BOM)"
    return message


def parse_row(line: Line, file: str, header: Sequence[str], problems: list[Problem]) -> Row | None:
    """The record as a row, or None (with a problem) when it cannot be split into columns."""
    if line.error:
        problems.append(Problem(file, line.number, line.error))
        return None
    if not line.cells:
        problems.append(Problem(file, line.number, "blank line"))
        return None
    if len(line.cells) != len(header):
        message = (
            f"{len(line.cells)} columns instead of {len(header)}; got {shown(','.join(line.cells))}"
        )
        problems.append(Problem(file, line.number, message))
        return None
    cells = dict(zip(header, line.cells, strict=True))
    values: dict[str, Any] = {}
    for column, cell in cells.items():
        try:
            values[column] = _PARSERS[column](cell)
        except _Bad as bad:
            message = f"{column} {bad.reason}; got {shown(cell)}"
            problems.append(Problem(file, line.number, message))
    return Row(file, line.number, cells, values)


def where(row: Row, file: str) -> str:
    """How a message from ``file`` refers to ``row``'s line."""
    return f"line {row.line}" if row.file == file else f"{row.file} line {row.line}"
