"""The VinDr-Mammo release format (seed 000), byte for byte: writing our labels as
``breast-level_annotations.csv`` and ``finding_annotations.csv``, and reading such a release
back as labels.

Writing. :func:`breast_rows` and :func:`finding_rows` give one study's rows; the caller
writes each header once (:func:`csv_writer`, :func:`write_header`) and then streams the
studies. The row order we write is stable: studies in the order the caller gives them,
images in the order given (:func:`default_image_order` sorts L-CC, L-MLO, R-CC, R-MLO) and,
on each image, its boxes in the label's order, or one ``['No Finding']`` row for an image
without boxes. Cells are written as in the release: ``BI-RADS n``, ``DENSITY X``, Python's
``str()`` of the category list, ``repr(float)`` coordinates, minimal quoting, LF endings.

Reading. :func:`parse_release` turns both files into one label per study and lists every
problem it finds, each with its file and physical line number; it returns studies only when
there is no problem, so a caller cannot import half a release. It accepts what the release
contains (breast BI-RADS 1-5, finding BI-RADS 3-5, the 11 categories) and nothing else.

Round trip: writing the parsed studies back (images in file order, the parsed label and
split) reproduces the input bytes exactly when the input is in our canonical form: each
study's rows contiguous, both files listing the images in the same order, coordinates
written as ``repr(float)``, a trailing newline.

Pure: no database and no files other than the file-like objects passed in.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from app.reading.rules import (
    COORDINATE_LIMIT,
    MAX_BOXES,
    NO_FINDING,
    VINDR_ASSOCIATED,
    VINDR_GRADED,
    Box,
    BreastRead,
    Label,
    parse_label,
)

BREAST_FILE = "breast-level_annotations.csv"
FINDING_FILE = "finding_annotations.csv"

IMAGE_COLUMNS = (
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
)
COORDINATE_COLUMNS = ("xmin", "ymin", "xmax", "ymax")
BREAST_HEADER = (*IMAGE_COLUMNS, "split")
FINDING_HEADER = (
    *IMAGE_COLUMNS,
    "finding_categories",
    "finding_birads",
    *COORDINATE_COLUMNS,
    "split",
)

GRADED = VINDR_GRADED
ASSOCIATED = VINDR_ASSOCIATED
VINDR_CATEGORIES = (NO_FINDING, *GRADED, *ASSOCIATED)
SPLITS = ("training", "test")

# The release's values only: BI-RADS 0 and 6 do not occur in it, and are refused on import.
RELEASE_BREAST_BIRADS = (1, 2, 3, 4, 5)
RELEASE_FINDING_BIRADS = (3, 4, 5)
RELEASE_DENSITIES = ("A", "B", "C", "D")
VIEW_ORDER = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
# Offending values are quoted in messages, cut to about this many characters.
SHOWN_LENGTH = 60


@dataclass(frozen=True)
class ImageFacts:
    """What the release says about one image (``height``, ``width``: DICOM Rows, Columns)."""

    study_id: str
    series_id: str
    image_id: str
    laterality: str
    view_position: str
    height: int
    width: int


# --- cells ------------------------------------------------------------------------------------


def birads_text(birads: int | None) -> str:
    """``BI-RADS 4``; empty when not given."""
    return "" if birads is None else f"BI-RADS {birads}"


def density_text(density: str | None) -> str:
    """``DENSITY C``; empty when not given."""
    return "" if density is None else f"DENSITY {density}"


def categories_text(categories: Iterable[str]) -> str:
    """Python's ``str()`` of the list: ``['Mass', 'Skin Retraction']``."""
    return str([str(name) for name in categories])


def coordinate_text(value: float) -> str:
    """``repr(float)``: ``2098.0``, ``-3.25``; neither rounded nor clipped."""
    return repr(float(value))


# --- rows -------------------------------------------------------------------------------------


