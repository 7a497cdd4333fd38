"""A reader's aided session in the browser (issue 12): a reader study with an unaided and an
AI-aided session on the 0-6 scale with a probability of malignancy; the model's marks shown on
the images and listed with its breast scores, hidden and shown again with S, one taken into
the read with T; BI-RADS 6 and the probability by keyboard; the read stores what was taken;
the next case excluded with a reason. At 1920x1080 and 2560x1440 nothing overflows."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.reading.models import ReadSubmission
from app.studies.models import AiBox, AidShown
from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.reading_case import bearer
from tests.browser.test_overflow import OVERFLOWS
from tests.browser.test_reading_browser import wait_ready, wait_saved
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser
BOXES_HEADER = (
    "study_id,image_id,laterality,finding_categories,finding_birads,xmin,ymin,xmax,ymax,score\n"
)
LABEL = {"breasts": {lat: {"birads": 1, "density": "B", "probability": 5} for lat in ("R", "L")}}


@pytest.fixture
def aided_study(live_server, accounts, admin):
    """Two exams in a reader study read by rd1: Unaided, then Aided with a shown model whose
    marks are boxes on each exam's R-CC; the unaided session already read through the API."""
    reader = accounts.add("rd1").id
    with httpx.Client(base_url=live_server, timeout=30) as http:
        admin_headers, reader_headers = bearer(http, "admin"), bearer(http, "rd1")
        study_ids, images = [], {}
        for seed in (21, 22):
            uploaded = http.post(
                "/api/v1/images",
                files=[("files", (f, d, "application/dicom")) for f, d in exam_files(seed)],
                headers=admin_headers,
            )
            assert uploaded.status_code == 200, uploaded.text
            study_id = uploaded.json()["outcomes"][0]["study_id"]
            detail = http.get(f"/api/v1/studies/{study_id}", headers=admin_headers).json()
            images[study_id] = next(
                i for i in detail["images"] if (i["laterality"], i["view"]) == ("R", "CC")
            )
            study_ids.append(study_id)
        project = http.post(
            "/api/v1/reading/projects",
            json={
                "name": "Aided browser study",
                "design": "reader_study",
                "sessions": [{"name": "Unaided"}, {"name": "Aided", "aided": True}],
                "rules": {
                    "probability_rating": True,
                    "assessment_scale": "0-6",
                    "finding_birads": "2-5",
                },
            },
            headers=admin_headers,
        ).json()
        base = f"/api/v1/reading/projects/{project['id']}"
        http.put(f"{base}/pools", json={"readers": [reader]}, headers=admin_headers)
        http.post(f"{base}/studies", json={"study_ids": study_ids}, headers=admin_headers)
        http.post(f"{base}/assign", json={}, headers=admin_headers)
        scores = "study_id,left_malignant,right_malignant\n" + "".join(
            f"{sid},0.08,0.91\n" for sid in study_ids
        )
        boxes = BOXES_HEADER
        for sid in study_ids:
            image = images[sid]
            w, h = image["columns"], image["rows"]

            def corners(x0: float, y0: float, x1: float, y1: float) -> str:
                return f"{w * x0:.0f},{h * y0:.0f},{w * x1:.0f},{h * y1:.0f}"  # noqa: B023

            mark = f"{sid},{image['image_id']},R"
            boxes += f"{mark},['Mass'],BI-RADS 4,{corners(0.3, 0.3, 0.6, 0.55)},0.87\n"
            boxes += f"{mark},['Suspicious Calcification'],,{corners(0.1, 0.7, 0.25, 0.85)},0.35\n"
        model = http.post(
            f"/api/v1/studies/projects/{project['id']}/models",
            data={"name": "Lesion finder", "shown_to_readers": "true"},
            files={
                "scores": ("scores.csv", scores.encode(), "text/csv"),
                "boxes": ("boxes.csv", boxes.encode(), "text/csv"),
            },
            headers=admin_headers,
        )
        assert model.status_code == 201, model.text
        # the unaided session first, through the API
        for _ in study_ids:
            task = http.get("/api/v1/reading/next", headers=reader_headers).json()
            assert task["session"]["aided"] is False
            done = http.post(
                f"/api/v1/reading/tasks/{task['id']}/submit",
                json={"label": LABEL, "version": 0},
                headers=reader_headers,
            )
            assert done.status_code == 200, done.text
        yield images


