"""Everything in the data directory is for the service's user only (fault 13): the SQLite
database and its -wal/-shm files, the keys, stored images, export archives."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.users import NewUser, create_user
from app.core import migrations
from app.core.config import Settings
from app.main import create_app
from tests.helpers import PASSWORD, bearer, finished_export, test_settings
from tests.imaging.helpers import exam_files, upload


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start services with; restored afterwards."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def open_to_others(root: Path) -> dict[str, str]:
    return {name: oct(mode) for name, mode in modes(root).items() if mode & 0o077}


def sqlite_in(data_dir: Path) -> Settings:
    settings = test_settings(data_dir, "")
    settings.database_url = None  # the default: mammoread.db in the data directory
    settings.secret_key = None  # generated into the data directory
    return settings


def test_an_import_and_an_export_leave_only_private_files(tmp_path: Path, usual_umask) -> None:
    settings = sqlite_in(tmp_path / "var")
    migrations.upgrade(settings)
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.session_factory() as db:
            new = NewUser("admin", "", Role.ADMIN, PASSWORD, must_change_password=False)
            create_user(db, app.state.auth_kit, Actor(None, None, "test"), new)
        headers = bearer(client, "admin")
        assert upload(client, exam_files(3), headers).json()["imported"] == 4
        project = client.post(
            "/api/v1/reading/projects", json={"name": "Private"}, headers=headers
        ).json()
        finished_export(client, headers, project_id=project["id"], format="vindr", with_images=True)
        names = set(modes(settings.data_dir))
        assert {"mammoread.db", "mammoread.db-wal", "secret_key", "pseudonym_key"} <= names
        assert any(name.startswith("images/") for name in names)
        assert any(name.startswith("pyramid/") for name in names)
        assert any(name.endswith("-vindr.zip") for name in names)
        assert open_to_others(settings.data_dir) == {}


def test_a_data_directory_made_before_is_tightened(tmp_path: Path, usual_umask) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # noqa: S103 - an installation made before this fix
    for name in ("mammoread.db", "mammoread.db-wal", "secret_key"):
        (data / name).write_bytes(b"")
        os.chmod(data / name, 0o644)
    settings = sqlite_in(data)
    settings.ensure_data_dir()
    assert open_to_others(data) == {}
