"""Every download link saves a file (issue 11, broken 1).

htmx boosts every link of the page (``hx-boost`` on <body>); before the fix a click on the
export archive's "Download" swapped the zip's bytes into the page as text. Each kind of
download link is clicked here with htmx running: a reading export, a masking export, the
statistics CSV, SVG and PNG; each must give a Playwright download with the server's file name
and bytes, and leave the page where it was."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.browser.helpers import sign_in, watch_errors
from tests.helpers import finished_export
from tests.pages.site import Site, bearer, build_site

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Invalid value for VR UI")]


@pytest.fixture
def site(live_server, db, accounts, admin, tmp_path) -> Site:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        return build_site(http, db, accounts, tmp_path / "release")


def downloaded(page, link, tmp_path: Path) -> tuple[str, bytes]:
    """Click ``link``: a download starts, and the page stays (no swap of the file's bytes)."""
    before = page.url
    with page.expect_download(timeout=15000) as started:
        link.click()
    download = started.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert page.url == before
    assert page.locator("h1").count() == 1  # still the page, not the file as text
    return download.suggested_filename, saved.read_bytes()


def server_file(http: httpx.Client, url: str, headers: dict[str, str]) -> tuple[str, bytes]:
    response = http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    name = disposition.split("filename=", 1)[1].strip('"')
    return name, response.content


def test_every_download_link_saves_its_file(live_server, page, site, tmp_path) -> None:
    errors = watch_errors(page)
    with httpx.Client(base_url=live_server, timeout=60) as http:
        admin = bearer(http, "admin")
        reading_job = finished_export(
            http, admin, project_kind="reading", project_id=site.project_id, format="vindr"
        )
        masking_job = finished_export(
            http, admin, project_kind="masking", project_id=site.masking_id, format="csaw"
        )
        expected = {
            job["id"]: server_file(http, f"/api/v1/exports/{job['id']}/download", admin)
            for job in (reading_job, masking_job)
        }
        base = f"/projects/{site.project_id}/statistics"
        csv_file = server_file(http, f"{base}?format=csv", admin)
        svg_file = server_file(http, f"{base}/birads.svg", admin)
        png_file = server_file(http, f"{base}/birads.png", admin)

    sign_in(page, live_server, "admin", "/exports")
    for job_id, (name, data) in expected.items():
        link = page.locator(f'tr[data-job="{job_id}"] a[download]')
        assert downloaded(page, link, tmp_path / f"job{job_id}") == (name, data)
        assert name.endswith(".zip")
        assert data[:2] == b"PK"

    page.goto(f"{live_server}{base}")
    links = page.locator("main a[download]")
    assert downloaded(page, links.filter(has_text="All tables as CSV"), tmp_path) == csv_file
    chart = page.locator("figure.chart").filter(has=page.locator(f'a[href="{base}/birads.svg"]'))
    assert downloaded(page, chart.get_by_role("link", name="SVG", exact=True), tmp_path) == svg_file
    assert downloaded(page, chart.get_by_role("link", name="PNG", exact=True), tmp_path) == png_file
    assert png_file[1][:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []


def test_a_link_to_the_api_opens_the_answer_itself(live_server, page, site) -> None:
    """A JSON link (the agreement or statistics JSON) is a navigation to the file, not a swap
    of its text into the page."""
    sign_in(page, live_server, "admin", f"/projects/{site.project_id}/statistics")
    with page.expect_navigation():
        page.get_by_role("link", name="JSON").click()
    assert page.url == f"{live_server}/api/v1/reading/projects/{site.project_id}/statistics"
    assert page.locator("header.topbar").count() == 0  # the browser shows the JSON, no page
