"""Sessions and account safety in a real Chromium (issue 11, radiologists' item 8): disabling a
user and resetting a password take a confirmation step that works with JavaScript on and off,
and the account page ends all other sessions at once."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import User, UserSession
from tests.browser.helpers import sign_in, watch_errors
from tests.helpers import CSRF_INPUT, PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(params=["script", "no script"])
def any_page(request, browser):
    """A page with JavaScript on, then one without any."""
    context = browser.new_context(
        java_script_enabled=request.param == "script", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    yield page
    context.close()


def user(db, username: str) -> User:
    db.expire_all()
    return db.scalar(select(User).where(User.username == username))


def live_sessions(db, user_id: int) -> int:
    db.expire_all()
    statement = select(func.count(UserSession.id)).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    return db.scalar(statement)


def sign_in_elsewhere(live_server: str, username: str) -> None:
    with httpx.Client(base_url=live_server) as http:
        login_csrf = CSRF_INPUT.search(http.get("/login").text).group(1)
        body = {"username": username, "password": PASSWORD, "csrf_token": login_csrf}
        assert http.post("/login", data=body).status_code == 303


def ask_about_kim(page, live_server: str, accounts, link: str, heading: str):
    """The admin follows ``link`` in dr.kim's row of the user list to its confirmation page;
    the row."""
    accounts.add("dr.kim")
    sign_in(page, live_server, "admin", "/admin/users")
    row = page.locator("#users tbody tr").filter(has_text="dr.kim")
    row.get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    return row


def test_disable_asks_first(any_page, live_server, db, admin, accounts) -> None:
    page = any_page
    row = ask_about_kim(page, live_server, accounts, "Disable dr.kim…", "Disable dr.kim?")
    assert user(db, "dr.kim").is_active  # asking changed nothing
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(f"{live_server}/admin/users#user-{user(db, 'dr.kim').id}")
    assert user(db, "dr.kim").is_active
    row.get_by_role("link", name="Disable dr.kim…").click()
    page.get_by_role("button", name="Disable dr.kim").click()
    expect(page.locator("main")).to_contain_text("User dr.kim disabled")
    assert not user(db, "dr.kim").is_active


def test_reset_password_asks_first(any_page, live_server, db, admin, accounts) -> None:
    page = any_page
    ask_about_kim(
        page, live_server, accounts, "Reset password of dr.kim…", "Reset password dr.kim?"
    )
    assert not user(db, "dr.kim").must_change_password
    page.get_by_role("button", name="Reset the password of dr.kim").click()
    expect(page.locator("#revealed-password")).to_be_visible()
    assert user(db, "dr.kim").must_change_password


def test_confirmation_by_keyboard(page, live_server, db, admin, accounts) -> None:
    errors = watch_errors(page)
    accounts.add("dr.kim")
    sign_in(page, live_server, "admin", "/admin/users")
    link = page.get_by_role("link", name="Disable dr.kim…")
    link.focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Disable dr.kim")
    expect(confirm).to_be_visible()
    # the page puts the keyboard on its one action (autofocus, also after an htmx swap)
    expect(confirm).to_be_focused()
    outline = confirm.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline != "none"  # visible focus
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("User dr.kim disabled")
    assert not user(db, "dr.kim").is_active
    assert errors == []


def test_a_bare_post_is_sent_to_the_confirmation(any_page, live_server, db, admin, accounts):
    """An old form (or a hand-made post) without the confirmation is not acted on."""
    page = any_page
    kim = accounts.add("dr.kim")
    sign_in(page, live_server, "admin", "/admin/users")
    csrf = CSRF_INPUT.search(page.content()).group(1)
    answer = page.request.post(
        f"{live_server}/admin/users/{kim.id}/active",
        form={"csrf_token": csrf, "active": "false"},
        max_redirects=0,
    )
    assert answer.status == 303
    assert answer.headers["location"] == f"/admin/users/{kim.id}/confirm/disable"
    assert user(db, "dr.kim").is_active


def test_end_all_other_sessions(any_page, live_server, db, reader) -> None:
    page = any_page
    sign_in_elsewhere(live_server, "reader1")
    sign_in_elsewhere(live_server, "reader1")
    sign_in(page, live_server, "reader1", "/account")
    assert live_sessions(db, reader.id) == 3
    sessions = page.locator('section[aria-labelledby="sessions-title"] tbody tr')
    expect(sessions).to_have_count(3)
    page.get_by_role("button", name="End all other sessions").click()
    expect(page.locator("main")).to_contain_text("Ended 2 other session(s).")
    expect(sessions).to_have_count(1)
    expect(sessions).to_contain_text("this browser")
    assert live_sessions(db, reader.id) == 1
    expect(page.get_by_role("button", name="End all other sessions")).to_have_count(0)
    page.goto(f"{live_server}/account")  # still signed in here
    expect(page).to_have_url(f"{live_server}/account")
    db.expire_all()
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == reader.id))
    assert "sessions.ended_others" in list(actions)
