"""The VinDr-Mammo release format (``app.export.vindr_format``): exact bytes, the round trip and the
import's problem list. Every release here is synthetic: hand-written ids and labels, never
real rows. ``pandas`` is not installed; files are read back with the ``csv`` module."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.export.vindr_format import (
    BREAST_HEADER,
    FINDING_HEADER,
    GRADED,
    NO_FINDING,
    SPLITS,
    VINDR_CATEGORIES,
    ImageFacts,
    ParsedRelease,
    Problem,
    birads_text,
    breast_rows,
    categories_text,
    coordinate_text,
    csv_writer,
    default_image_order,
    density_text,
    finding_rows,
    parse_release,
    write_header,
)
from app.reading import rules
from app.reading.rules import DEFAULT_VOCABULARY, parse_label

BREAST = "breast-level_annotations.csv"
FINDING = "finding_annotations.csv"
ASSOCIATED = tuple(name for name in VINDR_CATEGORIES[1:] if name not in GRADED)

# Hand-written ids for the exact-bytes example: study 5a.., series e1.. (left) and e2..
# (right), images a1..a4; study 5b.., series e3.., images b1..b4.
SA, SB = "5a" * 16, "5b" * 16
E1, E2, E3 = "e1" * 16, "e2" * 16, "e3" * 16
A1, A2, A3, A4 = ("a1" * 16, "a2" * 16, "a3" * 16, "a4" * 16)
B1, B2, B3, B4 = ("b1" * 16, "b2" * 16, "b3" * 16, "b4" * 16)
C1 = "c1" * 16  # an image of no study

STUDY_A = [
    ImageFacts(SA, E1, A1, "L", "CC", 3518, 2800),
    ImageFacts(SA, E1, A2, "L", "MLO", 3518, 2800),
    ImageFacts(SA, E2, A3, "R", "CC", 3518, 2800),
    ImageFacts(SA, E2, A4, "R", "MLO", 3518, 2800),
]
STUDY_B = [
    ImageFacts(SB, E3, B1, "L", "CC", 2294, 1914),
    ImageFacts(SB, E3, B2, "L", "MLO", 2294, 1914),
    ImageFacts(SB, E3, B3, "R", "CC", 2294, 1914),
    ImageFacts(SB, E3, B4, "R", "MLO", 2294, 1914),
]


def json_box(
    box_id: str,
    image_id: str,
    corners: tuple[float, float, float, float],
    categories: list[str],
    birads: int | None,
) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = corners
    return {
        "id": box_id,
        "image_id": image_id,
        "xmin": xmin,
        "ymin": ymin,
        "xmax": xmax,
        "ymax": ymax,
        "categories": categories,
        "birads": birads,
    }


# Label order differs from image order on purpose: rows follow the images, then label order.
LABEL_A: dict[str, Any] = {
    "breasts": {"R": {"birads": 4, "density": "C"}, "L": {"birads": 2, "density": "C"}},
    "boxes": [
        json_box("mass", A4, (1203.5, 880.25, 1390.0, 1011.75), ["Mass"], 4),
        json_box(
            "calc",
            A3,
            (-3.5, 10, 2098.0, 300.25),
            ["Suspicious Calcification", "Focal Asymmetry"],
            4,
        ),
        json_box("skin", A1, (0.0, 15.0, 410.0, 388.0), ["Skin Thickening"], None),
        json_box(
            "nipple", A3, (12.0, -7.125, 95.5, 60.0), ["Skin Retraction", "Nipple Retraction"], None
        ),
    ],
    "note": "synthetic",
}
LABEL_B: dict[str, Any] = {
    "breasts": {"R": {"birads": 1, "density": "B"}, "L": {"birads": 1, "density": "B"}},
    "boxes": [],
    "note": "",
}

EXPECTED_BREAST = """\
study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,split
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1,a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1,L,CC,3518,2800,BI-RADS 2,DENSITY C,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1,a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2,L,MLO,3518,2800,BI-RADS 2,DENSITY C,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2,a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3,R,CC,3518,2800,BI-RADS 4,DENSITY C,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2,a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4,R,MLO,3518,2800,BI-RADS 4,DENSITY C,training
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1,L,CC,2294,1914,BI-RADS 1,DENSITY B,test
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2,L,MLO,2294,1914,BI-RADS 1,DENSITY B,test
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3,R,CC,2294,1914,BI-RADS 1,DENSITY B,test
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4,R,MLO,2294,1914,BI-RADS 1,DENSITY B,test
"""  # noqa: E501

EXPECTED_FINDING = """\
study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,breast_density,finding_categories,finding_birads,xmin,ymin,xmax,ymax,split
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1,a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1,L,CC,3518,2800,BI-RADS 2,DENSITY C,['Skin Thickening'],,0.0,15.0,410.0,388.0,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1,a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2,L,MLO,3518,2800,BI-RADS 2,DENSITY C,['No Finding'],,,,,,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2,a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3,R,CC,3518,2800,BI-RADS 4,DENSITY C,"['Suspicious Calcification', 'Focal Asymmetry']",BI-RADS 4,-3.5,10.0,2098.0,300.25,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2,a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3,R,CC,3518,2800,BI-RADS 4,DENSITY C,"['Skin Retraction', 'Nipple Retraction']",,12.0,-7.125,95.5,60.0,training
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a,e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2,a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4,R,MLO,3518,2800,BI-RADS 4,DENSITY C,['Mass'],BI-RADS 4,1203.5,880.25,1390.0,1011.75,training
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1,L,CC,2294,1914,BI-RADS 1,DENSITY B,['No Finding'],,,,,,test
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2,L,MLO,2294,1914,BI-RADS 1,DENSITY B,['No Finding'],,,,,,test
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3,R,CC,2294,1914,BI-RADS 1,DENSITY B,['No Finding'],,,,,,test
5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b,e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3,b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4,R,MLO,2294,1914,BI-RADS 1,DENSITY B,['No Finding'],,,,,,test
"""  # noqa: E501


def write_release(studies: list[tuple[list[ImageFacts], Any, str]]) -> tuple[str, str]:
    """Both files' text, headers first, then each study's rows (as an export streams them)."""
    breast, finding = io.StringIO(), io.StringIO()
    breast_writer, finding_writer = csv_writer(breast), csv_writer(finding)
    write_header(breast_writer, BREAST_HEADER)
    write_header(finding_writer, FINDING_HEADER)
    for images, label, split in studies:
        breast_writer.writerows(breast_rows(images, label, split))
        finding_writer.writerows(finding_rows(images, label, split))
    return breast.getvalue(), finding.getvalue()


def rewrite(parsed: ParsedRelease) -> tuple[str, str]:
    return write_release([(s.images, s.label, s.split) for s in parsed.studies])


def example() -> tuple[str, str]:
    return write_release([(STUDY_A, LABEL_A, "training"), (STUDY_B, LABEL_B, "test")])


def md5(text: str) -> str:
    """A synthetic id made as the release makes them: the MD5 hex digest of a UID string."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def located(release: ParsedRelease) -> list[tuple[str, int]]:
    return [(problem.file, problem.line) for problem in release.problems]