def breast_rows(
    images: Sequence[ImageFacts], label: Mapping[str, Any] | Label, split: str
) -> list[list[str]]:
    """One study's ``breast-level_annotations.csv`` rows: one per image, in the order given,
    each carrying its breast's BI-RADS and density.

    ``label`` is label JSON (or a parsed :class:`Label`); it is checked with ``parse_label``,
    which raises ``LabelError`` (a ``ValueError``) on bad input. Values are written as given,
    without the import's checks: ``split`` may be empty (a study not split yet), an image of
    unknown side gets empty breast cells, a BI-RADS 0 is written ``BI-RADS 0``; such files do
    not re-import (:func:`parse_release` accepts the release's values only).
    """
    read = _parsed(label)
    return [[*_image_cells(image, read), split] for image in images]


def finding_rows(
    images: Sequence[ImageFacts], label: Mapping[str, Any] | Label, split: str
) -> list[list[str]]:
    """One study's ``finding_annotations.csv`` rows. For each image in the order given: one
    row per box of that image, in the label's box order, or exactly one ``['No Finding']``
    row with empty finding BI-RADS and coordinates. A box without a BI-RADS (associated
    features only) has an empty finding BI-RADS.

    Raises ValueError for a box on an image that is not in ``images`` (it would be lost)
    and for an image listed twice (its boxes would be written twice).
    """
    read = _parsed(label)
    boxes_on = _boxes_by_image(images, read)
    rows: list[list[str]] = []
    for image in images:
        cells = _image_cells(image, read)
        boxes = boxes_on[image.image_id]
        if not boxes:
            rows.append([*cells, categories_text([NO_FINDING]), "", "", "", "", "", split])
        rows += [[*cells, *_box_cells(box), split] for box in boxes]
    return rows


def default_image_order(images: Iterable[ImageFacts]) -> list[ImageFacts]:
    """The four views as VinDr lists them, L-CC, L-MLO, R-CC, R-MLO, then any other image;
    images in the same place (two L-CC, say) are ordered by image id."""
    rank = {view: index for index, view in enumerate(VIEW_ORDER)}

    def key(image: ImageFacts) -> tuple[int, str]:
        return rank.get((image.laterality, image.view_position), len(rank)), image.image_id

    return sorted(images, key=key)


def _parsed(label: Mapping[str, Any] | Label) -> Label:
    return label if isinstance(label, Label) else parse_label(label)


def _boxes_by_image(images: Sequence[ImageFacts], read: Label) -> dict[str, list[Box]]:
    """Each image's boxes, in label order."""
    boxes_on: dict[str, list[Box]] = {}
    for image in images:
        if image.image_id in boxes_on:
            raise ValueError(f"Image {image.image_id!r} is listed twice.")
        boxes_on[image.image_id] = []
    for box in read.boxes:
        if box.image_id not in boxes_on:
            raise ValueError(
                f"Box {box.id!r} is on image {box.image_id!r}, which is not among the images."
            )
        boxes_on[box.image_id].append(box)
    return boxes_on


def _image_cells(image: ImageFacts, read: Label) -> list[str]:
    """The nine image columns; no breast labels for an image of unknown side."""
    breast = read.breasts.get(image.laterality, BreastRead())
    return [
        image.study_id,
        image.series_id,
        image.image_id,
        image.laterality,
        image.view_position,
        str(image.height),
        str(image.width),
        birads_text(breast.birads),
        density_text(breast.density),
    ]


def _box_cells(box: Box) -> list[str]:
    corners = (box.xmin, box.ymin, box.xmax, box.ymax)
    return [
        categories_text(box.categories),
        birads_text(box.birads),
        *(coordinate_text(value) for value in corners),
    ]


# --- writing ----------------------------------------------------------------------------------


class RowWriter(Protocol):
    """What ``csv.writer`` returns."""

    def writerow(self, row: Iterable[Any], /) -> Any: ...

    def writerows(self, rows: Iterable[Iterable[Any]], /) -> None: ...


def csv_writer(file: Any) -> RowWriter:
    """The release's dialect: minimal quoting (only cells with a comma, here) and LF endings.
    Open files with ``newline=""`` so that nothing translates the line endings."""
    return csv.writer(file, lineterminator="\n")


def write_header(writer: RowWriter, header: Sequence[str]) -> None:
    writer.writerow(header)


# --- parsing: results -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong in a release file; ``line`` is the 1-based physical line (header = 1)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.message}"


@dataclass(frozen=True)
class ParsedStudy:
    """One study: its images in breast-level file order, its label as JSON and its split."""

    study_id: str
    images: list[ImageFacts]
    label: dict[str, Any]
    split: str


@dataclass(frozen=True)
class ParsedRelease:
    """The studies in first-appearance order of the breast-level file, or none when there is
    any problem (the caller then imports nothing)."""

    studies: list[ParsedStudy]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


Source = Iterable[str]


def parse_release(
    breast_csv: Source,
    finding_csv: Source,
    *,
    known_image_ids: Container[str] | None = None,
) -> ParsedRelease:
    """Both release files as labels, or every problem found in them.

    Each source is a text file object (open it with ``newline=""``), an iterable of lines,
    or a ``str`` holding the whole file. ``known_image_ids``, when given, are the images
    that have a DICOM file; an image of the breast-level file outside them is a problem.
    Problems come in file order (breast-level file first), then by line. A file whose header
    is wrong gives that one problem: its rows are not read, and the checks that need both
    files are skipped.
    """
    release = _Release(known_image_ids)
    release.breast_read = release.read(
        breast_csv, BREAST_FILE, BREAST_HEADER, release.add_breast_row
    )
    finding_read = release.read(finding_csv, FINDING_FILE, FINDING_HEADER, release.add_finding_row)
    release.finish(both_read=release.breast_read and finding_read)
    problems = sorted(release.problems, key=_problem_order)
    return ParsedRelease(studies=[] if problems else release.studies_out(), problems=problems)


def _problem_order(problem: Problem) -> tuple[int, int]:
    return (0 if problem.file == BREAST_FILE else 1), problem.line


# --- parsing: cells ---------------------------------------------------------------------------


class _Bad(Exception):
    """A cell's value is wrong: ``reason`` completes "<column> ...; got <value>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_HEX_ID = re.compile(r"[0-9a-f]{32}")
_POSITIVE = re.compile(r"[1-9][0-9]*")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _shown(value: str) -> str:
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
                f"names an unknown category {_shown(name)}; the VinDr-Mammo vocabulary is "
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


class _Line(NamedTuple):
    """A CSV record: its first physical line, its cells, or the CSV module's complaint."""

    number: int
    cells: list[str]
    error: str = ""


@dataclass
class _Row:
    """A well-formed record: raw ``cells`` by column and the ``values`` of its valid cells."""

    file: str
    line: int
    cells: dict[str, str]
    values: dict[str, Any]


def _csv_lines(source: Source) -> Iterator[_Line]:
    lines = io.StringIO(source, newline="") if isinstance(source, str) else source
    reader = csv.reader(lines, strict=True)
    end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield _Line(end + 1, [], f"unreadable CSV ({error})")
            if reader.line_num == end:
                return
        else:
            yield _Line(end + 1, cells)
        end = reader.line_num


def _header_problem(first: _Line | None, file: str, header: Sequence[str]) -> str | None:
    expected = ",".join(header)
    if first is None:
        return f"the file is empty; its first line must be the header {expected!r}"
    if not first.error and first.cells == list(header):
        return None
    got = first.error or ",".join(first.cells)
    message = f"the header must be exactly {expected!r}; got {_shown(got)}"
    other = FINDING_HEADER if file == BREAST_FILE else BREAST_HEADER
    if first.cells == list(other):
        message += " (the header of the other file: were the two files swapped?)"
    elif first.cells and first.cells[0].startswith("\ufeff"):
        message += " (the file starts with a byte-order mark: save it as UTF-8 without BOM)"
    return message


