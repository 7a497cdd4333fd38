"""Post/redirect/get for every admin form, with htmx running (issue 11, broken 2).

Before the fix a boosted form's answer was the page itself, served at the POST-only URL the
form was sent to: the address bar ended on ``/projects/1/pools`` and a reload answered "405:
GET is not allowed". Now a success answers 303 to the page that holds the form, where its
notice shows once; a refused form shows the page again with the error while the address bar
goes to that page; a reload after either never shows 405 and never posts again (the audit log,
where every admin action lands, does not grow)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from tests.browser.helpers import sign_in, watch_errors
from tests.helpers import PASSWORD
from tests.pages.site import Site, build_site

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Invalid value for VR UI")]


@pytest.fixture
def site(live_server, db, accounts, admin, tmp_path) -> Site:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        return build_site(http, db, accounts, tmp_path / "release")


def audit_events(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count(AuditEvent.id)))


def submitted(
    page,
    db,
    live_server: str,
    button,
    *,
    at: str | re.Pattern,
    notice: str | None = None,
    error: str | None = None,
    status: int | None = None,
) -> None:
    """Click a form's button; the page shows ``notice`` (or ``error``) with the address bar on
    ``at``; a reload shows that page again (no 405), without the one-shot notice and without
    posting again."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()
    if status is not None:
        assert posted.value.status == status
    if notice:
        expect(page.locator("main .alert-ok")).to_contain_text(notice)
    if error:
        expect(page.locator("main")).to_contain_text(error)
    wanted = at if isinstance(at, re.Pattern) else f"{live_server}{at}"
    expect(page).to_have_url(wanted)
    events = audit_events(db)
    reloaded = page.reload()
    assert reloaded is not None
    assert reloaded.status == 200, reloaded.status
    assert reloaded.request.method == "GET"
    expect(page.locator("main")).not_to_contain_text("is not allowed on")
    expect(page).to_have_url(wanted)
    if notice:
        expect(page.locator("main .alert-ok").filter(has_text=notice)).to_have_count(0)
    assert audit_events(db) == events  # the reload posted nothing


