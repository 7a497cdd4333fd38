"""The admin's study review in a real Chromium: both reads' boxes drawn on the views in their
own colours, shown and hidden by key and checkbox; the project's settings edited on its page
until a read is submitted; the audit log's objects leading to what they name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.reading_case import Case, reading_case


@pytest.fixture
def case(live_server, accounts, admin):
    """One complete exam in a project read by rd1 and rd2, arbitrated by arb."""
    with reading_case(live_server, accounts, name="Review pilot", seed=9) as built:
        yield built


def box(box_id: str, image_id: str, x: float, y: float) -> dict:
    return {
        "id": box_id,
        "image_id": image_id,
        "xmin": x,
        "ymin": y,
        "xmax": x + 50,
        "ymax": y + 60,
        "categories": ["Mass"],
        "birads": 4,
    }


def label(left_birads: int, boxes: list[dict]) -> dict:
    return {
        "breasts": {
            "R": {"birads": 1, "density": "B"},
            "L": {"birads": left_birads, "density": "C"},
        },
        "boxes": boxes,
        "note": "",
    }


def submit(case: Case, user: str, task_id: int, body: dict) -> None:
    url = f"/api/v1/reading/tasks/{task_id}"
    version = case.http.get(url, headers=case.tokens[user]).json()["version"]
    done = case.http.post(
        f"{url}/submit", json={"label": body, "version": version}, headers=case.tokens[user]
    )
    assert done.status_code == 200, done.text


def two_reads(case: Case) -> str:
    """Reader 1 and reader 2 box different places on L-MLO (discordant); the image id."""
    image_id = case.images["L-MLO"]
    submit(case, "rd1", case.tasks["rd1"], label(4, [box("a1", image_id, 20, 30)]))
    submit(case, "rd2", case.tasks["rd2"], label(4, [box("b1", image_id, 130, 170)]))
    return image_id


def wait_review(page) -> None:
    expect(page.locator("#review[data-state=ready]")).to_be_attached(timeout=15_000)
    expect(page.locator("#review .mr-pane[data-image-id]")).to_have_count(4)


@pytest.mark.browser
def test_the_review_page_draws_each_read_and_toggles_them(live_server, page, case: Case):
    errors = watch_errors(page)
    image_id = two_reads(case)
    sign_in(page, live_server, "admin", f"/projects/{case.project_id}")
    page.locator(f"a[href='/projects/{case.project_id}/studies/{case.study_id}']").click()
    expect(page).to_have_url(f"{live_server}/projects/{case.project_id}/studies/{case.study_id}")
    wait_review(page)
    pane = page.locator(f"#review .mr-pane[data-image-id='{image_id}']")
    expect(pane.locator("g.rd-r1")).to_have_count(1)
    expect(pane.locator("g.rd-r2")).to_have_count(1)
    expect(pane.locator("g.rd-hot")).to_have_count(2)  # each box is unmatched: discordant
    expect(page.locator("#rv-discordances li").first).to_be_visible()
    expect(page.locator(".rv-read")).to_have_count(2)
    expect(page.locator(".rv-read").first).to_contain_text("rd1")
    shoot(page, "review-two-reads")

    page.locator("#main").focus()
    page.keyboard.press("Shift+Digit1")
    expect(pane.locator("g.rd-r1")).to_have_count(0)
    expect(page.locator("#rv-layer-1")).not_to_be_checked()
    page.keyboard.press("Shift+Digit1")
    expect(pane.locator("g.rd-r1")).to_have_count(1)
    page.locator("#rv-layer-2").focus()  # the checkboxes work by keyboard too
    page.keyboard.press("Space")
    expect(pane.locator("g.rd-r2")).to_have_count(0)
    expect(pane.locator("g.rd-r1")).to_have_count(1)

    arbitration = case.http.get("/api/v1/reading/tasks", headers=case.tokens["arb"]).json()
    submit(case, "arb", arbitration[0]["id"], label(4, [box("a1", image_id, 20, 30)]))
    page.reload()
    wait_review(page)
    expect(pane.locator("g.rd-own")).to_have_count(1)  # the final label, from arbitration
    expect(page.locator("#rv-source")).to_have_text("arbitration")
    expect(page.locator(".rv-read")).to_have_count(3)
    page.locator("#main").focus()
    page.keyboard.press("Shift+Digit3")
    expect(pane.locator("g.rd-own")).to_have_count(0)
    page.keyboard.press("Shift+Digit3")
    shoot(page, "review-final")
    assert errors == []


@pytest.mark.browser
def test_settings_edit_until_the_first_read(live_server, page, case: Case) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", f"/projects/{case.project_id}")
    iou = page.get_by_label("Box pairing IoU threshold")
    iou.fill("0.45")
    page.get_by_label("Instructions for readers").fill("Compare both MLO views.")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/projects/{case.project_id}$"))
    expect(page.get_by_label("Box pairing IoU threshold")).to_have_value("0.45")
    project = case.http.get(
        f"/api/v1/reading/projects/{case.project_id}", headers=case.tokens["admin"]
    ).json()
    assert project["rules"]["iou_threshold"] == 0.45
    assert project["instructions"] == "Compare both MLO views."

    submit(case, "rd1", case.tasks["rd1"], label(1, []))
    page.reload()
    expect(page.locator("#settings-form")).to_have_count(0)
    expect(page.locator("#settings-locked")).to_contain_text("submitted")
    expect(page.locator("#settings")).to_contain_text("Compare both MLO views.")
    shoot(page, "settings-locked")
    assert errors == []


@pytest.mark.browser
def test_audit_objects_lead_to_their_pages(live_server, page, case: Case) -> None:
    errors = watch_errors(page)
    two_reads(case)
    sign_in(page, live_server, "admin", "/admin/audit?action=read.submitted")
    link = page.locator(f"a.audit-object[href='/review/tasks/{case.tasks['rd1']}']")
    expect(link).to_have_count(1)
    link.click()
    expect(page).to_have_url(f"{live_server}/projects/{case.project_id}/studies/{case.study_id}")
    wait_review(page)
    page.goto(f"{live_server}/admin/audit?action=project.created")
    page.locator(f"a.audit-object[href='/projects/{case.project_id}']").click()
    expect(page).to_have_url(f"{live_server}/projects/{case.project_id}")
    assert errors == []
