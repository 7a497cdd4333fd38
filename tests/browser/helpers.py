"""Shared by the browser tests."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from tests.helpers import PASSWORD

SCREENSHOTS = os.environ.get("MAMMOREAD_SCREENSHOTS")


def shoot(page, name: str, *, full_page: bool = False) -> None:
    """Keep a screenshot when MAMMOREAD_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


def sign_in(page, live_server: str, username: str, path: str) -> None:
    """Sign in through the login form, landing on ``path``."""
    page.goto(f"{live_server}/login?next={path}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}{path}")


def watch_errors(page) -> list[str]:
    """Script errors of the page, collected as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors
