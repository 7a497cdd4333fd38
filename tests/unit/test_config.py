"""Configuration: environment, defaults, the generated secret key, masking."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.core.config import Settings, load_or_create_secret, mask_url_password


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAMMOREAD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAMMOREAD_MAX_UPLOAD_MB", "7")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.max_upload_bytes == 7 * 1024 * 1024
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/mammoread.db"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("MAMMOREAD_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.data_dir == Path("./var")
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.secret_key is None


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    second = load_or_create_secret(tmp_path)
    assert first == second
    assert len(first) >= 48
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert list(tmp_path.iterdir()) == [tmp_path / "secret_key"]


def test_each_installation_gets_its_own_secret(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path / "a") != load_or_create_secret(tmp_path / "b")


def test_given_secret_wins_and_is_masked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="hunter2hunter2")
    assert settings.secret_bytes == b"hunter2hunter2"
    shown = " ".join(value for _, value, _ in settings.describe())
    assert "hunter2" not in shown
    assert not (tmp_path / "secret_key").exists()


def test_database_password_is_masked() -> None:
    url = "postgresql+psycopg://mammo:s3cr%40t@db:5432/mammoread"
    masked = mask_url_password(url)
    assert "s3cr" not in masked
    assert masked.startswith("postgresql+psycopg://mammo:")
    assert masked.endswith("@db:5432/mammoread")
    assert mask_url_password("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMMOREAD_SESSION_LIFETIME_MINUTES", "zero")
    with pytest.raises(ValueError, match="session_lifetime_minutes"):
        Settings()
