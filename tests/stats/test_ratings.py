"""The ratings table: built from long rows, every problem listed by row."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import Invalid
from app.stats.ratings import RatingsInvalid, ReaderStudy, study_from_rows, validate_rows
from tests.stats.vandyke import rows, study


def _good() -> list[dict[str, object]]:
    return [
        {"reader": r, "treatment": t, "case": c, "truth": int(c > 2), "rating": float(c + r)}
        for r in (1, 2)
        for t in ("A", "B")
        for c in (1, 2, 3, 4)
    ]


def test_van_dyke_shape() -> None:
    s = study()
    assert s.scores.shape == (2, 5, 114)
    assert (s.n_diseased, s.n_normal) == (45, 69)
    assert s.cases[:3] == ("1", "2", "3")
    assert s.truth[69:].all()
    assert not s.truth[:69].any()
    with pytest.raises(ValueError, match="read-only"):
        s.scores[0, 0, 0] = 3


def test_rows_as_tuples_and_numbers_make_the_same_study() -> None:
    as_dicts = study_from_rows(_good())
    as_tuples = study_from_rows(
        [
            (r["reader"], r["treatment"], r["case"], str(r["truth"]), str(r["rating"]))
            for r in _good()
        ]
    )
    assert as_dicts.readers == as_tuples.readers == ("1", "2")
    assert as_dicts.treatments == ("A", "B")
    assert np.array_equal(as_dicts.scores, as_tuples.scores)
    assert np.array_equal(as_dicts.truth, [0, 0, 1, 1])


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_does_not_matter_and_to_rows_round_trips(rnd: random.Random) -> None:
    shuffled = rows()[:]
    rnd.shuffle(shuffled)
    again = study_from_rows(shuffled)
    original = study()
    for t, treatment in enumerate(original.treatments):
        for r, reader in enumerate(original.readers):
            tt, rr = again.treatments.index(treatment), again.readers.index(reader)
            order = [again.cases.index(c) for c in original.cases]
            assert np.array_equal(again.scores[tt, rr, order], original.scores[t, r])
    back = study_from_rows(original.to_rows())
    assert np.array_equal(back.scores, original.scores)
    assert back.cases == original.cases


def test_every_problem_is_listed_with_its_row() -> None:
    data = _good()
    data[0] = {**data[0], "rating": "high"}  # row 1: non-numeric rating
    data[1] = {**data[1], "truth": 1}  # row 2: case 2 is truth 0 elsewhere
    data[2] = {**data[2], "truth": "yes"}  # row 3: truth not 0/1
    data[5] = {**data[5], "reader": ""}  # row 6: missing reader
    data.append(dict(data[7]))  # row 17 repeats row 8
    del data[10]  # reader 1, treatment B, case 3 removed (rows shift from here)
    numbers = list(range(101, 101 + len(data)))
    problems = validate_rows(data, numbers)
    messages = [p.message for p in problems]
    assert "row 101: rating must be a finite number; got 'high'." in messages
    assert "case 2 has truth 1 at row 102 but 0 at rows 110, 113." in messages
    assert "row 103: truth must be 0 or 1; got 'yes'." in messages
    assert "row 106: reader is missing." in messages
    assert any(
        m.startswith("row 116 repeats reader 1 treatment B case 4 (first at row 108)")
        for m in messages
    )
    # Row 106 names no reader, so its cell is missing; the bad rows 101-103 name theirs.
    assert [m for m in messages if m.endswith("has no rating.")] == [
        "reader 1 treatment B case 2 has no rating.",
        "reader 2 treatment A case 3 has no rating.",
    ]
    assert {p.row for p in problems} >= {101, 102, 103, 106, 116, None}
    with pytest.raises(RatingsInvalid) as raised:
        study_from_rows(data, numbers)
    error = raised.value
    assert isinstance(error, Invalid)
    assert error.status_code == 422
    body = error.body()["error"]
    assert body["code"] == "invalid_ratings"
    assert len(body["details"]) == len(problems)
    assert body["details"][0] == {"row": 101, "field": "rating", "message": messages[0]}


def test_classes_and_empty_tables() -> None:
    no_disease = [{**row, "truth": 0} for row in _good()]
    messages = [p.message for p in validate_rows(no_disease)]
    assert "0 diseased (truth 1) cases: at least 2 are needed." in messages
    one_normal = [row for row in _good() if row["case"] != 1]
    assert [p.message for p in validate_rows(one_normal)] == [
        "1 non-diseased (truth 0) case: at least 2 are needed."
    ]
    assert [p.message for p in validate_rows([])] == ["the table has no rows."]
    assert [p.message for p in validate_rows([(1, 2, 3)])] == [
        "row 1 has 3 values; expected 5 (reader, treatment, case, truth, rating)."
    ]
    nan = _good()
    nan[3] = {**nan[3], "rating": float("nan")}
    assert [p.field for p in validate_rows(nan)] == ["rating"]
    with pytest.raises(ValueError, match="row numbers"):
        validate_rows(_good(), [1, 2])


def test_subset_and_checks() -> None:
    s = study().subset(treatments=["2"], readers=["5", "1"])
    assert s.scores.shape == (1, 2, 114)
    assert np.array_equal(s.scores[0, 0], study().scores[1, 4])
    with pytest.raises(ValueError, match="shape"):
        ReaderStudy(("a",), ("r",), ("c1", "c2"), np.array([0, 1]), np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match="distinct"):
        ReaderStudy(("a", "a"), ("r",), ("c1",), np.array([0]), np.zeros((2, 1, 1)))
