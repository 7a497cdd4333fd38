"""The masking comparison screen (static/js/masking.js) in a real Chromium against a live server.

A reader answers pairs with the keyboard alone (1, 2, 9 mapped to query / reference through the
pair's side, U undoes), sees the progress line move, reloads mid-search and gets the same pair
back, pauses and resumes (the resume asks the server again), and a double key press sends one
answer. The next pair's images come from the browser cache (prefetched with the viewer's own
URLs). A lost connection shows "Not sent — retrying" and the answer lands once; a pair answered
in another tab brings the current pair and a banner; D discards with a reason; the last answer
brings the finished panel."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.helpers import PASSWORD
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser
API = "/api/v1/masking"


# --- a project set up through the API of the live server ---------------------------------------


@dataclass
class Project:
    http: httpx.Client
    reader: dict[str, str]  # bearer headers of the reader
    project_id: int

    @property
    def path(self) -> str:
        return f"/masking/projects/{self.project_id}/sort"

    def pending(self) -> dict:
        response = self.http.get(f"{API}/projects/{self.project_id}/next", headers=self.reader)
        assert response.status_code == 200, response.text
        return response.json()

    def comparisons(self) -> int:
        return self.pending()["progress"]["comparisons"]


def bearer(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def make_project(
    live_server,
    accounts,
    exams: int,
    seeds: int,
    instructions: str = "Which image hides a tumour more easily?",
):
    reader_id = accounts.add("rd1").id
    with httpx.Client(base_url=live_server, timeout=60) as http:
        admin = bearer(http, "admin")
        files = [f for seed in range(700, 700 + exams) for f in exam_files(seed)]
        uploaded = http.post(
            "/api/v1/images",
            files=[("files", (name, data, "application/dicom")) for name, data in files],
            headers=admin,
        )
        assert uploaded.status_code == 200, uploaded.text
        image_ids = []
        for study_id in sorted({o["study_id"] for o in uploaded.json()["outcomes"]}):
            detail = http.get(f"/api/v1/studies/{study_id}", headers=admin).json()
            image_ids += [i["image_id"] for i in detail["images"] if i["view"] == "MLO"]
        created = http.post(
            f"{API}/projects",
            json={
                "name": "Masking in the browser",
                "instructions": instructions,
                "image_ids": image_ids,
                "seed_list": image_ids[:seeds],
                # the seeds are the first MLO images in study order: both breasts of the first
                # woman, allowed explicitly (the rule is tested in test_masking_seeds.py)
                "one_seed_per_woman": False,
                "randomise_sides": True,
                "probe_share": 0,
                "reader_ids": [reader_id],
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        yield Project(http, bearer(http, "rd1"), created.json()["id"])


@pytest.fixture
def project(live_server, accounts, admin):
    """Six MLO images to place into a seed list of two, sides at random."""
    yield from make_project(live_server, accounts, exams=4, seeds=2)


@pytest.fixture
def small_project(live_server, accounts, admin):
    """One image to place between two seeds: a couple of answers end it."""
    yield from make_project(live_server, accounts, exams=2, seeds=3)


class Traffic:
    """The masking API calls the page makes (no routing: that would switch the cache off)."""

    def __init__(self, page) -> None:
        self.posts: list[dict] = []
        self.gets = 0
        page.on("request", self.on_request)

    def on_request(self, request) -> None:
        if f"{API}/comparisons/" in request.url and request.method == "POST":
            self.posts.append(json.loads(request.post_data or "{}"))
        elif request.url.endswith("/next") and request.method == "GET":
            self.gets += 1


ROOT = "#masking"


def wait_ready(page) -> str:
    expect(page.locator(f"{ROOT}[data-state=ready]")).to_be_visible(timeout=15_000)
    expect(page.locator(f"{ROOT} .mr-pane[data-image-id]")).to_have_count(2)
    return page.locator(ROOT).get_attribute("data-comparison")


def shown_pair(page) -> dict:
    """What the screen shows: its comparison id and the image ids left and right."""
    return page.evaluate(
        """() => ({
            comparison: document.getElementById("masking").dataset.comparison,
            left: document.querySelector("#masking .mr-pane[data-side=left]").dataset.imageId,
            right: document.querySelector("#masking .mr-pane[data-side=right]").dataset.imageId,
        })"""
    )


def answer_by_key(page, key: str) -> str:
    """Press a key on a ready pair; returns the new pair's comparison id once it is ready."""
    before = wait_ready(page)
    page.keyboard.press(key)
    expect(page.locator(ROOT)).not_to_have_attribute("data-comparison", before)
    return wait_ready(page)


