"""The reading screen's form side (issue 11, part "panel"), in a real Chromium.

Arbitration: "Take" on the breast not being edited works with one click; the arbiter starts from
what both readers agreed on, sees both notes and takes a reader's values for the breast being
edited by key (J / K). Keyboard: Tab on the images steps through the boxes and then on to the
form, reaching the note and every button (no trap). Small faults: Esc in the category filter
clears and closes it (the box stays selected); the submitted case shows its confirmation at the
top of the panel, read out, without the "editing" badge; keys pressed while a case loads are
refused out loud; category names never break inside a word and the hint icon is a plain letter.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.reading_case import Case, reading_case
from tests.browser.test_reading_browser import wait_ready, wait_saved

pytestmark = pytest.mark.browser


@pytest.fixture
def case(live_server, accounts, admin):
    """One complete exam (no QC flag) in a project read by rd1 and rd2, arbitrated by arb."""
    with reading_case(live_server, accounts, name="Panel pilot", seed=7, size=(512, 416)) as built:
        yield built


def box(image_id: str, box_id: str, x: float, categories: list[str], birads: int | None) -> dict:
    return {
        "id": box_id,
        "image_id": image_id,
        "xmin": x,
        "ymin": 200.0,
        "xmax": x + 80.0,
        "ymax": 290.0,
        "categories": categories,
        "birads": birads,
    }


def submit_reads(case: Case, labels: dict[str, dict]) -> None:
    for reader, label in labels.items():
        url = f"/api/v1/reading/tasks/{case.tasks[reader]}"
        version = case.http.get(url, headers=case.tokens[reader]).json()["version"]
        done = case.http.post(
            f"{url}/submit", json={"label": label, "version": version}, headers=case.tokens[reader]
        )
        assert done.status_code == 200, done.text


def save_draft(case: Case, reader: str, label: dict) -> None:
    url = f"/api/v1/reading/tasks/{case.tasks[reader]}"
    version = case.http.get(url, headers=case.tokens[reader]).json()["version"]
    saved = case.http.put(
        f"{url}/draft", json={"label": label, "version": version}, headers=case.tokens[reader]
    )
    assert saved.status_code == 200, saved.text


def draft_one_blank_box(case: Case) -> None:
    """rd1's draft: nothing filled in but one box on L-CC, without categories or BI-RADS."""
    label = {
        "breasts": {"R": {"birads": None, "density": None}, "L": {"birads": None, "density": None}},
        "boxes": [box(case.images["L-CC"], "one", 100.0, [], None)],
        "note": "",
    }
    save_draft(case, "rd1", label)


def state(page) -> dict:
    return page.evaluate("() => MammoReading.state()")


@pytest.fixture
def arbitration(case: Case) -> Case:
    """Reader 1 and 2 agree on the right breast and on one mass on L-CC; they disagree on the
    left breast and reader 1 has a second mass nobody else saw. Both wrote a note."""
    left_cc, left_mlo = case.images["L-CC"], case.images["L-MLO"]
    shared_1 = box(left_cc, "a-mass", 100.0, ["Mass"], 4)
    shared_2 = box(left_cc, "b-mass", 104.0, ["Mass"], 3)
    lonely = box(left_mlo, "a-lonely", 150.0, ["Mass"], 4)
    right = {"birads": 1, "density": "B"}
    submit_reads(
        case,
        {
            "rd1": {
                "breasts": {"R": right, "L": {"birads": 4, "density": "C"}},
                "boxes": [shared_1, lonely],
                "note": "Spiculated mass upper outer left.",
            },
            "rd2": {
                "breasts": {"R": right, "L": {"birads": 3, "density": "B"}},
                "boxes": [shared_2],
                "note": "Probably benign mass.",
            },
        },
    )
    return case


def open_arbitration(page, live_server: str) -> None:
    sign_in(page, live_server, "arb", "/reading")
    page.get_by_role("link", name="Next case").click()
    wait_ready(page)
    expect(page.locator("#reading")).to_have_class(re.compile(r"rd-arbitration"))


# --- arbitration ----------------------------------------------------------------------------


def test_take_on_the_breast_not_being_edited_needs_one_click(
    live_server, page, arbitration: Case
) -> None:
    errors = watch_errors(page)
    open_arbitration(page, live_server)
    assert state(page)["activeLat"] == "R"
    left = page.locator(".rd-breast[data-lat=L]")
    left.get_by_role("button", name="Take reader 2's breast labels").click()  # one click
    label = state(page)["label"]
    assert label["breasts"]["L"] == {"birads": 3, "density": "B"}
    assert state(page)["activeLat"] == "L"
    expect(left).to_have_class(re.compile(r"rd-active"))
    assert errors == []


