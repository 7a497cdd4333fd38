"""The ratings-analysis page in the browser (issue 12): an admin uploads the Van Dyke table and
reads the figures; at 1920x1080 and 2560x1440 no card, table or figure overflows and the forest
plot keeps the dark theme."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_overflow import CHART_BACKGROUNDS, OVERFLOWS, luminance

pytestmark = pytest.mark.browser

VANDYKE = Path(__file__).resolve().parents[1] / "data" / "mrmc" / "vandyke.csv"
SIZES = [(1920, 1080), (2560, 1440)]


def test_upload_the_van_dyke_table_and_nothing_overflows(live_server, page, admin) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/studies/ratings-analysis")
    page.get_by_label("CSV with the header").set_input_files(str(VANDYKE))
    page.get_by_role("button", name="Analyse").click()
    expect(page.locator("#treatment-aucs")).to_contain_text("0.8970")
    expect(page.locator("#or-tests")).to_contain_text("F(1, 15.26) = 4.4563")
    expect(page.locator("#forest-plot circle")).to_have_count(10)
    page.locator("#variance-components summary").click()  # opened: its tables are checked too
    expect(page.locator("#or-components")).to_be_visible()
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(OVERFLOWS) == [], (width, height)
        for name, fill in page.evaluate(CHART_BACKGROUNDS):
            assert fill is not None, name
            assert luminance(fill) < 0.1, name
        box = page.locator("#forest-plot").bounding_box()
        card = page.locator("#forest-plot").locator("xpath=ancestor::section").bounding_box()
        assert box["x"] + box["width"] <= card["x"] + card["width"]
        shoot(page, f"ratings-analysis-{width}x{height}", full_page=True)
    assert errors == []
