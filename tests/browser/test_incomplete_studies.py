"""Incomplete studies (issue 11, broken 5) in a real Chromium: the project page refuses a study
that is not complete, naming it and why, and adds it with an override, shown with a warning
badge; in a project that allows "breast not imaged", a reader marks the breast without any
image "not imaged" by keyboard and submits."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.reading.models import ReadSubmission
from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.helpers import PASSWORD
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser


def bearer(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def upload(http: httpx.Client, headers: dict[str, str], files) -> str:
    response = http.post(
        "/api/v1/images",
        files=[("files", (name, data, "application/dicom")) for name, data in files],
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["outcomes"][0]["study_id"]


def project(http: httpx.Client, headers: dict[str, str], name: str, **rules: object) -> int:
    body = {"name": name, "rules": rules}
    response = http.post("/api/v1/reading/projects", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def right_breast_task(
    live_server: str, users: dict[str, int], *, seed: int, name: str, reason: str
) -> int:
    """Exam ``seed`` without its left views, added with an override to a new project ``name``
    that allows "breast not imaged" and assigned to the two ``users``; the first one's task."""
    first, second = users
    with httpx.Client(base_url=live_server, timeout=30) as http:
        headers = bearer(http, "admin")
        right_only = upload(http, headers, [f for f in exam_files(seed) if f[0].startswith("R")])
        project_id = project(http, headers, name, breast_not_imaged=True)
        base = f"/api/v1/reading/projects/{project_id}"
        added = http.post(
            f"{base}/studies",
            json={"study_ids": [right_only], "override_reason": reason},
            headers=headers,
        )
        assert added.status_code == 200, added.text
        pools = {"readers": [users[first], users[second]]}
        assert http.put(f"{base}/pools", json=pools, headers=headers).status_code == 200
        pairs = {"pairs": [{"study_id": right_only, "readers": [users[first], users[second]]}]}
        assert http.post(f"{base}/assign", json=pairs, headers=headers).status_code == 200
        return http.get("/api/v1/reading/tasks", headers=bearer(http, first)).json()[0]["id"]


def test_an_incomplete_study_is_refused_then_added_with_an_override(
    live_server, page, admin
) -> None:
    errors = watch_errors(page)
    with httpx.Client(base_url=live_server, timeout=30) as http:
        headers = bearer(http, "admin")
        three_views = upload(
            http, headers, [f for f in exam_files(93) if not f[0].startswith("L_MLO")]
        )
        project_id = project(http, headers, "Incomplete on the page")
    sign_in(page, live_server, "admin", f"/projects/{project_id}")
    page.get_by_label("Study ids (paste").fill(three_views)
    page.get_by_role("button", name="Add these studies").click()

    refusals = page.locator("#admission-refusals")
    expect(refusals).to_be_visible()
    expect(refusals).to_contain_text(three_views[:12])
    expect(refusals).to_contain_text("missing L-MLO")
    expect(refusals).to_contain_text("give the reason for the override")
    expect(page.locator("#project-studies")).to_contain_text("No studies in this project yet")
    # the form keeps what was pasted: the override is one step away, by keyboard
    expect(page.locator("#study-ids")).to_have_value(three_views)
    shoot(page, "incomplete-refused")
    page.locator("#study-ids").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#override-paste")).to_be_focused()
    page.keyboard.type("L-MLO retaken elsewhere; read the three views")
    page.keyboard.press("Enter")

    expect(page.locator("[role=status]").first).to_contain_text("1 studies added")
    row = page.locator("#project-studies tbody tr", has_text=three_views[:12])
    badge = row.locator(".admission-override")
    expect(badge).to_contain_text("incomplete: override")
    expect(badge).to_have_attribute("title", re.compile("L-MLO retaken elsewhere"))
    shoot(page, "incomplete-overridden")
    assert errors == []


def test_a_reader_marks_the_missing_breast_not_imaged_and_submits(
    live_server, page, app, accounts, admin
) -> None:
    errors = watch_errors(page)
    users = {name: accounts.add(name).id for name in ("ni1", "ni2")}
    task_id = right_breast_task(
        live_server, users, seed=94, name="Single breast", reason="left mastectomy"
    )

    sign_in(page, live_server, "ni1", f"/reading/tasks/{task_id}")
    expect(page.locator("#reading[data-state=ready]")).to_be_visible(timeout=15_000)
    left = page.locator(".rd-breast[data-lat=L]")
    expect(left).to_have_class(re.compile("rd-breast-not-imaged"))
    expect(left).to_contain_text("No image of this breast")
    expect(left.locator(".rd-birads button, .rd-density button")).to_have_count(0)
    toggle = left.locator(".rd-not-imaged-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    # right breast by keyboard as usual; the left one by U; then submit
    for key in ("[", "1", "b", "]", "u"):
        page.keyboard.press(key)
    right = page.locator(".rd-breast[data-lat=R]")
    expect(right.locator(".rd-birads [aria-pressed=true]")).to_have_text("1")
    expect(right.locator(".rd-density [aria-pressed=true]")).to_have_text("B")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".rd-save")).to_have_attribute("data-save", "saved", timeout=5_000)
    expect(page.locator(".rd-msg-error")).to_have_count(0)
    shoot(page, "not-imaged-marked")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".rd-result")).to_contain_text("Submitted")
    expect(toggle).to_be_disabled()
    shoot(page, "not-imaged-submitted")

    with app.state.session_factory() as session:
        stored = session.scalars(
            select(ReadSubmission).where(ReadSubmission.task_id == task_id)
        ).one()
        assert stored.label["breasts"]["L"] == {"birads": None, "density": None, "not_imaged": True}
        assert stored.label["breasts"]["R"] == {"birads": 1, "density": "B"}
    assert errors == []


def test_u_takes_not_imaged_back_and_the_help_lists_it(live_server, page, accounts, admin) -> None:
    users = {name: accounts.add(name).id for name in ("nu1", "nu2")}
    task_id = right_breast_task(live_server, users, seed=95, name="Toggle", reason="one side")
    sign_in(page, live_server, "nu1", f"/reading/tasks/{task_id}")
    expect(page.locator("#reading[data-state=ready]")).to_be_visible(timeout=15_000)
    toggle = page.locator(".rd-breast[data-lat=L] .rd-not-imaged-toggle")
    page.keyboard.press("]")
    page.keyboard.press("u")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("u")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    # the right breast has images: U does nothing there
    page.keyboard.press("[")
    page.keyboard.press("u")
    expect(page.locator(".rd-breast[data-lat=R] .rd-birads button")).to_have_count(6)
    # reachable by Tab too, with the focus shown; Space toggles it
    toggle.focus()
    page.keyboard.press("Space")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("?")
    expect(
        page.get_by_text("Breast not imaged: the breast being edited has no image")
    ).to_be_visible()
