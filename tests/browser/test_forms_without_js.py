"""Every server-rendered form (``method="post"``) in a real Chromium with JavaScript OFF (fault 6).

Plain form posts must work on their own; htmx only enhances them. Before the fix the ``csrf()``
macro rendered an empty token, so without htmx's header each of these posts got a 403
``csrf_failed`` (and the release-import page, which htmx never boosts, always did). Each form
is submitted with valid input as the role it is for; the test checks the POST's own answer (no
htmx header, not a 403) and that the action took effect."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.auth.models import User, UserSession
from app.export.models import ExportJob
from app.imaging.models import QcFlag
from app.masking.models import MaskingProject, MaskingReader
from app.reading.models import ProjectStudy, ReadingProject, ReadTask
from tests.browser.helpers import sign_in
from tests.helpers import CSRF_INPUT, PASSWORD
from tests.pages.site import Site, build_site

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def plain_page(browser):
    """A page of a browser context that runs no JavaScript at all."""
    viewport = {"width": 1280, "height": 900}
    context = browser.new_context(java_script_enabled=False, viewport=viewport)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def site(live_server, db, accounts, admin, tmp_path) -> Site:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        return build_site(http, db, accounts, tmp_path / "release")


def submit(page, button, status: int = 200) -> None:
    """Click a form's button: its POST goes out as a plain form post and answers ``status``."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()
    response = posted.value
    assert response.request.headers.get("hx-request") is None  # htmx did not send it
    assert response.request.headers.get("x-csrf-token") is None  # the form field carries it
    assert response.status == status, f"{response.url}: {response.status} {response.text()[:300]}"
    page.wait_for_load_state()


def says(page, text: str) -> None:
    expect(page.locator("main")).to_contain_text(text)


def another_session(live_server: str, username: str) -> None:
    """Sign in from somewhere else (a second browser), through the login form."""
    with httpx.Client(base_url=live_server) as http:
        login_csrf = CSRF_INPUT.search(http.get("/login").text).group(1)
        body = {"username": username, "password": PASSWORD, "csrf_token": login_csrf}
        assert http.post("/login", data=body).status_code == 303


def live_sessions(db, user_id: int) -> int:
    db.expire_all()
    statement = select(func.count(UserSession.id)).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    return db.scalar(statement)


# --- the admin's pages ----------------------------------------------------------------------


def account_forms(page, live_server: str, db, admin_id: int) -> None:
    another_session(live_server, "admin")
    page.goto(f"{live_server}/account")
    page.get_by_label("Label").fill("nightly export")
    submit(page, page.get_by_role("button", name="Create token"))
    expect(page.locator("#new-token")).to_be_visible()
    tokens = page.locator('section[aria-labelledby="tokens-title"] tbody tr')
    submit(
        page,
        tokens.filter(has_text="nightly export").get_by_role("button", name="Revoke"),
        status=303,
    )
    says(page, "API token revoked.")
    assert live_sessions(db, admin_id) == 2
    sessions = page.locator('section[aria-labelledby="sessions-title"] tbody tr')
    submit(
        page,
        sessions.filter(has_not_text="this browser").get_by_role("button", name="End"),
        status=303,
    )
    says(page, "Session ended.")
    assert live_sessions(db, admin_id) == 1


def user_forms(page, live_server: str, db) -> None:
    page.goto(f"{live_server}/admin/users")
    page.get_by_label("User name").fill("newbie")
    page.get_by_label("Full name").fill("New Bie")
    submit(page, page.get_by_role("button", name="Create user"))
    says(page, "User newbie created.")
    row = page.locator("#users tbody tr").filter(has_text="newbie")
    row.get_by_label("Role of newbie").select_option("admin")
    submit(page, row.get_by_role("button", name="Set", exact=True), status=303)
    says(page, "User newbie is now")
    row.get_by_role("link", name="Disable newbie…").click()  # a confirmation page first
    submit(page, page.get_by_role("button", name="Disable newbie"), status=303)
    says(page, "User newbie disabled")
    submit(page, row.get_by_role("button", name="Re-enable"), status=303)
    says(page, "User newbie re-enabled.")
    row.get_by_role("link", name="Reset password of newbie…").click()
    submit(page, page.get_by_role("button", name="Reset the password of newbie"))
    expect(page.locator("#revealed-password")).to_be_visible()
    db.expire_all()
    newbie = db.scalar(select(User).where(User.username == "newbie"))
    assert (newbie.role, newbie.is_active, newbie.must_change_password) == ("admin", True, True)