# --- constants and cells ----------------------------------------------------------------------


def test_headers_are_the_release_headers() -> None:
    assert ",".join(BREAST_HEADER) == (
        "study_id,series_id,image_id,laterality,view_position,height,width,"
        "breast_birads,breast_density,split"
    )
    assert ",".join(FINDING_HEADER) == (
        "study_id,series_id,image_id,laterality,view_position,height,width,"
        "breast_birads,breast_density,finding_categories,finding_birads,"
        "xmin,ymin,xmax,ymax,split"
    )


def test_vocabulary_is_the_release_vocabulary_and_ours() -> None:
    assert VINDR_CATEGORIES == (
        "No Finding",
        "Mass",
        "Suspicious Calcification",
        "Asymmetry",
        "Focal Asymmetry",
        "Global Asymmetry",
        "Architectural Distortion",
        "Skin Thickening",
        "Skin Retraction",
        "Nipple Retraction",
        "Suspicious Lymph Node",
    )
    assert NO_FINDING == rules.NO_FINDING == "No Finding"
    vocabulary = DEFAULT_VOCABULARY.categories
    assert tuple(c.name for c in vocabulary if c.graded) == GRADED
    assert tuple(c.name for c in vocabulary if not c.graded) == ASSOCIATED
    assert SPLITS == ("training", "test")


def test_cells_are_written_as_in_the_release() -> None:
    assert birads_text(4) == "BI-RADS 4"
    assert birads_text(None) == ""
    assert density_text("A") == "DENSITY A"
    assert density_text(None) == ""
    assert categories_text(["Mass"]) == "['Mass']"
    assert categories_text(("Mass", "Asymmetry")) == "['Mass', 'Asymmetry']"
    assert coordinate_text(2098) == "2098.0"
    assert coordinate_text(-3.5) == "-3.5"
    assert coordinate_text(0.1 + 0.2) == "0.30000000000000004"


