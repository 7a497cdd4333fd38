"""Sign-in, a wrong password and sign-out in a real Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot as _shoot
from tests.helpers import PASSWORD

pytestmark = pytest.mark.browser


def shoot(page, name: str) -> None:
    _shoot(page, name, full_page=True)


def test_login_wrong_password_then_login_and_logout(live_server, page, admin) -> None:
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))

    page.goto(f"{live_server}/account")
    expect(page).to_have_url(f"{live_server}/login?next=/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "login")

    # keyboard only: the user name field has focus, Tab moves to the password, Enter submits
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "Wrong user name or password, or the account is disabled."
    )
    expect(page.get_by_label("User name")).to_have_value("admin")
    expect(page.get_by_label("Password")).to_be_focused()
    shoot(page, "login-wrong-password")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Good to see you, Ada Admin")).to_be_visible()
    expect(page.get_by_role("link", name="Users", exact=True)).to_be_visible()
    shoot(page, "dashboard")

    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.locator("#users")).to_contain_text("admin")
    shoot(page, "users")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/login")
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login?next=/")
    assert script_errors == []


def test_admin_creates_a_reader_who_signs_in(live_server, page, admin) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Good to see you, Ada Admin")).to_be_visible()
    page.goto(f"{live_server}/admin/users")
    page.get_by_label("User name").fill("dr.lan")
    page.get_by_label("Full name").fill("Dr. Lan Phạm")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User dr.lan created.")).to_be_visible()
    password = page.locator("#revealed-password").inner_text()
    shoot(page, "user-created")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").fill("dr.lan")
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/account?must_change=1")
    expect(page.get_by_role("alert")).to_contain_text("choose your own")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password", exact=True).fill("my own reading password")
    page.get_by_label("New password again").fill("my own reading password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")
    expect(page.get_by_role("link", name="Users", exact=True)).to_have_count(0)
    shoot(page, "account")
