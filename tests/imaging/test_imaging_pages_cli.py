"""Imaging pages, the import and demo commands, encodings, corner blackout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless
from sqlalchemy import func, select

from app.cli import main
from app.imaging.models import Image, QcFlag
from tests.helpers import bearer, login
from tests.imaging.helpers import exam_files, upload


def write(files: list[tuple[str, bytes]], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (directory / name).write_bytes(data)
    return directory


def cli(settings, *args: str, **env: str):
    environment = {
        "MAMMOREAD_DATA_DIR": str(settings.data_dir),
        "MAMMOREAD_DATABASE_URL": settings.resolved_database_url,
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def test_cli_import_folders_recursively_and_says_what_happened(settings, tmp_path, db) -> None:
    folder = write(exam_files(31), tmp_path / "in" / "exam")
    (tmp_path / "in" / "readme.txt").write_text("not dicom")
    first = cli(settings, "import", str(tmp_path / "in"), "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["imported"], summary["already_present"], summary["rejected"]) == (4, 0, 1)
    again = cli(settings, "import", str(folder))
    assert "0 imported, 4 already present, 0 rejected" in again.stdout
    assert db.scalar(select(func.count()).select_from(Image)) == 4


def test_demo_command(settings, db) -> None:
    result = cli(settings, "demo", "--studies", "2", "--size", "256x208", "--with-readers")
    assert result.exit_code == 0, result.output
    assert "8 images imported" in result.stdout
    assert "Demo reader 'reader2' created. Password: " in result.stdout
    skipped = cli(settings, "demo", "--studies", "2", "--size", "256x208", "--if-empty")
    assert "skipped" in skipped.stdout
    assert cli(settings, "demo", "--size", "big").exit_code == 2


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEGLSLossless, RLELossless])
def test_compressed_encodings_import_and_decode(client, admin, syntax) -> None:
    headers = bearer(client, "admin")
    files = exam_files(32, transfer_syntax=syntax, photometric="MONOCHROME1")
    body = upload(client, files, headers).json()
    assert body["imported"] == 4, body
    image = client.get(f"/api/v1/images/{body['outcomes'][0]['image_id']}", headers=headers).json()
    assert image["transfer_syntax"] == str(syntax)
    assert image["photometric"] == "MONOCHROME1"
    assert image["flags"] == []  # MONOCHROME1 shown dark-background: not "inverted"


def test_corner_blackout(tmp_path, database_url, admin) -> None:
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.helpers import test_settings

    settings = test_settings(tmp_path / "var", database_url, blackout_corners=0.1)
    app = create_app(settings)
    with TestClient(app) as client:
        headers = bearer(client, "admin")
        body = upload(client, exam_files(33), headers).json()
        assert body["imported"] == 4
        stored = next(settings.data_dir.rglob("*.dcm"))
        pixels = pydicom.dcmread(stored).pixel_array
        corner = int(min(pixels.shape) * 0.1)
        assert np.all(pixels[:corner, :corner] == pixels.min())
        assert np.all(pixels[-corner:, -corner:] == pixels.min())
    app.state.engine.dispose()


def test_study_pages(client, db, admin) -> None:
    headers = bearer(client, "admin")
    body = upload(client, exam_files(34, omit_view="L-MLO"), headers).json()
    study_id = body["outcomes"][0]["study_id"]
    csrf = login(client, "admin")
    listing = client.get("/studies", params={"flag": "missing_view"})
    assert listing.status_code == 200
    assert study_id in listing.text
    assert study_id not in client.get("/studies", params={"complete": "yes"}).text
    page = client.get(f"/studies/{study_id}")
    assert 'data-layout="four"' in page.text
    assert "L-MLO is missing." in page.text
    flag_id = db.scalar(select(QcFlag.id).where(QcFlag.kind == "missing_view"))
    refused = client.post(
        f"/studies/{study_id}/flags/{flag_id}/clear", data={"csrf_token": csrf, "reason": "  "}
    )
    assert refused.status_code == 422
    cleared = client.post(
        f"/studies/{study_id}/flags/{flag_id}/clear",
        data={"csrf_token": csrf, "reason": "Not acquired"},
    )
    assert "Flag cleared" in cleared.text
    assert "Cleared" in cleared.text
    forged = client.post(f"/studies/{study_id}/flags/{flag_id}/clear", data={"reason": "x"})
    assert forged.status_code == 403
    history = client.get("/imports")
    assert re.search(r"<td>3</td>\s*<td>0</td>", history.text)
    assert client.get("/import").status_code == 200
    assert "Studies" in client.get("/").text


def test_readers_do_not_see_imaging_pages(client, reader) -> None:
    login(client, "reader1")
    for path in ["/studies", "/import", "/imports"]:
        assert client.get(path).status_code == 403