def test_default_image_order_is_left_then_right_cc_then_mlo_ties_by_id() -> None:
    def image(image_id: str, laterality: str, view: str) -> ImageFacts:
        return ImageFacts(SA, E1, image_id, laterality, view, 10, 10)

    images = [
        image("f" * 32, "R", "MLO"),
        image("0" * 32, "", "CC"),
        image("e" * 32, "R", "CC"),
        image("d" * 32, "L", "MLO"),
        image("c" * 32, "L", "CC"),
        image("b" * 32, "L", "CC"),
    ]
    ordered = default_image_order(images)
    assert [i.image_id[0] for i in ordered] == ["b", "c", "d", "e", "f", "0"]


# --- writing ----------------------------------------------------------------------------------


def test_exact_bytes_of_a_small_release() -> None:
    breast, finding = example()
    assert breast.encode("utf-8") == EXPECTED_BREAST.encode("utf-8")
    assert finding.encode("utf-8") == EXPECTED_FINDING.encode("utf-8")


def test_written_files_read_back_with_the_csv_module() -> None:
    breast, finding = example()
    breast_table = list(csv.DictReader(io.StringIO(breast, newline="")))
    finding_table = list(csv.DictReader(io.StringIO(finding, newline="")))
    assert len(breast_table) == 8
    assert [row["breast_birads"] for row in breast_table[:4]] == ["BI-RADS 2"] * 2 + [
        "BI-RADS 4"
    ] * 2
    assert {row["series_id"] for row in breast_table[:4]} == {E1, E2}
    calc = finding_table[2]
    assert calc["finding_categories"] == "['Suspicious Calcification', 'Focal Asymmetry']"
    assert (calc["xmin"], calc["xmax"]) == ("-3.5", "2098.0")
    assert finding_table[3]["finding_birads"] == ""
    assert [row["image_id"] for row in finding_table].count(A3) == 2
    assert {row["image_id"] for row in finding_table} == {row["image_id"] for row in breast_table}


def test_rows_to_a_real_file_opened_with_newline(tmp_path) -> None:
    path = tmp_path / FINDING
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv_writer(handle)
        write_header(writer, FINDING_HEADER)
        writer.writerows(finding_rows(STUDY_A, LABEL_A, "training"))
    assert path.read_bytes() == EXPECTED_FINDING.encode().split(b"\n5b")[0] + b"\n"


def test_a_box_on_an_image_outside_the_study_is_refused() -> None:
    label = {**LABEL_B, "boxes": [json_box("x", A1, (1, 2, 3, 4), ["Mass"], 4)]}
    with pytest.raises(ValueError, match="not among the images"):
        finding_rows(STUDY_B, label, "test")
    with pytest.raises(ValueError, match="listed twice"):
        finding_rows([*STUDY_A, STUDY_A[0]], LABEL_A, "training")
    assert len(breast_rows(STUDY_B, label, "test")) == 4  # the breast file has no boxes


def test_writing_formats_what_it_is_given() -> None:
    """Non-final studies (no split yet) and images of unknown side are written, not refused."""
    unknown_side = ImageFacts(SA, E1, A1, "", "", 10, 20)
    assert breast_rows([unknown_side], {}, "") == [[SA, E1, A1, "", "", "10", "20", "", "", ""]]
    assert finding_rows([unknown_side], {}, "")[0][9:] == ["['No Finding']", *[""] * 6]


def test_a_label_object_is_accepted_as_well_as_json() -> None:
    label = parse_label(LABEL_A)
    assert finding_rows(STUDY_A, label, "training") == finding_rows(STUDY_A, LABEL_A, "training")


# --- parsing a valid release ------------------------------------------------------------------


def test_parse_the_example() -> None:
    parsed = parse_release(EXPECTED_BREAST, EXPECTED_FINDING)
    assert parsed.problems == []
    assert parsed.ok
    assert [s.study_id for s in parsed.studies] == [SA, SB]
    study_a, study_b = parsed.studies
    assert study_a.images == STUDY_A
    assert study_a.split == "training"
    assert study_b.split == "test"
    assert study_a.label == {
        "breasts": LABEL_A["breasts"],
        "boxes": [
            json_box("b1", A1, (0.0, 15.0, 410.0, 388.0), ["Skin Thickening"], None),
            json_box(
                "b2",
                A3,
                (-3.5, 10.0, 2098.0, 300.25),
                ["Suspicious Calcification", "Focal Asymmetry"],
                4,
            ),
            json_box(
                "b3",
                A3,
                (12.0, -7.125, 95.5, 60.0),
                ["Skin Retraction", "Nipple Retraction"],
                None,
            ),
            json_box("b4", A4, (1203.5, 880.25, 1390.0, 1011.75), ["Mass"], 4),
        ],
        "note": "",
    }
    assert study_b.label == LABEL_B
    assert parse_label(study_a.label).to_json() == study_a.label


