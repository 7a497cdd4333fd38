"""Shapes of the accounts API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.states import Role


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None


class MeOut(UserOut):
    authenticated_by: str = Field(description="'session' (browser cookie) or 'token' (bearer).")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class ApiTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


class SessionOut(BaseModel):
    """A signed-in browser (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool = Field(default=False, description="True for the session making the request.")


class SessionsEnded(BaseModel):
    ended: int = Field(description="How many sessions ended.")


class UserCreate(BaseModel):
    username: str = Field(max_length=200, examples=["dr.nguyen"])
    display_name: str = Field(default="", max_length=500)
    role: Role = Role.READER
    password: str | None = Field(
        default=None,
        max_length=1000,
        description=(
            "Initial password; when omitted one is generated and returned once. Either way "
            "the user must change it at first sign-in."
        ),
    )


class UserCreated(UserOut):
    initial_password: str = Field(description="Shown once; the user must change it at sign-in.")


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, max_length=500)
    role: Role | None = None
    is_active: bool | None = None


class PasswordReset(BaseModel):
    password: str | None = Field(
        default=None, max_length=1000, description="New password; generated when omitted."
    )


class PasswordResetDone(BaseModel):
    password: str = Field(description="The new password, shown once.")


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1000)
    new_password: str = Field(max_length=1000)
