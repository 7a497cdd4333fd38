"""Reading a release back as labels: :func:`parse_release` checks both files row by row and
across rows (an image in one study, a split per study, the same labels on both images of a
breast, boxes well formed) and gives one label per study, or every problem found."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.export.vindr_format.cells import (
    Problem,
    Row,
    Source,
    csv_lines,
    header_problem,
    parse_row,
    shown,
    where,
)
from app.export.vindr_format.columns import (
    BREAST_FILE,
    BREAST_HEADER,
    COORDINATE_COLUMNS,
    FINDING_FILE,
    FINDING_HEADER,
    GRADED,
    IMAGE_COLUMNS,
    ImageFacts,
)
from app.reading.rules import MAX_BOXES, NO_FINDING

# --- parsing: results -------------------------------------------------------------------------


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


# --- parsing: the release ---------------------------------------------------------------------


@dataclass
class _Study:
    """A study of the breast-level file: its rows, its split and each breast's labels."""

    rows: list[Row] = field(default_factory=list)
    split: Row | None = None
    breast_rows: dict[tuple[str, str], Row] = field(default_factory=dict)


@dataclass
class _FindingImage:
    """An image's rows in the finding file."""

    first: Row
    no_finding: list[Row] = field(default_factory=list)
    boxes: list[Row] = field(default_factory=list)


