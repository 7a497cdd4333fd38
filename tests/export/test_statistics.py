"""Dataset statistics of a reading project: exact counts on the synthetic release, the CSV,
SVG and PNG downloads, the JSON API, access and an empty project."""

from __future__ import annotations

import csv
import io
from xml.etree import ElementTree

import pytest
from PIL import Image
from sqlalchemy import delete, select

from app.core.database import utcnow
from app.export import dataset_statistics as stats
from app.imaging.models import QcFlag, Study
from tests.export.conftest import Release, hex_id, release_files
from tests.helpers import assert_error, bearer, login

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")

SVG = "{http://www.w3.org/2000/svg}"

# Worked out by hand from tests/export/conftest.py STUDIES: studies 0, 2, 3 are training
# (12 images, 3 boxes), study 1 is test (4 images, 2 boxes).
#   0 training: L 1/B, R 1/B, no box                        -> 4 images without a box
#   1 test:     L 1/C, R 4/C; R-CC [Mass, Susp. Calc.] 4; R-MLO [Mass] 4 -> 2 without
#   2 training: L 2/A, R 1/A; L-MLO [Skin Thickening]       -> 3 without
#   3 training: L 1/D, R 3/D; R-MLO [Focal Asymmetry] 3, [Suspicious Lymph Node] -> 3 without
# (training, test, all)
EXPECTED = {
    "totals": {
        "studies": (3, 1, 4),
        "women": (3, 1, 4),  # a release without patient keys: each study a woman of its own
        "women in training and test": (0, 0, 0),
        "images": (12, 4, 16),
        "boxes": (3, 2, 5),
    },
    "birads": {
        "BI-RADS 1": (4, 1, 5),
        "BI-RADS 2": (1, 0, 1),
        "BI-RADS 3": (1, 0, 1),
        "BI-RADS 4": (0, 1, 1),
        "BI-RADS 5": (0, 0, 0),
    },
    "density": {
        "DENSITY A": (2, 0, 2),
        "DENSITY B": (2, 0, 2),
        "DENSITY C": (0, 2, 2),
        "DENSITY D": (2, 0, 2),
    },
    "findings": {
        "No Finding": (10, 2, 12),
        "Mass": (0, 2, 2),
        "Suspicious Calcification": (0, 1, 1),
        "Asymmetry": (0, 0, 0),
        "Focal Asymmetry": (1, 0, 1),
        "Global Asymmetry": (0, 0, 0),
        "Architectural Distortion": (0, 0, 0),
        "Skin Thickening": (1, 0, 1),
        "Skin Retraction": (0, 0, 0),
        "Nipple Retraction": (0, 0, 0),
        "Suspicious Lymph Node": (1, 0, 1),
    },
    # rates per 100 images: counts / (12, 4, 16) images
    "findings_rates": {
        "No Finding": ("83.33", "50.00", "75.00"),
        "Mass": ("0.00", "50.00", "12.50"),
        "Suspicious Calcification": ("0.00", "25.00", "6.25"),
        "Focal Asymmetry": ("8.33", "0.00", "6.25"),
        "Skin Thickening": ("8.33", "0.00", "6.25"),
        "Suspicious Lymph Node": ("8.33", "0.00", "6.25"),
    },
    "finding_birads": {
        "Mass BI-RADS 4": (0, 2, 2),
        "Suspicious Calcification BI-RADS 4": (0, 1, 1),
        "Focal Asymmetry BI-RADS 3": (1, 0, 1),
    },
    # ages set below: study 0 45, study 1 47, study 2 62, study 3 unknown
    "age": {
        "40-49": (1, 1, 2),
        "50-59": (0, 0, 0),
        "60-69": (1, 0, 1),
        "70-79": (0, 0, 0),
        "unknown": (1, 0, 1),
    },
}
SPLITS = ("training", "test", "all")


