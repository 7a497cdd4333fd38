"""A VinDr-format release in and out again: the same bytes; a bad release imports nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import main
from app.imaging.models import Image
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission
from tests.export.conftest import Release, build_release, release_files
from tests.helpers import assert_error, bearer, login

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def cli(database_url: str, data_dir: Path, *args: str):
    environment = {"MAMMOREAD_DATA_DIR": str(data_dir), "MAMMOREAD_DATABASE_URL": database_url}
    result = CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_release_round_trip_through_the_cli_gives_the_same_bytes(
    database_url: str, tmp_path: Path, release: Release
) -> None:
    breast, finding = tmp_path / "in-breast.csv", tmp_path / "in-finding.csv"
    breast.write_text(release.breast_csv, encoding="utf-8", newline="")
    finding.write_text(release.finding_csv, encoding="utf-8", newline="")
    data = tmp_path / "var"
    imported = cli(
        database_url,
        data,
        "import-release",
        "--project",
        "VinDr sample",
        "--breast",
        str(breast),
        "--finding",
        str(finding),
        "--dicom",
        str(release.dicom_dir),
    )
    assert "4 final studies, 16 DICOM files imported" in imported.output
    out = tmp_path / "out"
    cli(database_url, data, "export", "VinDr sample", "--format", "vindr", "--out", str(out))
    assert (out / "breast-level_annotations.csv").read_bytes() == release.breast_csv.encode()
    assert (out / "finding_annotations.csv").read_bytes() == release.finding_csv.encode()

    archive = tmp_path / "again.zip"
    cli(database_url, data, "export", "1", "--out", str(archive), "--images")
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        assert zipped.read("finding_annotations.csv") == release.finding_csv.encode()
    dicoms = {n for n in names if n.startswith("images/")}
    assert len(dicoms) == 16
    # the exported files carry the same ids: a second instance imports them as the same images
    study = next(iter(release.dicom_dir.iterdir())).name
    assert any(n.startswith(f"images/{study}/") for n in dicoms)


def test_a_release_is_imported_through_the_api(client, db, admin, release: Release) -> None:
    files = release_files(release)
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "From API"},
        files=files,
        headers=bearer(client, "admin"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["studies"] == 4
    statuses = db.scalars(select(ProjectStudy.status)).all()
    assert statuses == ["final"] * 4
    splits = db.scalars(select(ProjectStudy.split).order_by(ProjectStudy.id)).all()
    assert splits == ["training", "test", "training", "training"]


def bad_release(release: Release) -> tuple[str, str]:
    breast = release.breast_csv.splitlines(keepends=True)
    finding = release.finding_csv.splitlines(keepends=True)
    breast[2] = breast[2].replace("BI-RADS 1", "BI-RADS 7")  # line 3
    breast[5] = breast[5].replace("DENSITY C", "DENSITY Q")  # line 6
    finding[1] = finding[1].replace("['No Finding']", "['Tumour']")  # line 2
    boxed = next(n for n, line in enumerate(finding) if "60.0" in line)
    finding[boxed] = finding[boxed].replace("60.0", "1.0")  # xmax < xmin
    breast.append(breast[1].replace(breast[1][66:98], "f" * 32))  # an image with no DICOM
    return "".join(breast), "".join(finding)


def test_a_bad_release_lists_every_problem_and_imports_nothing(
    client, db, admin, release: Release
) -> None:
    breast_csv, finding_csv = bad_release(release)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in release.dicom_dir.rglob("*.dicom"):
            zipped.write(path, path.relative_to(release.dicom_dir).as_posix())
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Broken"},
        files=[
            ("breast_csv", ("b.csv", breast_csv.encode())),
            ("finding_csv", ("f.csv", finding_csv.encode())),
            ("dicom", ("images.zip", archive.getvalue())),
        ],
        headers=bearer(client, "admin"),
    )
    error = assert_error(response, 422, "invalid_release")
    where = {detail["field"] for detail in error["details"]}
    text = " ".join(detail["message"] for detail in error["details"])
    assert {"breast-level_annotations.csv:3", "breast-level_annotations.csv:6"} <= where
    assert "finding_annotations.csv:2" in where
    for needle in ("BI-RADS 7", "DENSITY Q", "Tumour", "f" * 32):
        assert needle in text, needle
    assert db.scalar(select(func.count()).select_from(ReadingProject)) == 0
    assert db.scalar(select(func.count()).select_from(Image)) == 0

    wrong_header = client.post(
        "/api/v1/releases",
        data={"project_name": "Broken"},
        files=[
            ("breast_csv", ("b.csv", b"study,series\n")),
            ("finding_csv", ("f.csv", release.finding_csv.encode())),
        ],
        headers=bearer(client, "admin"),
    )
    details = assert_error(wrong_header, 422, "invalid_release")["details"]
    assert details[0]["field"] == "breast-level_annotations.csv:1"
    assert "study_id,series_id,image_id" in details[0]["message"]


def test_facts_that_differ_from_the_dicom_are_refused(tmp_path, client, db, admin) -> None:
    release = build_release(tmp_path / "r")
    changed = release.breast_csv.replace(",256,208,", ",4096,3328,", 1)
    findings = release.finding_csv.replace(",256,208,", ",4096,3328,", 1)
    assert changed != release.breast_csv
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Sizes"},
        files=[
            ("breast_csv", ("b.csv", changed.encode())),
            ("finding_csv", ("f.csv", findings.encode())),
            *[("dicom", (p.name, p.read_bytes())) for p in release.dicom_dir.rglob("*.dicom")],
        ],
        headers=bearer(client, "admin"),
    )
    error = assert_error(response, 422, "invalid_release")
    assert any("height 4096 but the DICOM has 256" in d["message"] for d in error["details"])


def test_a_release_as_first_reads_gets_second_reads_and_arbitration(
    client, db, accounts, admin, release: Release
) -> None:
    first = accounts.add("senior")
    second = accounts.add("junior")
    arbiter = accounts.add("arb")
    headers = bearer(client, "admin")
    refused = client.post(
        "/api/v1/releases",
        data={"project_name": "Re-read", "start_as": "first_read"},
        files=release_files(release, dicom=False),
        headers=headers,
    )
    assert assert_error(refused, 422)["details"][0]["field"] == "first_reader"
    response = client.post(
        "/api/v1/releases",
        data={"project_name": "Re-read", "start_as": "first_read", "first_reader": "senior"},
        files=release_files(release),
        headers=headers,
    )
    assert response.status_code == 201, response.text
    project_id = response.json()["project_id"]
    pools = {"readers": [first.id, second.id], "arbiters": [arbiter.id]}
    client.put(f"/api/v1/reading/projects/{project_id}/pools", json=pools, headers=headers)
    assigned = client.post(
        f"/api/v1/reading/projects/{project_id}/assign", json={}, headers=headers
    )
    assert assigned.status_code == 200, assigned.text
    junior = bearer(client, "junior")
    tasks = client.get("/api/v1/reading/tasks", headers=junior).json()
    assert len(tasks) == 4
    labels = {
        ps.study.study_id: ps for ps in db.scalars(select(ProjectStudy).order_by(ProjectStudy.id))
    }
    imported = {
        study: db.scalar(
            select(ReadSubmission.label).where(ReadSubmission.project_study_id == ps.id)
        )
        for study, ps in labels.items()
    }
    changed = next(iter(imported))
    for task in tasks:
        label = dict(imported[task["study_id"]])
        if task["study_id"] == changed:
            label = {
                **label,
                "breasts": {"R": {"birads": 1, "density": "A"}, "L": {"birads": 1, "density": "A"}},
            }
        current = client.get(f"/api/v1/reading/tasks/{task['id']}", headers=junior).json()
        submitted = client.post(
            f"/api/v1/reading/tasks/{task['id']}/submit",
            json={"label": label, "version": current["version"]},
            headers=junior,
        )
        assert submitted.status_code == 200, submitted.text
    db.expire_all()
    statuses = {ps.study.study_id: ps.status for ps in db.scalars(select(ProjectStudy))}
    assert statuses.pop(changed) == "arbitration"
    assert set(statuses.values()) == {"final"}


def test_the_release_page_lists_problems_then_imports(client, db, admin, release: Release) -> None:
    csrf = login(client, "admin")
    assert "breast-level_annotations.csv" in client.get("/releases/import").text
    breast_csv, finding_csv = bad_release(release)
    refused = client.post(
        "/releases/import",
        data={"csrf_token": csrf, "project_name": "Page"},
        files=[
            ("breast_csv", ("b.csv", breast_csv.encode())),
            ("finding_csv", ("f.csv", finding_csv.encode())),
        ],
    )
    assert refused.status_code == 422
    assert "nothing was imported" in refused.text
    assert "breast-level_annotations.csv:3" in refused.text
    done = client.post(
        "/releases/import",
        data={"csrf_token": csrf, "project_name": "Page"},
        files=release_files(release),
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    project_page = client.get(done.headers["location"])
    assert "Statistics" in project_page.text


@pytest.mark.parametrize(
    ("name", "damaged", "status"),
    [("   ", False, 422), ("Fine", True, 422)],
)
def test_nothing_is_stored_when_the_release_is_refused(
    client, db, admin, release: Release, name, damaged, status
) -> None:
    # a file the CSVs reference (named by its image id) that is not readable DICOM
    extra = [("dicom", (f"{release.image_ids[0]}.dicom", b"not a dicom file"))] if damaged else []
    response = client.post(
        "/api/v1/releases",
        data={"project_name": name},
        files=[*release_files(release), *extra],
        headers=bearer(client, "admin"),
    )
    assert_error(response, status)
    assert db.scalar(select(func.count()).select_from(Image)) == 0
    assert db.scalar(select(func.count()).select_from(ReadingProject)) == 0
