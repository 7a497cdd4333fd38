"""The agreement page with its intervals: each estimate with its bootstrap interval, the
footnote naming the resampling, and nothing wider than its box at 1920x1080 and 2560x1440."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.reading import agreement_report
from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_overflow import OVERFLOWS, SIZES
from tests.reading.test_agreement_intervals import build_project

pytestmark = pytest.mark.browser

ESTIMATE = re.compile(r"^-?\d\.\d\d \(-?\d\.\d\d\u2013-?\d\.\d\d\)")  # an en dash


def test_agreement_page_shows_intervals_and_fits(browser, live_server, db, accounts, admin) -> None:
    project = build_project(db, accounts, 200, scale="0-6")
    path = f"/projects/{project.id}/agreement"
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors = watch_errors(page)
        sign_in(page, live_server, "admin", path)
        rows = page.locator("#agreement-items tbody tr")
        expect(rows).to_have_count(2)
        for row in range(2):
            cells = rows.nth(row).locator("td")
            for column in (3, 4, 5):  # kappa, AC1, AC2: "0.62 (0.55-0.69)"
                assert ESTIMATE.match(cells.nth(column).inner_text()), cells.nth(
                    column
                ).inner_text()
        note = page.locator("#agreement-intervals-note")
        expect(note).to_contain_text("bootstrap over the 200 double-read studies")
        expect(note).to_contain_text(f"{agreement_report.REPLICATES} replicates")
        expect(note).to_contain_text(f"seed {agreement_report.SEED}")
        expect(note).to_contain_text("1 < 2 < 3 < 0 < 4 < 5 < 6")
        # an interval never breaks over two lines
        heights = page.evaluate(
            "() => Array.from(document.querySelectorAll('#agreement-items .interval'),"
            " el => el.getClientRects().length)"
        )
        assert heights
        assert set(heights) == {1}
        shoot(page, f"agreement-intervals-{width}x{height}", full_page=True)
        assert page.evaluate(OVERFLOWS) == []
        assert errors == []
        context.close()
