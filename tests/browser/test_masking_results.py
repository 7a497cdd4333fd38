"""The masking project page in Chromium: each image's rank or level per reader and the median,
with thumbnails, sortable by click and by keyboard; "n/a" with the reason where a figure cannot
be computed; agreement figures with their counts; the screening mappings explained."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_masking_browser import bearer
from tests.imaging.helpers import exam_files
from tests.masking.simulation import ConsistentReader
from tests.masking.test_masking_api import sort_through_api

pytestmark = pytest.mark.browser
API = "/api/v1/masking"


@pytest.fixture
def sorted_project(live_server, accounts, admin) -> int:
    """A full sort of 6 MLO images (two seeds): reader rd1 has finished, rd2 has not begun."""
    ids = [accounts.add(name).id for name in ("rd1", "rd2")]
    with httpx.Client(base_url=live_server, timeout=60) as http:
        headers = bearer(http, "admin")
        files = [f for seed in range(830, 834) for f in exam_files(seed)]
        uploaded = http.post(
            "/api/v1/images",
            files=[("files", (name, data, "application/dicom")) for name, data in files],
            headers=headers,
        )
        assert uploaded.status_code == 200, uploaded.text
        image_ids = []
        for study_id in sorted({o["study_id"] for o in uploaded.json()["outcomes"]}):
            detail = http.get(f"/api/v1/studies/{study_id}", headers=headers).json()
            image_ids += [i["image_id"] for i in detail["images"] if i["view"] == "MLO"]
        values = {image_id: n / len(image_ids) for n, image_id in enumerate(image_ids)}
        created = http.post(
            f"{API}/projects",
            json={
                "name": "Results in the browser",
                "image_ids": image_ids,
                "seed_list": [image_ids[0], image_ids[-1]],
                "levels": 4,
                "probe_share": 0,
                "reader_ids": ids,
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        sort_through_api(http, project_id, bearer(http, "rd1"), ConsistentReader(values))
    return project_id


def column(page, index: int) -> list[str]:
    return page.evaluate(
        """(i) => [...document.querySelectorAll('#masking-per-image tbody tr')].map(
            (r) => r.cells[i].dataset.sort)""",
        index,
    )


def test_results_per_image_sort_by_click_and_by_keys(page, live_server, sorted_project) -> None:
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_server, "admin", f"/masking/projects/{sorted_project}")
    table = page.locator("#masking-per-image")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(6)  # the images to place (the seeds are not scored)
    expect(rows.first.locator("img.result-thumb")).to_be_visible()
    # rd2 has not begun: n/a with the reason
    expect(table.locator(".na-reason", has_text="not placed yet").first).to_be_visible()
    # columns: Image, Study, rd1, rd2, Median rank, Median level, Readers
    headings = table.locator("thead th")
    expect(headings.nth(2)).to_have_text("rd1")
    # by click: ascending, then descending
    headings.nth(5).get_by_role("button").click()
    expect(headings.nth(5)).to_have_attribute("aria-sort", "ascending")
    levels = [int(v) for v in column(page, 5)]
    assert levels == sorted(levels)
    headings.nth(2).get_by_role("button").click()
    ranks = [int(v) for v in column(page, 2)]
    assert ranks == sorted(ranks)
    # by keyboard: focus the heading button, Enter reverses
    headings.nth(2).get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(headings.nth(2)).to_have_attribute("aria-sort", "descending")
    assert [int(v) for v in column(page, 2)] == sorted(ranks, reverse=True)
    page.keyboard.press("Space")
    expect(headings.nth(2)).to_have_attribute("aria-sort", "ascending")
    # agreement figures carry their counts; n/a says why
    figures = page.locator("#reader-figures")
    expect(figures).to_contain_text("(n = ")
    expect(figures).to_contain_text("n/a")
    expect(figures.locator(".na-reason").first).not_to_be_empty()
    # the screening mappings are explained
    mappings = page.locator("#screening-mappings")
    expect(mappings).to_contain_text("Low masking")
    expect(mappings).to_contain_text("supplemental screening")
    shoot(page, "masking-results-1920", full_page=True)
    assert errors == []


def test_results_give_reasons_through_the_api(live_server, sorted_project) -> None:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        response = http.get(
            f"{API}/projects/{sorted_project}/results", headers=bearer(http, "admin")
        )
        assert response.status_code == 200, response.text
        body = response.json()
    images = body["images"]
    assert all(image["unplaced"] == {"rd2": "not placed yet"} for image in images)
    assert all(image["median_rank"] is not None for image in images)
    rd2 = next(r for r in body["readers"] if r["username"] == "rd2")
    assert rd2["versus_median"]["tau_b"] is None
    assert "too few answers" in rd2["not_computed"]["tau_b"]
    assert rd2["not_computed"]["left_share"].startswith("the query is always on the left")