def test_arbiter_starts_from_the_agreed_values_sees_both_notes_and_takes_by_key(
    live_server, page, arbitration: Case
) -> None:
    errors = watch_errors(page)
    open_arbitration(page, live_server)
    label = state(page)["label"]
    # agreed: the right breast and the paired mass; discordant: left breast, the lonely mass
    assert label["breasts"]["R"] == {"birads": 1, "density": "B"}
    assert label["breasts"]["L"] == {"birads": None, "density": None}
    [agreed] = label["boxes"]
    assert agreed["image_id"] == arbitration.images["L-CC"]
    assert agreed["categories"] == ["Mass"]
    assert agreed["birads"] == 4
    assert agreed["xmin"] == pytest.approx(102.0)
    assert label["note"] == ""
    left = page.locator(".rd-breast[data-lat=L]")
    expect(left.locator(".rd-birads.rd-discordant")).to_have_count(1)  # left empty, highlighted
    expect(left.locator(".rd-density.rd-discordant")).to_have_count(1)
    expect(left.locator(".rd-choice[aria-pressed=true]")).to_have_count(0)
    notes = page.locator(".rd-reader-notes")
    expect(notes.locator(".rd-reader-1")).to_contain_text("Spiculated mass upper outer left.")
    expect(notes.locator(".rd-reader-2")).to_contain_text("Probably benign mass.")
    for width, height in ((1920, 1080), (2560, 1440)):
        page.set_viewport_size({"width": width, "height": height})
        shoot(page, f"panel-arbitration-prefilled-{width}")
        shoot(page, f"panel-arbitration-prefilled-{width}-full", full_page=True)

    page.locator("#main").focus()
    page.keyboard.press("]")
    page.keyboard.press("j")  # reader 1's values for the left breast
    assert state(page)["label"]["breasts"]["L"] == {"birads": 4, "density": "C"}
    page.keyboard.press("k")  # reader 2's
    assert state(page)["label"]["breasts"]["L"] == {"birads": 3, "density": "B"}
    page.keyboard.press("Control+z")
    assert state(page)["label"]["breasts"]["L"] == {"birads": 4, "density": "C"}
    page.keyboard.press("?")
    help_text = page.locator(".rd-help")
    expect(help_text).to_contain_text("Take reader 1's / reader 2's BI-RADS and density")
    page.keyboard.press("Escape")
    wait_saved(page)
    page.keyboard.press("Control+Enter")
    expect(page.locator(".rd-result")).to_contain_text("the study is final")
    final = arbitration.http.get(
        f"/api/v1/reading/projects/{arbitration.project_id}/studies/{arbitration.study_id}",
        headers=arbitration.tokens["admin"],
    ).json()
    assert final["final_label"]["breasts"]["L"] == {"birads": 4, "density": "C"}
    assert len(final["final_label"]["boxes"]) == 1
    assert errors == []


def test_the_api_gives_the_arbiter_the_agreed_start(live_server, arbitration: Case) -> None:
    http = arbitration.http
    tasks = http.get("/api/v1/reading/tasks", headers=arbitration.tokens["arb"]).json()
    detail = http.get(
        f"/api/v1/reading/tasks/{tasks[0]['id']}", headers=arbitration.tokens["arb"]
    ).json()
    assert detail["draft"]["breasts"] == {
        "R": {"birads": 1, "density": "B"},
        "L": {"birads": None, "density": None},
    }
    assert [b["categories"] for b in detail["draft"]["boxes"]] == [["Mass"]]
    assert {r["slot"]: r["label"]["note"] for r in detail["other_reads"]} == {
        1: "Spiculated mass upper outer left.",
        2: "Probably benign mass.",
    }
    # a reader still starts from an empty label and never sees another read
    reader_task = http.get(
        f"/api/v1/reading/tasks/{arbitration.tasks['rd1']}", headers=arbitration.tokens["rd1"]
    ).json()
    assert reader_task["other_reads"] == []


# --- the keyboard ------------------------------------------------------------------------------


