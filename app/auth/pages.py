"""Sign-in, sign-out, the account page and user administration pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.audit.service import Actor
from app.auth.deps import (
    SESSION_COOKIE,
    AdminPrincipal,
    CurrentPrincipal,
    Db,
    Kit,
    MaybePrincipal,
    Principal,
)
from app.auth.models import ApiToken, User, UserSession
from app.auth.service import (
    authenticate,
    end_other_sessions,
    end_session,
    issue_api_token,
    list_api_tokens,
    list_sessions,
    owned_credential,
    resolve_session,
    revoke_api_token,
    start_session,
)
from app.auth.states import Role
from app.auth.users import (
    NewUser,
    change_own_password,
    create_user,
    get_user,
    list_users,
    reset_password,
    update_user,
)
from app.core.errors import AppError, NotFound, field_error
from app.core.ids import Id
from app.core.security import new_csrf_token, same_secret
from app.core.web import client_ip, expose_to_templates, form_or_error, render, see_other

router = APIRouter(include_in_schema=False)
expose_to_templates(Role)

LOGIN_CSRF_COOKIE = "mammoread_login_csrf"
FormStr = Annotated[str, Form(max_length=1000)]


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def secure_cookies(request: Request) -> bool:
    forced = request.app.state.settings.cookie_secure
    return forced if forced is not None else request.url.scheme == "https"


# --- signing in and out ---------------------------------------------------------------------


def _login_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> HTMLResponse:
    csrf = new_csrf_token()
    response = render(
        request,
        "auth/login.html",
        {"login_csrf": csrf, "next_url": next_url, "error": error, "username": username},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="lax",
        path="/login",
        secure=secure_cookies(request),
    )
    return response


@router.get("/login")
def login_form(request: Request, principal: MaybePrincipal, next: str = "/") -> Response:
    if principal is not None:
        return see_other(safe_next(next))
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    db: Db,
    kit: Kit,
    username: Annotated[str, Form(max_length=1000)] = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    next_url = safe_next(next)
    shown_name = username[:64]
    if not same_secret(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(
            request,
            next_url=next_url,
            username=shown_name,
            status=403,
            error="The sign-in form had expired. Please try again.",
        )
    return form_or_error(
        lambda: authenticate(
            db, kit, username, password, ip_address=client_ip(request), channel="web"
        ),
        lambda user: _signed_in(request, db, kit, user, next_url),
        lambda error: _login_page(
            request,
            next_url=next_url,
            username=shown_name,
            error=error.message,
            status=error.status_code,
        ),
    )


def _signed_in(request: Request, db: Db, kit: Kit, user: User, next_url: str) -> Response:
    """A session for the user who signed in, and on to where they were going."""
    _end_earlier_session(request, db, kit)
    token, _ = start_session(
        db,
        kit,
        user,
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    response = see_other("/account?must_change=1" if user.must_change_password else next_url)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        max_age=kit.settings.session_lifetime_minutes * 60,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _end_earlier_session(request: Request, db: Db, kit: Kit) -> None:
    """Signing in again in the same browser replaces its session rather than orphaning it."""
    earlier_token = request.cookies.get(SESSION_COOKIE)
    earlier = resolve_session(db, kit, earlier_token) if earlier_token else None
    if earlier is not None:
        actor = Actor(earlier.user, client_ip(request))
        end_session(db, earlier, actor, action="session.replaced")


@router.post("/logout")
def logout(principal: CurrentPrincipal, db: Db) -> Response:
    if principal.session is not None:
        end_session(db, principal.session, principal.actor, action="logout")
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- the account page -----------------------------------------------------------------------


def _account_page(
    request: Request, principal: Principal, db: Db, status: int = 200, **context: Any
) -> HTMLResponse:
    context.setdefault("must_change", principal.user.must_change_password)
    return render(
        request,
        "auth/account.html",
        {
            "sessions": list_sessions(db, principal.user),
            "tokens": list_api_tokens(db, principal.user),
            **context,
        },
        status=status,
    )


@router.get("/account")
def account(request: Request, principal: CurrentPrincipal, db: Db) -> HTMLResponse:
    return _account_page(request, principal, db)


@router.post("/account/password")
def account_password(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    kit: Kit,
    current_password: FormStr = "",
    new_password: FormStr = "",
    repeat_password: FormStr = "",
) -> Response:
    if new_password != repeat_password:
        return _account_page(
            request,
            principal,
            db,
            status=422,
            field_errors={"repeat_password": "The two new passwords differ."},
        )
    return form_or_error(
        lambda: change_own_password(
            db,
            kit,
            principal.actor,
            current_password=current_password,
            new_password=new_password,
            keep_session_id=principal.session.id if principal.session else None,
        ),
        lambda _: see_other(
            "/account",
            notice="Password changed. Your other sessions and API tokens have ended.",
            request=request,
        ),
        lambda error: _account_page(
            request,
            principal,
            db,
            status=error.status_code,
            field_errors=field_errors_of(error),
        ),
    )


@router.post("/account/sessions/{session_id}/revoke")
def account_revoke_session(
    request: Request, session_id: Id, principal: CurrentPrincipal, db: Db
) -> Response:
    row = owned_credential(db, UserSession, session_id, principal.user)
    end_session(db, row, principal.actor, action="session.revoked")
    if principal.session is not None and row.id == principal.session.id:
        response = see_other("/login")
        response.delete_cookie(SESSION_COOKIE)
        return response
    return see_other("/account", notice="Session ended.", request=request)


@router.post("/account/other-sessions/end")
def account_end_other_sessions(request: Request, principal: CurrentPrincipal, db: Db) -> Response:
    keep = principal.session.id if principal.session else None
    ended = end_other_sessions(db, principal.actor, keep_session_id=keep)
    notice = "No other session was signed in." if not ended else f"Ended {ended} other session(s)."
    return see_other("/account", notice=notice, request=request)


@router.post("/account/tokens")
def account_new_token(
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    kit: Kit,
    label: Annotated[str, Form(max_length=120)] = "",
) -> HTMLResponse:
    token, _ = issue_api_token(
        db,
        kit,
        principal.user,
        label=label.strip() or "API token",
        ip_address=client_ip(request),
    )
    return _account_page(request, principal, db, new_token=token)


@router.post("/account/tokens/{token_id}/revoke")
def account_revoke_token(
    request: Request, token_id: Id, principal: CurrentPrincipal, db: Db
) -> Response:
    row = owned_credential(db, ApiToken, token_id, principal.user)
    revoke_api_token(db, row, principal.actor)
    return see_other("/account", notice="API token revoked.", request=request)


def field_errors_of(error: AppError) -> dict[str, str]:
    if error.details:
        return {str(item.get("field")): str(item.get("message")) for item in error.details}
    return {"_form": error.message}


# --- user administration --------------------------------------------------------------------


def _users_page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("form", {})
    return render(
        request,
        "admin/users.html",
        {"users": list_users(db), "roles": list(Role), **context},
        status=status,
    )


@router.get("/admin/users")
def admin_users(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _users_page(request, db)


@router.post("/admin/users")
def admin_create_user(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    kit: Kit,
    username: FormStr = "",
    display_name: FormStr = "",
    role: FormStr = Role.READER.value,
    password: FormStr = "",
) -> Response:
    form = {"username": username[:64], "display_name": display_name[:120], "role": role}

    def create() -> tuple[User, str]:
        # chosen or generated, the administrator knows it: the user must replace it
        new = NewUser(
            username, display_name, _role(role), password or None, must_change_password=True
        )
        return create_user(db, kit, principal.actor, new)

    def created(result: tuple[User, str]) -> Response:
        user, initial = result
        shown = None if password else initial
        if not shown:
            return see_other(
                "/admin/users", notice=f"User {user.username} created.", request=request
            )
        # the generated password is shown once, on this answer (boosted: the address bar
        # goes to /admin/users all the same, so a reload never posts again)
        return _users_page(
            request,
            db,
            notice=f"User {user.username} created.",
            revealed_password=(user.username, shown) if shown else None,
        )

    return form_or_error(
        create,
        created,
        lambda error: _users_page(
            request,
            db,
            status=error.status_code,
            form=form,
            field_errors=field_errors_of(error),
        ),
    )


# disabling a user and resetting a password take a confirmation step: a page of its own (no
# script needed); a post without ``confirm=yes`` is sent to that page rather than acted on
CONFIRMED = "yes"
CONFIRMATIONS = {"disable": "Disable", "reset-password": "Reset password"}


@router.get("/admin/users/{user_id}/confirm/{action}")
def admin_confirm(
    request: Request, user_id: Id, action: str, _: AdminPrincipal, db: Db
) -> HTMLResponse:
    if action not in CONFIRMATIONS:
        raise NotFound(f"Nothing to confirm called {action[:40]!r}.")
    user = get_user(db, user_id)
    return render(
        request,
        "auth/confirm_user.html",
        {"target": user, "action": action, "verb": CONFIRMATIONS[action], "confirmed": CONFIRMED},
    )


def _confirm_first(user: User, action: str) -> Response:
    return see_other(f"/admin/users/{user.id}/confirm/{action}")


@router.post("/admin/users/{user_id}/active")
def admin_set_active(
    request: Request,
    user_id: Id,
    principal: AdminPrincipal,
    db: Db,
    active: FormStr = "",
    confirm: FormStr = "",
) -> Response:
    user = get_user(db, user_id)
    enable = active == "true"
    asks_confirmation = not enable and user.is_active and user.id != principal.user.id
    if asks_confirmation and confirm != CONFIRMED:
        return _confirm_first(user, "disable")
    verb = "re-enabled" if enable else "disabled; their sessions and tokens have ended"
    return form_or_error(
        lambda: update_user(db, principal.actor, user, is_active=enable),
        lambda _: see_other(
            "/admin/users", notice=f"User {user.username} {verb}.", request=request
        ),
        lambda error: _users_error(request, db, error),
    )


@router.post("/admin/users/{user_id}/role")
def admin_set_role(
    request: Request, user_id: Id, principal: AdminPrincipal, db: Db, role: FormStr = ""
) -> Response:
    user = get_user(db, user_id)
    return form_or_error(
        lambda: update_user(db, principal.actor, user, role=_role(role)),
        lambda _: see_other(
            "/admin/users", notice=f"User {user.username} is now {user.role}.", request=request
        ),
        lambda error: _users_error(request, db, error),
    )


def _users_error(request: Request, db: Db, error: AppError) -> HTMLResponse:
    return _users_page(request, db, status=error.status_code, error=error.message)


@router.post("/admin/users/{user_id}/password")
def admin_reset_password(
    request: Request,
    user_id: Id,
    principal: AdminPrincipal,
    db: Db,
    kit: Kit,
    confirm: FormStr = "",
) -> Response:
    user = get_user(db, user_id)
    if confirm != CONFIRMED:
        return _confirm_first(user, "reset-password")
    password = reset_password(db, kit, principal.actor, user)
    return _users_page(
        request,
        db,
        notice=f"Password of {user.username} reset; they must change it at sign-in.",
        revealed_password=(user.username, password),
    )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise field_error("role", f"Unknown role {value[:20]!r}; choose admin or reader.") from None