def test_every_admin_form_redirects_after_its_post(live_server, page, db, site) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/admin/users")
    go = submitted

    # users: create (with and without an error), role, disable (confirmed), reset password
    page.get_by_label("User name").fill("x")
    create = page.get_by_role("button", name="Create user")
    go(page, db, live_server, create, at="/admin/users", error="User name must be")
    page.get_by_label("User name").fill("newbie")
    page.get_by_label("Initial password", exact=True).fill("a long enough initial secret")
    create = page.get_by_role("button", name="Create user")
    go(page, db, live_server, create, at="/admin/users", notice="User newbie created.", status=303)
    row = page.locator("#users tbody tr").filter(has_text="newbie")
    row.get_by_label("Role of newbie").select_option("admin")
    set_role = row.get_by_role("button", name="Set", exact=True)
    go(page, db, live_server, set_role, at="/admin/users", notice="User newbie is now admin.")
    row.get_by_role("link", name="Disable newbie…").click()
    disable = page.get_by_role("button", name="Disable newbie")
    go(page, db, live_server, disable, at="/admin/users", notice="User newbie disabled")
    row.get_by_role("link", name="Reset password of newbie…").click()
    reset = page.get_by_role("button", name="Reset the password of newbie")
    with page.expect_response(lambda r: r.request.method == "POST"):
        reset.click()
    expect(page.locator("#revealed-password")).to_be_visible()  # shown once, on the answer
    expect(page).to_have_url(f"{live_server}/admin/users")
    events = audit_events(db)
    assert page.reload().status == 200
    expect(page.locator("#revealed-password")).to_have_count(0)
    assert audit_events(db) == events

    # a new project: refused, then created (landing on it)
    page.goto(f"{live_server}/projects")
    page.get_by_label("Name", exact=True).fill("PRG project")
    page.get_by_label("Box pairing IoU threshold").fill("lots")
    create = page.get_by_role("button", name="Create project")
    go(page, db, live_server, create, at="/projects", error="IoU threshold must be a number")
    page.get_by_label("Name", exact=True).fill("PRG project")
    page.get_by_label("Box pairing IoU threshold").fill("0.3")
    create = page.get_by_role("button", name="Create project")
    new_project = re.compile(rf"{re.escape(live_server)}/projects/\d+$")
    go(page, db, live_server, create, at=new_project, notice="Project PRG project created.")
    project_url = page.url.removeprefix(live_server)

    # its page: pools, studies (refused, then added), assignment
    page.get_by_label("rd1 reads").check()
    page.get_by_label("rd2 reads").check()
    page.get_by_label("rd3 arbitrates").check()
    pools = page.get_by_role("button", name="Save pools")
    go(page, db, live_server, pools, at=project_url, notice="Pools saved.")
    page.get_by_label("Study ids").fill("no-such-study")
    add = page.get_by_role("button", name="Add these studies")
    go(page, db, live_server, add, at=project_url, error="no-such-study")
    page.get_by_label("Study ids").fill(site.outside)
    add = page.get_by_role("button", name="Add these studies")
    go(page, db, live_server, add, at=project_url, notice="1 studies added.")
    assign = page.get_by_role("button", name=re.compile("^Assign unassigned studies"))
    go(page, db, live_server, assign, at=project_url, notice="assigned to two readers each.")

    # the released project: pair, reassign, reopen
    released = f"/projects/{site.project_id}"
    page.goto(f"{live_server}{released}")
    rows = page.locator("#project-studies tbody tr")
    pair = rows.filter(has_text=site.unassigned[:12]).get_by_role("button", name="Assign pair")
    go(page, db, live_server, pair, at=released, notice="Study assigned to the chosen pair.")
    line = rows.filter(has_text=site.assigned[:12]).locator(".task-line")
    line = line.filter(has_text=re.compile(r"Reader \d: rd1 "))
    line.get_by_label("Reassign to").select_option("rd3")
    reassign = line.get_by_role("button", name="Reassign")
    go(page, db, live_server, reassign, at=released, notice="Task reassigned.")
    final = rows.filter(has=page.get_by_role("button", name="Reopen")).first
    final.get_by_label("Reason to reopen").fill("A second look")
    reopen = final.get_by_role("button", name="Reopen")
    go(page, db, live_server, reopen, at=released, notice="Study reopened for arbitration.")

    # a QC flag
    study = f"/studies/{site.assigned}"
    page.goto(f"{live_server}{study}")
    page.get_by_label("Reason").fill("Checked by hand")
    clear = page.get_by_role("button", name="Clear")
    go(page, db, live_server, clear, at=study, notice="Flag cleared")

    # masking readers
    masking = f"/masking/projects/{site.masking_id}"
    page.goto(f"{live_server}{masking}")
    form = page.locator("form", has=page.get_by_role("button", name="Save readers"))
    form.get_by_label("rd2").check()
    save = page.get_by_role("button", name="Save readers")
    go(page, db, live_server, save, at=masking, notice="Readers saved.")

    # an export
    page.goto(f"{live_server}/exports?project=reading:{site.project_id}")
    start = page.get_by_role("button", name="Start the export")
    go(page, db, live_server, start, at="/exports", notice="started")

    # the account: a new token (shown once), its revocation, the password
    page.goto(f"{live_server}/account")
    page.get_by_label("Label").fill("nightly")
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()
    expect(page).to_have_url(f"{live_server}/account")
    assert page.reload().status == 200
    expect(page.locator("#new-token")).to_have_count(0)
    tokens = page.locator('section[aria-labelledby="tokens-title"] tbody tr')
    revoke = tokens.filter(has_text="nightly").get_by_role("button", name="Revoke")
    go(page, db, live_server, revoke, at="/account", notice="API token revoked.")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    change = page.get_by_role("button", name="Change password")
    go(page, db, live_server, change, at="/account", error="password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    change = page.get_by_role("button", name="Change password")
    go(page, db, live_server, change, at="/account", notice="Password changed.")
    assert errors == []


@pytest.mark.parametrize(
    ("post_only", "page_of_it"),
    [
        ("/projects/{project}/pools", "/projects/{project}"),
        # the study's own page in the project when there is one, else the project's
        ("/projects/{project}/studies/{study}/reopen", "/projects/{project}(/studies/{study})?"),
        ("/admin/users/1/password", "/admin/users"),
        ("/account/password", "/account"),
        ("/masking/projects/{masking}/readers", "/masking/projects/{masking}"),
        ("/studies/{study}/flags/1/clear", "/studies/{study}"),
    ],
)
def test_a_post_only_address_opened_by_get_goes_to_its_page(
    live_server, page, site, post_only: str, page_of_it: str
) -> None:
    """A non-boosted form (or a typed or bookmarked address) leaves the browser on a POST-only
    URL; a GET there lands on the page that holds the form instead of a 405."""
    names = {"project": site.project_id, "study": site.assigned, "masking": site.masking_id}
    sign_in(page, live_server, "admin", "/")
    response = page.goto(f"{live_server}{post_only.format(**names)}")
    assert response is not None
    assert response.status == 200
    expect(page).to_have_url(re.compile(f"{re.escape(live_server)}{page_of_it.format(**names)}$"))
    expect(page.locator("main")).not_to_contain_text("is not allowed on")