def expected_answer(project: Project, key: str) -> str:
    pending = project.pending()
    if key == "9":
        return "same"
    side = "left" if key == "1" else "right"
    return "query" if pending["query_side"] == side else "reference"


def progress(page):
    return page.locator(f"{ROOT} .mk-progress")


# --- tests ----------------------------------------------------------------------------------------


def test_answer_undo_reload_and_pause_by_keyboard(live_server, page, project: Project) -> None:
    errors = watch_errors(page)
    traffic = Traffic(page)
    sign_in(page, live_server, "rd1", project.path)
    wait_ready(page)
    expect(progress(page)).to_contain_text("0 / 6")
    expect(progress(page)).to_contain_text("0 comparisons")
    # nothing on the screen tells the query from the reference
    assert "query" not in page.locator(ROOT).inner_text().lower()
    assert "reference" not in page.locator(ROOT).inner_text().lower()
    shoot(page, "masking-first-pair")

    sent: list[str] = []
    for number, key in enumerate(["1", "2", "9"], start=1):
        pair = shown_pair(page)
        pending = project.pending()
        assert pending["comparison_id"] == pair["comparison"]
        query_left = pending["query_side"] == "left"
        assert pair["left" if query_left else "right"] == pending["query_image_id"]
        assert pair["right" if query_left else "left"] == pending["reference_image_id"]
        sent.append(expected_answer(project, key))
        answer_by_key(page, key)
        expect(progress(page)).to_contain_text(f"{number} comparison")
        assert [post["answer"] for post in traffic.posts] == sent
    expect(progress(page)).to_contain_text("3 comparisons")
    expect(progress(page)).to_contain_text("median")

    # U takes the last answer back: the pair before it is shown again
    page.keyboard.press("u")
    expect(progress(page)).to_contain_text("2 comparisons")
    wait_ready(page)
    assert project.comparisons() == 2

    # a reload mid-search shows the very same pair
    resumed = wait_ready(page)
    page.reload()
    assert wait_ready(page) == resumed
    expect(progress(page)).to_contain_text("2 comparisons")

    answer_by_key(page, "2")
    expect(progress(page)).to_contain_text("3 comparisons")

    # the wheel zooms both images at the same place
    pair = shown_pair(page)
    left = page.locator(f"{ROOT} .mr-pane[data-side=left]").bounding_box()
    right = page.locator(f"{ROOT} .mr-pane[data-side=right]").bounding_box()
    probe = [right["x"] + right["width"] * 0.3, right["y"] + right["height"] * 0.4]
    mapping = """([id, x, y]) => MammoViewer.get(document.getElementById("masking-viewer"))
        .toImage(id, x, y)"""
    unzoomed = page.evaluate(mapping, [pair["right"], *probe])
    page.mouse.move(left["x"] + left["width"] * 0.3, left["y"] + left["height"] * 0.4)
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(100)
    zoomed = page.evaluate(mapping, [pair["right"], *probe])
    # zoomed in about the same point: that point stays put, a point farther away moves in
    assert abs(zoomed["x"] - unzoomed["x"]) < 2
    assert abs(zoomed["y"] - unzoomed["y"]) < 2
    corner = [right["x"] + right["width"] * 0.9, right["y"] + right["height"] * 0.9]
    before_far = page.evaluate(mapping, [pair["right"], *corner])
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(100)
    after_far = page.evaluate(mapping, [pair["right"], *corner])
    assert abs(after_far["x"] - before_far["x"]) > 5
    page.keyboard.press("f")  # the viewer's own key: fit both again

    # Esc pauses (the images are covered); Space resumes, asking the server for the pair again
    current = wait_ready(page)
    gets = traffic.gets
    page.keyboard.press("Escape")
    expect(page.locator(f"{ROOT}[data-state=paused]")).to_be_visible()
    cover = page.locator(f"{ROOT} .mk-cover")
    expect(cover).to_be_visible()
    page.keyboard.press("1")  # ignored while paused
    page.wait_for_timeout(200)
    assert project.comparisons() == 3
    shoot(page, "masking-paused")
    page.keyboard.press(" ")
    expect(cover).to_be_hidden()
    assert wait_ready(page) == current
    assert traffic.gets == gets + 1
    page.keyboard.press("Escape")
    expect(cover).to_be_visible()
    page.keyboard.press("Enter")
    expect(cover).to_be_hidden()
    answer_by_key(page, "1")
    expect(progress(page)).to_contain_text("4 comparisons")

    # the help overlay lists the keys
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("No discernible difference")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    expect(page.locator(f"{ROOT}[data-state=ready]")).to_be_visible()  # Esc closed help only
    assert errors == []