def new_project_forms(page, live_server: str, db, site: Site) -> None:
    page.goto(f"{live_server}/projects")
    page.get_by_label("Name", exact=True).fill("Plain forms")
    submit(page, page.get_by_role("button", name="Create project"), status=303)
    expect(page).to_have_url(re.compile(rf"{live_server}/projects/\d+$"))
    page.get_by_label("rd1 reads").check()
    page.get_by_label("rd2 reads").check()
    page.get_by_label("rd3 arbitrates").check()
    submit(page, page.get_by_role("button", name="Save pools"), status=303)
    says(page, "Pools saved.")
    page.get_by_label("Study ids").fill(site.outside)
    submit(page, page.get_by_role("button", name="Add these studies"), status=303)
    says(page, "1 studies added.")
    page.locator("details.pick summary").click()
    page.locator('#candidates input[name="pick"]').first.check()
    submit(page, page.get_by_role("button", name="Add the picked studies"), status=303)
    says(page, "1 studies added.")
    submit(
        page,
        page.get_by_role("button", name=re.compile(r"^Add all \d+ complete studies")),
        status=303,
    )
    says(page, "studies added.")
    submit(
        page, page.get_by_role("button", name=re.compile("^Assign unassigned studies")), status=303
    )
    says(page, "studies assigned to two readers each.")
    db.expire_all()
    project = db.scalar(select(ReadingProject).where(ReadingProject.name == "Plain forms"))
    studies = select(ProjectStudy.id).where(ProjectStudy.project_id == project.id)
    added = db.scalar(select(func.count()).select_from(studies.subquery()))
    assert added >= 3  # typed, picked, then every complete one
    tasks = select(ReadTask.id).where(ReadTask.project_study_id.in_(studies))
    assert db.scalar(select(func.count()).select_from(tasks.subquery())) == 2 * added


def released_project_forms(page, live_server: str, site: Site) -> None:
    page.goto(f"{live_server}/projects/{site.project_id}")
    rows = page.locator("#project-studies tbody tr")
    unassigned = rows.filter(has_text=site.unassigned[:12])
    submit(page, unassigned.get_by_role("button", name="Assign pair"), status=303)
    says(page, "Study assigned to the chosen pair.")
    tasks = rows.filter(has_text=site.assigned[:12]).locator(".task-line")
    line = tasks.filter(has_text=re.compile(r"Reader \d: rd1 "))
    line.get_by_label("Reassign to").select_option("rd3")
    submit(page, line.get_by_role("button", name="Reassign"), status=303)
    says(page, "Task reassigned.")
    final = rows.filter(has=page.get_by_role("button", name="Reopen")).first
    final.get_by_label("Reason to reopen").fill("A second look at the calcifications")
    submit(page, final.get_by_role("button", name="Reopen"), status=303)
    says(page, "Study reopened for arbitration.")


def export_form(page, live_server: str, db, site: Site) -> None:
    page.goto(f"{live_server}/exports?project=reading:{site.project_id}")
    submit(page, page.get_by_role("button", name="Start the export"), status=303)
    expect(page).to_have_url(f"{live_server}/exports")
    deadline = time.monotonic() + 60
    while True:  # let the background job finish before the database goes away
        db.expire_all()
        job = db.scalar(select(ExportJob))
        assert job is not None
        if job.status in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (job.project_kind, job.project_id, job.status) == ("reading", site.project_id, "done")