def test_an_aided_read_takes_a_mark_and_the_next_case_is_excluded(
    live_server, page, app, aided_study
) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "rd1", "/reading")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/reading/tasks/\d+$"))
    task_id = int(page.url.rsplit("/", 1)[1])
    wait_ready(page)
    expect(page.locator(".rd-session")).to_have_text("Session 2: Aided")
    # the model's help: its breast scores, its marks listed (most confident first) and drawn
    expect(page.locator(".rd-aid-mark")).to_have_count(2)
    expect(page.locator(".rd-aid-scores")).to_contain_text("91%")
    expect(page.locator(".rd-aid-mark").first).to_contain_text("87%")
    marks = page.locator("g.rd-rai")
    expect(marks).to_have_count(2)
    page.keyboard.press("s")
    expect(marks).to_have_count(0)
    page.keyboard.press("s")
    expect(marks).to_have_count(2)
    # pick the first mark from the list, T takes it into the read as one of the reader's boxes
    page.locator(".rd-aid-select").first.click()
    expect(page.locator("g.rd-rai.rd-selected")).to_have_count(1)
    page.locator("#reading-viewer").focus()
    page.keyboard.press("t")
    expect(page.locator(".rd-finding")).to_have_count(1)
    expect(page.locator(".rd-finding")).to_contain_text("Mass")
    expect(page.locator(".rd-aid-taken")).to_have_count(1)
    # the breasts: BI-RADS 6 (this project's scale), density, the probability with E
    for key in ("[", "6", "c"):
        page.keyboard.press(key)
    page.keyboard.press("e")
    expect(page.locator("#rd-probability-R")).to_be_focused()
    page.keyboard.type("85")
    page.keyboard.press("Enter")
    expect(page.locator("#rd-probability-R")).not_to_be_focused()
    for key in ("]", "1", "b", "e"):
        page.keyboard.press(key)
    expect(page.locator("#rd-probability-L")).to_be_focused()
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    right = page.locator(".rd-breast[data-lat=R]")
    expect(right.locator(".rd-birads [aria-pressed=true]")).to_have_text("6")
    wait_saved(page)
    for width, height in ((1920, 1080), (2560, 1440)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)
        assert page.evaluate(OVERFLOWS) == [], (width, height)
        shoot(page, f"reading-aided-{width}x{height}")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".rd-result")).to_contain_text("Submitted")

    with app.state.session_factory() as session:
        stored = session.scalars(
            select(ReadSubmission).where(ReadSubmission.task_id == task_id)
        ).one()
        [shown] = session.scalars(select(AidShown).where(AidShown.task_id == task_id)).all()
        best = session.scalar(
            select(AiBox).where(AiBox.id.in_(shown.box_ids)).order_by(AiBox.score.desc())
        )
    assert stored.label["breasts"] == {
        "R": {"birads": 6, "density": "C", "probability": 85},
        "L": {"birads": 1, "density": "B", "probability": 3},
    }
    [box] = stored.label["boxes"]
    assert box["categories"] == ["Mass"]
    assert (box["xmin"], box["ymin"], box["xmax"], box["ymax"]) == (
        best.xmin,
        best.ymin,
        best.xmax,
        best.ymax,
    )
    assert stored.aid == {"accepted": [best.id]}

    # the next case: set aside with a reason
    page.keyboard.press("n")
    expect(page).not_to_have_url(re.compile(rf"/reading/tasks/{task_id}$"))
    next_id = int(page.url.rsplit("/", 1)[1])
    wait_ready(page)
    page.locator(".rd-exclude").click()
    dialog = page.locator(".rd-exclude-dialog")
    expect(dialog).to_be_visible()
    shoot(page, "reading-exclude-dialog")
    dialog.get_by_label("Other").check()
    dialog.locator(".rd-exclude-confirm").click()
    expect(dialog.locator(".rd-msg-error")).to_contain_text("Say what is wrong")
    dialog.get_by_label("Images unreadable (quality)").check()
    dialog.locator(".rd-exclude-text").fill("motion blur on both MLO")
    dialog.locator(".rd-exclude-confirm").click()
    expect(page.locator(".rd-result")).to_contain_text("Case excluded")
    with app.state.session_factory() as session:
        excluded = session.scalars(
            select(ReadSubmission).where(ReadSubmission.task_id == next_id)
        ).one()
    assert excluded.exclusion == "Images unreadable (quality): motion blur on both MLO"
    assert errors == []
