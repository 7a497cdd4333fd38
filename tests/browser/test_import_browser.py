"""Importing from the browser: files in, a progress bar, a result per file, the study opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import PASSWORD
from tests.imaging.helpers import exam_files

pytestmark = pytest.mark.browser


def written(folder: Path, files: list[tuple[str, bytes]]) -> list[str]:
    paths = []
    for name, data in files:
        path = folder / name
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def open_import_page(page, live_server: str) -> None:
    page.goto(f"{live_server}/login?next=/import")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Import studies")).to_be_visible()


def test_upload_files_and_open_the_study(live_server, page, admin, tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    paths = written(tmp_path, [*exam_files(41), ("notes.txt", b"not an image")])
    open_import_page(page, live_server)

    page.get_by_label("Files or zip archives").set_input_files(paths)
    page.get_by_role("button", name="Import").click()
    results = page.locator("#import-results tbody tr")
    expect(results).to_have_count(5)
    expect(page.locator("#import-status")).to_have_text("4 imported, 0 already present, 1 rejected")
    expect(page.locator("#import-bar")).to_have_attribute("value", "100")
    expect(page.locator("tr.import-rejected")).to_contain_text("Not a DICOM file")

    page.locator("#import-results a").first.click()
    expect(page.locator("#viewer[data-state=ready]")).to_be_visible(timeout=15000)
    expect(page.locator(".mr-pane[data-image-id]")).to_have_count(4)
    assert errors == []


def test_a_large_upload_is_followed_by_its_counts_then_listed(
    live_server, page, admin, tmp_path: Path
) -> None:
    """Above the page's limit (lowered here to 2 files) the batch is followed by its counts
    alone, and every result is listed once at the end, with its file's name."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    asked: list[str] = []
    page.on("request", lambda r: "/api/v1/imports/" in r.url and asked.append(r.url))
    paths = written(tmp_path, exam_files(42))
    open_import_page(page, live_server)
    page.evaluate("document.getElementById('import-form').dataset.listLimit = '2'")
    page.get_by_label("Files or zip archives").set_input_files(paths)
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-status")).to_have_text("4 imported, 0 already present, 0 rejected")
    rows = page.locator("#import-results tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("R_CC")
    assert any(url.endswith("?outcomes=false") for url in asked), asked
    assert not asked[-1].endswith("?outcomes=false"), asked  # the outcomes, read once at the end
    assert errors == []
