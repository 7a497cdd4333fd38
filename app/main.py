"""The application factory: one server for pages and the JSON API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__, sweep
from app.audit import routes as audit_routes
from app.auth import api as auth_api
from app.auth import pages as auth_pages
from app.auth.deps import PASSWORD_CHANGE_REQUIRED, check_before_body
from app.auth.service import AuthKit
from app.core.config import Settings
from app.core.database import database_answers, make_engine, make_session_factory
from app.core.errors import AppError, NotAuthenticated, code_for_status, error_body
from app.core.private import restrict_umask
from app.core.web import (
    STATIC_DIR,
    BodyGate,
    BodySizeLimit,
    SecurityHeaders,
    UnexpectedErrors,
    holding_page,
    is_api_request,
    render,
)
from app.dashboard import pages as dashboard_pages
from app.export import api as export_api
from app.export import pages as export_pages
from app.export import statistics_pages
from app.imaging import api as imaging_api
from app.imaging import pages as imaging_pages
from app.imaging.kit import ImagingKit
from app.imaging.service import Pixels
from app.masking import api as masking_api
from app.masking import pages as masking_pages
from app.pacs import api as pacs_api
from app.pacs import pages as pacs_pages
from app.pacs import reports_api as pacs_reports_api
from app.reading import api as reading_api
from app.reading import pages as reading_pages
from app.studies import aid_api as studies_aid_api
from app.studies import api as studies_api
from app.studies import evidence_pages as studies_evidence_pages
from app.studies import pages as studies_pages
from app.studies import predictions_api as studies_predictions_api
from app.studies import reference_api as studies_reference_api
from app.workers import workers_for

log = logging.getLogger("mammoread")

API_DESCRIPTION = """
MammoRead's JSON API. Everything a page can do, this API can do too.

Authenticate with a bearer token from `POST /api/v1/auth/token` (OAuth2 password form).
Browser sessions work too; state-changing requests from them need the `X-CSRF-Token` header.
Every error has the shape `{"error": {"code": "...", "message": "...", "details": [...]}}`.
"""

ROUTERS = (
    auth_api.router,
    audit_routes.api,
    imaging_api.router,
    reading_api.router,
    masking_api.router,
    export_api.router,
    pacs_api.router,
    pacs_reports_api.router,
    studies_api.router,
    studies_reference_api.router,
    studies_predictions_api.router,
    studies_aid_api.router,
    auth_pages.router,
    audit_routes.pages,
    studies_pages.router,  # before imaging's /studies/{study_id}
    studies_evidence_pages.router,
    imaging_pages.router,
    reading_pages.router,
    masking_pages.router,
    export_pages.router,
    pacs_pages.router,
    pacs_reports_api.pages,
    statistics_pages.router,
    dashboard_pages.router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    restrict_umask()
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # only the work of processes that stopped: other workers' leases are still beating
        app.state.sweeper = sweep.at_start_up(
            app.state.session_factory,
            settings.data_dir,
            app.state.imaging.store,
            workers=app.state.workers,
        )
        app.state.jobs.start()  # this process's share of the jobs
        yield
        app.state.workers.stop()
        app.state.sweeper.join()
        engine.dispose()

    app = FastAPI(
        title="MammoRead",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # the stock docs pages load scripts from a CDN; hospitals are offline
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.auth_kit = AuthKit.from_settings(settings)
    app.state.imaging = ImagingKit.from_settings(settings, engine)
    app.state.pixels = Pixels(app.state.imaging)
    app.state.workers = workers_for(settings, app.state.session_factory, app.state.imaging)
    app.state.jobs = app.state.workers.queue  # where exports are queued
    app.state.run_export = app.state.workers.exports

    # innermost first: unexpected errors become responses that still get the security headers
    # who may send a body is decided before it is read (401/403 without storing an upload)
    app.add_middleware(
        BodyGate,
        routes=[route for router in ROUTERS for route in router.routes],
        check=check_before_body,
        respond=_app_error_response,
    )
    app.add_middleware(UnexpectedErrors, respond=_unexpected_error_response)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        """200 when the database answers, 503 otherwise. Needs no authentication."""
        if database_answers(engine):
            return JSONResponse({"status": "ok"})
        return JSONResponse(error_body("unavailable", "The database does not answer."), 503)

    for router in ROUTERS:
        app.include_router(router)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, error: AppError) -> Response:
        return _app_error_response(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = error.detail if isinstance(error.detail, str) else "Request failed."
        if error.status_code == 404 and message == "Not Found":
            message = f"There is nothing at {request.url.path}."
        reloaded_form = request.method in ("GET", "HEAD") and not is_api_request(request)
        if error.status_code == 405 and reloaded_form:
            # a reload (or a typed address) of a form's POST-only URL: its page instead
            return RedirectResponse(holding_page(request), status_code=303)
        if error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        body = error_body(code_for_status(error.status_code), message)
        return _error_response(request, error.status_code, body, error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        details = [_validation_detail(item) for item in error.errors()]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        body = error_body("invalid", f"The request is not valid: {summary}", details)
        return _error_response(request, 422, body)


def _app_error_response(request: Request, error: AppError) -> Response:
    return _error_response(request, error.status_code, error.body(), error.headers)


def _unexpected_error_response(request: Request) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = error_body("internal_error", "Something went wrong on the server; it is logged.")
    return _error_response(request, 500, body)


def _validation_detail(item: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query")]
    return {"field": ".".join(location) or "request", "message": item.get("msg", "invalid")}


def _error_response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if is_api_request(request):
        return JSONResponse(body, status_code=status, headers=headers)
    if status == NotAuthenticated.status_code and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    if status == NotAuthenticated.status_code:
        return RedirectResponse("/login", status_code=303)
    if body["error"]["code"] == PASSWORD_CHANGE_REQUIRED and request.method == "GET":
        return RedirectResponse("/account?must_change=1", status_code=303)
    return render(request, "error.html", {"status": status, "failure": body["error"]}, status)
