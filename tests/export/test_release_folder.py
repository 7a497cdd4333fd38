"""`import-release --dicom DIR` on a release folder as distributed: files the CSVs do not
reference are ignored; referenced files missing or unreadable are each listed by name and
nothing is stored."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import main
from app.imaging.importing import sources
from app.imaging.models import Image
from app.reading.models import ReadingProject
from tests.export.conftest import Release
from tests.imaging.helpers import exam_files
from tests.imaging.test_decoder_bomb import deflate_bomb

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def import_release(database_url: str, tmp_path: Path, release: Release):
    breast, finding = tmp_path / "breast.csv", tmp_path / "finding.csv"
    breast.write_text(release.breast_csv, encoding="utf-8", newline="")
    finding.write_text(release.finding_csv, encoding="utf-8", newline="")
    environment = {
        "MAMMOREAD_DATA_DIR": str(tmp_path / "var"),
        "MAMMOREAD_DATABASE_URL": database_url,
    }
    arguments = ["import-release", "--project", "VinDr sample", "--breast", str(breast)]
    arguments += ["--finding", str(finding), "--dicom", str(release.dicom_dir)]
    return CliRunner().invoke(main, arguments, env=environment, catch_exceptions=False)


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_files_the_csvs_do_not_reference_are_ignored(
    database_url: str, tmp_path: Path, db, release: Release
) -> None:
    folder = release.dicom_dir
    (folder / "README.md").write_text("# VinDr-Mammo sample\n")
    (folder / "SHA256SUMS.txt").write_text("0123abcd  images/x.dicom\n")
    (folder / "LICENSE").write_bytes(b"\x00\x01 not text either")
    (folder / "extra").mkdir()
    (folder / "extra" / "outside.dcm").write_bytes(exam_files(77)[0][1])  # not in the CSVs

    result = import_release(database_url, tmp_path, release)
    assert result.exit_code == 0, result.output
    assert "4 final studies, 16 DICOM files imported" in result.output
    assert set(db.scalars(select(Image.image_id))) == set(release.image_ids)


def test_referenced_files_missing_or_unreadable_are_each_listed(
    database_url: str, tmp_path: Path, db, release: Release
) -> None:
    files = {path.stem: path for path in release.dicom_dir.rglob("*.dicom")}
    missing = release.image_ids[:2]
    for image_id in missing:
        files[image_id].unlink()
    damaged = files[release.image_ids[5]]
    damaged.write_bytes(b"truncated in transfer")
    (release.dicom_dir / "README.txt").write_text("not referenced: never mentioned")

    result = import_release(database_url, tmp_path, release)
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    for image_id in missing:
        assert f"{image_id} has no DICOM file" in result.output
    assert f"{damaged}: referenced by the CSVs but not a readable DICOM file" in result.output
    assert "README" not in result.output
    assert count(db, Image) == 0
    assert count(db, ReadingProject) == 0


def test_a_referenced_deflate_bomb_is_listed_not_inflated(
    database_url: str, tmp_path: Path, db, release: Release, monkeypatch
) -> None:
    """The release's header pass must not let pydicom inflate a deflated data set whole."""
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 8 * 2**20)
    files = {path.stem: path for path in release.dicom_dir.rglob("*.dicom")}
    bomb = files[release.image_ids[3]]
    bomb.write_bytes(deflate_bomb(pydicom.dcmread(bomb), 32))

    tracemalloc.start()
    result = import_release(database_url, tmp_path, release)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.exit_code == 1
    assert f"{bomb}: referenced by the CSVs but not a readable DICOM file" in result.output
    assert peak < 24 * 2**20
    assert count(db, Image) == 0