def test_parse_write_gives_identical_bytes() -> None:
    assert rewrite(parse_release(EXPECTED_BREAST, EXPECTED_FINDING)) == (
        EXPECTED_BREAST,
        EXPECTED_FINDING,
    )


def test_sources_may_be_files_lines_or_text() -> None:
    as_text = parse_release(EXPECTED_BREAST, EXPECTED_FINDING)
    as_files = parse_release(
        io.StringIO(EXPECTED_BREAST, newline=""), io.StringIO(EXPECTED_FINDING, newline="")
    )
    as_lines = parse_release(EXPECTED_BREAST.splitlines(), EXPECTED_FINDING.splitlines())
    assert as_text == as_files == as_lines


def test_known_image_ids_all_present() -> None:
    known = {image.image_id for image in STUDY_A + STUDY_B}
    assert parse_release(EXPECTED_BREAST, EXPECTED_FINDING, known_image_ids=known).ok


def test_crlf_line_endings_are_read_but_written_back_as_lf() -> None:
    crlf = parse_release(
        EXPECTED_BREAST.replace("\n", "\r\n"), EXPECTED_FINDING.replace("\n", "\r\n")
    )
    assert crlf.ok
    assert rewrite(crlf) == (EXPECTED_BREAST, EXPECTED_FINDING)


# --- round trip, generated --------------------------------------------------------------------

CORNER = st.one_of(
    st.floats(-1000, 6000, allow_nan=False, allow_infinity=False),
    st.integers(-50, 6000).map(float),
)


@st.composite
def box_json(draw: st.DrawFn, images: list[ImageFacts]) -> dict[str, Any]:
    categories = draw(
        st.lists(st.sampled_from(GRADED + ASSOCIATED), min_size=1, max_size=3, unique=True)
    )
    graded = any(name in GRADED for name in categories)
    xs, ys = sorted(draw(st.tuples(CORNER, CORNER))), sorted(draw(st.tuples(CORNER, CORNER)))
    image = draw(st.sampled_from(images))
    birads = draw(st.sampled_from((3, 4, 5))) if graded else None
    return json_box("?", image.image_id, (xs[0], ys[0], xs[1], ys[1]), categories, birads)


