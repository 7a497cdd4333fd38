"""The whole double-read and masking workflows walked with the keyboard alone (issue 11).

At 1920x1080 and 2560x1440: the admin signs in, creates a reading project, sets its pools, adds
the complete studies and assigns them; two readers read both studies (one discordant on the
left breast) and the arbiter takes reader 1's values; a masking reader answers pairs with
1 / 2 / 9 and undoes once with U. Only ``page.keyboard`` drives the pages (Tab / Shift+Tab to
reach a control, Space / Enter to press it, typing into fields); locators only assert and
check focus. Every screen is shot (``MAMMOREAD_SCREENSHOTS``); the end state is checked
through the API. Exams are uploaded through the API beforehand."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, watch_errors
from tests.browser.test_masking_browser import make_project
from tests.helpers import PASSWORD
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser
SIZES = [(1920, 1080), (2560, 1440)]
SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]


@pytest.fixture(params=SIZES, ids=SIZE_IDS)
def screen(request, browser):
    """A page in its own context of one viewport size, and the prefix of its screenshots."""
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    yield page, f"walk-{width}x{height}"
    context.close()


def bearer(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def focused(target) -> bool:
    return target.evaluate("element => element === document.activeElement")


def tab_to(page, target, *, back: bool = False, limit: int = 250) -> None:
    """Press Tab (or Shift+Tab) until ``target`` has the focus."""
    expect(target).to_have_count(1)
    for _ in range(limit):
        if focused(target):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached {target}")


def sign_in_by_keyboard(page, live_server: str, username: str, path: str, shot: str) -> None:
    page.goto(f"{live_server}/login?next={path}")
    tab_to(page, page.get_by_label("User name"))
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    shoot(page, f"{shot}-login-{username}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}{path}")


def press_button(page, button) -> None:
    tab_to(page, button)
    page.keyboard.press("Enter")


def wait_ready(page) -> None:
    expect(page.locator("#reading[data-state=ready]")).to_be_visible(timeout=15_000)
    expect(page.locator("#reading .mr-pane[data-image-id]")).to_have_count(4)


def wait_saved(page) -> None:
    expect(page.locator(".rd-save")).to_have_attribute("data-save", "saved", timeout=15_000)


def read_by_keys(page, keys: list[str], shot: str) -> None:
    """On a ready case: the keys, then Ctrl+Enter; the submitted screen is shot."""
    wait_ready(page)
    shoot(page, f"{shot}-reading")
    for key in keys:
        page.keyboard.press(key)
    wait_saved(page)
    expect(page.locator(".rd-msg-error")).to_have_count(0)
    shoot(page, f"{shot}-filled")
    page.keyboard.press("Control+Enter")
    # generous under a loaded CI machine: the submit waits for the save in flight first
    expect(page.locator(".rd-result")).to_contain_text("Submitted", timeout=15_000)
    shoot(page, f"{shot}-submitted")


NEGATIVE = ["[", "1", "b", "]", "1", "b"]
DISCORDANT = ["[", "1", "b", "]", "2", "c"]  # left breast: BI-RADS 2 and density C


def test_double_read_by_keyboard(live_server, accounts, admin, screen) -> None:
    page, shot = screen
    errors = watch_errors(page)
    for name in ("rd1", "rd2", "arb"):
        accounts.add(name)
    http = httpx.Client(base_url=live_server, timeout=60)
    token = bearer(http, "admin")
    files = [f for seed in (31, 32) for f in exam_files(seed)]
    uploaded = http.post(
        "/api/v1/images",
        files=[("files", (name, data, "application/dicom")) for name, data in files],
        headers=token,
    )
    assert uploaded.status_code == 200, uploaded.text
    study_ids = sorted({o["study_id"] for o in uploaded.json()["outcomes"]})
    assert len(study_ids) == 2

    # the admin: a new project, its pools, the complete studies, the assignment
    sign_in_by_keyboard(page, live_server, "admin", "/projects", shot)
    shoot(page, f"{shot}-projects")
    tab_to(page, page.get_by_label("Name", exact=True))
    page.keyboard.type("Keyboard walk")
    press_button(page, page.get_by_role("button", name="Create project"))
    expect(page).to_have_url(re.compile(rf"{re.escape(live_server)}/projects/\d+$"))
    expect(page.locator("main .alert-ok")).to_contain_text("Project Keyboard walk created.")
    project_id = int(page.url.rsplit("/", 1)[1])
    shoot(page, f"{shot}-project-created", full_page=True)
    for label in ("rd1 reads", "rd2 reads", "arb arbitrates"):
        box = page.get_by_label(label)
        tab_to(page, box)
        page.keyboard.press("Space")
        expect(box).to_be_checked()
    press_button(page, page.get_by_role("button", name="Save pools"))
    expect(page.locator("main .alert-ok")).to_contain_text("Pools saved.")
    press_button(page, page.get_by_role("button", name="Add all 2 complete studies"))
    expect(page.locator("main .alert-ok")).to_contain_text("2 studies added")
    shoot(page, f"{shot}-studies-added", full_page=True)
    assign = page.get_by_role("button", name=re.compile("^Assign unassigned studies"))
    press_button(page, assign)
    expect(page.locator("main .alert-ok")).to_contain_text("assigned to two readers each.")
    shoot(page, f"{shot}-assigned", full_page=True)

    # the readers: N on the worklist, two cases each; rd2 disagrees on the second one
    for reader, reads in (("rd1", [NEGATIVE, NEGATIVE]), ("rd2", [NEGATIVE, DISCORDANT])):
        page.context.clear_cookies()
        sign_in_by_keyboard(page, live_server, reader, "/reading", shot)
        shoot(page, f"{shot}-worklist-{reader}")
        page.keyboard.press("n")
        for number, keys in enumerate(reads, start=1):
            expect(page).to_have_url(re.compile(r"/reading/tasks/\d+$"))
            read_by_keys(page, keys, f"{shot}-{reader}-case{number}")
            page.keyboard.press("n")
        expect(page).to_have_url(re.compile(r"/reading(\?done=1)?$"))
        shoot(page, f"{shot}-worklist-{reader}-done")

    # the arbiter: J takes reader 1's values for the breast being edited
    page.context.clear_cookies()
    sign_in_by_keyboard(page, live_server, "arb", "/reading", shot)
    shoot(page, f"{shot}-worklist-arb")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/reading/tasks/\d+$"))
    wait_ready(page)
    expect(page.locator("#reading")).to_have_class(re.compile(r"rd-arbitration"))
    left = page.locator(".rd-breast[data-lat=L]")
    expect(left.locator(".rd-reader-value.rd-reader-2")).to_contain_text("BI-RADS 2")
    shoot(page, f"{shot}-arbitration")
    for key in ("[", "j", "]", "j"):
        page.keyboard.press(key)
    expect(left.locator(".rd-birads [aria-pressed=true]")).to_have_text("1")
    expect(left.locator(".rd-density [aria-pressed=true]")).to_have_text("B")
    wait_saved(page)
    shoot(page, f"{shot}-arbitration-taken")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".rd-result")).to_contain_text("the study is final")
    shoot(page, f"{shot}-arbitration-submitted")

    # the admin's project page shows both studies final
    page.context.clear_cookies()
    sign_in_by_keyboard(page, live_server, "admin", f"/projects/{project_id}", shot)
    shoot(page, f"{shot}-project-final", full_page=True)
    for study_id in study_ids:
        study = http.get(f"/api/v1/reading/projects/{project_id}/studies/{study_id}", headers=token)
        assert study.status_code == 200, study.text
        assert study.json()["status"] == "final", study.json()
    http.close()
    assert errors == []


@pytest.fixture
def masking(live_server, accounts, admin):
    """Six MLO images to place into a seed list of two."""
    yield from make_project(live_server, accounts, exams=4, seeds=2)


def test_masking_by_keyboard(live_server, masking, screen) -> None:
    page, shot = screen
    errors = watch_errors(page)
    root = page.locator("#masking")
    sign_in_by_keyboard(page, live_server, "rd1", "/masking", shot)
    shoot(page, f"{shot}-masking-list")
    page.keyboard.press("n")
    expect(page).to_have_url(f"{live_server}{masking.path}")
    expect(page.locator("#masking[data-state=ready]")).to_be_visible(timeout=15_000)
    shoot(page, f"{shot}-masking-pair")
    for number, key in enumerate(["1", "2", "9"], start=1):
        before = root.get_attribute("data-comparison")
        expect(page.locator("#masking[data-state=ready]")).to_be_visible(timeout=15_000)
        page.keyboard.press(key)
        expect(root).not_to_have_attribute("data-comparison", before or "")
        expect(page.locator("#masking[data-state=ready]")).to_be_visible(timeout=15_000)
        expect(root.locator(".mk-progress")).to_contain_text(f"{number} comparison")
        shoot(page, f"{shot}-masking-answer{number}")
    page.keyboard.press("u")
    expect(root.locator(".mk-progress")).to_contain_text("2 comparisons")
    expect(page.locator("#masking[data-state=ready]")).to_be_visible(timeout=15_000)
    shoot(page, f"{shot}-masking-undone")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    shoot(page, f"{shot}-masking-help")
    page.keyboard.press("Escape")
    assert masking.comparisons() == 2
    assert errors == []