class _Release:
    """What has been read so far, and the problems found."""

    def __init__(self, known_image_ids: Container[str] | None) -> None:
        self.known_image_ids = known_image_ids
        self.problems: list[Problem] = []
        self.breast_read = False  # whether the breast-level file could be read (its header)
        self.images: dict[str, Row] = {}
        self.studies: dict[str, _Study] = {}
        self.series: dict[str, Row] = {}
        self.findings: dict[str, _FindingImage] = {}
        self.box_rows: list[Row] = []

    def problem(self, row: Row, message: str) -> None:
        self.problems.append(Problem(row.file, row.line, message))

    def read(
        self, source: Source, file: str, header: Sequence[str], add: Callable[[Row], None]
    ) -> bool:
        """Read one file; False when its header is wrong (its rows are then not read)."""
        lines = csv_lines(source)
        message = header_problem(next(lines, None), file, header)
        if message is not None:
            self.problems.append(Problem(file, 1, message))
            return False
        for line in lines:
            row = parse_row(line, file, header, self.problems)
            if row is not None:
                add(row)
        return True

    # --- breast-level file

    def add_breast_row(self, row: Row) -> None:
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

    def _duplicate_image(self, row: Row, first: Row) -> None:
        image = shown(row.cells["image_id"])
        study, first_study = row.values.get("study_id"), first.values.get("study_id")
        if study is not None and first_study is not None and study != first_study:
            self.problem(
                row,
                f"image_id {image} is also in study {shown(first_study)} (line {first.line}); "
                "an image belongs to one study",
            )
        else:
            self.problem(row, f"a second row for image_id {image} (first on line {first.line})")

    def _check_series(self, row: Row) -> None:
        series_id = row.values.get("series_id")
        if series_id is None:
            return
        first = self.series.setdefault(series_id, row)
        if first.values["study_id"] != row.values["study_id"]:
            self.problem(
                row,
                f"series_id {shown(series_id)} is also in study "
                f"{shown(first.values['study_id'])} (line {first.line}); "
                "a series belongs to one study",
            )

    def _check_split(self, row: Row, study: _Study) -> None:
        if "split" not in row.values:
            return
        if study.split is None:
            study.split = row
        elif study.split.values["split"] != row.values["split"]:
            self.problem(
                row,
                f"split {shown(row.cells['split'])} differs from "
                f"{shown(study.split.cells['split'])} on line {study.split.line} for study "
                f"{shown(row.cells['study_id'])}; the split is per study",
            )

    def _check_breast(self, row: Row, study: _Study) -> None:
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
                    f"{column} {shown(row.cells[column])} differs from "
                    f"{shown(first.cells[column])} on line {first.line} for the same breast "
                    f"(study {shown(row.cells['study_id'])}, {laterality}); "
                    "both images of a breast carry its labels",
                )

    # --- finding file

    def add_finding_row(self, row: Row) -> None:
        self._check_box(row)
        image_id = row.values.get("image_id")
        if image_id is None:
            return
        image = self.findings.get(image_id)
        if image is None:
            image = self.findings[image_id] = _FindingImage(row)
            if self.breast_read and image_id not in self.images:
                self.problem(row, f"image_id {shown(image_id)} is not in {BREAST_FILE}")
        self._check_same_image(row, self.images.get(image_id, image.first))
        categories = row.values.get("finding_categories")
        if categories == (NO_FINDING,):
            image.no_finding.append(row)
        elif categories is not None:
            image.boxes.append(row)
            self.box_rows.append(row)

    def _check_same_image(self, row: Row, first: Row) -> None:
        """The image's columns must repeat those of its first row (breast-level if any)."""
        for column in (*IMAGE_COLUMNS, "split"):
            if column not in row.values or column not in first.values:
                continue
            if row.values[column] != first.values[column]:
                self.problem(
                    row,
                    f"{column} {shown(row.cells[column])} differs from "
                    f"{shown(first.cells[column])} on {where(first, row.file)} for "
                    f"image_id {shown(row.cells['image_id'])}",
                )

    def _check_box(self, row: Row) -> None:
        categories = row.values.get("finding_categories")
        if categories == (NO_FINDING,):
            self._check_no_finding(row)
        elif categories is not None:
            self._check_coordinates(row)
            self._check_finding_birads(row, categories)

    def _check_no_finding(self, row: Row) -> None:
        if row.cells["finding_birads"]:
            self.problem(
                row,
                f"a {NO_FINDING!r} row has an empty finding_birads; "
                f"got {shown(row.cells['finding_birads'])}",
            )
        filled = [f"{c} {shown(row.cells[c])}" for c in COORDINATE_COLUMNS if row.cells[c]]
        if filled:
            self.problem(row, f"a {NO_FINDING!r} row has no box; got {', '.join(filled)}")

    def _check_coordinates(self, row: Row) -> None:
        empty = [column for column in COORDINATE_COLUMNS if not row.cells[column]]
        if empty:
            self.problem(row, f"a box needs xmin, ymin, xmax and ymax; empty: {', '.join(empty)}")
        for low, high in (("xmin", "xmax"), ("ymin", "ymax")):
            first, last = row.values.get(low), row.values.get(high)
            if first is not None and last is not None and last < first:
                self.problem(
                    row,
                    f"{high} {shown(row.cells[high])} is less than {low} {shown(row.cells[low])}",
                )

    def _check_finding_birads(self, row: Row, categories: tuple[str, ...]) -> None:
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
                f"finding_birads; got {shown(row.cells['finding_birads'])}",
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
                        f"image_id {shown(image_id)} has no row in {FINDING_FILE}; every image "
                        f"has its boxes or one {NO_FINDING!r} row",
                    )
        if self.known_image_ids is not None:
            for image_id, row in self.images.items():
                if image_id not in self.known_image_ids:
                    self.problem(row, f"image_id {shown(image_id)} has no DICOM file")
        self._check_box_counts()

    def _check_finding_image(self, image_id: str, image: _FindingImage) -> None:
        if not image.no_finding:
            return
        first, *others = image.no_finding
        for row in others:
            self.problem(
                row,
                f"a second {NO_FINDING!r} row for image_id {shown(image_id)} "
                f"(first on line {first.line})",
            )
        if image.boxes:
            lines = ", ".join(str(row.line) for row in image.boxes)
            self.problem(
                first,
                f"image_id {shown(image_id)} has a {NO_FINDING!r} row and box rows "
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
                    f"study {shown(study_id)} has {count} boxes; a read holds at most {MAX_BOXES}",
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


def _image_facts(row: Row) -> ImageFacts:
    return ImageFacts(**{name: row.values[name] for name in ImageFacts.__dataclass_fields__})


def _breasts_json(study: _Study) -> dict[str, dict[str, Any]]:
    def value(laterality: str, column: str) -> Any:
        row = study.breast_rows.get((laterality, column))
        return None if row is None else row.values[column]

    return {
        lat: {"birads": value(lat, "breast_birads"), "density": value(lat, "breast_density")}
        for lat in ("R", "L")
    }


def _box_json(row: Row, box_id: str) -> dict[str, Any]:
    values = row.values
    return {
        "id": box_id,
        "image_id": values["image_id"],
        **{column: values[column] for column in COORDINATE_COLUMNS},
        "categories": list(values["finding_categories"]),
        "birads": values["finding_birads"],
    }
