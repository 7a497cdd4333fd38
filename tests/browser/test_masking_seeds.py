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
        """() => Object.fromEntries(
            [...document.querySelectorAll('#seed-picker .seed-candidate')].map(
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
    """A candidate of the full sort's picker (the levels' has its own, level_card)."""
    return page.locator(f"#seed-picker .seed-candidate[data-image-id='{image_id}']")


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


# --- levels mode: the same picker, one order per level -----------------------------------------


def level_orders(page) -> list[list[str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#level-orders .seed-order')].map(
            (o) => [...o.children].map((c) => c.dataset.imageId))"""
    )


def level_card(page, image_id: str):
    return page.locator(f"#level-picker .seed-candidate[data-image-id='{image_id}']")


def test_levels_seeds_are_chosen_per_level_by_keys(page, live_server, exams, db) -> None:
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_server, "admin", "/masking")
    first, other, same = two_women(page)
    third = next(c for c in candidates(page) if c["study"] not in {first["study"], other["study"]})
    page.locator("#m-mode").select_option("levels")
    picker = page.locator("#level-picker")
    expect(picker).to_be_visible()
    # the full sort's picker is hidden and its fields are not sent
    expect(page.locator("#seed-picker")).to_be_hidden()
    assert page.locator("#m-full-sort-fields").evaluate("(f) => f.disabled")
    # one row per level, following the levels field
    page.locator("#m-levels").fill("3")
    expect(picker.locator(".seed-level")).to_have_count(3)
    # keyboard: a level's button chooses where Space adds; buttons and candidates take the focus
    assert page.evaluate(
        """() => [...document.querySelectorAll(
            '#level-picker .seed-level-pick, #level-picker .seed-candidate')
        ].every((el) => el.tabIndex >= 0)"""
    )
    page.get_by_role("button", name="Level 3").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Level 3")).to_have_attribute("aria-pressed", "true")
    level_card(page, third["id"]).focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Level 2").focus()
    page.keyboard.press("Enter")
    level_card(page, other["id"]).focus()
    page.keyboard.press("Space")
    level_card(page, first["id"]).focus()
    page.keyboard.press("Space")
    assert level_orders(page) == [[], [other["id"], first["id"]], [third["id"]]]
    # at most one seed per woman, across levels
    level_card(page, same["id"]).focus()
    page.keyboard.press("Space")
    expect(page.locator("#level-message")).to_contain_text("one seed per woman")
    assert all(same["id"] not in level for level in level_orders(page))
    # Shift+arrows: within a level, and to the level before
    level_card(page, first["id"]).focus()
    page.keyboard.press("Shift+ArrowLeft")
    assert level_orders(page)[1] == [first["id"], other["id"]]
    expect(level_card(page, first["id"])).to_be_focused()
    page.keyboard.press("Shift+ArrowUp")
    assert level_orders(page) == [[first["id"]], [other["id"]], [third["id"]]]
    expect(level_card(page, first["id"])).to_be_focused()
    expect(level_card(page, first["id"]).locator(".seed-rank-badge")).to_have_text("L1·1")
    # fewer levels: the seeds of a level that goes return to the candidates
    page.locator("#m-levels").fill("2")
    expect(picker.locator(".seed-level")).to_have_count(2)
    assert level_orders(page) == [[first["id"]], [other["id"]]]
    expect(level_card(page, third["id"])).to_have_attribute("aria-pressed", "false")
    # and by dragging: the third woman's image to the front of level 2
    level_card(page, third["id"]).drag_to(
        level_card(page, other["id"]), target_position={"x": 5, "y": 40}
    )
    assert level_orders(page) == [[first["id"]], [third["id"], other["id"]]]
    assert page.locator("input[name='level_picks']").input_value() == (
        f"{first['id']}\n{third['id']} {other['id']}"
    )
    # the levels' seed rows sit under one another, each level's seeds side by side
    rows = [page.locator(".seed-level").nth(n).bounding_box() for n in range(2)]
    assert rows[0] is not None
    assert rows[1] is not None
    assert rows[0]["y"] + rows[0]["height"] <= rows[1]["y"]
    a, b = (
        level_card(page, third["id"]).bounding_box(),
        level_card(page, other["id"]).bounding_box(),
    )
    assert a is not None
    assert b is not None
    assert abs(a["y"] - b["y"]) < 2
    assert a["x"] < b["x"]
    shoot(page, "masking-levels-picker-1920")
    page.get_by_label("Name").fill("Levels by keys")
    page.locator("#m-woman").select_option("both")
    page.get_by_role("button", name="Create masking project").click()
    expect(page).to_have_url(f"{live_server}/masking/projects/1")
    db.expire_all()
    project = db.scalar(select(MaskingProject))
    assert project is not None
    images = {i.id: i.image_id for i in project_images(db)}
    assert [[images[pk] for pk in level] for level in project.level_seeds] == [
        [first["id"]],
        [third["id"], other["id"]],
    ]
    assert project.seed_list == []  # nothing of the hidden full-sort picker
    assert errors == []