def release_form(page, live_server: str, site: Site, folder: Path) -> None:
    folder.mkdir()
    (folder / "breast.csv").write_text(site.release.breast_csv)
    (folder / "finding.csv").write_text(site.release.finding_csv)
    page.goto(f"{live_server}/releases/import")
    page.get_by_label("New project name").fill("Released again")
    page.locator("#r-breast").set_input_files(folder / "breast.csv")
    page.locator("#r-finding").set_input_files(folder / "finding.csv")
    page.locator("#r-dicom").set_input_files(sorted(site.release.dicom_dir.rglob("*.dicom")))
    submit(page, page.get_by_role("button", name="Import", exact=True), status=303)
    expect(page).to_have_url(re.compile(rf"{live_server}/projects/\d+$"))
    expect(page.get_by_role("heading", name="Released again")).to_be_visible()


def flag_form(page, live_server: str, db, site: Site) -> None:
    page.goto(f"{live_server}/studies/{site.assigned}")
    page.get_by_label("Reason").fill("Checked by hand: all four views are there")
    submit(page, page.get_by_role("button", name="Clear"), status=303)
    says(page, "Flag cleared")
    db.expire_all()
    assert db.get(QcFlag, site.flag_id).cleared_at is not None


def masking_forms(page, live_server: str, db, site: Site) -> None:
    page.goto(f"{live_server}/masking")
    form = page.locator("#new-masking-form")
    form.get_by_label("Name", exact=True).fill("Plain masking")
    form.get_by_label("Images per woman").select_option("both")
    ranks = form.locator('input[name="seed_rank"]')
    ranks.nth(0).fill("1")
    ranks.nth(1).fill("2")
    submit(page, form.get_by_role("button", name="Create masking project"), status=303)
    expect(page).to_have_url(re.compile(rf"{live_server}/masking/projects/\d+$"))
    page.locator("form", has=page.get_by_role("button", name="Save readers")).get_by_label(
        "rd2"
    ).check()
    submit(page, page.get_by_role("button", name="Save readers"), status=303)
    says(page, "Readers saved.")
    db.expire_all()
    project = db.scalar(select(MaskingProject).where(MaskingProject.name == "Plain masking"))
    readers = select(MaskingReader.user_id).where(MaskingReader.project_id == project.id)
    assert list(db.scalars(readers)) == [site.readers["rd2"]]


def test_every_admin_form_works_as_a_plain_post(
    live_server, plain_page, db, admin, site, tmp_path
) -> None:
    page = plain_page
    sign_in(page, live_server, "admin", "/account")
    account_forms(page, live_server, db, admin.id)
    user_forms(page, live_server, db)
    new_project_forms(page, live_server, db, site)
    released_project_forms(page, live_server, site)
    export_form(page, live_server, db, site)
    release_form(page, live_server, site, tmp_path / "upload")
    flag_form(page, live_server, db, site)
    masking_forms(page, live_server, db, site)
    submit(page, page.get_by_role("button", name="Sign out"), status=303)
    expect(page).to_have_url(f"{live_server}/login")
    assert live_sessions(db, admin.id) == 0


# --- a reader's pages -----------------------------------------------------------------------


def test_a_readers_forms_work_as_plain_posts(live_server, plain_page, db, site) -> None:
    page = plain_page
    reader_id = site.readers["rd1"]
    sign_in(page, live_server, "rd1", "/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    submit(page, page.get_by_role("button", name="Change password"), status=303)
    says(page, "Password changed.")
    assert live_sessions(db, reader_id) == 1
    sessions = page.locator('section[aria-labelledby="sessions-title"] tbody tr')
    submit(page, sessions.get_by_role("button", name="End"), status=303)
    expect(page).to_have_url(f"{live_server}/login")
    assert live_sessions(db, reader_id) == 0
