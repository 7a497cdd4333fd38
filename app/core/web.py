"""Web plumbing shared by every domain: templates, request facts, middleware."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import TemplateRuntimeError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.core.errors import AppError, error_body
from app.core.resources import STATIC_DIR as STATIC_DIR  # re-exported for app.main
from app.core.resources import TEMPLATES_DIR

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def static_url(path: str) -> str:
    """Root-relative (right behind any proxy), versioned so an upgrade refreshes caches."""
    return f"/static/{path}?v={__version__}"


templates.env.globals["static_url"] = static_url


def template_error(message: str) -> NoReturn:
    """Lets a template refuse to render: a page that would be wrong is never served."""
    raise TemplateRuntimeError(message)


templates.env.globals["template_error"] = template_error


def expose_to_templates(*enums: type[StrEnum]) -> None:
    """Make state enums usable in every template by class name (``StudyStatus.FINAL``), so
    templates compare with members, never with a status spelled out as a string."""
    for enum in enums:
        templates.env.globals[enum.__name__] = enum


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def is_api_request(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/healthz"


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """Render a page (SecurityHeaders marks it no-store). A full page shows (and spends) the
    one-shot notice a form's redirect left; a boosted form's answer that is not a redirect (the
    form again, with its error) puts the address bar on the page that holds the form, never
    on the POST-only URL it was sent to."""
    notice = _pending_notice(request) if _is_page_load(request) else None
    context = {"principal": getattr(request.state, "principal", None), **(context or {})}
    if notice and not context.get("notice"):
        context["notice"] = notice
    response = templates.TemplateResponse(request, template, context, status_code=status)
    if _is_page_load(request) and NOTICE_COOKIE in request.cookies:
        response.delete_cookie(NOTICE_COOKIE, path="/")  # spent (or not ours): gone
    if request.method not in SAFE_METHODS and request.headers.get("hx-boosted"):
        response.headers["HX-Replace-Url"] = holding_page(request)
    return response


def see_other(url: str, *, notice: str | None = None, request: Request | None = None) -> Response:
    """The answer to a form post that worked: go (GET) there (post/redirect/get), where
    ``notice`` (given with the ``request``) shows once."""
    response = RedirectResponse(url, status_code=303)
    if notice and request is not None:
        response.set_cookie(
            NOTICE_COOKIE,
            _sign_notice(request, notice),
            max_age=120,
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure_cookies(request),
        )
    return response


NOTICE_COOKIE = "mammoread_notice"


def _is_page_load(request: Request) -> bool:
    """A whole page (typed, reloaded or boosted), not a fragment polled into one."""
    return request.method == "GET" and (
        not request.headers.get("hx-request") or bool(request.headers.get("hx-boosted"))
    )


def _secure_cookies(request: Request) -> bool:
    forced = getattr(request.app.state.settings, "cookie_secure", None)
    return forced if forced is not None else request.url.scheme == "https"


def _notice_mac(request: Request, payload: str) -> str:
    key = request.app.state.settings.secret_bytes + b"/notice"
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:32]


def _sign_notice(request: Request, notice: str) -> str:
    payload = base64.urlsafe_b64encode(notice[:300].encode()).decode().rstrip("=")
    return f"{payload}.{_notice_mac(request, payload)}"


def _pending_notice(request: Request) -> str | None:
    """The notice a redirect left for this page, if its signature holds (else none)."""
    value = request.cookies.get(NOTICE_COOKIE)
    if not value or "." not in value:
        return None
    payload, mac = value.rsplit(".", 1)
    if not hmac.compare_digest(mac, _notice_mac(request, payload)):
        return None
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except ValueError:
        return None


def holding_page(request: Request) -> str:
    """The page that holds a form posted to this request's URL: the URL itself when it
    answers GET, else its nearest ancestor that does (``/projects/1/pools`` ->
    ``/projects/1``, ``/admin/users/3/password`` -> ``/admin/users``)."""
    routes = request.app.router.routes
    path = request.url.path.rstrip("/") or "/"
    while True:
        scope = {**request.scope, "method": "GET", "path": path}
        if matched_route(routes, scope) is not None or path == "/":
            return path
        path = path.rsplit("/", 1)[0] or "/"


Result = TypeVar("Result")


def form_or_error(
    action: Callable[[], Result],
    done: Callable[[Result], Response],
    failed: Callable[[AppError], Response],
    *,
    rollback: Callable[[], None] | None = None,
) -> Response:
    """A form post: run ``action`` and answer ``done(result)``; when it refuses with an
    AppError, call ``rollback`` (if given) and answer ``failed(error)``, the form again with
    the error's message and its status."""
    try:
        result = action()
    except AppError as error:
        if rollback is not None:
            rollback()
        return failed(error)
    return done(result)


async def submitted_csrf_token(request: Request) -> str | None:
    """The CSRF token a state-changing request carries, in its header or its form."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
        b"form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
]


class SecurityHeaders:
    """Adds security headers to every response; scripts and styles may come only from us."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        defaults = list(SECURITY_HEADERS)
        if not scope["path"].startswith("/static/"):
            # answers carry patient-derived data and secrets: no cache keeps them by default
            defaults.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in defaults if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UnexpectedErrors:
    """Turns an unhandled exception into an error response inside the other middleware."""

    def __init__(self, app: ASGIApp, respond: Callable[[Request], Response]) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise
            response = self.respond(Request(scope))
            await response(scope, receive, send)


class BodySizeLimit:
    """Refuses request bodies over the configured size, declared or streamed, with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    @property
    def message(self) -> str:
        return f"The request body is larger than the {self.max_bytes / 2**20:g} MB limit."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(error_body("payload_too_large", self.message), 413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route, so the exception handlers answer with a 413.
                    raise HTTPException(status_code=413, detail=self.message)
            return message

        await self.app(scope, counting_receive, send)


def carries_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers", []))
    declared = headers.get(b"content-length", b"")
    return (declared.isdigit() and int(declared) > 0) or b"transfer-encoding" in headers


def matched_route(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that will answer this request (the first full match, as routers do)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


class BodyGate:
    """Lets a request's body in only after ``check`` accepted its sender from the headers
    alone: FastAPI reads a body (JSON into memory, uploads spooled to disk) before it runs any
    dependency, so an anonymous 300 MB upload would otherwise be stored before its 401.

    ``routes`` are the application's routes, in the order it includes them. ``check(request,
    route)`` raises an AppError, answered by ``respond`` without reading the body, or returns
    the largest body allowed for this sender (None: BodySizeLimit's)."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[BaseRoute],
        check: Callable[[Request, BaseRoute | None], int | None],
        respond: Callable[[Request, AppError], Response],
    ) -> None:
        self.app = app
        self.routes = routes
        self.check = check
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not carries_body(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            route = matched_route(self.routes, scope)
            limit = await run_in_threadpool(self.check, request, route)
        except AppError as error:
            await self.respond(request, error)(scope, receive, send)
            return
        app = self.app if limit is None else BodySizeLimit(self.app, limit)
        await app(scope, receive, send)