def test_double_press_sends_once_and_next_pair_comes_from_the_cache(
    live_server, page, project: Project
) -> None:
    errors = watch_errors(page)
    traffic = Traffic(page)
    sign_in(page, live_server, "rd1", project.path)
    page.evaluate("() => performance.setResourceTimingBufferSize(2000)")
    before = wait_ready(page)
    expect(page.locator(f"{ROOT}[data-prefetch=done]")).to_be_attached(timeout=15_000)

    # two presses in the same instant: one answer
    page.evaluate(
        """() => {
            const press = () => new KeyboardEvent("keydown", {key: "2", bubbles: true});
            for (let i = 0; i < 2; i++) document.body.dispatchEvent(press());
        }"""
    )
    expect(page.locator(ROOT)).not_to_have_attribute("data-comparison", before)
    wait_ready(page)
    page.wait_for_timeout(300)
    assert len(traffic.posts) == 1
    assert project.comparisons() == 1

    # The new pair's first paint and raw level were prefetched with the viewer's own URLs: the
    # viewer's requests for them were answered by the HTTP cache (nothing transferred).
    pair = shown_pair(page)
    entries = page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((e) => /\\/api\\/v1\\/images\\/[^/]+\\/(render|raw)/.test(e.name))
            .map((e) => ({url: e.name, transfer: e.transferSize, start: e.startTime}))"""
    )
    for image_id in (pair["left"], pair["right"]):
        mine = [e for e in entries if f"/images/{image_id}/" in e["url"]]
        for kind in ("render", "raw"):
            requests = [e for e in mine if f"/{kind}" in e["url"]]
            assert requests, (image_id, kind, entries)
            last = max(requests, key=lambda e: e["start"])
            assert last["transfer"] == 0, (image_id, kind, requests)
    assert errors == []


def test_lost_connection_retries_and_the_answer_lands_once(
    live_server, page, project: Project
) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "rd1", project.path)
    before = wait_ready(page)
    # the connection drops for the answers: every comparison POST fails as a lost network
    # does (the context's offline switch raced the key press on a loaded machine)
    lost = "**/comparisons/*"
    page.route(lost, lambda route: route.abort("internetdisconnected"))
    page.keyboard.press("9")
    status = page.locator(f"{ROOT} .mk-status")
    expect(status).to_contain_text("Not sent", timeout=5_000)
    expect(status).to_contain_text("retrying")
    page.keyboard.press("1")  # ignored: the first answer is still on its way
    assert project.comparisons() == 0
    page.unroute(lost)
    page.get_by_role("button", name="Retry now").click()
    expect(page.locator(ROOT)).not_to_have_attribute("data-comparison", before, timeout=10_000)
    wait_ready(page)
    expect(status).not_to_contain_text("Not sent")
    expect(progress(page)).to_contain_text("1 comparison")
    assert project.comparisons() == 1
    assert errors == []


def test_pair_answered_elsewhere_brings_the_current_pair(
    live_server, page, project: Project
) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "rd1", project.path)
    before = wait_ready(page)
    # another tab answers "no difference" first
    reply = project.http.post(
        f"{API}/comparisons/{before}", json={"answer": "same"}, headers=project.reader
    )
    assert reply.status_code == 200, reply.text
    now = reply.json()["next"]["comparison_id"]
    page.keyboard.press("1")
    banner = page.locator(f"{ROOT} .mk-banner")
    expect(banner).to_contain_text("another tab")
    expect(page.locator(ROOT)).to_have_attribute("data-comparison", now)
    wait_ready(page)
    assert project.comparisons() == 1
    assert errors == []


def test_discard_with_a_reason_by_keyboard(live_server, page, project: Project) -> None:
    errors = watch_errors(page)
    traffic = Traffic(page)
    sign_in(page, live_server, "rd1", project.path)
    before = wait_ready(page)
    chooser = page.locator(f"{ROOT} .mk-discard")
    page.keyboard.press("d")
    expect(chooser).to_be_visible()
    shoot(page, "masking-discard")
    page.keyboard.press("Escape")  # cancels the chooser, does not pause
    expect(chooser).to_be_hidden()
    expect(page.locator(f"{ROOT}[data-state=ready]")).to_be_visible()
    page.keyboard.press("d")
    page.keyboard.press("3")
    note = page.get_by_label("What is wrong with the image (optional)")
    expect(note).to_be_focused()
    page.keyboard.type("motion blur")
    page.keyboard.press("Enter")
    expect(page.locator(ROOT)).not_to_have_attribute("data-comparison", before)
    wait_ready(page)
    assert traffic.posts == [{"answer": "discard", "reason": "other", "note": "motion blur"}]
    expect(progress(page)).to_contain_text("1 discarded")
    before = wait_ready(page)
    page.keyboard.press("d")
    page.keyboard.press("1")
    expect(page.locator(ROOT)).not_to_have_attribute("data-comparison", before)
    assert traffic.posts[-1] == {"answer": "discard", "reason": "distorted"}
    expect(progress(page)).to_contain_text("2 discarded")
    assert errors == []


def test_finished_panel_links_back(live_server, page, small_project: Project) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "rd1", small_project.path)
    done = page.locator(f"{ROOT} .mk-done")
    for _ in range(40):
        wait_ready(page)
        page.keyboard.press("1")
        expect(page.locator(f"{ROOT}[data-state=ready], {ROOT}[data-state=done]")).to_be_visible()
        if done.is_visible():
            break
    expect(done).to_be_visible()
    expect(progress(page)).to_contain_text("1 / 1")
    expect(done.get_by_role("link", name="Back to the masking projects")).to_have_attribute(
        "href", "/masking"
    )
    shoot(page, "masking-done")
    # U from the finished panel brings the last pair back
    page.keyboard.press("u")
    wait_ready(page)
    expect(done).to_be_hidden()
    assert errors == []


# the project's instructions in the header: as text (never markup), the generic question without
OWN_INSTRUCTIONS = (
    'Judge the <b>dense</b> tissue only <img src=x onerror="window.injected=1"> & ignore '
    "the pectoral muscle.\nSecond line: take your time."
)
GENERIC = "Which image makes it harder to be sure there is no tumour?"


@pytest.mark.parametrize(
    ("instructions", "question"),
    [
        (OWN_INSTRUCTIONS, OWN_INSTRUCTIONS.splitlines()[0]),
        (
            "  Which breast hides a cancer more easily?  ",
            "Which breast hides a cancer more easily?",
        ),
        ("", GENERIC),
    ],
    ids=["own-multiline", "own-one-line", "none"],
)
def test_the_header_asks_the_projects_own_question(
    live_server, page, accounts, admin, instructions: str, question: str
) -> None:
    errors = watch_errors(page)
    project = next(make_project(live_server, accounts, 2, 2, instructions=instructions))
    for width, height in ((1920, 1080), (2560, 1440)):
        page.set_viewport_size({"width": width, "height": height})
        if width == 1920:
            sign_in(page, live_server, "rd1", project.path)
        else:
            page.reload()
        wait_ready(page)
        header = page.locator(f"{ROOT} .mk-head")
        expect(header.locator(".mk-question")).to_have_text(question)
        # escaped: the markup is shown as text and made no element
        assert header.locator(".mk-question b, .mk-question img").count() == 0
        assert page.evaluate("() => window.injected") is None
        if instructions == OWN_INSTRUCTIONS:
            shoot(page, f"masking-sort-instructions-{width}")
        elif not instructions:
            shoot(page, f"masking-sort-generic-{width}")
        details = header.locator(".mk-instructions")
        if instructions == OWN_INSTRUCTIONS:
            expect(details).to_have_count(1)
            details.locator("summary").click()
            expect(details.locator("p")).to_have_text(OWN_INSTRUCTIONS)
        else:
            expect(details).to_have_count(0)
        # the generic question is not shown beside the project's own
        assert (GENERIC in header.inner_text()) == (question == GENERIC)
        # nothing in the header overflows
        wide = page.evaluate(
            """() => [...document.querySelectorAll('#masking .mk-head, #masking .mk-head > *')]
                .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.className)"""
        )
        assert wide == []
        if instructions == OWN_INSTRUCTIONS:
            shoot(page, f"masking-sort-instructions-open-{width}")
    assert errors == []