def _row(line: _Line, file: str, header: Sequence[str], problems: list[Problem]) -> _Row | None:
    """The record as a row, or None (with a problem) when it cannot be split into columns."""
    if line.error:
        problems.append(Problem(file, line.number, line.error))
        return None
    if not line.cells:
        problems.append(Problem(file, line.number, "blank line"))
        return None
    if len(line.cells) != len(header):
        message = (
            f"{len(line.cells)} columns instead of {len(header)}; "
            f"got {_shown(','.join(line.cells))}"
        )
        problems.append(Problem(file, line.number, message))
        return None
    cells = dict(zip(header, line.cells, strict=True))
    values: dict[str, Any] = {}
    for column, cell in cells.items():
        try:
            values[column] = _PARSERS[column](cell)
        except _Bad as bad:
            message = f"{column} {bad.reason}; got {_shown(cell)}"
            problems.append(Problem(file, line.number, message))
    return _Row(file, line.number, cells, values)


def _where(row: _Row, file: str) -> str:
    """How a message from ``file`` refers to ``row``'s line."""
    return f"line {row.line}" if row.file == file else f"{row.file} line {row.line}"


# --- parsing: the release ---------------------------------------------------------------------


@dataclass
class _Study:
    """A study of the breast-level file: its rows, its split and each breast's labels."""

    rows: list[_Row] = field(default_factory=list)
    split: _Row | None = None
    breast_rows: dict[tuple[str, str], _Row] = field(default_factory=dict)


@dataclass
class _FindingImage:
    """An image's rows in the finding file."""

    first: _Row
    no_finding: list[_Row] = field(default_factory=list)
    boxes: list[_Row] = field(default_factory=list)


