"""Priors on the reading screen (issue 13): a project that shows priors offers the woman's
earlier exam beside the current one: key O cycles each CC beside its prior, each MLO beside its
prior, all eight views, and back; the interval in months is shown; the prior is prefetched
while the current exam shows; no box can be drawn on it; the choice is remembered."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_viewer_layouts import bearer
from tests.imaging.helpers import WOMEN_EXAMS, woman_exam_files
from tests.reading.project_helpers import new_project

pytestmark = pytest.mark.browser

ROWS, COLUMNS = 512, 416
SIZES = {"1920x1080": (1920, 1080), "2560x1440": (2560, 1440)}


@pytest.fixture
def case(live_server, accounts, admin):
    """Woman A's two exams (24 months apart); her later one assigned to rd1 and rd2 in a
    project that shows priors. Yields (http, reader token, task id, prior image ids)."""
    users = [accounts.add(name).id for name in ("rd1", "rd2")]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        boss = bearer(http, "admin")
        studies, images = [], []
        for seed, (patient, day, age) in zip((1201, 1202), WOMEN_EXAMS[:2], strict=True):
            files = woman_exam_files(seed, patient, day, age, rows=ROWS, columns=COLUMNS)
            body = http.post(
                "/api/v1/images",
                files=[("files", (n, d, "application/dicom")) for n, d in files],
                headers=boss,
            ).json()
            studies.append(body["outcomes"][0]["study_id"])
            images.append({o["image_id"] for o in body["outcomes"]})
        new_project(
            http,
            boss,
            name="With priors",
            readers=users,
            study_ids=[studies[1]],
            rules={"show_priors": True},
        )
        token = bearer(http, "rd1")
        task_id = http.get("/api/v1/reading/tasks", headers=token).json()[0]["id"]
        yield http, token, task_id, images[0]


def shown_panes(page) -> list[tuple[str, bool, float]]:
    """(view, prior?, left) of every pane on screen, left to right then top to bottom."""
    return page.evaluate(
        """() => [...document.querySelectorAll("#reading-viewer .mr-pane")]
            .map((p) => [p, p.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0)
            .sort((a, b) => a[1].top - b[1].top || a[1].left - b[1].left)
            .map(([p, r]) => [p.dataset.view, p.dataset.prior === "true", Math.round(r.top)])"""
    )


@pytest.mark.parametrize("size", list(SIZES))
def test_the_prior_beside_the_current_exam(live_server, browser, case, size: str) -> None:
    http, token, task_id, prior_images = case
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, live_server, "rd1", f"/reading/tasks/{task_id}")
    expect(page.locator("#reading[data-state=ready]")).to_be_visible(timeout=15_000)
    viewer = page.locator("#reading-viewer")
    expect(page.locator("#rd-prior")).to_contain_text("24 months earlier")
    # hidden at first, and prefetched while the current views show
    expect(viewer).to_have_attribute("data-priors", "off")
    expect(viewer).to_have_attribute("data-priors-state", "ready", timeout=15_000)
    assert [p[1] for p in shown_panes(page)] == [False] * 4

    page.keyboard.press("o")
    expect(viewer).to_have_attribute("data-priors", "cc")
    assert [(v, prior) for v, prior, _ in shown_panes(page)] == [
        ("R-CC", True),
        ("R-CC", False),
        ("L-CC", False),
        ("L-CC", True),
    ]
    prior_labels = page.locator(".mr-pane[data-prior] .mr-label")
    expect(prior_labels.first).to_contain_text("prior, 24 months earlier")
    # the prior's own pyramid level was there already: no wait, no new first paint
    expect(page.locator(".mr-pane[data-prior][data-view='R-CC']")).to_have_attribute(
        "data-level", re.compile(r"^\d+$")
    )
    shoot(page, f"priors-cc-{size}")
    page.keyboard.press("o")
    expect(viewer).to_have_attribute("data-priors", "mlo")
    assert {v for v, _, _ in shown_panes(page)} == {"R-MLO", "L-MLO"}
    shoot(page, f"priors-mlo-{size}")
    page.keyboard.press("o")
    expect(viewer).to_have_attribute("data-priors", "eight")
    eight = shown_panes(page)
    assert len(eight) == 8
    assert [prior for _, prior, _ in eight] == [False] * 4 + [True] * 4  # current above
    shoot(page, f"priors-eight-{size}")

    # never part of the read: a box drawn on a prior does not land
    prior_pane = page.locator(".mr-pane[data-prior][data-view='R-MLO']")
    assert prior_pane.get_attribute("data-image-id") in prior_images
    page.keyboard.press("m")
    box = prior_pane.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    assert page.evaluate("MammoReading.state().label.boxes.length") == 0
    page.keyboard.press("Escape")

    page.keyboard.press("o")
    expect(viewer).to_have_attribute("data-priors", "off")
    page.keyboard.press("Shift+O")  # back one: all eight
    expect(viewer).to_have_attribute("data-priors", "eight")
    # remembered for the next case
    page.wait_for_timeout(600)
    assert http.get("/api/v1/me/preferences", headers=token).json()["priors"] == "eight"
    page.reload()
    expect(page.locator("#reading[data-state=ready]")).to_be_visible(timeout=15_000)
    expect(viewer).to_have_attribute("data-priors", "eight")
    # H leaves the comparison for the chosen hanging
    page.keyboard.press("h")
    expect(viewer).to_have_attribute("data-priors", "off")
    assert errors == []
    context.close()