@st.composite
def study(draw: st.DrawFn, number: int) -> tuple[list[ImageFacts], dict[str, Any], str]:
    study_id = md5(f"synthetic-study-{number}")
    series = [md5(f"synthetic-series-{number}-{k}") for k in range(draw(st.integers(1, 2)))]
    views = draw(
        st.lists(
            st.sampled_from([("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]),
            min_size=1,
            max_size=5,
        )
    )
    images = [
        ImageFacts(
            study_id,
            draw(st.sampled_from(series)),
            md5(f"synthetic-image-{number}-{index}"),
            laterality,
            view,
            draw(st.integers(1, 5000)),
            draw(st.integers(1, 5000)),
        )
        for index, (laterality, view) in enumerate(views)
    ]
    sides = {image.laterality for image in images}
    breasts = {
        lat: {
            "birads": draw(st.integers(1, 5)) if lat in sides else None,
            "density": draw(st.sampled_from("ABCD")) if lat in sides else None,
        }
        for lat in ("R", "L")
    }
    boxes = draw(st.lists(box_json(images), max_size=6))
    for index, box in enumerate(boxes):
        box["id"] = f"drawn{index}"
    label = {"breasts": breasts, "boxes": boxes, "note": ""}
    return images, label, draw(st.sampled_from(SPLITS))


@st.composite
def release(draw: st.DrawFn) -> list[tuple[list[ImageFacts], dict[str, Any], str]]:
    return [draw(study(number)) for number in range(draw(st.integers(1, 4)))]


def renumbered(images: list[ImageFacts], label: dict[str, Any]) -> dict[str, Any]:
    """What the import makes of ``label``: boxes in file order (by image, then label order),
    numbered b1, b2, ...; no note."""
    position = {image.image_id: index for index, image in enumerate(images)}
    boxes = sorted(label["boxes"], key=lambda box: position[box["image_id"]])
    numbered = [{**box, "id": f"b{n}"} for n, box in enumerate(boxes, start=1)]
    return {**label, "boxes": numbered, "note": ""}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(release())
def test_labels_to_text_to_labels_to_the_same_text(studies) -> None:
    text = write_release(studies)
    parsed = parse_release(*text)
    assert parsed.problems == []
    assert [s.study_id for s in parsed.studies] == [images[0].study_id for images, _, _ in studies]
    for (images, label, split), got in zip(studies, parsed.studies, strict=True):
        assert got.images == images
        assert got.split == split
        assert got.label == renumbered(images, label)
        parse_label(got.label)
    assert rewrite(parsed) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.characters(codec="utf-8"), st.booleans())
def test_a_damaged_file_never_crashes_the_import(position, character, in_breast) -> None:
    breast, finding = EXPECTED_BREAST, EXPECTED_FINDING
    if in_breast:
        at = position % len(breast)
        breast = breast[:at] + character + breast[at + 1 :]
    else:
        at = position % len(finding)
        finding = finding[:at] + character + finding[at + 1 :]
    parsed = parse_release(breast, finding)
    assert parsed.ok == bool(parsed.studies)
    for problem in parsed.problems:
        assert problem.line >= 1
        assert problem.message
    if parsed.ok:
        assert parse_release(*rewrite(parsed)).ok


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_text_gives_problems_not_exceptions(breast, finding) -> None:
    parsed = parse_release(breast, finding)
    assert not parsed.ok
    assert parsed.studies == []


# --- problems ---------------------------------------------------------------------------------


def breast_line(
    image_id: str, laterality: str = "L", view: str = "CC", study_id: str = SA, **cells: str
) -> str:
    row = {
        "study_id": study_id,
        "series_id": E1 if study_id == SA else E3,
        "image_id": image_id,
        "laterality": laterality,
        "view_position": view,
        "height": "3518",
        "width": "2800",
        "breast_birads": "BI-RADS 1",
        "breast_density": "DENSITY B",
        "split": "training",
    }
    row.update(cells)
    return ",".join(row.values())


def finding_line(
    image_id: str,
    laterality: str = "L",
    view: str = "CC",
    categories: str = "['No Finding']",
    birads: str = "",
    corners: str = ",,,",
    study_id: str = SA,
    **cells: str,
) -> str:
    head = breast_line(image_id, laterality, view, study_id, **cells).rsplit(",", 1)[0]
    split = cells.get("split", "training")
    quoted = f'"{categories}"' if "," in categories else categories
    return f"{head},{quoted},{birads},{corners},{split}"


def box_line(
    image_id: str,
    categories: str,
    birads: str,
    corners: str = "1.0,2.0,3.0,4.0",
    laterality: str = "L",
    view: str = "CC",
    **cells: str,
) -> str:
    return finding_line(image_id, laterality, view, categories, birads, corners, **cells)


def text(header: tuple[str, ...], *lines: str) -> str:
    return "\n".join([",".join(header), *lines]) + "\n"


def test_a_malformed_release_lists_every_problem_with_its_line() -> None:
    breast = text(
        BREAST_HEADER,
        breast_line(A1),  # 2
        breast_line(A2, "L", "MLO", breast_birads="BI-RADS 0"),  # 3
        breast_line(A3, "X", "CC"),  # 4
        breast_line(A4, "R", "MLO", height="0", breast_density="DENSITY E"),  # 5
        breast_line("Z" * 200, study_id=SB),  # 6
        ",".join([SB, E3, B1, "L", "CC", "10", "10", "BI-RADS 1", "DENSITY B"]),  # 7
        breast_line(B2, "R", "CC", study_id=SB, split="validation"),  # 8
        breast_line(A1, "R", "MLO", study_id=SB),  # 9
        breast_line(B3, "L", "CC", study_id=SB, split="test"),  # 10
        breast_line(B4, "L", "MLO", study_id=SB, split="training"),  # 11
    )
    finding = text(
        FINDING_HEADER,
        box_line(A1, "['Mass', 'Calcification']", "BI-RADS 4"),  # 2
        box_line(A1, "['Mass']", ""),  # 3
        box_line(A2, "['Skin Retraction']", "BI-RADS 4", view="MLO"),  # 4
        finding_line(A2, "L", "MLO", corners="5.0,,,"),  # 5
        box_line(A4, "['Mass']", "BI-RADS 5", "abc,2.0,3.0,4.0", "R", "MLO"),  # 6
        box_line(A4, "['Mass']", "BI-RADS 5", "9.5,2.0,3.0,4.0", "R", "MLO"),  # 7
        finding_line(C1, study_id=SB),  # 8
        box_line(B3, "['Asymmetry']", "BI-RADS 2", study_id=SB, split="test"),  # 9
        finding_line(B4, "L", "MLO", categories="['No Finding', 'Mass']", study_id=SB),  # 10
        finding_line(B2, "R", "CC", study_id=SB, breast_birads="BI-RADS 5", split="test"),  # 11
    )
    parsed = parse_release(breast, finding, known_image_ids={A1, A2, A4, B2, B3})
    birads_1_to_5 = ", ".join(f"'BI-RADS {n}'" for n in range(1, 5)) + " or 'BI-RADS 5'"
    expected = [
        (BREAST, 3, f"breast_birads must be {birads_1_to_5}; got 'BI-RADS 0'"),
        (BREAST, 4, "laterality must be 'L' or 'R'; got 'X'"),
        (BREAST, 4, f"image_id {A3!r} has no row in {FINDING}"),
        (BREAST, 4, f"image_id {A3!r} has no DICOM file"),
        (BREAST, 5, "height must be a positive whole number (pixels); got '0'"),
        (
            BREAST,
            5,
            "breast_density must be 'DENSITY A', 'DENSITY B', 'DENSITY C' or 'DENSITY D'; "
            "got 'DENSITY E'",
        ),
        (
            BREAST,
            6,
            "image_id must be 32 lowercase hexadecimal characters (an MD5 digest); "
            f"got '{'Z' * 57}...'",
        ),
        (BREAST, 7, f"9 columns instead of 10; got '{SB},{E3[:24]}...'"),
        (BREAST, 8, "split must be 'training' or 'test'; got 'validation'"),
        (BREAST, 9, f"image_id {A1!r} is also in study {SA!r} (line 2); an image belongs to"),
        (BREAST, 10, f"split 'test' differs from 'training' on line 6 for study {SB!r}"),
        (BREAST, 11, f"image_id {B4!r} has no DICOM file"),
        (
            FINDING,
            2,
            "finding_categories names an unknown category 'Calcification'; the VinDr-Mammo "
            "vocabulary is No Finding, Mass, Suspicious Calcification, Asymmetry,",
        ),
        (
            FINDING,
            3,
            "a box with a graded lesion (Mass) needs a finding_birads of 'BI-RADS 3', "
            "'BI-RADS 4' or 'BI-RADS 5'; got ''",
        ),
        (
            FINDING,
            4,
            "a box with only associated features (Skin Retraction) has an empty "
            "finding_birads; got 'BI-RADS 4'",
        ),
        (FINDING, 5, "a 'No Finding' row has no box; got xmin '5.0'"),
        (FINDING, 5, f"image_id {A2!r} has a 'No Finding' row and box rows (line 4)"),
        (FINDING, 6, "xmin must be a number within +-1e+06 (pixels) or empty; got 'abc'"),
        (FINDING, 7, "xmax '3.0' is less than xmin '9.5'"),
        (FINDING, 8, f"image_id {C1!r} is not in {BREAST}"),
        (
            FINDING,
            9,
            "finding_birads must be 'BI-RADS 3', 'BI-RADS 4', 'BI-RADS 5' or empty; "
            "got 'BI-RADS 2'",
        ),
        (
            FINDING,
            10,
            "finding_categories combines 'No Finding' with other categories; "
            "got \"['No Finding', 'Mass']\"",
        ),
        (
            FINDING,
            11,
            f"breast_birads 'BI-RADS 5' differs from 'BI-RADS 1' on {BREAST} line 8 "
            f"for image_id {B2!r}",
        ),
    ]
    assert parsed.studies == []
    assert located(parsed) == [(file, line) for file, line, _ in expected]
    for problem, (_, _, fragment) in zip(parsed.problems, expected, strict=True):
        assert fragment in problem.message, (problem, fragment)


def test_every_breast_level_value_is_checked() -> None:
    bad = {
        "study_id": "5A" * 16,
        "series_id": "e1",
        "laterality": "l",
        "view_position": "ML",
        "height": "3518.0",
        "width": "-2",
        "breast_birads": "BI-RADS 6",
        "breast_density": "C",
        "split": "Training",
    }
    breast = text(BREAST_HEADER, breast_line(A1, **bad))
    parsed = parse_release(breast, text(FINDING_HEADER, finding_line(A1)))
    assert {problem.line for problem in parsed.problems} == {2}
    messages = [problem.message for problem in parsed.problems]
    assert [message.split(" ")[0] for message in messages] == list(bad)
    for message, value in zip(messages, bad.values(), strict=True):
        assert message.endswith(f"; got {value!r}")


def test_breast_labels_must_agree_on_both_images_of_a_breast() -> None:
    breast = text(
        BREAST_HEADER,
        breast_line(A1, "L", "CC", breast_birads="BI-RADS 2"),
        breast_line(A2, "L", "MLO", breast_birads="BI-RADS 3", breast_density="DENSITY D"),
        breast_line(A3, "R", "CC", breast_birads="BI-RADS 3"),
    )
    finding = text(
        FINDING_HEADER,
        finding_line(A1, "L", "CC", breast_birads="BI-RADS 2"),
        finding_line(A2, "L", "MLO", breast_birads="BI-RADS 3", breast_density="DENSITY D"),
        finding_line(A3, "R", "CC", breast_birads="BI-RADS 3"),
    )
    parsed = parse_release(breast, finding)
    assert [str(problem) for problem in parsed.problems] == [
        f"{BREAST}, line 3: breast_birads 'BI-RADS 3' differs from 'BI-RADS 2' on line 2 for the "
        f"same breast (study {SA!r}, L); both images of a breast carry its labels",
        f"{BREAST}, line 3: breast_density 'DENSITY D' differs from 'DENSITY B' on line 2 for the "
        f"same breast (study {SA!r}, L); both images of a breast carry its labels",
    ]


def test_image_rows_must_agree_between_and_within_files() -> None:
    breast = text(BREAST_HEADER, breast_line(A1), breast_line(A2, "R", "CC"))
    finding = text(
        FINDING_HEADER,
        box_line(A1, "['Mass']", "BI-RADS 4", "1,2,3,4", view="MLO"),
        box_line(A1, "['Mass']", "BI-RADS 4", "1,2,3,4", study_id=SB, series_id=E1, height="3000"),
        finding_line(A1),
        finding_line(A2, "R", "CC", split="test"),
        finding_line(A2, "R", "CC"),
        finding_line(C1, series_id=E2),
        finding_line(C1, series_id=E3),
    )
    parsed = parse_release(breast, finding)
    assert [str(problem) for problem in parsed.problems] == [
        f"{FINDING}, line 2: view_position 'MLO' differs from 'CC' on {BREAST} line 2 "
        f"for image_id {A1!r}",
        f"{FINDING}, line 3: study_id {SB!r} differs from {SA!r} on {BREAST} line 2 "
        f"for image_id {A1!r}",
        f"{FINDING}, line 3: height '3000' differs from '3518' on {BREAST} line 2 "
        f"for image_id {A1!r}",
        f"{FINDING}, line 4: image_id {A1!r} has a 'No Finding' row and box rows (line 2, 3); "
        "an image with boxes has no 'No Finding' row",
        f"{FINDING}, line 5: split 'test' differs from 'training' on {BREAST} line 3 "
        f"for image_id {A2!r}",
        f"{FINDING}, line 6: a second 'No Finding' row for image_id {A2!r} (first on line 5)",
        f"{FINDING}, line 7: image_id {C1!r} is not in {BREAST}",
        f"{FINDING}, line 8: series_id {E3!r} differs from {E2!r} on line 7 for image_id {C1!r}",
        f"{FINDING}, line 8: a second 'No Finding' row for image_id {C1!r} (first on line 7)",
    ]


def test_ids_belong_to_one_study() -> None:
    breast = text(
        BREAST_HEADER,
        breast_line(A1),
        breast_line(A1, "L", "MLO"),
        breast_line(A2, study_id=SB, series_id=E1),
    )
    finding = text(FINDING_HEADER, finding_line(A1), finding_line(A2, study_id=SB, series_id=E1))
    parsed = parse_release(breast, finding)
    assert [str(problem) for problem in parsed.problems] == [
        f"{BREAST}, line 3: a second row for image_id {A1!r} (first on line 2)",
        f"{BREAST}, line 4: series_id {E1!r} is also in study {SA!r} (line 2); "
        "a series belongs to one study",
    ]


def test_a_box_needs_all_four_coordinates_and_negative_ones_are_fine() -> None:
    breast = text(BREAST_HEADER, breast_line(A1, breast_birads="BI-RADS 4"))
    finding = text(
        FINDING_HEADER,
        *(
            box_line(A1, "['Mass']", "BI-RADS 4", corners, breast_birads="BI-RADS 4")
            for corners in ("-12.5,-3.0,,40.0", "-12.5,-3.0,0.0,40.0", "nan,inf,1e7,1_0")
        ),
    )
    parsed = parse_release(breast, finding)
    assert [(p.line, p.message.split(";")[0]) for p in parsed.problems] == [
        (2, "a box needs xmin, ymin, xmax and ymax"),
        (4, "xmin must be a number within +-1e+06 (pixels) or empty"),
        (4, "ymin must be a number within +-1e+06 (pixels) or empty"),
        (4, "xmax must be a number within +-1e+06 (pixels) or empty"),
        (4, "ymax must be a number within +-1e+06 (pixels) or empty"),
    ]
    assert parsed.problems[0].message.endswith("empty: xmax")


def test_categories_must_be_written_as_python_writes_a_list() -> None:
    breast = text(BREAST_HEADER, breast_line(A1, breast_birads="BI-RADS 4"))
    cells = ["['Mass','Asymmetry']", '["Mass"]', "[]", "Mass", "['Mass', 'Mass']"]
    finding = text(
        FINDING_HEADER,
        *(box_line(A1, cell, "BI-RADS 4", breast_birads="BI-RADS 4") for cell in cells),
    )
    parsed = parse_release(breast, finding)
    assert [p.line for p in parsed.problems] == [2, 3, 4, 5, 6]
    for problem, cell in zip(parsed.problems, cells, strict=True):
        assert problem.message.startswith("finding_categories ")
        assert problem.message.endswith(f"got {cell!r}")
    assert "lists 'Mass' twice" in parsed.problems[-1].message


def test_bad_header_gives_one_problem_naming_the_expected_header() -> None:
    wrong = EXPECTED_BREAST.replace("breast_density", "density", 1)
    parsed = parse_release(wrong, EXPECTED_FINDING)
    assert parsed.studies == []
    assert parsed.problems == [
        Problem(
            BREAST,
            1,
            "the header must be exactly 'study_id,series_id,image_id,laterality,view_position,"
            "height,width,breast_birads,breast_density,split'; got "
            "'study_id,series_id,image_id,laterality,view_position,heig...'",
        )
    ]


def test_a_bad_finding_header_skips_only_the_checks_across_files() -> None:
    wrong = EXPECTED_FINDING.replace("xmin", "x_min", 1)
    parsed = parse_release(EXPECTED_BREAST, wrong)
    assert located(parsed) == [(FINDING, 1)]
    assert "'study_id,series_id,image_id,laterality,view_position,height,width," in (
        parsed.problems[0].message
    )
    broken_breast = EXPECTED_BREAST.replace("DENSITY B", "DENSITY Q", 1)
    assert located(parse_release(broken_breast, wrong)) == [(BREAST, 6), (FINDING, 1)]


def test_swapped_files_empty_files_and_byte_order_marks_are_explained() -> None:
    swapped = parse_release(EXPECTED_FINDING, EXPECTED_BREAST)
    assert located(swapped) == [(BREAST, 1), (FINDING, 1)]
    assert all("were the two files swapped?" in p.message for p in swapped.problems)
    empty = parse_release("", [])
    assert [p.message.split(";")[0] for p in empty.problems] == ["the file is empty"] * 2
    bom = parse_release("\ufeff" + EXPECTED_BREAST, EXPECTED_FINDING)
    assert located(bom) == [(BREAST, 1)]
    assert "byte-order mark" in bom.problems[0].message


def test_line_numbers_are_physical_lines() -> None:
    """A quoted cell spanning lines moves the count on; broken quoting and blank lines are
    reported at their line and reading goes on."""
    lines = EXPECTED_FINDING.splitlines(keepends=True)
    spanning = lines[2].replace("['No Finding']", "\"['No\nFinding']\"")
    broken = lines[3].replace('"[', '"x"[', 1)
    finding = "".join([lines[0], lines[1], spanning, broken, "\n", *lines[4:]])
    parsed = parse_release(EXPECTED_BREAST, finding)
    assert [(p.line, p.message.split(" ")[0]) for p in parsed.problems] == [
        (3, "finding_categories"),
        (5, "unreadable"),
        (6, "blank"),
    ]
    assert parsed.problems[0].message.endswith("got \"['No\\nFinding']\"")
    assert parsed.problems[1].message.startswith("unreadable CSV (")
    assert parsed.problems[2].message == "blank line"


def test_long_values_are_cut_in_messages() -> None:
    breast = text(BREAST_HEADER, breast_line(A1, split="x" * 500))
    parsed = parse_release(breast, text(FINDING_HEADER, finding_line(A1)))
    (problem,) = parsed.problems
    assert problem.message.endswith("got '" + "x" * 57 + "...'")
    assert len(problem.message) < 150


def test_every_image_needs_a_finding_row_and_a_dicom_file() -> None:
    breast = text(BREAST_HEADER, breast_line(A1), breast_line(A2, "L", "MLO"))
    finding = text(FINDING_HEADER, finding_line(A1))
    parsed = parse_release(breast, finding, known_image_ids=frozenset())
    assert [str(problem) for problem in parsed.problems] == [
        f"{BREAST}, line 2: image_id {A1!r} has no DICOM file",
        f"{BREAST}, line 3: image_id {A2!r} has no row in {FINDING}; every image has its boxes "
        "or one 'No Finding' row",
        f"{BREAST}, line 3: image_id {A2!r} has no DICOM file",
    ]