class _Release:
    """What has been read so far, and the problems found."""

    def __init__(self, known_image_ids: Container[str] | None) -> None:
        self.known_image_ids = known_image_ids
        self.problems: list[Problem] = []
        self.breast_read = False  # whether the breast-level file could be read (its header)
        self.images: dict[str, _Row] = {}
        self.studies: dict[str, _Study] = {}
        self.series: dict[str, _Row] = {}
        self.findings: dict[str, _FindingImage] = {}
        self.box_rows: list[_Row] = []

    def problem(self, row: _Row, message: str) -> None:
        self.problems.append(Problem(row.file, row.line, message))

    def read(
        self, source: Source, file: str, header: Sequence[str], add: Callable[[_Row], None]
    ) -> bool:
        """Read one file; False when its header is wrong (its rows are then not read)."""
        lines = _csv_lines(source)
        message = _header_problem(next(lines, None), file, header)
        if message is not None:
            self.problems.append(Problem(file, 1, message))
            return False
        for line in lines:
            row = _row(line, file, header, self.problems)
            if row is not None:
                add(row)
        return True

    # --- breast-level file

    def add_breast_row(self, row: _Row) -> None:
        image_id, study_id = row.values.get("image_id"), row.values.get("study_id")
        if image_id is not None:
            first = self.images.setdefault(image_id, row)
            if first is not row:
                self._duplicate_image(row, first)
                return
        if study_id is None:
            return
        study = self.studies.setdefault(study_id, _Study())
        if image_id is not None:
            study.rows.append(row)
        self._check_series(row)
        self._check_split(row, study)
        self._check_breast(row, study)

    def _duplicate_image(self, row: _Row, first: _Row) -> None:
        image = _shown(row.cells["image_id"])
        study, first_study = row.values.get("study_id"), first.values.get("study_id")
        if study is not None and first_study is not None and study != first_study:
            self.problem(
                row,
                f"image_id {image} is also in study {_shown(first_study)} (line {first.line}); "
                "an image belongs to one study",
            )
        else:
            self.problem(row, f"a second row for image_id {image} (first on line {first.line})")

    def _check_series(self, row: _Row) -> None:
        series_id = row.values.get("series_id")
        if series_id is None:
            return
        first = self.series.setdefault(series_id, row)
        if first.values["study_id"] != row.values["study_id"]:
            self.problem(
                row,
                f"series_id {_shown(series_id)} is also in study "
                f"{_shown(first.values['study_id'])} (line {first.line}); "
                "a series belongs to one study",
            )

    def _check_split(self, row: _Row, study: _Study) -> None:
        if "split" not in row.values:
            return
        if study.split is None:
            study.split = row
        elif study.split.values["split"] != row.values["split"]:
            self.problem(
                row,
                f"split {_shown(row.cells['split'])} differs from "
                f"{_shown(study.split.cells['split'])} on line {study.split.line} for study "
                f"{_shown(row.cells['study_id'])}; the split is per study",
            )

    def _check_breast(self, row: _Row, study: _Study) -> None:
        laterality = row.values.get("laterality")
        if laterality is None:
            return
        for column in ("breast_birads", "breast_density"):
            if column not in row.values:
                continue
            first = study.breast_rows.setdefault((laterality, column), row)
            if first.values[column] != row.values[column]:
                self.problem(
                    row,
                    f"{column} {_shown(row.cells[column])} differs from "
                    f"{_shown(first.cells[column])} on line {first.line} for the same breast "
                    f"(study {_shown(row.cells['study_id'])}, {laterality}); "
                    "both images of a breast carry its labels",
                )

    # --- finding file

    def add_finding_row(self, row: _Row) -> None:
        self._check_box(row)
        image_id = row.values.get("image_id")
        if image_id is None:
            return
        image = self.findings.get(image_id)
        if image is None:
            image = self.findings[image_id] = _FindingImage(row)
            if self.breast_read and image_id not in self.images:
                self.problem(row, f"image_id {_shown(image_id)} is not in {BREAST_FILE}")
        self._check_same_image(row, self.images.get(image_id, image.first))
        categories = row.values.get("finding_categories")
        if categories == (NO_FINDING,):
            image.no_finding.append(row)
        elif categories is not None:
            image.boxes.append(row)
            self.box_rows.append(row)

    def _check_same_image(self, row: _Row, first: _Row) -> None:
        """The image's columns must repeat those of its first row (breast-level if any)."""
        for column in (*IMAGE_COLUMNS, "split"):
            if column not in row.values or column not in first.values:
                continue
            if row.values[column] != first.values[column]:
                self.problem(
                    row,
                    f"{column} {_shown(row.cells[column])} differs from "
                    f"{_shown(first.cells[column])} on {_where(first, row.file)} for "
                    f"image_id {_shown(row.cells['image_id'])}",
                )

    def _check_box(self, row: _Row) -> None:
        categories = row.values.get("finding_categories")
        if categories == (NO_FINDING,):
            self._check_no_finding(row)
        elif categories is not None:
            self._check_coordinates(row)
            self._check_finding_birads(row, categories)

    def _check_no_finding(self, row: _Row) -> None:
        if row.cells["finding_birads"]:
            self.problem(
                row,
                f"a {NO_FINDING!r} row has an empty finding_birads; "
                f"got {_shown(row.cells['finding_birads'])}",
            )
        filled = [f"{c} {_shown(row.cells[c])}" for c in COORDINATE_COLUMNS if row.cells[c]]
        if filled:
            self.problem(row, f"a {NO_FINDING!r} row has no box; got {', '.join(filled)}")

    def _check_coordinates(self, row: _Row) -> None:
        empty = [column for column in COORDINATE_COLUMNS if not row.cells[column]]
        if empty:
            self.problem(row, f"a box needs xmin, ymin, xmax and ymax; empty: {', '.join(empty)}")
        for low, high in (("xmin", "xmax"), ("ymin", "ymax")):
            first, last = row.values.get(low), row.values.get(high)
            if first is not None and last is not None and last < first:
                self.problem(
                    row,
                    f"{high} {_shown(row.cells[high])} is less than {low} {_shown(row.cells[low])}",
                )

    def _check_finding_birads(self, row: _Row, categories: tuple[str, ...]) -> None:
        if "finding_birads" not in row.values:
            return
        birads = row.values["finding_birads"]
        graded = [name for name in categories if name in GRADED]
        if graded and birads is None:
            self.problem(
                row,
                f"a box with a graded lesion ({', '.join(graded)}) needs a finding_birads of "
                "'BI-RADS 3', 'BI-RADS 4' or 'BI-RADS 5'; got ''",
            )
        elif not graded and birads is not None:
            self.problem(
                row,
                f"a box with only associated features ({', '.join(categories)}) has an empty "
                f"finding_birads; got {_shown(row.cells['finding_birads'])}",
            )

    # --- both files

    def finish(self, both_read: bool) -> None:
        for image_id, image in self.findings.items():
            self._check_finding_image(image_id, image)
        if both_read:
            for image_id, row in self.images.items():
                if image_id not in self.findings:
                    self.problem(
                        row,
                        f"image_id {_shown(image_id)} has no row in {FINDING_FILE}; every image "
                        f"has its boxes or one {NO_FINDING!r} row",
                    )
        if self.known_image_ids is not None:
            for image_id, row in self.images.items():
                if image_id not in self.known_image_ids:
                    self.problem(row, f"image_id {_shown(image_id)} has no DICOM file")
        self._check_box_counts()

    def _check_finding_image(self, image_id: str, image: _FindingImage) -> None:
        if not image.no_finding:
            return
        first, *others = image.no_finding
        for row in others:
            self.problem(
                row,
                f"a second {NO_FINDING!r} row for image_id {_shown(image_id)} "
                f"(first on line {first.line})",
            )
        if image.boxes:
            lines = ", ".join(str(row.line) for row in image.boxes)
            self.problem(
                first,
                f"image_id {_shown(image_id)} has a {NO_FINDING!r} row and box rows "
                f"(line {lines}); an image with boxes has no {NO_FINDING!r} row",
            )

    def _check_box_counts(self) -> None:
        counts: dict[str, int] = {}
        for row in self.box_rows:
            if "study_id" in row.values:
                counts[row.values["study_id"]] = counts.get(row.values["study_id"], 0) + 1
        for study_id, count in counts.items():
            study = self.studies.get(study_id)
            if count > MAX_BOXES and study is not None and study.rows:
                self.problem(
                    study.rows[0],
                    f"study {_shown(study_id)} has {count} boxes; a read holds at most {MAX_BOXES}",
                )

    # --- the result (only when there is no problem)

    def studies_out(self) -> list[ParsedStudy]:
        boxes: dict[str, list[dict[str, Any]]] = {study_id: [] for study_id in self.studies}
        for row in self.box_rows:
            study_boxes = boxes[row.values["study_id"]]
            study_boxes.append(_box_json(row, f"b{len(study_boxes) + 1}"))
        return [
            ParsedStudy(
                study_id=study_id,
                images=[_image_facts(row) for row in study.rows],
                label={"breasts": _breasts_json(study), "boxes": boxes[study_id], "note": ""},
                split=study.rows[0].values["split"],
            )
            for study_id, study in self.studies.items()
        ]


def _image_facts(row: _Row) -> ImageFacts:
    return ImageFacts(**{name: row.values[name] for name in ImageFacts.__dataclass_fields__})


def _breasts_json(study: _Study) -> dict[str, dict[str, Any]]:
    def value(laterality: str, column: str) -> Any:
        row = study.breast_rows.get((laterality, column))
        return None if row is None else row.values[column]

    return {
        lat: {"birads": value(lat, "breast_birads"), "density": value(lat, "breast_density")}
        for lat in ("R", "L")
    }


def _box_json(row: _Row, box_id: str) -> dict[str, Any]:
    values = row.values
    return {
        "id": box_id,
        "image_id": values["image_id"],
        **{column: values[column] for column in COORDINATE_COLUMNS},
        "categories": list(values["finding_categories"]),
        "birads": values["finding_birads"],
    }
