"""Accounts API: tokens, the current user, user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db, Kit
from app.auth.models import ApiToken, UserSession
from app.auth.preferences import (
    Preferences,
    PreferencesUpdate,
    get_preferences,
    update_preferences,
)
from app.auth.schemas import (
    ApiTokenOut,
    MeOut,
    PasswordChange,
    PasswordReset,
    PasswordResetDone,
    SessionOut,
    SessionsEnded,
    TokenOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from app.auth.service import (
    authenticate,
    end_other_sessions,
    end_session,
    issue_api_token,
    list_api_tokens,
    list_sessions,
    owned_credential,
    revoke_api_token,
)
from app.auth.users import (
    NewUser,
    change_own_password,
    create_user,
    get_user,
    list_users,
    reset_password,
    update_user,
)
from app.core.errors import ERROR_RESPONSES, FORM_RESPONSES, Forbidden
from app.core.ids import Id
from app.core.web import client_ip

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.post("/auth/token", response_model=TokenOut, tags=["auth"], responses=FORM_RESPONSES)
def create_token(
    request: Request,
    db: Db,
    kit: Kit,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    label: Annotated[str, Form(max_length=120)] = "API token",
) -> TokenOut:
    """OAuth2 password flow: trade a user name and password for a bearer token."""
    ip_address = client_ip(request)
    user = authenticate(db, kit, username, password, ip_address=ip_address, channel="api")
    token, row = issue_api_token(db, kit, user, label=label, ip_address=ip_address)
    return TokenOut(access_token=token, expires_at=row.expires_at)


@router.get("/auth/tokens", response_model=list[ApiTokenOut], tags=["auth"])
def my_tokens(principal: CurrentPrincipal, db: Db) -> list[ApiToken]:
    """Your live API tokens (never their secret)."""
    return list_api_tokens(db, principal.user)


@router.delete("/auth/tokens/current", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def revoke_current_token(principal: CurrentPrincipal, db: Db) -> Response:
    """Revoke the bearer token this request was made with."""
    if principal.token is None:
        raise Forbidden("This request was not made with an API token.", code="not_a_token")
    revoke_api_token(db, principal.token, principal.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def revoke_token(token_id: Id, principal: CurrentPrincipal, db: Db) -> Response:
    row = owned_credential(db, ApiToken, token_id, principal.user)
    revoke_api_token(db, row, principal.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/sessions", response_model=list[SessionOut], tags=["auth"])
def my_sessions(principal: CurrentPrincipal, db: Db) -> list[SessionOut]:
    """Your signed-in browsers, the one asking marked ``current``."""
    current = principal.session.id if principal.session else None
    return [
        SessionOut.model_validate(row).model_copy(update={"current": row.id == current})
        for row in list_sessions(db, principal.user)
    ]


@router.delete("/auth/sessions/others", response_model=SessionsEnded, tags=["auth"])
def end_my_other_sessions(principal: CurrentPrincipal, db: Db) -> SessionsEnded:
    """End every signed-in browser of yours but the one asking (all of them with a token)."""
    keep = principal.session.id if principal.session else None
    return SessionsEnded(ended=end_other_sessions(db, principal.actor, keep_session_id=keep))


@router.delete("/auth/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def end_my_session(session_id: Id, principal: CurrentPrincipal, db: Db) -> Response:
    """End one of your signed-in browsers."""
    row = owned_credential(db, UserSession, session_id, principal.user)
    end_session(db, row, principal.actor, action="session.revoked")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeOut, tags=["auth"])
def me(principal: CurrentPrincipal) -> MeOut:
    user = UserOut.model_validate(principal.user)
    via = "token" if principal.token else "session"
    return MeOut(**user.model_dump(), authenticated_by=via)


@router.get("/me/preferences", response_model=Preferences, tags=["auth"])
def my_preferences(principal: CurrentPrincipal) -> Preferences:
    """Your own settings: the viewer's hanging layout, linked zoom."""
    return get_preferences(principal.user)


@router.patch("/me/preferences", response_model=Preferences, tags=["auth"])
def change_my_preferences(
    body: PreferencesUpdate, principal: CurrentPrincipal, db: Db
) -> Preferences:
    """Change some of your settings (the fields not sent stay as they are)."""
    return update_preferences(db, principal.user, body)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def change_my_password(
    body: PasswordChange, principal: CurrentPrincipal, db: Db, kit: Kit
) -> Response:
    """Change your password; your other sessions and all your API tokens end."""
    change_own_password(
        db,
        kit,
        principal.actor,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=principal.session.id if principal.session else None,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users", response_model=list[UserOut], tags=["users"])
def users(_: AdminPrincipal, db: Db) -> list:
    return list_users(db)


@router.post(
    "/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED, tags=["users"]
)
def add_user(body: UserCreate, principal: AdminPrincipal, db: Db, kit: Kit) -> UserCreated:
    # a password chosen by the administrator is known to them: the user must replace it
    new = NewUser(
        body.username, body.display_name, body.role, body.password, must_change_password=True
    )
    user, password = create_user(db, kit, principal.actor, new)
    return UserCreated(**UserOut.model_validate(user).model_dump(), initial_password=password)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
def user_detail(user_id: Id, _: AdminPrincipal, db: Db) -> object:
    return get_user(db, user_id)


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def edit_user(user_id: Id, body: UserUpdate, principal: AdminPrincipal, db: Db) -> object:
    """Change display name or role, or disable/re-enable (disabling ends all sessions)."""
    user = get_user(db, user_id)
    return update_user(
        db,
        principal.actor,
        user,
        display_name=body.display_name,
        role=body.role,
        is_active=body.is_active,
    )


@router.post("/users/{user_id}/password", response_model=PasswordResetDone, tags=["users"])
def reset_user_password(
    user_id: Id, body: PasswordReset, principal: AdminPrincipal, db: Db, kit: Kit
) -> PasswordResetDone:
    """Set a new password (generated when omitted); the user must change it at next sign-in."""
    user = get_user(db, user_id)
    return PasswordResetDone(password=reset_password(db, kit, principal.actor, user, body.password))
