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

Pure: no database and no files other than the file-like objects passed in. Modules:
:mod:`.columns` (files, columns, values), :mod:`.writing`, :mod:`.cells` (reading records
into checked rows) and :mod:`.parsing` (the release as labels); this package re-exports
their public names.
"""

from app.export.vindr_format.cells import Problem, Source
from app.export.vindr_format.columns import (
    ASSOCIATED,
    BREAST_FILE,
    BREAST_HEADER,
    COORDINATE_COLUMNS,
    FINDING_FILE,
    FINDING_HEADER,
    GRADED,
    IMAGE_COLUMNS,
    RELEASE_BREAST_BIRADS,
    RELEASE_DENSITIES,
    RELEASE_FINDING_BIRADS,
    SHOWN_LENGTH,
    SPLITS,
    VIEW_ORDER,
    VINDR_CATEGORIES,
    ImageFacts,
)
from app.export.vindr_format.parsing import ParsedRelease, ParsedStudy, parse_release
from app.export.vindr_format.writing import (
    RowWriter,
    birads_text,
    breast_rows,
    categories_text,
    coordinate_text,
    csv_writer,
    default_image_order,
    density_text,
    finding_rows,
    write_header,
)
from app.reading.rules import NO_FINDING

__all__ = [
    "ASSOCIATED",
    "BREAST_FILE",
    "BREAST_HEADER",
    "COORDINATE_COLUMNS",
    "FINDING_FILE",
    "FINDING_HEADER",
    "GRADED",
    "IMAGE_COLUMNS",
    "NO_FINDING",
    "RELEASE_BREAST_BIRADS",
    "RELEASE_DENSITIES",
    "RELEASE_FINDING_BIRADS",
    "SHOWN_LENGTH",
    "SPLITS",
    "VIEW_ORDER",
    "VINDR_CATEGORIES",
    "ImageFacts",
    "ParsedRelease",
    "ParsedStudy",
    "Problem",
    "RowWriter",
    "Source",
    "birads_text",
    "breast_rows",
    "categories_text",
    "coordinate_text",
    "csv_writer",
    "default_image_order",
    "density_text",
    "finding_rows",
    "parse_release",
    "write_header",
]
