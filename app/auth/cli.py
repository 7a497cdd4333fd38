"""Accounts from the command line: ``mammoread init`` (the first administrator) and
``mammoread user``; also who a command acts as, for the other domains' commands."""

from __future__ import annotations

import os
import sys

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import User
from app.auth.service import AuthKit
from app.auth.states import Role
from app.auth.users import NewUser, count_users, create_user, find_user, list_users, update_user
from app.auth.users import reset_password as reset_user_password
from app.core import migrations
from app.core.cli import Context, or_fail, pass_context

ADMIN_PASSWORD_ENV = "MAMMOREAD_ADMIN_PASSWORD"
DEMO_READERS = (
    ("reader1", "Dr. Demo Reader One"),
    ("reader2", "Dr. Demo Reader Two"),
    ("arbiter1", "Dr. Demo Arbiter"),
)


def cli_actor(context: Context) -> Actor:
    """Who the audit log says acted: the command line and the operating-system user."""
    return Actor(None, None, name=context.actor_name)


def auth_kit(context: Context) -> AuthKit:
    return AuthKit.from_settings(context.settings)


@click.command()
@click.option("--username", required=True, help="User name of the first administrator.")
@click.option("--display-name", default="", help="Full name shown in the interface.")
@click.option(
    "--generate-password",
    is_flag=True,
    help=f"Generate the password and print it (instead of ${ADMIN_PASSWORD_ENV} or a prompt).",
)
@pass_context
def init(context: Context, username: str, display_name: str, generate_password: bool) -> None:
    """Migrate the database and create the first administrator (once)."""
    migrations.upgrade(context.settings)
    with context.db() as session:
        if count_users(session) > 0:
            click.echo("Already initialised: users exist. Manage them with `mammoread user`.")
            return
        password = None if generate_password else _admin_password()
        new = NewUser(username, display_name, Role.ADMIN, password, must_change_password=False)
        kit, actor = auth_kit(context), cli_actor(context)
        user, password = or_fail(lambda: create_user(session, kit, actor, new))
    click.echo(f"Administrator {user.username!r} created.")
    if generate_password:
        click.echo(f"Password: {password}")


def _admin_password() -> str:
    from_env = os.environ.get(ADMIN_PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise click.ClickException(
            f"Set {ADMIN_PASSWORD_ENV}, pass --generate-password, or run in a terminal."
        )
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group()
def user() -> None:
    """User accounts."""


@user.command("list")
@pass_context
def user_list(context: Context) -> None:
    """List users."""
    with context.db() as session:
        for row in list_users(session):
            status = "active" if row.is_active else "disabled"
            click.echo(
                f"{row.id:>5}  {row.username:<24} {row.role:<7} {status:<9} {row.display_name}"
            )


@user.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.READER.value,
    show_default=True,
)
@click.option("--display-name", default="", help="Full name shown in the interface.")
@pass_context
def user_add(context: Context, username: str, role: str, display_name: str) -> None:
    """Add a user with a generated password, printed once; they must change it."""
    with context.db() as session:
        new = NewUser(username, display_name, Role(role), None)
        kit, actor = auth_kit(context), cli_actor(context)
        created, password = or_fail(lambda: create_user(session, kit, actor, new))
    click.echo(f"User {created.username!r} ({created.role}) created. Password: {password}")


@user.command("disable")
@click.argument("username")
@pass_context
def user_disable(context: Context, username: str) -> None:
    """Disable a user; their sessions and tokens end."""
    _set_active(context, username, active=False)


@user.command("enable")
@click.argument("username")
@pass_context
def user_enable(context: Context, username: str) -> None:
    """Re-enable a disabled user."""
    _set_active(context, username, active=True)


def _set_active(context: Context, username: str, *, active: bool) -> None:
    with context.db() as session:
        target = or_fail(lambda: find_user(session, username))
        or_fail(lambda: update_user(session, cli_actor(context), target, is_active=active))
    click.echo(f"User {target.username!r} {'enabled' if active else 'disabled'}.")


@user.command("reset-password")
@click.argument("username")
@pass_context
def user_reset_password(context: Context, username: str) -> None:
    """Give a user a new generated password, printed once; they must change it."""
    with context.db() as session:
        target = or_fail(lambda: find_user(session, username))
        kit, actor = auth_kit(context), cli_actor(context)
        password = or_fail(lambda: reset_user_password(session, kit, actor, target))
    click.echo(f"New password for {target.username!r}: {password}")


def create_demo_readers(context: Context, session: Session) -> None:
    """Demo accounts to try double reading with; existing ones are left alone."""
    kit: AuthKit | None = None  # built (and the secret key read) only when one is missing
    for username, display_name in DEMO_READERS:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        kit = kit or auth_kit(context)
        new = NewUser(username, display_name, Role.READER, None, must_change_password=False)
        _, password = or_fail(
            lambda kit=kit, new=new: create_user(session, kit, cli_actor(context), new)
        )
        click.echo(f"Demo reader {username!r} created. Password: {password}")


def register(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(user)
