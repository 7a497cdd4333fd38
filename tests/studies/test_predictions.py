"""The AI as a reader (issue 12 item 4, import): a model's breast scores and boxes parsed
purely, every problem named by its file and line; the import through the API, all or nothing,
one name per model, one model shown to readers, admin only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.imaging.models import Image, Study
from app.studies.models import AiBox, AiBreastScore, AiModel
from app.studies.predictions_table import (
    MAX_PROBLEMS,
    PredictionsTableInvalid,
    parse_predictions,
)
from tests.helpers import assert_error, bearer
from tests.studies.test_reference import reference_world

__all__ = ["reference_world"]

SCORES = "study_id,left_malignant,right_malignant\n"
BENIGN = "study_id,left_malignant,right_malignant,left_benign,right_benign\n"
BOXES = "study_id,image_id,laterality,finding_categories,finding_birads,xmin,ymin,xmax,ymax,score\n"


def _problems(scores: str, boxes: str | None = None) -> list[tuple[str, int | None, str | None]]:
    with pytest.raises(PredictionsTableInvalid) as caught:
        parse_predictions(scores, boxes)
    assert isinstance(caught.value, ValueError)
    return [(d["file"], d["line"], d["field"]) for d in caught.value.details]


# --- the pure parser -----------------------------------------------------------------------


def test_a_good_file_gives_scores_per_exam_and_boxes() -> None:
    table = parse_predictions(
        BENIGN + "ABC,0.1,0.95,0,1\ndef,0,1,,\n",
        BOXES + "abc,IMG1,R,\"['Mass', 'Architectural Distortion']\",BI-RADS 4,1,2,30,40,0.9\n"
        "abc,img2,l,['Suspicious Calcification'],,5,5,9.5,9,0.25\n",
    )
    assert [(e.study_id, e.left, e.right, e.line) for e in table.exams] == [
        ("abc", 0.1, 0.95, 2),
        ("def", 0.0, 1.0, 3),
    ]
    first, second = table.boxes
    assert (first.image_id, first.laterality, first.categories, first.birads) == (
        "img1",
        "R",
        ("Mass", "Architectural Distortion"),
        4,
    )
    assert (first.xmin, first.ymin, first.xmax, first.ymax, first.score) == (1, 2, 30, 40, 0.9)
    assert (second.laterality, second.birads, second.line) == ("L", None, 3)


def test_header_problems_are_named_on_line_one() -> None:
    problems = _problems("study,left_malignant,colour\ns1,0.5,blue\n")
    assert ("scores", 1, "study") in problems
    assert ("scores", 1, "colour") in problems
    assert ("scores", 1, "study_id") in problems
    assert ("scores", 1, "right_malignant") in problems
    assert _problems("") == [("scores", None, None)]
    assert _problems(SCORES) == [("scores", None, None)]
    assert ("boxes", 1, "image_id") in _problems(SCORES + "s1,0,0\n", "study_id,score\n")


def test_scores_outside_zero_to_one_missing_or_not_numbers() -> None:
    problems = _problems(
        BENIGN + "s1,1.5,0.5,,\n"  # 2
        "s2,-0.1,0.5,,\n"  # 3
        "s3,0.5,,,\n"  # 4 missing
        "s4,nan,inf,,\n"  # 5
        "s5,0.5,0.5,2,\n"  # 6 benign checked too
        "s6,0.5,high,,\n"  # 7
        ",0.5,0.5,,\n"  # 8 no study
    )
    assert problems == [
        ("scores", 2, "left_malignant"),
        ("scores", 3, "left_malignant"),
        ("scores", 4, "right_malignant"),
        ("scores", 5, "left_malignant"),
        ("scores", 5, "right_malignant"),
        ("scores", 6, "left_benign"),
        ("scores", 7, "right_malignant"),
        ("scores", 8, "study_id"),
    ]


def test_a_duplicate_exam_names_the_later_line() -> None:
    with pytest.raises(PredictionsTableInvalid) as caught:
        parse_predictions(SCORES + "s1,0,0\ns2,0,0\nS1,0.5,0.5\n")
    assert [(d["line"], d["field"]) for d in caught.value.details] == [(4, "study_id")]
    assert "first on line 2" in caught.value.details[0]["message"]


def test_bad_boxes() -> None:
    problems = _problems(
        SCORES + "s1,0,0\n",
        BOXES + "s1,i1,R,['Mass'],BI-RADS 4,1,1,5,5,0.5\n"  # 2 fine
        "s1,i1,X,['Mass'],,1,1,5,5,0.5\n"  # 3 laterality
        "s1,i1,R,Mass,,1,1,5,5,0.5\n"  # 4 not VinDr's list
        "s1,i1,R,['Tumour'],,1,1,5,5,0.5\n"  # 5 unknown category
        "s1,i1,R,['No Finding'],,1,1,5,5,0.5\n"  # 6 not a finding
        "s1,i1,R,['Mass'],4,1,1,5,5,0.5\n"  # 7 BI-RADS cell
        "s1,i1,R,['Mass'],,9,1,5,5,0.5\n"  # 8 xmin >= xmax
        "s1,i1,R,['Mass'],,1,1,5,-5,0.5\n"  # 9 negative
        "s1,i1,R,['Mass'],,1,1,5,5,\n"  # 10 no score
        "s1,,R,['Mass'],,1,1,5,5,1.01\n",  # 11 no image, score > 1
    )
    assert problems == [
        ("boxes", 3, "laterality"),
        ("boxes", 4, "finding_categories"),
        ("boxes", 5, "finding_categories"),
        ("boxes", 6, "finding_categories"),
        ("boxes", 7, "finding_birads"),
        ("boxes", 8, "xmax"),
        ("boxes", 9, "ymax"),
        ("boxes", 10, "score"),
        ("boxes", 11, "image_id"),
        ("boxes", 11, "score"),
    ]


def test_every_problem_of_both_files_is_listed_at_once() -> None:
    problems = _problems(
        SCORES + "s1,0.2,0.3\ns1,0.2,0.3\ns2,,7\n",
        BOXES + "s1,i1,R,['Mass'],,5,1,5,5,0.5\n",
    )
    assert problems == [
        ("scores", 3, "study_id"),
        ("scores", 4, "left_malignant"),
        ("scores", 4, "right_malignant"),
        ("boxes", 2, "xmax"),
    ]


def test_the_listed_problems_are_capped_and_counted() -> None:
    text = SCORES + "".join(f"s{i},2,0\n" for i in range(MAX_PROBLEMS + 5))
    with pytest.raises(PredictionsTableInvalid) as caught:
        parse_predictions(text)
    assert len(caught.value.problems) == MAX_PROBLEMS + 5
    assert len(caught.value.details) == MAX_PROBLEMS + 1
    assert "5 more problems" in caught.value.details[-1]["message"]


# --- through the API -----------------------------------------------------------------------


def _post(
    client,
    pid: int,
    scores: str,
    headers: dict[str, str],
    *,
    name: str = "Model A",
    boxes: str | None = None,
    shown: bool = False,
):
    files = {"scores": ("scores.csv", scores.encode(), "text/csv")}
    if boxes is not None:
        files["boxes"] = ("boxes.csv", boxes.encode(), "text/csv")
    return client.post(
        f"/api/v1/studies/projects/{pid}/models",
        data={"name": name, "description": "a test model", "shown_to_readers": str(shown)},
        files=files,
        headers=headers,
    )


def _counts(db) -> tuple[int, int, int]:
    db.expire_all()
    return tuple(
        db.scalar(select(func.count()).select_from(table))
        for table in (AiModel, AiBreastScore, AiBox)
    )


def _image(db, study_id: str, laterality: str) -> Image:
    return db.scalar(
        select(Image).join(Study).where(Study.study_id == study_id, Image.laterality == laterality)
    )


def test_a_good_import_stores_the_model_as_a_reader(client, db, reference_world) -> None:
    headers, pid, (s1, _s2, _) = reference_world
    image = _image(db, s1, "R")
    response = _post(
        client,
        pid,
        BENIGN + f"{s1.upper()},0.125,0.875,0.1,0.2\n",
        headers,
        boxes=BOXES + f"{s1},{image.image_id},R,['Mass'],BI-RADS 5,1,2,8,9,0.75\n",
        shown=True,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reader_name"] == "AI: Model A"
    assert body["shown_to_readers"] is True
    assert (body["studies"], body["breasts_scored"], body["boxes"]) == (1, 2, 1)
    assert body["studies_without_prediction"] == 1
    assert _counts(db) == (1, 2, 1)
    scores = {s.laterality: s.score for s in db.scalars(select(AiBreastScore))}
    assert scores == {"L": 0.125, "R": 0.875}
    box = db.scalar(select(AiBox))
    assert (box.image_id, box.categories, box.birads, box.score) == (
        image.image_id,
        ["Mass"],
        5,
        0.75,
    )
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "predictions.imported"))
    assert event is not None
    assert event.details["boxes"] == 1

    listing = client.get(f"/api/v1/studies/projects/{pid}/models", headers=headers)
    assert listing.status_code == 200, listing.text
    data = listing.json()
    assert data["studies"] == 2
    [row] = data["models"]
    assert row["reader_name"] == "AI: Model A"
    assert row["description"] == "a test model"
    assert (row["breasts_scored"], row["boxes"], row["studies_without_prediction"]) == (2, 1, 1)


def test_a_bad_import_stores_nothing_and_names_the_lines(client, db, reference_world) -> None:
    headers, pid, (s1, s2, outside) = reference_world
    before = _counts(db)
    left = _image(db, s1, "L")
    other = _image(db, s2, "R")
    response = _post(
        client,
        pid,
        SCORES + f"{s1},0.2,0.3\n"  # 2 fine
        f"{outside},0.2,0.3\n"  # 3 not in the project
        "0123456789abcdef0123456789abcdef,0.2,0.3\n"  # 4 unknown study
        f"{s2},0.2,1.3\n"  # 5 score above 1
        f"{s1},0.2,0.3\n",  # 6 duplicate
        headers,
        boxes=BOXES + f"{s1},{left.image_id},R,['Mass'],,1,1,5,5,0.5\n"  # 2 other breast
        f"{s1},{other.image_id},R,['Mass'],,1,1,5,5,0.5\n"  # 3 other study
        f"{s1},{left.image_id},L,['Mass'],,1,1,5,{left.rows + 1},0.5\n",  # 4 beyond
    )
    error = assert_error(response, 422, "invalid_predictions")
    assert [(d["file"], d["line"], d["field"]) for d in error["details"]] == [
        ("scores", 3, "study_id"),
        ("scores", 4, "study_id"),
        ("scores", 5, "right_malignant"),
        ("scores", 6, "study_id"),
        ("boxes", 2, "image_id"),
        ("boxes", 3, "image_id"),
        ("boxes", 4, "ymax"),
    ]
    assert "not in this project" in error["details"][0]["message"]
    assert "no study" in error["details"][1]["message"]
    assert "shows breast L" in error["details"][4]["message"]
    assert _counts(db) == before


def test_a_name_is_taken_once_and_only_one_model_is_shown(client, db, reference_world) -> None:
    headers, pid, (s1, _, _) = reference_world
    good = SCORES + f"{s1},0.2,0.3\n"
    assert _post(client, pid, good, headers, shown=True).status_code == 201
    before = _counts(db)
    assert_error(_post(client, pid, good, headers), 409, "model_exists")
    error = assert_error(_post(client, pid, good, headers, name="B", shown=True), 409)
    assert error["code"] == "model_shown_already"
    assert "Model A" in error["message"]
    assert_error(_post(client, pid, good, headers, name=" "), 422, "invalid_model")
    assert_error(_post(client, pid, good, headers, name="x" * 81), 422, "invalid_model")
    assert _counts(db) == before
    assert _post(client, pid, good, headers, name="B").status_code == 201
    names = [
        m["name"]
        for m in client.get(f"/api/v1/studies/projects/{pid}/models", headers=headers).json()[
            "models"
        ]
    ]
    assert names == ["B", "Model A"]


def test_only_an_admin_imports_or_lists(client, db, reference_world) -> None:
    headers, pid, (s1, _, _) = reference_world
    reader = bearer(client, "ref_reader")
    assert_error(_post(client, pid, SCORES + f"{s1},0.2,0.3\n", reader), 403)
    assert_error(client.get(f"/api/v1/studies/projects/{pid}/models", headers=reader), 403)
    assert _counts(db) == (0, 0, 0)
    assert_error(_post(client, 99999, SCORES, headers), 404)
    response = client.post(
        f"/api/v1/studies/projects/{pid}/models",
        data={"name": "bytes"},
        files={"scores": ("scores.csv", b"\xff\xfe\x00bad", "text/csv")},
        headers=headers,
    )
    assert_error(response, 422, "invalid_predictions")


@pytest.mark.parametrize(
    "cell",
    [
        "['Mass']",
        "['Mass', 'Skin Retraction']",
        "['Suspicious Calcification', 'Architectural Distortion']",
        "Mass",
        "['Mass','Asymmetry']",
        "['Tumour']",
        "['Mass', 'Mass']",
        '["Mass"]',
    ],
)
def test_categories_are_read_as_the_vindr_release_reader_reads_them(cell: str) -> None:
    """The release reader sits in a layer above app.studies: the two must agree."""
    from app.export.vindr_format.cells import _PARSERS, _Bad
    from app.studies.predictions_table import _read_categories

    try:
        expected = _PARSERS["finding_categories"](cell)
    except _Bad:
        expected = None
    try:
        got = _read_categories(cell)
    except ValueError:
        got = None
    assert got == expected
