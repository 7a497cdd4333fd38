"""The admin's small faults (issue 11, broken 7): export formats that fit the project, jobs
named by their project, an import with no file, one upload as one batch, QC flags in words,
"Recent imports" that follows, studies counted as studies, no "0 %" over nothing."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.imaging.models import ImportBatch, QcFlag, Study
from tests.browser.helpers import sign_in, watch_errors
from tests.helpers import finished_export
from tests.imaging.helpers import exam_files
from tests.pages.site import Site, bearer, build_site

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Invalid value for VR UI")]


@pytest.fixture
def site(live_server, db, accounts, admin, tmp_path) -> Site:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        return build_site(http, db, accounts, tmp_path / "release")


def test_export_formats_fit_the_project_and_jobs_carry_its_name(live_server, page, site) -> None:
    errors = watch_errors(page)
    with httpx.Client(base_url=live_server, timeout=60) as http:
        job = finished_export(
            http,
            bearer(http, "admin"),
            project_kind="masking",
            project_id=site.masking_id,
            format="csaw",
        )
    assert job["project_name"] == "Masking pilot"
    sign_in(page, live_server, "admin", f"/masking/projects/{site.masking_id}")
    page.get_by_role("link", name="Export (CSAW-M layout)").click()
    expect(page).to_have_url(f"{live_server}/exports?project=masking:{site.masking_id}")
    formats = page.get_by_label("Format")
    expect(formats).to_have_value("csaw")
    offered = formats.locator("option:not([disabled])")
    expect(offered).to_have_count(2)
    expect(offered).to_have_text([re.compile("CSAW-M"), re.compile("Comparison log")])
    # another project, of the other kind: its formats only
    page.get_by_label("Project").select_option(f"reading:{site.project_id}")
    expect(formats).to_have_value("vindr")
    expect(formats.locator("option:not([disabled])")).to_have_count(3)
    # the job is named by its project
    row = page.locator(f'tr[data-job="{job["id"]}"]')
    expect(row.locator(".job-project")).to_have_text("Masking pilot (masking)")
    assert errors == []


def test_import_page_faults(live_server, page, db, admin, tmp_path: Path) -> None:
    errors = watch_errors(page)
    sign_in(page, live_server, "admin", "/import")
    expect(page.locator("#batches tbody")).to_contain_text("Nothing imported yet.")

    # no file chosen: a clear error, not silence
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-form-error")).to_have_text(re.compile("Choose files"))
    expect(page.get_by_label("Files or zip archives")).to_be_focused()

    # 12 files go in two requests (8 files a request): still one import batch, and the
    # table of recent imports shows it when the import ends, without a reload
    paths = []
    for seed in (61, 62):
        for name, data in exam_files(seed):
            path = tmp_path / f"{seed}-{name}"
            path.write_bytes(data)
            paths.append(str(path))
    for name, data in exam_files(63, invert_view="R-CC"):
        path = tmp_path / f"63-{name}"
        path.write_bytes(data)
        paths.append(str(path))
    page.get_by_label("Files or zip archives").set_input_files(paths)
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-status")).to_have_text(
        "12 imported, 0 already present, 0 rejected"
    )
    expect(page.locator("#import-form-error")).to_be_hidden()
    batches = page.locator("#batches tbody tr")
    expect(batches).to_have_count(1)
    expect(batches.first.locator("td").nth(4)).to_have_text("12")
    db.expire_all()
    assert [b.imported for b in db.scalars(select(ImportBatch))] == [12]

    # QC flags raised at import read as words
    inverted = page.locator("#import-results tr").filter(has_text="63-R_CC")
    expect(inverted).to_contain_text("Bright background after display transforms")
    expect(page.locator("#import-results")).not_to_contain_text("inverted_intensity")
    assert errors == []


def test_dashboard_counts_studies_and_no_rate_without_studies(live_server, page, db, site) -> None:
    # a second flag of the same kind on the same study: still one study
    study_pk = db.scalar(select(Study.id).where(Study.study_id == site.assigned))
    db.add(QcFlag(study_pk=study_pk, kind="missing_view", detail="Another missing view"))
    db.commit()
    sign_in(page, live_server, "admin", "/")
    flags = page.locator('[aria-labelledby="flags-title"]')
    expect(page.locator("#flags-title")).to_have_text("Studies with open quality flags")
    expect(flags).to_contain_text("A standard view is missing: 1 study")

    page.goto(f"{live_server}/projects")
    page.get_by_label("Name", exact=True).fill("Nothing compared")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("#discordance")).to_have_text(
        "Discordance among 0 double-read studies: BI-RADS \u2013, density \u2013, findings \u2013."
    )