def test_tab_goes_through_the_boxes_then_on_to_every_control(live_server, page, case: Case) -> None:
    errors = watch_errors(page)
    images = case.images
    label = {
        "breasts": {"R": {"birads": None, "density": None}, "L": {"birads": None, "density": None}},
        "boxes": [
            box(images["L-CC"], "one", 100.0, ["Mass"], 4),
            box(images["R-MLO"], "two", 90.0, [], None),
        ],
        "note": "",
    }
    save_draft(case, "rd1", label)
    sign_in(page, live_server, "rd1", f"/reading/tasks/{case.tasks['rd1']}")
    wait_ready(page)
    page.locator("#reading .mr-pane[data-image-id]").first.focus()

    def focused() -> str:
        return page.evaluate(
            """() => {
                const el = document.activeElement;
                if (el.id) return "#" + el.id;
                const cls = [...el.classList].find((c) => /^(rd|mr)-/.test(c)) || "";
                const text = el.textContent.trim().slice(0, 20);
                return `${el.tagName.toLowerCase()}.${cls}|${text}`;
            }"""
        )

    page.keyboard.press("Tab")
    expect(page.locator(".rd-finding.rd-selected")).to_have_count(1)
    page.keyboard.press("Tab")  # the second box
    expect(page.locator(".rd-editor h2")).to_contain_text("Box 2")
    seen: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.append(focused())
        if seen[-1].startswith("#rd-note") and ".rd-submit" in "".join(seen):
            break
        if any(s.startswith("button.rd-submit") for s in seen):
            break
    assert any(s.startswith("#rd-note") for s in seen), seen
    page.locator("#rd-note").focus()
    page.keyboard.press("Tab")
    assert focused().startswith("button.rd-submit"), focused()
    shoot(page, "panel-tab-reaches-submit")
    # every enabled button of the form is on the Tab path
    buttons = page.evaluate(
        """() => [...document.querySelectorAll('.rd-side button:not([disabled])')]
            .filter((b) => b.getClientRects().length).length"""
    )
    page.locator(".rd-side button").first.focus()
    reached = set()
    for _ in range(buttons + 40):
        reached.add(
            page.evaluate(
                """() => { const el = document.activeElement;
                    const all = [...document.querySelectorAll('.rd-side button:not([disabled])')];
                    return el.tagName === 'BUTTON' ? all.indexOf(el) : -1; }"""
            )
        )
        page.keyboard.press("Tab")
    reached.discard(-1)
    assert len(reached) == buttons
    # and back: Shift+Tab from the first form control returns to the images
    page.locator(".rd-side button").first.focus()
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.closest('.mr-viewer') !== null"):
            break
    assert page.evaluate("() => document.activeElement.closest('.mr-viewer') !== null")
    assert errors == []


# --- small faults -----------------------------------------------------------------------------


def test_escape_in_the_category_filter_clears_it_and_keeps_the_box(
    live_server, page, case: Case
) -> None:
    draft_one_blank_box(case)
    sign_in(page, live_server, "rd1", f"/reading/tasks/{case.tasks['rd1']}")
    wait_ready(page)
    page.locator("#reading .mr-pane[data-image-id]").first.focus()
    page.keyboard.press("Tab")
    expect(page.locator(".rd-editor")).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator(".rd-filter")).to_be_focused()
    page.keyboard.type("mas")
    expect(page.locator(".rd-category:not([hidden])")).not_to_have_count(
        page.locator(".rd-category").count()
    )
    page.keyboard.press("Escape")  # clears and closes the filter; the box stays selected
    expect(page.locator(".rd-filter")).to_have_value("")
    expect(page.locator(".rd-filter")).not_to_be_focused()
    expect(page.locator(".rd-editor")).to_be_visible()
    page.wait_for_timeout(300)
    expect(page.locator(".rd-editor")).to_be_visible()
    # a filter left typed while the focus went back to the images: Esc clears it first
    page.keyboard.press("/")
    page.keyboard.type("calc")
    page.locator("#reading .mr-pane[data-image-id]").first.focus()
    expect(page.locator(".rd-category:not([hidden])")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator(".rd-filter")).to_have_value("")
    expect(page.locator(".rd-editor")).to_be_visible()
    expect(page.locator(".rd-category:not([hidden])")).to_have_count(
        page.locator(".rd-category").count()
    )
    page.keyboard.press("Escape")  # now Esc deselects
    expect(page.locator(".rd-editor")).to_be_hidden()


def test_submitted_case_confirms_at_the_top_without_the_editing_badge(
    live_server, page, case: Case
) -> None:
    errors = watch_errors(page)
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_server, "rd1", f"/reading/tasks/{case.tasks['rd1']}")
    wait_ready(page)
    page.locator("#main").focus()
    for key in ("[", "1", "b", "]", "1", "b"):
        page.keyboard.press(key)
    page.locator("#rd-note").fill("Nothing to see.")
    page.locator("#main").focus()
    wait_saved(page)
    page.keyboard.press("Control+Enter")
    result = page.locator(".rd-result")
    expect(result).to_contain_text("your read is in")
    expect(result).to_have_attribute("aria-live", "polite")
    expect(result).to_be_in_viewport(ratio=1)
    expect(page.locator(".rd-editing:visible")).to_have_count(0)
    expect(page.locator(".rd-breast.rd-active")).to_have_count(0)
    shoot(page, "panel-submitted-1920")
    page.set_viewport_size({"width": 2560, "height": 1440})
    shoot(page, "panel-submitted-2560")
    assert errors == []


