"""The masking creation form in Chromium: only the chosen mode's fields; seed candidates shown
large, put in order by keys (Space adds, Shift+arrows move) and by dragging, at most one seed
per woman (a study, until studies carry a patient key); the order reaches the project."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.masking.models import MaskingProject
from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_masking_browser import bearer
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser


@pytest.fixture
def exams(live_server, admin) -> None:
    """Three synthetic exams: six MLO candidates, two per woman."""
    with httpx.Client(base_url=live_server, timeout=60) as http:
        files = [f for seed in range(810, 813) for f in exam_files(seed)]
        uploaded = http.post(
            "/api/v1/images",
            files=[("files", (name, data, "application/dicom")) for name, data in files],
            headers=bearer(http, "admin"),
        )
        assert uploaded.status_code == 200, uploaded.text


def candidates(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#seed-candidates .seed-candidate')].map(
            (c) => ({id: c.dataset.imageId, study: c.dataset.study}))"""
    )


def order(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#seed-order .seed-candidate')].map(
            (c) => c.dataset.imageId)"""
    )


def ranks(page) -> dict[str, str]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.seed-candidate')].map(
            (c) => [c.dataset.imageId, c.querySelector("input[name='seed_rank']").value]))"""
    )


def two_women(page) -> tuple[dict, dict, dict]:
    """Two candidates of different women, and one of the first one's woman."""
    pool = candidates(page)
    first = pool[0]
    same = next(c for c in pool[1:] if c["study"] == first["study"])
    other = next(c for c in pool if c["study"] != first["study"])
    return first, other, same


def card(page, image_id: str):
    return page.locator(f".seed-candidate[data-image-id='{image_id}']")


def test_the_form_shows_only_the_chosen_modes_fields(page, live_server, exams) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/masking")
    full, levels = page.locator("#m-full-sort-fields"), page.locator("#m-levels-fields")
    expect(full).to_be_visible()
    expect(levels).to_be_hidden()
    expect(page.locator("#m-levels")).to_be_visible()  # both modes cut into levels
    page.locator("#m-mode").focus()
    page.locator("#m-mode").select_option("levels")
    expect(full).to_be_hidden()
    expect(levels).to_be_visible()
    expect(page.get_by_label("Seeds per level")).to_be_visible()
    page.locator("#m-mode").select_option("full_sort")
    expect(full).to_be_visible()
    expect(levels).to_be_hidden()
    assert errors == []


def test_seeds_are_chosen_and_ordered_by_keys(page, live_server, exams, db) -> None:
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_server, "admin", "/masking")
    first, other, same = two_women(page)
    # large: a candidate is shown far above the old 96-px thumbnails
    box = card(page, first["id"]).locator("img").bounding_box()
    assert box is not None
    assert box["width"] >= 180
    card(page, first["id"]).focus()
    page.keyboard.press("Space")
    card(page, other["id"]).focus()
    page.keyboard.press("Space")
    assert order(page) == [first["id"], other["id"]]
    # one seed per woman: the other breast of the first woman is refused
    card(page, same["id"]).focus()
    page.keyboard.press("Space")
    expect(page.locator("#seed-message")).to_contain_text("one seed per woman")
    assert order(page) == [first["id"], other["id"]]
    # move the second seed to the front by keys; the focus stays on it
    card(page, other["id"]).focus()
    page.keyboard.press("Shift+ArrowLeft")
    assert order(page) == [other["id"], first["id"]]
    expect(card(page, other["id"])).to_be_focused()
    assert ranks(page)[other["id"]] == "1"
    assert ranks(page)[first["id"]] == "2"
    # the seeds sit side by side
    a = card(page, other["id"]).bounding_box()
    b = card(page, first["id"]).bounding_box()
    assert a is not None
    assert b is not None
    assert abs(a["y"] - b["y"]) < 2
    assert a["x"] < b["x"]
    shoot(page, "masking-seeds-1920")
    page.get_by_label("Name").fill("Seeds by keys")
    page.get_by_role("button", name="Create masking project").click()
    expect(page).to_have_url(f"{live_server}/masking/projects/1")
    db.expire_all()
    project = db.scalar(select(MaskingProject))
    assert project is not None
    images = {i.id: i.image_id for i in project_images(db)}
    assert [images[pk] for pk in project.seed_list] == [other["id"], first["id"]]
    assert errors == []


def project_images(db):
    from app.imaging.models import Image

    return db.scalars(select(Image))


def test_seeds_are_ordered_by_dragging(page, live_server, exams) -> None:
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_server, "admin", "/masking")
    first, other, same = two_women(page)
    card(page, first["id"]).focus()
    page.keyboard.press("Space")
    # drag a candidate into the order, in front of the first seed
    card(page, other["id"]).drag_to(card(page, first["id"]), target_position={"x": 5, "y": 40})
    assert order(page) == [other["id"], first["id"]]
    # and drag the first seed back in front
    card(page, first["id"]).drag_to(card(page, other["id"]), target_position={"x": 5, "y": 40})
    assert order(page) == [first["id"], other["id"]]
    assert ranks(page)[first["id"]] == "1"
    # a second seed of one woman is refused by dragging too
    card(page, same["id"]).drag_to(page.locator("#seed-order"))
    assert same["id"] not in order(page)
    expect(page.locator("#seed-message")).to_contain_text("one seed per woman")
    assert errors == []


def test_the_server_refuses_two_seeds_of_one_woman(client, db, admin, exams) -> None:
    from app.imaging.models import Image

    mlo = list(db.scalars(select(Image).where(Image.view == "MLO").order_by(Image.id)))
    by_study: dict[int, list[Image]] = {}
    for image in mlo:
        by_study.setdefault(image.study_pk, []).append(image)
    a, b = next(pair for pair in by_study.values() if len(pair) == 2)
    from tests.helpers import bearer as api_bearer

    headers = api_bearer(client, "admin")
    body = {
        "name": "Two of one woman",
        "seed_list": [a.image_id, b.image_id],
        "one_seed_per_woman": True,
    }
    refused = client.post("/api/v1/masking/projects", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    assert "one seed per woman" in refused.text
