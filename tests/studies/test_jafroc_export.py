"""The JAFROC workbook (RJafroc's ``DfReadDataFile(file, newExcelFileFormat = FALSE)``, ROC
data): read back with openpyxl, every sheet matches the rows, and the AUCs recomputed from its
TP and FP sheets are sklearn's on the rows."""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

import pytest
from openpyxl import load_workbook
from sklearn.metrics import roc_auc_score

from app.studies.jafroc_export import jafroc_workbook
from app.studies.ratings_export import imrmc_text
from tests.stats import vandyke

Rows = list[dict[str, Any]]

# Two readers, two treatments, four breasts (two diseased), labelled as MammoRead labels them.
CASES = [("1.2.3/R", 0), ("1.2.3/L", 1), ("4.5/R", 0), ("6/L", 1)]
RATINGS = {
    ("ann", "unaided"): [0.10, 0.70, 0.35, 0.35],
    ("bob", "unaided"): [0.20, 0.90, 0.60, 0.40],
    ("ann", "AI"): [0.05, 0.80, 0.30, 0.65],
    ("bob", "AI"): [0.25, 0.95, 0.95, 0.50],
}


def small() -> Rows:
    return [
        {"reader": r, "treatment": t, "case": case, "truth": truth, "rating": rating}
        for (r, t), ratings in RATINGS.items()
        for (case, truth), rating in zip(CASES, ratings, strict=True)
    ]


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def keys(book: dict[str, list[tuple[Any, ...]]]) -> dict[str, dict[Any, str]]:
    """The Key sheet: for each kind, JAFROC id -> MammoRead label."""
    found: dict[str, dict[Any, str]] = {"case": {}, "reader": {}, "modality": {}}
    for kind, number, label in book["Key"][1:]:
        found[kind][number] = label
    return found


def test_the_small_study_sheet_by_sheet() -> None:
    book = sheets(jafroc_workbook(small()))
    assert list(book) == ["TRUTH", "FP", "TP", "Key"]
    # cases numbered in the rows' order; non-diseased: lesion 0 weight 0, diseased: 1 and 1
    assert book["TRUTH"] == [
        ("CaseID", "LesionID", "Weight"),
        (1, 0, 0),
        (2, 1, 1),
        (3, 0, 0),
        (4, 1, 1),
    ]
    # one FP row per treatment, reader and non-diseased case; readers numbered, modality text
    assert book["FP"] == [
        ("ReaderID", "ModalityID", "CaseID", "FP_Rating"),
        (1, "unaided", 1, 0.10),
        (1, "unaided", 3, 0.35),
        (2, "unaided", 1, 0.20),
        (2, "unaided", 3, 0.60),
        (1, "AI", 1, 0.05),
        (1, "AI", 3, 0.30),
        (2, "AI", 1, 0.25),
        (2, "AI", 3, 0.95),
    ]
    assert book["TP"] == [
        ("ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating"),
        (1, "unaided", 2, 1, 0.70),
        (1, "unaided", 4, 1, 0.35),
        (2, "unaided", 2, 1, 0.90),
        (2, "unaided", 4, 1, 0.40),
        (1, "AI", 2, 1, 0.80),
        (1, "AI", 4, 1, 0.65),
        (2, "AI", 2, 1, 0.95),
        (2, "AI", 4, 1, 0.50),
    ]
    assert book["Key"] == [
        ("Kind", "ID", "MammoRead label"),
        ("case", 1, "1.2.3/R"),
        ("case", 2, "1.2.3/L"),
        ("case", 3, "4.5/R"),
        ("case", 4, "6/L"),
        ("reader", 1, "ann"),
        ("reader", 2, "bob"),
        ("modality", "unaided", "unaided"),
        ("modality", "AI", "AI"),
    ]


def test_the_id_columns_hold_whole_numbers_and_the_modality_text() -> None:
    book = sheets(jafroc_workbook(small()))
    for name, whole in (("TRUTH", (0, 1)), ("FP", (0, 2)), ("TP", (0, 2, 3))):
        for row in book[name][1:]:
            assert all(type(row[i]) is int for i in whole), (name, row)
    assert all(type(row[1]) is str for row in book["FP"][1:] + book["TP"][1:])


def test_the_same_rows_give_the_same_cells() -> None:
    assert sheets(jafroc_workbook(small())) == sheets(jafroc_workbook(small()))
    assert sheets(jafroc_workbook(vandyke.rows())) == sheets(jafroc_workbook(vandyke.rows()))


