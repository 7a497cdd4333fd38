"""Sign-ins, user creation and password changes at the same time, through a real server.

On SQLite a transaction that reads and then writes cannot wait for the write lock: it fails
at once with "database is locked". Every write path must take the lock first."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from app.auth.models import Role
from tests.helpers import PASSWORD

NEW_PASSWORD = "a fresh reading-room passphrase"


@pytest.fixture
def server(app) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def from_address(number: int) -> dict[str, str]:
    """Each caller from its own address (the server trusts X-Forwarded-For from 127.0.0.1)."""
    return {"X-Forwarded-For": f"203.0.113.{number}"}


def token(http: httpx.Client, username: str, number: int) -> dict[str, str]:
    response = http.post(
        "/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
        headers=from_address(number),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", **from_address(number)}


def test_parallel_sign_ins_user_creation_and_password_changes(server, accounts, admin) -> None:
    changers = [accounts.add(f"changer{n}").username for n in range(10)]
    accounts.add("reader1")
    with httpx.Client(base_url=server, timeout=60) as http:
        admin_headers = token(http, "admin", 200)
        changer_headers = [token(http, name, 100 + n) for n, name in enumerate(changers)]

        def sign_in(n: int) -> Callable[[], httpx.Response]:
            data = {"username": "reader1" if n % 2 else "admin", "password": PASSWORD}
            return lambda: http.post("/api/v1/auth/token", data=data, headers=from_address(n))

        def create(n: int) -> Callable[[], httpx.Response]:
            body = {"username": f"new{n}", "display_name": f"New {n}"}
            return lambda: http.post("/api/v1/users", json=body, headers=admin_headers)

        def change(headers: dict[str, str]) -> Callable[[], httpx.Response]:
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            return lambda: http.post("/api/v1/me/password", json=body, headers=headers)

        calls = [sign_in(n) for n in range(30)]
        calls += [create(n) for n in range(10)]
        calls += [change(headers) for headers in changer_headers]
        start = threading.Barrier(len(calls))

        def run(call: Callable[[], httpx.Response]) -> httpx.Response:
            start.wait()
            return call()

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            responses = list(pool.map(run, calls))
    statuses = [response.status_code for response in responses]
    assert statuses == [200] * 30 + [201] * 10 + [204] * 10, [
        (r.status_code, r.text[:200]) for r in responses if r.status_code >= 300
    ]


def test_fifty_parallel_sign_ins(server, accounts) -> None:
    accounts.add("reader1")
    accounts.add("reader2", Role.ADMIN)
    with httpx.Client(base_url=server, timeout=60) as http:
        start = threading.Barrier(50)

        def sign_in(n: int) -> int:
            data = {"username": f"reader{1 + n % 2}", "password": PASSWORD}
            start.wait()
            response = http.post("/api/v1/auth/token", data=data, headers=from_address(n))
            return response.status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(sign_in, range(50)))
    assert statuses == [200] * 50
