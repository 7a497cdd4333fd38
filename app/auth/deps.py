"""Request dependencies: the database session, who is calling, and what they may do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import ApiToken, User, UserSession
from app.auth.service import AuthKit, resolve_api_token, resolve_session
from app.core.database import session_scope
from app.core.errors import Forbidden, NotAuthenticated
from app.core.security import same_secret
from app.core.web import SAFE_METHODS, client_ip, submitted_csrf_token

SESSION_COOKIE = "mammoread_session"
PASSWORD_CHANGE_REQUIRED = "password_change_required"


def get_db(request: Request) -> Iterator[Session]:
    yield from session_scope(request.app.state.session_factory)


def get_kit(request: Request) -> AuthKit:
    return request.app.state.auth_kit


Db = Annotated[Session, Depends(get_db)]
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


def optional_principal(
    request: Request,
    db: Db,
    kit: Kit,
    submitted_csrf: Annotated[str | None, Depends(submitted_csrf_token)],
) -> Principal | None:
    """Who is calling, if anyone. Cookie sessions must prove state changes with the CSRF token."""
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
        principal = Principal(row.user, None, row, ip_address)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = resolve_session(db, kit, cookie) if cookie else None
        if session is None:
            return None
        principal = Principal(session.user, session, None, ip_address)
        if request.method not in SAFE_METHODS and not same_secret(
            submitted_csrf, session.csrf_token
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


def current_principal(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
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


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.user.is_admin:
        raise Forbidden("This needs an administrator account.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
