"""A reader study's results page in the browser (issue 12): after three scripted readers and a
reference standard, an admin opens the project's results; at 1920x1080 and 2560x1440 no card,
table or figure overflows and the forest plot keeps the dark theme."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_overflow import CHART_BACKGROUNDS, OVERFLOWS, luminance
from tests.reading.test_reader_study import study_world
from tests.studies.test_project_analysis import read_scripted_study

__all__ = ["study_world"]

pytestmark = pytest.mark.browser
SIZES = [(1920, 1080), (2560, 1440)]


def test_the_results_page_holds_its_tables(live_server, page, client, db, study_world) -> None:
    scripted = read_scripted_study(client, db, study_world)
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", f"/projects/{scripted.project_id}/results")
    expect(page.locator("#forest-plot circle")).to_have_count(6)
    expect(page.locator("#group-accuracy tbody tr")).to_have_count(6)
    expect(page.locator("#exclusions")).to_contain_text("Motion blur")
    expect(page.locator("#dropped tbody tr")).to_have_count(2)
    # the imported model: a square in the forest plot, a row per session, a dashed curve in
    # both sessions' ROC panels next to the three readers'
    expect(page.locator("#forest-plot .model rect")).to_have_count(1)
    expect(page.locator("#model-vs-readers tbody tr")).to_have_count(2)
    expect(page.locator("#roc-curves polyline.model")).to_have_count(2)
    expect(page.locator("#roc-curves polyline")).to_have_count(8)
    expect(page.locator("#roc-legend li")).to_have_count(4)
    page.locator("#variance-components summary").click()
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(OVERFLOWS) == [], (width, height)
        for name, fill in page.evaluate(CHART_BACKGROUNDS):
            assert fill is not None, name
            assert luminance(fill) < 0.1, name
        shoot(page, f"project-results-{width}x{height}", full_page=True)
    page.get_by_role("link", name="VinDr: 1 / 2 / 3-5").click()
    expect(page.locator("#group-accuracy thead")).to_contain_text("Sens. 3-5")
    assert errors == []
