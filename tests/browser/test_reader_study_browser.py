"""A seed-002-shaped reader study end to end in the browser (issue 12): an admin creates it on
the projects page (two sessions, the second aided, BI-RADS 0-6 with a probability), sets the
readers, adds and assigns the studies, imports the reference standard and a model on their
pages; two readers read both sessions (through the API: the reading screen has its own test,
test_aided_session_browser.py), one excluding a case; the results page then shows per-reader
AUCs equal to scikit-learn's, the AI against the readers, the ROC curves and seed 002's tables,
at 1920x1080 and 2560x1440 without overflow."""

from __future__ import annotations

import re
import zlib

import httpx
import pytest
from playwright.sync_api import expect
from sklearn.metrics import roc_auc_score

from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.reading_case import bearer
from tests.browser.test_overflow import CHART_BACKGROUNDS, OVERFLOWS, luminance
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser
READERS = ("rd1", "rd2")
SEEDS = (41, 42, 43, 44)
DISEASED = {(0, "R"), (1, "L"), (3, "R")}


def _rating(reader: str, session: str, study: int, lat: str) -> int:
    base = 65 if (study, lat) in DISEASED else 35
    return max(0, min(100, base + zlib.crc32(f"{reader}{session}{study}{lat}".encode()) % 81 - 40))


def _score(study: int, lat: str) -> float:
    return round(
        (0.6 if (study, lat) in DISEASED else 0.4) + (study % 3) / 10 - (lat == "L") / 10, 2
    )