def import_release(client, release: Release, name: str = "VinDr sample") -> int:
    files = release_files(release)
    response = client.post(
        "/api/v1/releases",
        data={"project_name": name},
        files=files,
        headers=bearer(client, "admin"),
    )
    assert response.status_code == 201, response.text
    return response.json()["project_id"]


def parse_svg(data: bytes | str) -> ElementTree.Element:
    return ElementTree.fromstring(data)  # noqa: S314 (the server's own SVG, in a test)


def study_pk(db, index: int) -> int:
    return db.scalar(select(Study.id).where(Study.study_id == hex_id("study", index)))


@pytest.fixture
def project_id(client, db, admin, release: Release) -> int:
    """The synthetic release as a project, with known ages and QC flags."""
    project_id = import_release(client, release)
    for index, age in enumerate((45, 47, 62, None)):
        db.get(Study, study_pk(db, index)).patient_age = age
    db.execute(delete(QcFlag))
    db.add_all(
        [
            QcFlag(study_pk=study_pk(db, 0), kind="missing_view", detail="x"),
            QcFlag(study_pk=study_pk(db, 0), kind="missing_view", detail="again"),
            QcFlag(study_pk=study_pk(db, 1), kind="missing_view", detail="x"),
            QcFlag(study_pk=study_pk(db, 3), kind="scanner_dust", detail="not a known kind"),
        ]
    )
    cleared = QcFlag(study_pk=study_pk(db, 2), kind="burned_in_text", detail="x")
    cleared.cleared_at = utcnow()
    db.add(cleared)
    db.commit()
    return project_id


def as_counts(table: dict) -> dict[str, tuple[int, ...]]:
    return {row["row"]: tuple(row["counts"][s] for s in table["splits"]) for row in table["rows"]}