def hold(page, pattern: str):
    """Hold the requests matching ``pattern``: the returned function waits until one is held and
    returns a function that lets them all go (no sleeping in the route handler, which would
    stall Playwright's event loop and make the timing depend on the machine's load)."""
    routes: list = []

    def keep(route) -> None:
        routes.append(route)

    page.route(pattern, keep)

    def wait_held():
        for _ in range(300):
            if routes:
                break
            page.wait_for_timeout(50)
        assert routes, f"no request matched {pattern}"

        def release() -> None:
            for route in routes:
                route.continue_()
            page.unroute(pattern, keep)

        return release

    return wait_held


def test_keys_pressed_while_the_case_loads_are_refused_out_loud(
    live_server, page, case: Case
) -> None:
    sign_in(page, live_server, "rd1", "/reading")
    held = hold(page, f"**/api/v1/reading/tasks/{case.tasks['rd1']}")
    page.goto(f"{live_server}/reading/tasks/{case.tasks['rd1']}")
    loading = page.locator(".rd-loading")
    expect(loading).to_have_attribute("role", "status")
    release = held()  # the case's request is on its way and held: the screen is loading
    page.keyboard.press("1")
    expect(loading).to_contain_text("“1” was not applied")
    release()
    wait_ready(page)
    assert state(page)["label"]["breasts"]["R"]["birads"] is None


def test_after_n_the_submitted_screen_says_the_next_case_is_loading(
    live_server, page, case: Case
) -> None:
    """Issue 11: keys pressed just after N went to the submitted case while the next one was on
    its way, and anything waiting for "ready" saw the old screen. The old screen now leaves the
    ready state at once, says so, and refuses keys out loud."""
    sign_in(page, live_server, "rd1", f"/reading/tasks/{case.tasks['rd1']}")
    wait_ready(page)
    page.locator("#main").focus()
    for key in ("[", "1", "b", "]", "1", "b"):
        page.keyboard.press(key)
    wait_saved(page)
    page.keyboard.press("Control+Enter")
    expect(page.locator(".rd-result")).to_contain_text("your read is in")

    held = hold(page, "**/reading/next*")
    page.keyboard.press("n")
    release = held()
    expect(page.locator("#reading")).to_have_attribute("data-state", "leaving")
    expect(page.locator(".rd-leaving")).to_have_text("Loading the next case…")
    page.keyboard.press("1")
    expect(page.locator(".rd-mode")).to_contain_text("The next case is loading")
    release()
    expect(page).to_have_url(re.compile(r"/reading(\?done=1)?$"), timeout=15_000)


def test_category_names_wrap_between_words_and_the_hint_icon_is_a_letter(
    live_server, page, case: Case
) -> None:
    draft_one_blank_box(case)
    for width, height in ((1280, 800), (1920, 1080), (2560, 1440)):
        page.set_viewport_size({"width": width, "height": height})
        if width == 1280:
            sign_in(page, live_server, "rd1", f"/reading/tasks/{case.tasks['rd1']}")
        else:
            page.reload()
        wait_ready(page)
        page.locator("#reading .mr-pane[data-image-id]").first.focus()
        page.keyboard.press("Tab")
        expect(page.locator(".rd-category").first).to_be_visible()
        broken = page.evaluate(
            """() => {
                const broken = [];
                const names = '.rd-category > span:not(.rd-cat-key):not(.rd-assoc)';
                for (const span of document.querySelectorAll(names)) {
                    const text = span.firstChild;
                    if (!text || text.nodeType !== Node.TEXT_NODE) continue;
                    let at = 0;
                    for (const word of text.data.split(' ')) {
                        const range = document.createRange();
                        range.setStart(text, at);
                        range.setEnd(text, at + word.length);
                        if (word && range.getClientRects().length > 1) broken.push(word);
                        at += word.length + 1;
                    }
                    if (span.scrollWidth > span.clientWidth + 1) broken.push(text.data);
                }
                return broken;
            }"""
        )
        assert broken == [], (width, broken)
        shoot(page, f"panel-box-editor-{width}")
    icon = page.evaluate(
        """() => {
            const p = document.createElement('p');
            p.className = 'rd-msg rd-msg-hint';
            p.textContent = 'A hint';
            document.querySelector('.rd-editor').append(p);
            const content = getComputedStyle(p, '::before').content;
            p.remove();
            return content;
        }"""
    )
    assert icon == '"i"'
