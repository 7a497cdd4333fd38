"""Who may send a body is decided before a byte of it is read (fault 5): an anonymous 50 MB
upload is answered 401 (pages: to the sign-in page) and a reader's 403, without the server
consuming the body, spooling it to disk or parsing it, and quickly. The requests are driven
straight through the ASGI interface, so what the server read of the body is counted."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass

import pytest

from app.auth.deps import ANONYMOUS_BODY_BYTES, SESSION_COOKIE
from app.auth.models import Role
from tests.helpers import bearer, login

MB = 2**20
UPLOAD_BYTES = 50 * MB
BOUNDARY = "mammoreadboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# every route taking an upload, and a few taking forms or JSON (any of them accepts multipart)
UPLOAD_ROUTES = [
    "/api/v1/images",
    "/api/v1/releases",
    "/releases/import",
    "/api/v1/studies/ratings-analysis",
]
OTHER_BODY_ROUTES = ["/admin/users", "/masking/projects", "/api/v1/reading/projects"]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    consumed: int  # body bytes the server asked for
    seconds: float


def multipart_chunks(total: int, chunk: int = MB):
    """A multipart body of ``total`` bytes: one file part, made as it is read."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.dcm"\r\n'
        "Content-Type: application/dicom\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        size = min(chunk, left)
        yield b"\0" * size
        left -= size
    yield tail


def send(app, path: str, headers: dict[str, str], total: int = UPLOAD_BYTES, chunked=False):
    """POST ``total`` bytes of multipart to ``path``, counting what the server reads."""
    chunks = multipart_chunks(total)
    consumed = 0
    answer: dict = {"headers": {}, "body": b""}
    sent = {"content-type": MULTIPART, **{k.lower(): v for k, v in headers.items()}}
    if chunked:
        sent["transfer-encoding"] = "chunked"
    else:
        sent["content-length"] = str(total)

    async def receive():
        nonlocal consumed
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def respond(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    started = time.monotonic()
    asyncio.run(app(scope, receive, respond))
    return Answer(
        answer["status"], answer["headers"], answer["body"], consumed, time.monotonic() - started
    )


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    """Where uploads would be spooled: checked to stay empty."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def assert_refused_unread(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.body[:300]
    assert answer.consumed == 0, f"the server read {answer.consumed} bytes of the body"
    assert answer.seconds < 5


@pytest.mark.parametrize("path", UPLOAD_ROUTES + OTHER_BODY_ROUTES)
def test_an_anonymous_upload_is_refused_before_its_body_is_read(app, client, spool_dir, path):
    answer = send(app, path, {})
    if path.startswith("/api/"):
        assert_refused_unread(answer, 401)
        assert json.loads(answer.body)["error"]["code"] == "not_authenticated"
    else:
        assert_refused_unread(answer, 303)
        assert answer.headers["location"] == "/login"
    assert list(spool_dir.iterdir()) == []


def test_a_streamed_anonymous_upload_is_refused_too(app, client):
    assert_refused_unread(send(app, "/api/v1/images", {}, chunked=True), 401)


def test_a_bad_token_is_refused_before_the_body(app, client):
    answer = send(app, "/api/v1/images", {"Authorization": "Bearer not-a-token"})
    assert_refused_unread(answer, 401)
    assert json.loads(answer.body)["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("path", UPLOAD_ROUTES)
def test_a_readers_upload_is_refused_before_its_body_is_read(app, client, reader, path):
    answer = send(app, path, bearer(client, "reader1"))
    assert_refused_unread(answer, 403)
    if path.startswith("/api/"):
        assert json.loads(answer.body)["error"]["code"] == "forbidden"


def test_a_readers_session_upload_is_refused_before_the_csrf_form_is_read(app, client, reader):
    """The CSRF token of a cookie session comes in the form: it is read only after the role."""
    login(client, "reader1")
    headers = {"Cookie": f"{SESSION_COOKIE}={client.cookies.get(SESSION_COOKIE)}"}
    answer = send(app, "/releases/import", headers)
    assert_refused_unread(answer, 403)
    assert b"administrator" in answer.body


def test_an_admins_upload_is_read(app, client, accounts):
    """The counterpart: the same request from an admin reaches the route, which reads it."""
    accounts.add("admin", Role.ADMIN)
    answer = send(app, "/api/v1/images", bearer(client, "admin"), total=2 * MB)
    assert answer.status == 200, answer.body[:300]
    assert answer.consumed == 2 * MB
    assert json.loads(answer.body)["rejected"] == 1  # zeros are not DICOM


def test_anonymous_bodies_are_small(app, client):
    """Routes open to anyone (signing in) take forms, never uploads."""
    answer = send(app, "/api/v1/auth/token", {}, total=UPLOAD_BYTES)
    assert answer.status == 413
    assert answer.consumed == 0  # the declared length is refused outright
    streamed = send(app, "/login", {}, chunked=True)
    assert streamed.status == 413
    assert streamed.consumed <= ANONYMOUS_BODY_BYTES + 2 * MB