def test_the_level_picker_comes_back_after_a_refused_form(page, live_server, exams) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/masking")
    first, other, _ = two_women(page)
    page.locator("#m-mode").select_option("levels")
    page.locator("#m-levels").fill("3")
    level_card(page, first["id"]).focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Level 3").click()
    level_card(page, other["id"]).focus()
    page.keyboard.press("Space")
    page.get_by_label("Name").fill("Level 2 is empty")
    page.get_by_role("button", name="Create masking project").click()
    expect(page.locator(".alert-error, .alert")).to_contain_text("Give 3 levels")
    # the picks come back in their levels
    expect(page.locator("#m-mode")).to_have_value("levels")
    expect(page.locator("#level-picker .seed-level")).to_have_count(3)
    assert level_orders(page) == [[first["id"]], [], [other["id"]]]
    assert errors == []


def test_seeds_derived_from_a_full_sort_hide_the_level_picker(page, live_server, exams) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/masking")
    first, other, _ = two_women(page)
    card(page, first["id"]).focus()
    page.keyboard.press("Space")
    card(page, other["id"]).focus()
    page.keyboard.press("Space")
    page.get_by_label("Name").fill("Source sort")
    page.get_by_role("button", name="Create masking project").click()
    expect(page).to_have_url(f"{live_server}/masking/projects/1")
    page.goto(f"{live_server}/masking")
    page.locator("#m-mode").select_option("levels")
    expect(page.locator("#level-picker")).to_be_visible()
    page.locator("#m-derive").select_option(label="Source sort")
    expect(page.locator("#level-picker")).to_be_hidden()
    assert page.locator("input[name='level_picks']").evaluate("(i) => i.disabled")
    page.locator("#m-derive").select_option("")
    expect(page.locator("#level-picker")).to_be_visible()
    assert errors == []


# --- the picker uses the page's width -----------------------------------------------------------


def overflowing(page) -> list[str]:
    """The form's elements (and the page) wider than their box."""
    return page.evaluate(
        """() => [document.documentElement, ...document.querySelectorAll(
            `#new-masking-form, #new-masking-form .field, #new-masking-form fieldset, .seed-picker,
             .seed-grid, .seed-levels, .seed-level, .card`)]
            .filter((el) => el.offsetParent !== null || el === document.documentElement)
            .filter((el) => el.scrollWidth > el.clientWidth + 1)
            .map((el) => el.id || el.className || el.tagName)"""
    )


def candidate_width(page, picker: str) -> float:
    box = page.locator(f"{picker} .seed-grid .seed-candidate img").first.bounding_box()
    assert box is not None
    return box["width"]


def test_the_picker_uses_the_page_width(page, live_server, exams) -> None:
    errors = watch_errors(page)
    widths: dict[int, dict[str, float]] = {}
    sign_in(page, live_server, "admin", "/masking")
    for width, height in ((1920, 1080), (2560, 1440)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server}/masking")
        first, other, _ = two_women(page)
        for key in (first["id"], other["id"]):
            card(page, key).focus()
            page.keyboard.press("Space")
        widths[width] = {"full_sort": candidate_width(page, "#seed-picker")}
        assert overflowing(page) == [], width
        form = page.locator("#new-masking-form").bounding_box()
        assert form is not None
        assert form["width"] >= width * 0.85  # not the 1200-px column any more
        page.locator("#new-masking-form").scroll_into_view_if_needed()
        page.locator("#m-full-sort-fields").scroll_into_view_if_needed()
        shoot(page, f"masking-create-full-sort-{width}")
        shoot(page, f"masking-create-full-sort-{width}-page", full_page=True)
        page.locator("#m-mode").select_option("levels")
        level_card(page, first["id"]).focus()
        page.keyboard.press("Space")
        page.get_by_role("button", name="Level 2").click()
        level_card(page, other["id"]).focus()
        page.keyboard.press("Space")
        widths[width]["levels"] = candidate_width(page, "#level-picker")
        assert overflowing(page) == [], width
        page.locator("#m-levels-fields").scroll_into_view_if_needed()
        shoot(page, f"masking-create-levels-{width}")
        shoot(page, f"masking-create-levels-{width}-page", full_page=True)
    for mode in ("full_sort", "levels"):
        assert widths[1920][mode] >= 220, widths
        assert widths[2560][mode] > widths[1920][mode] * 1.15, widths
    assert errors == []
