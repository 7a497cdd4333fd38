"""The mammoread command, run in-process on a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.cli import main
from tests.conftest import BACKENDS


@pytest.fixture
def run(tmp_path: Path):
    def invoke(database_url: str, *args: str, **env: str):
        runner = CliRunner()
        environment = {
            "MAMMOREAD_DATA_DIR": str(tmp_path / "var"),
            "MAMMOREAD_DATABASE_URL": database_url,
            "MAMMOREAD_ARGON2_TIME_COST": "1",
            "MAMMOREAD_ARGON2_MEMORY_KIB": "1024",
            **env,
        }
        return runner.invoke(main, list(args), env=environment, catch_exceptions=False)

    return invoke


def users_in(url: str) -> dict[str, User]:
    engine = create_engine(url)
    with Session(engine) as session:
        users = {u.username: u for u in session.scalars(select(User))}
    engine.dispose()
    return users


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_init_migrates_and_creates_the_first_admin(run, empty_database_url: str) -> None:
    result = run(empty_database_url, "init", "--username", "Chief", "--generate-password")
    assert result.exit_code == 0, result.output
    assert "Administrator 'chief' created." in result.output
    password = result.output.split("Password: ")[1].strip()
    assert len(password) == 23
    admin = users_in(empty_database_url)["chief"]
    assert admin.role == "admin"
    assert not admin.must_change_password
    again = run(empty_database_url, "init", "--username", "chief", "--generate-password")
    assert again.exit_code == 0
    assert "Already initialised" in again.output


def test_init_takes_the_password_from_the_environment(run, empty_database_url: str) -> None:
    result = run(
        empty_database_url,
        "init",
        "--username",
        "chief",
        MAMMOREAD_ADMIN_PASSWORD="an env password",
    )
    assert result.exit_code == 0, result.output
    assert "an env password" not in result.output


def test_init_refuses_a_weak_password(run, empty_database_url: str) -> None:
    result = run(empty_database_url, "init", "--username", "chief", MAMMOREAD_ADMIN_PASSWORD="x")
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output
    assert users_in(empty_database_url) == {}


def test_user_commands(run, database_url: str) -> None:
    added = run(database_url, "user", "add", "Dr.Lan", "--display-name", "Dr. Lan")
    assert added.exit_code == 0, added.output
    assert "User 'dr.lan' (reader) created. Password: " in added.output
    assert run(database_url, "user", "disable", "dr.lan").exit_code == 0
    assert not users_in(database_url)["dr.lan"].is_active
    assert run(database_url, "user", "enable", "dr.lan").exit_code == 0
    reset = run(database_url, "user", "reset-password", "dr.lan")
    assert "New password for 'dr.lan'" in reset.output
    listing = run(database_url, "user", "list")
    assert "dr.lan" in listing.output
    assert "reader" in listing.output
    missing = run(database_url, "user", "disable", "nobody")
    assert missing.exit_code == 1
    assert "There is no user named 'nobody'" in missing.output
    bad = run(database_url, "user", "add", "<b>")
    assert bad.exit_code == 1
    assert "may contain only" in bad.output


def test_commands_refuse_an_unmigrated_database(run, empty_database_url: str) -> None:
    result = run(empty_database_url, "user", "list")
    assert result.exit_code == 1
    assert "mammoread db upgrade" in result.output


def test_db_upgrade_and_current(run, empty_database_url: str) -> None:
    assert run(empty_database_url, "db", "upgrade").exit_code == 0
    current = run(empty_database_url, "db", "current").output
    lines = dict(line.split(":", 1) for line in current.strip().splitlines())
    assert lines["current"].strip() == lines["latest"].strip() != "None"


def test_config_masks_secrets(run) -> None:
    url = "postgresql+psycopg://mammo:TopSecretPw@db:5432/mammoread"
    result = run(url, "config", MAMMOREAD_SECRET_KEY="AnotherSecretValue")
    assert result.exit_code == 0
    assert "TopSecretPw" not in result.output
    assert "AnotherSecretValue" not in result.output
    assert "MAMMOREAD_DATABASE_URL" in result.output
    assert "MAMMOREAD_MAX_UPLOAD_MB" in result.output
    assert "********" in result.output


def test_help_lists_the_commands() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for command in ("init", "serve", "user", "db", "config"):
        assert command in output