def test_the_van_dyke_sheets_hold_every_rating_once() -> None:
    rows = vandyke.rows()
    book = sheets(jafroc_workbook(rows))
    key = keys(book)
    case_id = {label: number for number, label in key["case"].items()}
    reader_id = {label: number for number, label in key["reader"].items()}
    assert sorted(case_id.values()) == list(range(1, 115))
    assert sorted(reader_id.values()) == [1, 2, 3, 4, 5]
    # the case numbers are those of the iMRMC export of the same rows
    numbered = re.search(r"^Cases: (.*)$", imrmc_text(rows), re.MULTILINE)
    assert numbered is not None
    assert {
        label: int(n) for n, label in (p.split(" = ") for p in numbered.group(1).split("; "))
    } == case_id

    truth = {row["case"]: int(row["truth"]) for row in rows}
    assert book["TRUTH"][0] == ("CaseID", "LesionID", "Weight")
    assert sorted(book["TRUTH"][1:]) == sorted((case_id[c], t, t) for c, t in truth.items())
    assert sum(1 for _, lesion, _ in book["TRUTH"][1:] if lesion == 0) == 69

    def expected(diseased: int) -> Counter[tuple[Any, ...]]:
        return Counter(
            (reader_id[r["reader"]], r["treatment"], case_id[r["case"]])
            + ((1,) if diseased else ())
            + (float(r["rating"]),)
            for r in rows
            if int(r["truth"]) == diseased
        )

    assert book["FP"][0] == ("ReaderID", "ModalityID", "CaseID", "FP_Rating")
    assert book["TP"][0] == ("ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating")
    assert Counter(book["FP"][1:]) == expected(0)
    assert Counter(book["TP"][1:]) == expected(1)
    assert (len(book["FP"]) - 1, len(book["TP"]) - 1) == (5 * 2 * 69, 5 * 2 * 45)


def auc_from_sheets(book: dict[str, list[tuple[Any, ...]]], reader: int, modality: str) -> float:
    """The empirical (Wilcoxon) AUC of one reader and modality from the FP and TP sheets."""
    fps = [row[3] for row in book["FP"][1:] if row[:2] == (reader, modality)]
    tps = [row[4] for row in book["TP"][1:] if row[:2] == (reader, modality)]
    wins = sum((tp > fp) + 0.5 * (tp == fp) for tp in tps for fp in fps)
    return wins / (len(tps) * len(fps))


@pytest.mark.parametrize("study", [small, vandyke.rows], ids=["small", "vandyke"])
def test_the_aucs_from_the_sheets_are_sklearns(study) -> None:
    rows = study()
    book = sheets(jafroc_workbook(rows))
    key = keys(book)
    pairs = {(str(r["reader"]), str(r["treatment"])) for r in rows}
    for reader_number, reader in key["reader"].items():
        for modality in key["modality"]:
            assert (reader, modality) in pairs
            mine = [
                r for r in rows if (str(r["reader"]), str(r["treatment"])) == (reader, modality)
            ]
            expected = roc_auc_score(
                [int(r["truth"]) for r in mine], [float(r["rating"]) for r in mine]
            )
            assert auc_from_sheets(book, reader_number, modality) == pytest.approx(
                expected, abs=1e-12
            )


def without(rows: Rows, index: int) -> Rows:
    return rows[:index] + rows[index + 1 :]


def changed(rows: Rows, index: int, **values: Any) -> Rows:
    return [{**row, **values} if i == index else row for i, row in enumerate(rows)]


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([], "No ratings"),
        (
            without(small(), 5),
            "1 rating(s) missing: reader 'bob', treatment 'unaided', case '1.2.3/L'",
        ),
        (
            [r for r in vandyke.rows() if r["reader"] != "3" or r["case"] != "7"],
            "2 rating(s) missing",
        ),
        ([r for r in vandyke.rows() if r["reader"] != "3"][:-200], "and 195 more"),
        (
            small() + small()[:1],
            "Row 17: reader 'ann' rated case '1.2.3/R' in treatment 'unaided' twice",
        ),
        (changed(small(), 4, truth=1), "Row 5: case '1.2.3/R' has truth 1 here and 0 before"),
        (changed(small(), 0, truth=2), "Row 1: truth must be 0 or 1, not 2"),
        (changed(small(), 0, truth="yes"), "truth must be 0 or 1"),
        (changed(small(), 2, rating=float("nan")), "Row 3: the rating must be a finite number"),
        (changed(small(), 2, rating="high"), "not 'high'"),
        (changed(small(), 2, rating=None), "finite number, not None"),
        ([{k: v for k, v in r.items() if k != "truth"} for r in small()], "Row 1 has no truth"),
        ([{**r, "truth": 0} for r in small()], "at least one diseased (truth 1)"),
        ([{**r, "truth": 1} for r in small()], "4 diseased of 4"),
        ([{**r, "treatment": " "} for r in small()], "Row 1: the treatment is blank"),
        (changed(small(), 0, case="a\x01b"), "control character"),
    ],
    ids=[
        "empty",
        "a reader missing a case",
        "a case missing in both treatments",
        "many missing",
        "twice",
        "truth changes",
        "truth 2",
        "truth text",
        "rating nan",
        "rating text",
        "rating none",
        "no truth key",
        "no diseased",
        "no non-diseased",
        "blank treatment",
        "control character",
    ],
)
def test_bad_rows_are_refused_saying_why(rows: Rows, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        jafroc_workbook(rows)
