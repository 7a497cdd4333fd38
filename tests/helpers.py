"""Helpers the tests share: signing in like a browser or a script, the error shape."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from fastapi.testclient import TestClient

from app.core.config import Settings

PASSWORD = "correct horse battery"


def test_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for tests: cheap password hashing, a fixed secret, an isolated data dir."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        **overrides,
    }
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


def free_port() -> int:
    """A loopback port nobody listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form as a browser would; returns the session's CSRF token."""
    page = client.get("/login")
    login_csrf = CSRF_INPUT.search(page.text).group(1)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": login_csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_token(client)


def csrf_token(client: TestClient) -> str:
    page = client.get("/account")
    assert page.status_code == 200, page.text
    return CSRF_INPUT.search(page.text).group(1)


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The common error shape, with this status (and code)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def finished_export(client: TestClient, headers: dict[str, str], **body: object) -> dict:
    """Start an export job and wait (at most 10 s) until it is done; the job as last read."""
    response = client.post("/api/v1/exports", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job = response.json()
    for _ in range(200):
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
        job = client.get(f"/api/v1/exports/{job['id']}", headers=headers).json()
    assert job["status"] == "done", job
    return job
