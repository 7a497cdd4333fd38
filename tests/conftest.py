"""Fixtures: every test that touches the database runs on SQLite and, when
``MAMMOREAD_TEST_POSTGRES_URL`` is set, on PostgreSQL too, each time on a freshly migrated
database of its own."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import Role, User
from app.auth.users import NewUser, create_user
from app.core import migrations
from app.core.config import Settings
from app.main import create_app
from tests.helpers import PASSWORD, test_settings
from tests.objectstore.seaweedfs import S3_VARIANT, s3_settings

pytest_plugins = [
    "tests.pacs.fixtures",  # Orthanc, for tests/pacs and tests/browser
    "tests.objectstore.fixtures",  # SeaweedFS, for the object store and the suite's S3 variant
    "tests.workers",  # `mammoread worker` processes, for the job queue tests on PostgreSQL
]

POSTGRES_ENV = "MAMMOREAD_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
RUN_ID = uuid.uuid4().hex[:8]


# --- databases ------------------------------------------------------------------------------


class PostgresScratch:
    """Scratch databases for one test run, cloned from a migrated template."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.prefix = f"mammoread_test_{RUN_ID}_{worker}"
        self.template = f"{self.prefix}_template"
        self.engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.count = 0

    def url_for(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def create_template(self) -> None:
        self._execute(f'CREATE DATABASE "{self.template}"')
        migrate(self.url_for(self.template))

    def clone(self) -> str:
        self.count += 1
        name = f"{self.prefix}_{self.count}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        with self.engine.connect() as connection:
            connection.execute(text(sql))


def migrate(url: str) -> None:
    migrations.upgrade(Settings(database_url=url, data_dir=Path("/nonexistent-unused")))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresScratch | None]:
    if not POSTGRES_URL:
        yield None
        return
    scratch = PostgresScratch(POSTGRES_URL)
    scratch.create_template()
    yield scratch
    scratch.drop(scratch.template)
    scratch.engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres: PostgresScratch | None,
) -> Iterator[str]:
    """A freshly migrated database for this test alone."""
    if request.param == "sqlite":
        path = tmp_path / "mammoread.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert postgres is not None
    name = postgres.clone()
    yield postgres.url_for(name)
    postgres.drop(name)


@pytest.fixture
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresScratch | None
) -> Iterator[str]:
    """An empty, unmigrated database (parametrise with ``backend``)."""
    backend = request.param if hasattr(request, "param") else "sqlite"
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    assert postgres is not None
    postgres.count += 1
    name = f"{postgres.prefix}_empty_{postgres.count}"
    postgres._execute(f'CREATE DATABASE "{name}"')
    yield postgres.url_for(name)
    postgres.drop(name)


# --- the application ------------------------------------------------------------------------


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """The test's settings; with ``MAMMOREAD_TEST_STORAGE=s3``, images go to SeaweedFS."""
    if S3_VARIANT:
        server = request.getfixturevalue("seaweedfs_server")
        return test_settings(tmp_path / "var", database_url, **s3_settings(server))
    return test_settings(tmp_path / "var", database_url)


@pytest.fixture
def app(settings: Settings):
    application = create_app(settings)
    yield application
    application.state.workers.stop()
    application.state.engine.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def db(app) -> Iterator[Session]:
    session = app.state.session_factory()
    yield session
    session.close()


class Accounts:
    """Creates users through the real service layer."""

    def __init__(self, app, db: Session) -> None:
        self.kit = app.state.auth_kit
        self.db = db

    def add(
        self, username: str, role: Role = Role.READER, password: str = PASSWORD, **extra: object
    ) -> User:
        new = NewUser(username, str(extra.get("display_name", "")), role, password)
        user, _ = create_user(self.db, self.kit, Actor(None, None, "test"), new)
        return user


@pytest.fixture
def accounts(app, db: Session) -> Accounts:
    return Accounts(app, db)


@pytest.fixture
def admin(accounts: Accounts) -> User:
    return accounts.add("admin", Role.ADMIN, display_name="Ada Admin")


@pytest.fixture
def reader(accounts: Accounts) -> User:
    return accounts.add("reader1", Role.READER, display_name="Dr. Rea Der")
