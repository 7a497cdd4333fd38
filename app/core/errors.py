"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class AppError(Exception):
    """A failure the caller can act on; routes turn it into its status and the common shape."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Invalid(AppError):
    status_code = 422
    code = "invalid"


def field_error(
    field: str, message: str, *, detail: str | None = None, code: str | None = None
) -> Invalid:
    """A 422 about one field: ``message`` for people, ``detail`` (default: the same) beside it."""
    return Invalid(message, code=code, details=[{"field": field, "message": detail or message}])


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"


class Unavailable(AppError):
    """A part the service depends on (the object store) did not answer; try again later."""

    status_code = 503
    code = "unavailable"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def code_for_status(status: int) -> str:
    return STATUS_CODES.get(status, "error" if status >= 500 else "bad_request")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code}
    for status, code in STATUS_CODES.items()
    if status in (401, 403, 404, 409, 422, 429)
}

# Routes taking a form or uploads also answer these: a body that is not a well-formed form, or
# one larger than the configured limit.
FORM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": STATUS_CODES[status]} for status in (400, 413)
}