def test_a_reader_study_from_creation_to_results(live_server, page, accounts, admin) -> None:
    for name in READERS:
        accounts.add(name)
    errors = watch_errors(page)
    with httpx.Client(base_url=live_server, timeout=30) as http:
        tokens = {name: bearer(http, name) for name in ("admin", *READERS)}
        study_ids = []
        for seed in SEEDS:
            uploaded = http.post(
                "/api/v1/images",
                files=[("files", (f, d, "application/dicom")) for f, d in exam_files(seed)],
                headers=tokens["admin"],
            )
            assert uploaded.status_code == 200, uploaded.text
            study_ids.append(uploaded.json()["outcomes"][0]["study_id"])

        # the admin: a new reader study on the projects page
        sign_in(page, live_server, "admin", "/projects")
        page.get_by_label("Name", exact=True).fill("Seed 002 in the browser")
        page.get_by_label("Design").select_option("reader_study")
        page.get_by_label("Session 1").fill("Unaided")
        page.get_by_label("Session 2 (optional)").fill("Aided")
        page.get_by_label("Session 2 is aided").check()
        page.get_by_label("Breast assessment").select_option("0-6")
        page.get_by_label("Finding BI-RADS", exact=True).select_option("2-5")
        page.get_by_label("Each breast also gets a probability").check()
        page.get_by_role("button", name="Create project").click()
        expect(page).to_have_url(re.compile(r"/projects/\d+$"))
        pid = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("#design")).to_contain_text("Reader study, fully crossed")
        expect(page.locator("#design")).to_contain_text("Aided")
        for name in READERS:
            page.get_by_label(f"{name} reads").check()
        # each form answered before the next is sent: a click while the previous answer is
        # on its way lands on a page about to be replaced (seen under load on PostgreSQL)
        page.get_by_role("button", name="Save pools").click()
        expect(page.get_by_role("status")).to_contain_text("Pools saved.")
        page.get_by_role("button", name=f"Add all {len(SEEDS)} complete studies").click()
        expect(page.get_by_role("status")).to_contain_text(f"{len(SEEDS)} studies added.")
        page.get_by_role("button", name=re.compile("every reader reads every study")).click()
        expect(page.locator("#session-progress tbody tr")).to_have_count(4)

        # the reference standard and the model, on their pages
        page.get_by_role("link", name="Reference standard").click()
        reference = ["study_id,laterality,truth,source,follow_up_months,date"]
        scores = ["study_id,left_malignant,right_malignant"]
        for k, sid in enumerate(study_ids):
            for lat in "RL":
                diseased = (k, lat) in DISEASED
                reference.append(
                    f"{sid},{lat},{'malignant,pathology,' if diseased else 'normal,follow_up,24'},"
                )
            scores.append(f"{sid},{_score(k, 'L')},{_score(k, 'R')}")
        page.locator("#r-file").set_input_files(
            {
                "name": "reference.csv",
                "mimeType": "text/csv",
                "buffer": "\n".join(reference).encode(),
            }
        )
        page.get_by_role("button", name="Import").click()
        expect(page.locator(".alert-ok")).to_contain_text("Reference standard imported: 8 breasts")
        page.get_by_role("link", name="Models").click()
        page.get_by_label("Name").fill("Triage")
        page.locator("#m-scores").set_input_files(
            {"name": "scores.csv", "mimeType": "text/csv", "buffer": "\n".join(scores).encode()}
        )
        page.get_by_label("Show its marks and scores").check()
        page.get_by_role("button", name="Import").click()
        expect(page.locator(".alert-ok")).to_contain_text("AI: Triage imported: 8 breasts scored")

        # the readers read both sessions; rd2 sets the last study aside in the aided session
        ratings: dict[tuple[str, str, str], int] = {}
        for name in READERS:
            while (
                task := http.get("/api/v1/reading/next", headers=tokens[name])
            ).status_code == 200:
                task = task.json()
                session, k = task["session"]["name"], study_ids.index(task["study_id"])
                url = f"/api/v1/reading/tasks/{task['id']}"
                if name == "rd2" and session == "Aided" and k == len(SEEDS) - 1:
                    body = {"reason": "Images unreadable", "version": 0}
                    assert http.post(f"{url}/exclude", json=body, headers=tokens[name]).is_success
                    continue
                breasts = {}
                for lat in "RL":
                    value = _rating(name, session, k, lat)
                    ratings[(name, session, f"{task['study_id']}/{lat}")] = value
                    birads = 0 if value >= 50 else 1  # a recall needs no box
                    breasts[lat] = {"birads": birads, "density": "B", "probability": value}
                done = http.post(
                    f"{url}/submit",
                    json={"label": {"breasts": breasts}, "version": 0, "aid": None},
                    headers=tokens[name],
                )
                assert done.status_code == 200, done.text

    # the results: AUCs equal scikit-learn's on the breasts everyone rated
    page.goto(f"{live_server}/projects/{pid}/results")
    kept = [f"{sid}/{lat}" for sid in study_ids[:-1] for lat in "RL"]
    truth = [(study_ids.index(c.split("/")[0]), c[-1]) in DISEASED for c in kept]
    rows = page.locator("#reader-aucs tbody tr")
    expect(rows).to_have_count(2)
    treatments = page.locator("#reader-aucs thead th").all_inner_texts()
    assert [treatments[1].upper(), treatments[4].upper()] == ["AIDED AUC", "UNAIDED AUC"]
    aucs: list[float] = []
    for r, name in enumerate(READERS):
        cells = rows.nth(r).locator("td").all_inner_texts()
        for column, session in ((0, "Aided"), (3, "Unaided")):
            expected = roc_auc_score(truth, [ratings[(name, session, c)] for c in kept])
            assert cells[column] == f"{expected:.4f}", (name, session)
            aucs.append(expected)
    assert min(aucs) < 1  # the ratings do not separate the truth perfectly
    model_auc = roc_auc_score(
        truth, [_score(study_ids.index(c.split("/")[0]), c[-1]) for c in kept]
    )
    expect(page.locator("#model-vs-readers tbody tr")).to_have_count(2)
    expect(page.locator("#model-vs-readers")).to_contain_text(f"{model_auc:.4f}")
    expect(page.locator("#roc-curves polyline")).to_have_count(2 * 2 + 2)
    expect(page.locator("#dropped tbody tr")).to_have_count(2)
    expect(page.locator("#exclusions")).to_contain_text("Images unreadable")
    progress = page.locator("#results-progress tbody tr")
    expect(progress).to_have_count(4)
    cells = [row.locator("td").all_inner_texts() for row in progress.all()]
    assert ["rd2", "Aided", "4 / 4", "1", "0"] in [c[:5] for c in cells]
    expect(page.locator("#group-aucs tbody tr")).to_have_count(4 + 1)
    for width, height in ((1920, 1080), (2560, 1440)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(OVERFLOWS) == [], (width, height)
        for chart, fill in page.evaluate(CHART_BACKGROUNDS):
            assert fill is not None, chart
            assert luminance(fill) < 0.1, chart
        shoot(page, f"reader-study-results-{width}x{height}", full_page=True)
    assert errors == []
