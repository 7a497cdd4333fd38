"""The PACS page in Chromium, by keyboard: the source added and tested, a search typed and
sent, the results chosen and retrieved, the job followed until done; nothing overflows at
1920x1080 with the results and the job table shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_overflow import OVERFLOWS
from tests.pacs.exams import two_women
from tests.pacs.orthanc import PASSWORD, Orthanc

pytestmark = pytest.mark.browser
SLOW = 20_000  # ms: what asks the PACS, on a loaded 2-core machine


@pytest.fixture
def wide_page(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    yield page
    context.close()


def test_the_pacs_page_by_keyboard(wide_page, live_server, admin, orthanc: Orthanc) -> None:
    page = wide_page
    orthanc.upload(data for e in two_women() for _, data in e.files)
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/pacs")

    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("Orthanc")
    page.keyboard.press("Tab")
    page.keyboard.type(orthanc.dicomweb_url)
    page.get_by_label("Sign-in").select_option("basic")
    page.get_by_label("Username (HTTP Basic)").fill(orthanc.auth[0])
    page.get_by_label("Password or token").fill(PASSWORD)
    page.get_by_label("Password or token").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Source 'Orthanc' added", timeout=SLOW)
    expect(page.locator("#pacs-sources")).to_contain_text("basic")

    page.wait_for_load_state("networkidle")  # the redirected page settled before the key
    test_button = page.get_by_role("button", name="Test the connection to Orthanc")
    test_button.focus()
    expect(test_button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("answered a QIDO-RS search", timeout=SLOW)

    page.get_by_label("Study date from").fill("2019-01-01")
    page.get_by_label("Patient ids (pasted, one a line)").fill("MR-PACS-001\nMR-PACS-002")
    page.get_by_role("button", name="Search", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#search-message")).to_have_text("4 studies match.", timeout=SLOW)
    expect(page.locator("#pacs-results input[type=checkbox]:checked")).to_have_count(4)
    # untick one by keyboard
    page.locator("#pick-1").focus()
    page.keyboard.press("Space")
    expect(page.locator("#pacs-results input[type=checkbox]:checked")).to_have_count(3)
    assert page.evaluate(OVERFLOWS) == []
    shoot(page, "pacs-results", full_page=True)

    page.get_by_role("button", name="Retrieve the chosen studies").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Retrieval 1 started: 3 studies.")
    expect(page.locator("#pacs-jobs tr[data-job='1']")).to_have_attribute(
        "data-status", "done", timeout=60_000
    )
    expect(page.locator("#pacs-jobs")).to_contain_text("12 imported")
    assert page.evaluate(OVERFLOWS) == []
    shoot(page, "pacs-done", full_page=True)
    assert PASSWORD not in page.content()
    assert errors == []
