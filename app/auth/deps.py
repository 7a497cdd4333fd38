"""Request dependencies: who is calling, and what they may do (the database session is
``app.core.deps``'s, re-exported here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from app.audit.service import Actor
from app.auth.models import ApiToken, User, UserSession
from app.auth.service import AuthKit, resolve_api_token, resolve_session
from app.core.deps import Db as Db  # re-exported: callers import the session from here
from app.core.deps import get_db as get_db
from app.core.errors import Forbidden, NotAuthenticated
from app.core.security import same_secret
from app.core.web import SAFE_METHODS, client_ip, submitted_csrf_token

SESSION_COOKIE = "mammoread_session"
PASSWORD_CHANGE_REQUIRED = "password_change_required"


def get_kit(request: Request) -> AuthKit:
    return request.app.state.auth_kit


Kit = Annotated[AuthKit, Depends(get_kit)]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: through a browser session or through an API token."""

    user: User
    session: UserSession | None
    token: ApiToken | None
    ip_address: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.user, self.ip_address)

    @property
    def csrf_token(self) -> str | None:
        return self.session.csrf_token if self.session else None


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or ""


def identify(request: Request, db: Session, kit: AuthKit) -> Principal | None:
    """Who is calling, if anyone, from the request's headers alone (never its body)."""
    ip_address = client_ip(request)
    token = bearer_token(request)
    if token is not None:
        row = resolve_api_token(db, kit, token) if token else None
        if row is None:
            raise NotAuthenticated(
                "The API token is invalid, expired or revoked.",
                code="invalid_token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Principal(row.user, None, row, ip_address)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = resolve_session(db, kit, cookie) if cookie else None
    return Principal(session.user, session, None, ip_address) if session else None


def optional_principal(
    request: Request,
    db: Db,
    kit: Kit,
    submitted_csrf: Annotated[str | None, Depends(submitted_csrf_token)],
) -> Principal | None:
    """Who is calling, if anyone. Cookie sessions must prove state changes with the CSRF token
    (read from the form only after ``check_before_body`` let the caller send one)."""
    principal = identify(request, db, kit)
    if principal is None:
        return None
    session = principal.session
    if (
        session is not None
        and request.method not in SAFE_METHODS
        and not same_secret(submitted_csrf, session.csrf_token)
    ):
        raise Forbidden(
            "The form has expired or did not come from MammoRead (CSRF token missing or "
            "wrong). Reload the page and try again.",
            code="csrf_failed",
        )
    request.state.principal = principal
    return principal


# Where a user whose password was set by an administrator may go before choosing their own.
PASSWORD_CHANGE_PATHS = ("/account", "/logout", "/api/v1/me", "/api/v1/auth/tokens")


def signed_in(request: Request, principal: Principal | None) -> Principal:
    """The caller, who must be signed in (and have chosen their own password)."""
    if principal is None:
        raise NotAuthenticated("Sign in first.", headers={"WWW-Authenticate": "Bearer"})
    if principal.user.must_change_password and not request.url.path.startswith(
        PASSWORD_CHANGE_PATHS
    ):
        raise Forbidden(
            "Your password was set by an administrator: choose your own first "
            "(account page, or POST /api/v1/me/password).",
            code=PASSWORD_CHANGE_REQUIRED,
        )
    return principal


def an_admin(principal: Principal) -> Principal:
    if not principal.user.is_admin:
        raise Forbidden("This needs an administrator account.")
    return principal


def current_principal(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    return signed_in(request, principal)


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    return an_admin(principal)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


# --- before the body ------------------------------------------------------------------------
# FastAPI reads a request's body (JSON into memory, forms and uploads spooled to disk) before
# it runs the dependencies above. The BodyGate middleware calls this first, so a caller who may
# not send a body is refused from the headers alone, before a byte of it is read.
ANONYMOUS_BODY_BYTES = 64 * 1024  # sign-in forms; nothing anonymous needs more


def check_before_body(request: Request, route: BaseRoute | None) -> int | None:
    """Whether the caller may send ``route`` a body: an AppError (401, 403) when not, else
    the largest body allowed (None: the configured limit)."""
    needs = _needs(route)
    if needs is None:
        return ANONYMOUS_BODY_BYTES
    with request.app.state.session_factory() as db:
        principal = signed_in(request, identify(request, db, request.app.state.auth_kit))
        if needs is admin_principal:
            an_admin(principal)
    return None


def _needs(route: BaseRoute | None) -> Callable[..., Principal] | None:
    """The strictest principal dependency a route has: admin_principal, current_principal or
    None (anyone, e.g. signing in)."""
    if not isinstance(route, APIRoute):
        return None
    calls = set(_calls(route.dependant))
    for needed in (admin_principal, current_principal):
        if needed in calls:
            return needed
    return None


def _calls(dependant: Dependant) -> Iterator[Callable[..., object] | None]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)
