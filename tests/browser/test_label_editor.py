"""The reading screen's label editor (static/js/reading/label-editor.js), driven on its own in a
real Chromium: the module is imported into a page of the live server, edited, undone and redone,
without any screen around it. Also: the BI-RADS and density scales the screen offers, with
their meanings, come from the server (app.reading.rules), never from the scripts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from app.reading import rules
from app.reading.pages import reading_scales
from tests.browser.helpers import sign_in, watch_errors
from tests.helpers import bearer
from tests.imaging.helpers import exam_files, upload

EDITOR = "/static/js/reading/label-editor.js"
STATIC_JS = Path(__file__).resolve().parents[2] / "static" / "js"
SCALES = {
    "birads": [item["value"] for item in reading_scales()["birads"]],
    "densities": [item["value"] for item in reading_scales()["densities"]],
}
GRADED = ["Mass", "Suspicious Calcification"]
BOX = {"xmin": 10, "ymin": 20, "xmax": 110, "ymax": 140}


@pytest.fixture
def editor(live_server, page):
    """A page of the live server with `window.ed`, a LabelEditor, and `window.m`, its module."""
    errors = watch_errors(page)
    page.goto(f"{live_server}/login")
    page.evaluate(
        """async ([url, scales, graded]) => {
            window.m = await import(url);
            window.ed = new window.m.LabelEditor({ label: null, scales, graded });
        }""",
        [EDITOR, SCALES, GRADED],
    )
    yield lambda script, *args: page.evaluate(f"(args) => {script}", list(args))
    assert errors == []


def label(run) -> dict:
    return run("ed.value()")


@pytest.mark.browser
def test_a_loaded_label_keeps_only_what_the_server_accepts(editor) -> None:
    messy = {
        "breasts": {"R": {"birads": 7, "density": "C", "extra": 1}, "L": "nonsense"},
        "boxes": [
            {"id": 5, "image_id": "img", "xmin": "1", "ymin": 2, "xmax": 3, "ymax": 4},
            "not a box",
        ],
        "note": 12,
        "unknown": True,
    }
    loaded = editor("{ ed.replace(args[0]); return ed.value(); }", messy)
    assert loaded == {
        "breasts": {
            "R": {"birads": None, "density": "C"},
            "L": {"birads": None, "density": None},
        },
        "boxes": [
            {
                "id": "5",
                "image_id": "img",
                "xmin": 1,
                "ymin": 2,
                "xmax": 3,
                "ymax": 4,
                "categories": [],
                "birads": None,
            }
        ],
        "note": "",
    }
    assert editor("[ed.canUndo, ed.canRedo]") == [False, False]


@pytest.mark.browser
def test_edits_undo_and_redo(editor) -> None:
    assert editor("ed.setBreast('R', 'birads', 4)") is True
    assert editor("ed.setBreast('R', 'birads', 4)") is False  # no change, no undo point
    assert editor("ed.setBreast('R', 'birads', 9)") is False  # off the server's scale
    assert editor("ed.setBreast('R', 'density', 'C')") is True
    box = editor("ed.addBox('img-1', args[0])", BOX)
    assert re.fullmatch(r"[A-Za-z0-9]+", box["id"])
    assert box == {"id": box["id"], "image_id": "img-1", **BOX, "categories": [], "birads": None}
    assert editor("ed.setFindingBirads(args[0], 4)", box["id"]) == "not-graded"
    assert editor("ed.toggleCategory(args[0], 'Mass')", box["id"]) is True
    assert editor("ed.setFindingBirads(args[0], 4)", box["id"]) == "changed"
    assert editor("ed.setFindingBirads('nope', 4)") == "no-box"
    # typing a note is one undo point, however many keys
    for text in ("f", "fo", "focal"):
        assert editor("ed.setNote(args[0])", text) is True
    edited = label(editor)
    assert edited["breasts"]["R"] == {"birads": 4, "density": "C"}
    assert edited["boxes"][0]["categories"] == ["Mass"]
    assert edited["boxes"][0]["birads"] == 4
    assert edited["note"] == "focal"
    assert editor("ed.undoStack.length") == 6

    assert editor("ed.undo()") == {"restored": None}
    assert label(editor)["note"] == ""
    assert editor("ed.undo()") == {"restored": None}
    assert label(editor)["boxes"][0]["birads"] is None
    assert editor("ed.redo()") == {"restored": None}
    assert editor("ed.redo()") == {"restored": None}
    assert label(editor) == edited
    assert editor("ed.redo()") is None  # nothing left to redo

    # a removed category takes the finding BI-RADS with it; undo brings both back
    assert editor("ed.toggleCategory(args[0], 'Mass')", box["id"]) is True
    assert label(editor)["boxes"][0] == {**edited["boxes"][0], "categories": [], "birads": None}
    editor("ed.undo()")
    assert label(editor) == edited

    # a deleted box comes back with undo, named so the screen can select it again
    assert editor("ed.deleteBox(args[0])", box["id"]) == 1
    assert editor("ed.deleteBox(args[0])", box["id"]) == 0
    assert label(editor)["boxes"] == []
    assert editor("ed.undo()") == {"restored": box["id"]}
    assert label(editor) == edited
    # a new edit after an undo drops what could have been redone
    editor("ed.undo()")
    assert editor("ed.canRedo") is True
    editor("ed.setBreast('L', 'density', 'A')")
    assert editor("ed.canRedo") is False


@pytest.mark.browser
def test_gestures_copies_and_the_undo_limit(editor) -> None:
    box = editor("ed.addBox('img-1', args[0])", BOX)
    # a drag changes the box in place, then commits the snapshot taken before it
    moved = editor(
        """{
            const before = ed.snapshot();
            Object.assign(ed.findBox(args[0]), { xmin: 30, xmax: 130 });
            ed.commit(before);
            return ed.findBox(args[0]);
        }""",
        box["id"],
    )
    assert (moved["xmin"], moved["xmax"]) == (30, 130)
    editor("ed.undo()")
    assert label(editor)["boxes"][0]["xmin"] == BOX["xmin"]

    source = {"id": "r1box", "image_id": "img-2", **BOX, "categories": ["Mass"], "birads": 5}
    copy = editor("ed.copyBox(args[0])", source)
    assert copy["id"] not in ("r1box", box["id"])
    assert {k: v for k, v in copy.items() if k != "id"} == {
        k: v for k, v in source.items() if k != "id"
    }
    assert editor("ed.setBreastValues('L', {birads: 4, density: 'B'})") is True
    assert label(editor)["breasts"]["L"] == {"birads": 4, "density": "B"}

    limit = editor("m.UNDO_LIMIT")
    editor(
        "{ for (let i = 0; i < args[0] + 5; i++) ed.setNote('n' + i); }", limit
    )  # coalesced: one undo point
    editor("{ for (let i = 0; i < args[0] + 5; i++) ed.setBreast('R', 'birads', i % 2); }", limit)
    assert editor("ed.undoStack.length") == limit
    undone = editor("{ let n = 0; while (ed.undo()) n++; return n; }")
    assert undone == limit


@pytest.mark.browser
def test_the_screen_shows_the_servers_scales(live_server, page, accounts, admin) -> None:
    readers = [accounts.add(name).id for name in ("rd1", "rd2")]
    task_id = _one_task(live_server, readers)
    errors = watch_errors(page)
    sign_in(page, live_server, "rd1", f"/reading/tasks/{task_id}")
    expect(page.locator("#reading[data-state=ready]")).to_be_visible(timeout=15_000)
    scales = json.loads(page.locator("#reading").get_attribute("data-scales"))
    assert scales == reading_scales()
    for lat, name in rules.BREAST_NAMES.items():
        breast = page.locator(f".rd-breast[data-lat={lat}]")
        expect(breast.locator("legend")).to_contain_text(name)
        for value in rules.BREAST_BIRADS:
            button = breast.locator(f".rd-birads [data-value='{value}']")
            meaning = rules.BIRADS_MEANINGS[value]
            expect(button).to_have_attribute("title", f"BI-RADS {value}: {meaning}")
        for value in rules.DENSITIES:
            button = breast.locator(f".rd-density [data-value='{value}']")
            meaning = rules.DENSITY_MEANINGS[value]
            expect(button).to_have_attribute("title", f"Density {value}: {meaning}")
    assert errors == []


def test_no_script_retypes_the_meanings() -> None:
    # the phrases (single words like "benign" may well appear in other senses)
    meanings = [*rules.BIRADS_MEANINGS.values(), *rules.DENSITY_MEANINGS.values()]
    for script in STATIC_JS.rglob("*.js"):
        text = script.read_text(encoding="utf-8")
        retyped = [m for m in meanings if " " in m and m in text]
        assert retyped == [], f"{script.name} spells out {retyped}: they come from the server"


def _one_task(live_server: str, readers: list[int]) -> int:
    """One exam in a project read by rd1 and rd2: rd1's task id."""
    with httpx.Client(base_url=live_server, timeout=30) as http:
        admin = bearer(http, "admin")
        study_id = upload(http, exam_files(7), admin).json()["outcomes"][0]["study_id"]
        project = http.post("/api/v1/reading/projects", json={"name": "Scales"}, headers=admin)
        base = f"/api/v1/reading/projects/{project.json()['id']}"
        assert http.put(f"{base}/pools", json={"readers": readers}, headers=admin).is_success
        assert http.post(
            f"{base}/studies", json={"study_ids": [study_id]}, headers=admin
        ).is_success
        pairs = {"pairs": [{"study_id": study_id, "readers": readers}]}
        assert http.post(f"{base}/assign", json=pairs, headers=admin).is_success
        rd1 = bearer(http, "rd1")
        return http.get("/api/v1/reading/tasks", headers=rd1).json()[0]["id"]