def test_the_api_counts_the_release_exactly(client, project_id: int) -> None:
    response = client.get(
        f"/api/v1/reading/projects/{project_id}/statistics", headers=bearer(client, "admin")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["project_name"] == "VinDr sample"
    assert body["images"] == {"training": 12, "test": 4, "all": 16}
    tables = {table["name"]: table for table in body["tables"]}
    assert list(tables) == list(stats.TABLE_NAMES)
    for name in ("totals", "birads", "density", "findings", "age"):
        assert as_counts(tables[name]) == EXPECTED[name], name
    graded = as_counts(tables["finding_birads"])
    assert len(graded) == 18  # 6 graded categories x BI-RADS 3-5, zeros included
    assert {row: n for row, n in graded.items() if any(n)} == EXPECTED["finding_birads"]
    assert as_counts(tables["qc"]) == {
        "laterality_mismatch": (0,),
        "inverted_intensity": (0,),
        "missing_view": (2,),
        "duplicate_view": (0,),
        "unknown_view": (0,),
        "for_processing": (0,),
        "burned_in_text": (0,),  # cleared: not open
        "scanner_dust": (1,),
    }
    assert tables["qc"]["splits"] == ["all"]
    rates = {row["row"]: row["rate_per_100_images"] for row in tables["findings"]["rows"]}
    assert rates["No Finding"] == {"training": 83.33, "test": 50.0, "all": 75.0}
    assert tables["birads"]["rows"][0]["rate_per_100_images"] is None


def test_the_csv_download_matches(client, project_id: int) -> None:
    login(client, "admin")
    response = client.get(f"/projects/{project_id}/statistics?format=csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="project-{project_id}-statistics.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["table", "row", "split", "count", "rate_per_100_images"]
    found = {(r["table"], r["row"], r["split"]): r for r in rows}
    assert len(found) == len(rows)  # one line per table, row and split
    for table in ("totals", "birads", "density", "findings", "finding_birads", "age"):
        for row, counts in EXPECTED[table].items():
            for split, count in zip(SPLITS, counts, strict=True):
                assert int(found[table, row, split]["count"]) == count, (table, row, split)
    for row, shown in EXPECTED["findings_rates"].items():
        for split, rate in zip(SPLITS, shown, strict=True):
            assert found["findings", row, split]["rate_per_100_images"] == rate
    assert found["birads", "BI-RADS 1", "all"]["rate_per_100_images"] == ""
    assert found["qc", "missing_view", "all"]["count"] == "2"
    assert ("qc", "missing_view", "training") not in found
    assert not any(key[1] == "BI-RADS 0" for key in found)  # only when present
    # the same numbers as the API
    api = client.get(f"/api/v1/reading/projects/{project_id}/statistics").json()
    for table in api["tables"]:
        for row in table["rows"]:
            for split, count in row["counts"].items():
                assert int(found[table["name"], row["row"], split]["count"]) == count


def test_the_page_shows_tables_and_charts(client, project_id: int) -> None:
    login(client, "admin")
    page = client.get(f"/projects/{project_id}/statistics")
    assert page.status_code == 200, page.text
    for name in stats.TABLE_NAMES:
        assert f'id="stats-{name}"' in page.text
        assert f'id="chart-{name}"' in page.text
        assert f"/projects/{project_id}/statistics/{name}.svg" in page.text
        assert f"/projects/{project_id}/statistics/{name}.png" in page.text
    assert "Suspicious Calcification BI-RADS 4" in page.text
    assert "<title>No Finding, training: 10 boxes (No Finding: images) (83.33 per 100 images)" in (
        page.text
    )
    assert "style=" not in page.text  # the CSP allows no inline style
    assert "<script" not in page.text.split("</head>")[1]
    assert f"/projects/{project_id}/statistics?format=csv" in page.text


def test_each_chart_downloads_as_svg_and_png(client, project_id: int) -> None:
    login(client, "admin")
    for name in stats.TABLE_NAMES:
        drawn = client.get(f"/projects/{project_id}/statistics/{name}.svg")
        assert drawn.status_code == 200, drawn.text
        assert drawn.headers["content-type"].startswith("image/svg+xml")
        assert drawn.headers["content-disposition"] == (
            f'attachment; filename="project-{project_id}-{name}.svg"'
        )
        root = parse_svg(drawn.content)
        assert root.tag == f"{SVG}svg"
        width, height = int(root.get("width")), int(root.get("height"))
        tips = [t.text for t in root.iter(f"{SVG}title")]
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert "Count" in " ".join(texts)  # the count axis is labelled
        assert not any(element.get("style") for element in root.iter())

        picture = client.get(f"/projects/{project_id}/statistics/{name}.png")
        assert picture.status_code == 200
        assert picture.headers["content-type"] == "image/png"
        assert picture.headers["content-disposition"] == (
            f'attachment; filename="project-{project_id}-{name}.png"'
        )
        with Image.open(io.BytesIO(picture.content)) as image:
            assert image.format == "PNG"
            assert image.size == (2 * width, 2 * height)
            assert len(image.getcolors(1 << 16) or []) > 3  # something was drawn
    findings = parse_svg(client.get(f"/projects/{project_id}/statistics/findings.svg").content)
    tips = [t.text for t in findings.iter(f"{SVG}title")]
    assert "Mass, test: 2 boxes (No Finding: images) (50.00 per 100 images)" in tips
    bars = [r for r in findings.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 2 * len(EXPECTED["findings"])  # training and test per category
    assert {r.get("fill") for r in bars} == {stats.SERIES_COLOURS[s] for s in ("training", "test")}
    texts = [t.text for t in findings.iter(f"{SVG}text")]
    assert {"training", "test", "Category", "Suspicious Lymph Node"} <= set(texts)


def test_an_unknown_table_is_404_with_a_clear_message(client, project_id: int) -> None:
    login(client, "admin")
    for extension in ("svg", "png"):
        response = client.get(f"/projects/{project_id}/statistics/nope.{extension}")
        assert response.status_code == 404
        assert "There is no statistics table &#39;nope&#39;" in response.text
        assert "findings" in response.text
    unknown_project = client.get("/api/v1/reading/projects/999/statistics")
    assert "There is no reading project 999" in assert_error(unknown_project, 404)["message"]
    assert client.get("/projects/999/statistics").status_code == 404
    bad_format = client.get(f"/projects/{project_id}/statistics?format=xlsx")
    assert bad_format.status_code == 422


def test_a_reader_is_refused(client, project_id: int, reader) -> None:
    assert_error(
        client.get(
            f"/api/v1/reading/projects/{project_id}/statistics",
            headers=bearer(client, "reader1"),
        ),
        403,
        "forbidden",
    )
    login(client, "reader1")
    for path in ("", "?format=csv", "/findings.svg", "/findings.png"):
        assert client.get(f"/projects/{project_id}/statistics{path}").status_code == 403


def test_an_empty_project_shows_zeros(client, admin) -> None:
    headers = bearer(client, "admin")
    created = client.post("/api/v1/reading/projects", json={"name": "Empty"}, headers=headers)
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    body = client.get(f"/api/v1/reading/projects/{project_id}/statistics", headers=headers).json()
    for table in body["tables"]:
        assert table["rows"], table["name"]
        for row in table["rows"]:
            assert set(row["counts"].values()) == {0}, (table["name"], row["row"])
            if row["rate_per_100_images"] is not None:
                assert set(row["rate_per_100_images"].values()) == {None}
    login(client, "admin")
    page = client.get(f"/projects/{project_id}/statistics")
    assert page.status_code == 200, page.text
    assert 'id="chart-findings"' in page.text
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/projects/{project_id}/statistics?format=csv").text)
        )
    )
    assert rows
    assert {r["count"] for r in rows} == {"0"}
    for name in ("totals", "qc"):
        svg = client.get(f"/projects/{project_id}/statistics/{name}.svg")
        parse_svg(svg.content)
        png = client.get(f"/projects/{project_id}/statistics/{name}.png")
        with Image.open(io.BytesIO(png.content)) as image:
            assert image.format == "PNG"


def test_accumulator_counts_unusual_labels() -> None:
    """Rows outside the release's vocabulary show up, after the fixed ones, only when met."""
    accumulator = stats.Accumulator()
    label = {
        "breasts": {"R": {"birads": 0, "density": None}, "L": {"birads": 5, "density": "D"}},
        "boxes": [
            {"image_id": "a", "categories": ["Mass", "Calcified <vessel>"], "birads": 5},
            {"image_id": "a", "categories": ["Nipple Retraction"], "birads": None},
        ],
    }
    accumulator.add_study("training", label, ["a", "b"], 103)
    accumulator.add_study("", None, ["c"], None)  # no split: counts under "all" only
    result = accumulator.result()
    birads = [row.name for row in result.table("birads").rows]
    assert birads == [f"BI-RADS {n}" for n in range(6)] + ["not assessed"]
    assert result.table("birads").rows[-1].counts == {"training": 0, "test": 0, "all": 2}
    findings = {row.name: row.counts["training"] for row in result.table("findings").rows}
    assert findings["Calcified <vessel>"] == 1
    assert findings["No Finding"] == 1
    assert list(findings)[-1] == "Calcified <vessel>"
    graded = {row.name: row.counts["all"] for row in result.table("finding_birads").rows}
    assert graded["Calcified <vessel> BI-RADS 5"] == 1
    assert graded["Mass BI-RADS 5"] == 1
    ages = [row.name for row in result.table("age").rows]
    assert ages[0] == "40-49"
    assert ages[-2:] == ["100-109", "unknown"]
    assert result.images == {"training": 2, "test": 0, "all": 3}
    drawn = stats.svg(stats.chart(result.table("findings")))
    assert "Calcified &lt;vessel&gt;" in drawn
    parse_svg(drawn)


def test_nice_ticks() -> None:
    assert stats.nice_ticks(0) == [0, 1]
    assert stats.nice_ticks(4) == [0, 1, 2, 3, 4]
    assert stats.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert stats.nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert stats.nice_ticks(12_000) == [0, 5000, 10_000, 15_000]
