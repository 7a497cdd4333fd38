"""A reader study's reference standard (issue 12 item 3): the CSV per breast parsed purely,
every problem named by its line; the import through the API, all or nothing, admin only."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.imaging.models import Image, QcFlag, Study
from app.studies.models import ReferenceTruth
from app.studies.reference_table import (
    MAX_PROBLEMS,
    ReferenceTableInvalid,
    check_reference,
    parse_reference,
)
from app.studies.states import Truth, TruthSource
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import exam_files, upload

HEADER = "study_id,laterality,truth,source,follow_up_months,date\n"
LESION_HEADER = (
    "study_id,laterality,truth,source,follow_up_months,date,image_id,xmin,ymin,xmax,ymax\n"
)


def _problems(text: str) -> list[tuple[int | None, str | None]]:
    with pytest.raises(ReferenceTableInvalid) as caught:
        parse_reference(text)
    assert isinstance(caught.value, ValueError)
    return [(d["line"], d["field"]) for d in caught.value.details]


# --- the pure parser -----------------------------------------------------------------------


def test_a_good_file_gives_one_truth_per_breast() -> None:
    breasts = parse_reference(
        HEADER + "ABC,R,Malignant,pathology,,2024-03-01\n"
        "abc,left,normal,FOLLOW_UP,24,\n"
        "def,l,benign,consensus,,\n"
    )
    assert [(b.study_id, b.laterality, b.truth, b.source) for b in breasts] == [
        ("abc", "R", Truth.MALIGNANT, TruthSource.PATHOLOGY),
        ("abc", "L", Truth.NORMAL, TruthSource.FOLLOW_UP),
        ("def", "L", Truth.BENIGN, TruthSource.CONSENSUS),
    ]
    assert breasts[0].truth_date == date(2024, 3, 1)
    assert breasts[1].follow_up_months == 24
    assert breasts[0].lesions == ()


def test_lesion_rows_are_collected_per_breast() -> None:
    breasts = parse_reference(
        LESION_HEADER + "s1,R,malignant,pathology,,,img1,1,2,30,40\n"
        "s1,R,malignant,pathology,,,img2,5,5,9.5,9\n"
        "s1,L,normal,consensus,,,,,,,\n"
    )
    assert len(breasts) == 2
    right = breasts[0]
    assert [lesion.to_json() for lesion in right.lesions] == [
        {"image_id": "img1", "xmin": 1.0, "ymin": 2.0, "xmax": 30.0, "ymax": 40.0},
        {"image_id": "img2", "xmin": 5.0, "ymin": 5.0, "xmax": 9.5, "ymax": 9.0},
    ]
    assert right.lines == (2, 3)


def test_unknown_and_missing_columns_are_named_on_the_header() -> None:
    problems = _problems("study,laterality,truth,colour\ns1,R,normal,blue\n")
    assert (1, "study") in problems
    assert (1, "colour") in problems
    assert (1, "study_id") in problems
    assert (1, "source") in problems
    assert _problems("study_id,laterality,truth,source,image_id\n")[-1] == (1, "xmin")


def test_an_empty_file_or_one_without_rows_is_refused() -> None:
    assert _problems("") == [(None, None)]
    assert _problems("\n\n") == [(None, None)]
    assert _problems(HEADER) == [(None, None)]


def test_unknown_truth_source_and_laterality_values() -> None:
    problems = _problems(
        HEADER + "s1,R,cancer,pathology,,\ns1,L,normal,biopsy,,\ns2,middle,normal,consensus,,\n"
    )
    assert problems == [(2, "truth"), (3, "source"), (4, "laterality")]


def test_follow_up_needs_a_whole_number_of_months() -> None:
    problems = _problems(
        HEADER + "s1,R,normal,follow_up,,\n"
        "s1,L,normal,follow_up,0,\n"
        "s2,R,normal,follow_up,12.5,\n"
        "s2,L,normal,follow_up,many,\n"
        "s3,R,normal,pathology,,2024-02-30\n"
        "s3,L,normal,pathology,,03/01/2024\n"
    )
    assert problems == [
        (2, "follow_up_months"),
        (3, "follow_up_months"),
        (4, "follow_up_months"),
        (5, "follow_up_months"),
        (6, "date"),
        (7, "date"),
    ]


def test_duplicate_and_conflicting_rows_name_the_later_line() -> None:
    assert _problems(
        HEADER + "s1,R,normal,consensus,,\ns2,R,normal,consensus,,\nS1,right,normal,consensus,,\n"
    ) == [(4, "laterality")]
    conflicting = _problems(
        LESION_HEADER
        + "s1,R,malignant,pathology,,,i1,1,1,5,5\ns1,R,benign,pathology,,,i2,1,1,5,5\n"
    )
    assert conflicting == [(3, "truth")]
    # a lesion row and a row without one for the same breast are duplicates
    assert _problems(
        LESION_HEADER + "s1,R,benign,pathology,,,i1,1,1,5,5\ns1,R,benign,pathology,,,,,,,\n"
    ) == [(3, "laterality")]


def test_bad_lesions() -> None:
    problems = _problems(
        LESION_HEADER + "s1,R,malignant,pathology,,,i1,1,1,5,\n"
        "s2,R,malignant,pathology,,,i1,1,x,5,5\n"
        "s3,R,malignant,pathology,,,i1,9,1,5,5\n"
        "s4,R,normal,pathology,,,i1,1,1,5,5\n"
    )
    assert problems == [(2, "ymax"), (3, "ymin"), (4, "xmax"), (5, "truth")]


def test_every_problem_is_listed_at_once_with_its_line() -> None:
    text = (
        HEADER + "s1,R,normal,consensus,,\n"  # 2 fine
        "s1,R,normal,consensus,,\n"  # 3 duplicate
        "s2,X,normal,consensus,,\n"  # 4 laterality
        "\n"  # 5 blank: skipped, still counted
        "s3,L,maybe,consensus,,\n"  # 6 truth
        "s4,L,normal,follow_up,,bad\n"  # 7 follow-up and date
    )
    assert _problems(text) == [
        (3, "laterality"),
        (4, "laterality"),
        (6, "truth"),
        (7, "date"),
        (7, "follow_up_months"),
    ]
    table = check_reference(text)
    assert [row.line for row in table.rows] == [2, 3, 4, 6, 7]


def test_the_listed_problems_are_capped_and_counted() -> None:
    text = HEADER + "".join(f"s{i},R,nope,consensus,,\n" for i in range(MAX_PROBLEMS + 50))
    with pytest.raises(ReferenceTableInvalid) as caught:
        parse_reference(text)
    assert len(caught.value.problems) == MAX_PROBLEMS + 50
    assert len(caught.value.details) == MAX_PROBLEMS + 1
    assert "50 more" in caught.value.details[-1]["message"]


# --- through the API -----------------------------------------------------------------------


@pytest.fixture
def reference_world(client, db, accounts, admin):
    accounts.add("ref_reader")
    admin_headers = bearer(client, "admin")
    study_ids = []
    for seed in (71, 72, 73):
        body = upload(client, exam_files(seed), admin_headers).json()
        study_ids.append(body["outcomes"][0]["study_id"])
    pks = db.scalars(select(Study.id).where(Study.study_id.in_(study_ids))).all()
    for flag in db.scalars(select(QcFlag).where(QcFlag.study_pk.in_(pks))):
        db.delete(flag)
    db.commit()
    project = client.post(
        "/api/v1/reading/projects",
        json={"name": "Reference", "design": "reader_study", "sessions": [{"name": "Unaided"}]},
        headers=admin_headers,
    )
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    added = client.post(
        f"/api/v1/reading/projects/{pid}/studies",
        json={"study_ids": study_ids[:2]},
        headers=admin_headers,
    )
    assert added.json() == {"added": 2}, added.text
    return admin_headers, pid, study_ids


def _post(client, pid: int, text: str, headers: dict[str, str]):
    return client.post(
        f"/api/v1/studies/projects/{pid}/reference",
        files={"file": ("reference.csv", text.encode(), "text/csv")},
        headers=headers,
    )


def _count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(ReferenceTruth))


def test_a_good_import_stores_the_truths(client, db, reference_world) -> None:
    headers, pid, (s1, s2, _) = reference_world
    image = db.scalar(
        select(Image).join(Study).where(Study.study_id == s1, Image.laterality == "R")
    )
    text = (
        LESION_HEADER + f"{s1.upper()},R,malignant,pathology,,2024-05-01,{image.image_id},1,2,8,9\n"
        f"{s1},L,normal,follow_up,24,,,,,,\n"
        f"{s2},right,benign,consensus,,,,,,,\n"
    )
    response = _post(client, pid, text, headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["imported"] == 3
    assert body["replaced"] == 0
    assert body["lesions"] == 1
    assert body["by_truth"] == {"malignant": 1, "benign": 1, "normal": 1}
    assert body["by_source"] == {"pathology": 1, "follow_up": 1, "consensus": 1}
    assert _count(db) == 3
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "reference.imported"))
    assert event is not None
    assert event.details["breasts"] == 3

    listing = client.get(f"/api/v1/studies/projects/{pid}/reference", headers=headers)
    assert listing.status_code == 200, listing.text
    data = listing.json()
    rows = {(row["study_id"], row["laterality"]): row for row in data["rows"]}
    assert rows[(s1, "R")]["lesions"] == [
        {"image_id": image.image_id, "xmin": 1.0, "ymin": 2.0, "xmax": 8.0, "ymax": 9.0}
    ]
    assert rows[(s1, "R")]["date"] == "2024-05-01"
    assert rows[(s1, "L")]["follow_up_months"] == 24
    assert data["summary"]["breasts"] == 4
    assert data["summary"]["with_truth"] == 3
    assert data["summary"]["without_truth"] == [{"study_id": s2, "laterality": "L"}]


def test_a_bad_import_stores_nothing_and_names_the_lines(client, db, reference_world) -> None:
    headers, pid, (s1, s2, outside) = reference_world
    assert _post(client, pid, HEADER + f"{s1},R,normal,consensus,,\n", headers).is_success
    before = _count(db)
    text = (
        HEADER + f"{s1},L,normal,consensus,,\n"  # 2 fine
        f"{s2},R,cancer,consensus,,\n"  # 3 unknown truth
        f"{outside},R,normal,consensus,,\n"  # 4 not in the project
        "0123456789abcdef0123456789abcdef,R,normal,consensus,,\n"  # 5 unknown study
        f"{s2},L,normal,follow_up,,\n"  # 6 no follow-up
        f"{s1},L,benign,consensus,,\n"  # 7 duplicate of line 2
    )
    response = _post(client, pid, text, headers)
    error = assert_error(response, 422, "invalid_reference")
    assert [(d["line"], d["field"]) for d in error["details"]] == [
        (3, "truth"),
        (4, "study_id"),
        (5, "study_id"),
        (6, "follow_up_months"),
        (7, "laterality"),
    ]
    assert "not in this project" in error["details"][1]["message"]
    assert "no study" in error["details"][2]["message"]
    assert _count(db) == before


def test_a_lesion_on_an_image_of_another_study_is_refused(client, db, reference_world) -> None:
    headers, pid, (s1, s2, _) = reference_world
    other = db.scalar(select(Image).join(Study).where(Study.study_id == s2))
    text = LESION_HEADER + f"{s1},R,malignant,pathology,,,{other.image_id},1,1,5,5\n"
    error = assert_error(_post(client, pid, text, headers), 422, "invalid_reference")
    assert [(d["line"], d["field"]) for d in error["details"]] == [(2, "image_id")]
    own = db.scalar(select(Image).join(Study).where(Study.study_id == s1, Image.laterality == "R"))
    text = LESION_HEADER + (
        f"{s1},R,malignant,pathology,,,{own.image_id},1,1,5,{own.rows + 1}\n"
        f"{s1},R,malignant,pathology,,,{own.image_id},1,1,5,5\n"
    )
    error = assert_error(_post(client, pid, text, headers), 422, "invalid_reference")
    assert [(d["line"], d["field"]) for d in error["details"]] == [(2, "ymax")]
    left = db.scalar(select(Image).join(Study).where(Study.study_id == s1, Image.laterality == "L"))
    text = LESION_HEADER + f"{s1},R,malignant,pathology,,,{left.image_id},1,1,5,5\n"
    error = assert_error(_post(client, pid, text, headers), 422, "invalid_reference")
    assert "shows breast L" in error["details"][0]["message"]
    assert _count(db) == 0


def test_reimport_replaces_the_breasts_given_and_keeps_the_others(
    client, db, reference_world
) -> None:
    headers, pid, (s1, _, _) = reference_world
    first = HEADER + f"{s1},R,normal,consensus,,\n{s1},L,normal,consensus,,\n"
    assert _post(client, pid, first, headers).is_success
    again = _post(client, pid, HEADER + f"{s1},R,benign,pathology,,2025-01-02\n", headers)
    assert again.status_code == 200, again.text
    assert again.json()["replaced"] == 1
    assert _count(db) == 2
    rows = client.get(f"/api/v1/studies/projects/{pid}/reference", headers=headers).json()["rows"]
    assert [(r["laterality"], r["truth"], r["source"]) for r in rows] == [
        ("L", "normal", "consensus"),
        ("R", "benign", "pathology"),
    ]


def test_only_an_admin_imports_or_lists(client, db, reference_world) -> None:
    _, pid, (s1, _, _) = reference_world
    reader = bearer(client, "ref_reader")
    assert_error(_post(client, pid, HEADER + f"{s1},R,normal,consensus,,\n", reader), 403)
    assert_error(client.get(f"/api/v1/studies/projects/{pid}/reference", headers=reader), 403)
    assert _count(db) == 0


def test_an_unknown_project_or_a_file_that_is_not_text(client, reference_world) -> None:
    headers, pid, _ = reference_world
    assert_error(_post(client, 99999, HEADER, headers), 404)
    response = client.post(
        f"/api/v1/studies/projects/{pid}/reference",
        files={"file": ("reference.csv", b"\xff\xfe\x00bad", "text/csv")},
        headers=headers,
    )
    assert_error(response, 422, "invalid_reference")
    assert_error(_post(client, pid, "", headers), 422, "invalid_reference")
