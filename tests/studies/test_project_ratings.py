"""A project's reads as a ratings table (pure): one case per breast, the probability or the
ordinal BI-RADS (0 between 3 and 4), fully crossed cases only, each left-out case with its
reasons; consensus truths."""

from __future__ import annotations

from app.studies.project_ratings import (
    ORDINAL_BIRADS,
    ReadRecord,
    consensus_truths,
    rating_of,
    ratings_table,
)


def _read(reader: str, session: str, study: str, right: dict, left: dict) -> ReadRecord:
    return ReadRecord(reader, session, study, {"breasts": {"R": right, "L": left}})


def test_ordinal_birads_puts_recall_between_3_and_4() -> None:
    order = sorted(ORDINAL_BIRADS, key=ORDINAL_BIRADS.__getitem__)
    assert order == [1, 2, 3, 0, 4, 5, 6]
    assert rating_of({"birads": 0, "density": "B"}, "ordinal_birads") == 3.5
    assert rating_of({"birads": 4, "density": "B", "probability": 60}, "probability") == 60
    assert (
        rating_of({"birads": None, "density": None, "not_imaged": True}, "ordinal_birads") is None
    )
    assert rating_of({"birads": 2, "density": "B"}, "probability") is None


def test_only_cases_everyone_rated_with_a_truth_stay() -> None:
    b = {"birads": 1, "density": "A"}
    c = {"birads": 4, "density": "A"}
    reads = [
        _read("a", "S1", "s1", b, c),
        _read("b", "S1", "s1", b, c),
        _read("a", "S1", "s2", b, {"birads": None, "density": None, "not_imaged": True}),
        _read("b", "S1", "s2", c, {"birads": None, "density": None, "not_imaged": True}),
        ReadRecord("a", "S1", "s3", None, "unreadable"),
        _read("b", "S1", "s3", b, b),
        _read("a", "S1", "s4", b, b),  # b never read s4
    ]
    truths = {"s1/R": False, "s1/L": True, "s2/R": False, "s3/R": False, "s3/L": False}
    table = ratings_table(reads, truths, "ordinal_birads")
    assert {(r["reader"], r["case"], r["rating"]) for r in table.rows} == {
        ("a", "s1/R", 1.0),
        ("b", "s1/R", 1.0),
        ("a", "s1/L", 4.0),
        ("b", "s1/L", 4.0),
        ("a", "s2/R", 1.0),
        ("b", "s2/R", 4.0),
    }
    dropped = {d.case: d.reasons for d in table.dropped}
    assert dropped["s2/L"] == (
        "no rating from a in S1",
        "no rating from b in S1",
        "no reference standard for this breast",
    )
    assert dropped["s3/R"] == ("excluded by a in S1: unreadable",)
    assert dropped["s4/R"] == ("not read by b in S1", "no reference standard for this breast")


def test_consensus_truths() -> None:
    labels = {
        "s1": {"breasts": {"R": {"birads": 4}, "L": {"birads": 2}}},
        "s2": {"breasts": {"R": {"birads": 0}, "L": {"birads": None, "not_imaged": True}}},
    }
    assert consensus_truths(labels) == {"s1/R": True, "s1/L": False}
