"""Writing our labels in the release's format: one study's rows of each file, each cell as
the release writes it, and the release's CSV dialect."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from app.export.vindr_format.columns import VIEW_ORDER, ImageFacts
from app.reading.rules import NO_FINDING, Box, BreastRead, Label, parse_label

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
