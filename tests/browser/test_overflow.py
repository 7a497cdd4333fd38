"""Nothing overflows its box (issue 11, broken item 6 and "Done when"): at 1920x1080 and
2560x1440, every page as admin and as reader, on a site with data, no main card, table, figure
or badge is wider than its box (``scrollWidth <= clientWidth + 1``). A box meant to scroll
sideways says so with the class ``scroll-x`` and is left out. Charts follow the dark theme,
and the numbers of the tau-b heatmap are readable on their cells."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from app.imaging.models import Image, QcFlag, Study
from app.imaging.qc import KINDS
from app.imaging.states import QcKind
from app.reading.models import ReadTask
from tests.browser.helpers import shoot, sign_in, watch_errors
from tests.browser.test_sessions import sign_in_elsewhere
from tests.masking.simulation import ConsistentReader
from tests.masking.test_masking_api import sort_through_api
from tests.pages.site import Site, bearer, build_site

pytestmark = pytest.mark.browser

SIZES = [(1920, 1080), (2560, 1440)]

# every element of these kinds, visible and not inside a sideways scroller, fits its own box
OVERFLOWS = """() => {
  const found = [];
  const boxes = document.querySelectorAll('main, .card, table, figure, .badge, .stats-layout');
  for (const el of boxes) {
    if (!el.getClientRects().length || el.clientWidth === 0) continue;  // not shown
    if (el.closest('.scroll-x') && !el.classList.contains('scroll-x')) continue;
    if (el.classList.contains('scroll-x')) {
      const style = getComputedStyle(el);
      if (style.overflowX === 'auto' || style.overflowX === 'scroll') continue;
    }
    if (el.scrollWidth > el.clientWidth + 1) {
      const classes = String(el.className).trim().replace(/\\s+/g, '.');
      const name = el.id ? '#' + el.id : (classes ? '.' + classes : '');
      found.push(`${el.tagName.toLowerCase()}${name}: ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return found;
}"""

# the lightest background a chart may have (relative luminance): a white chart glares
CHART_BACKGROUNDS = """() => Array.from(document.querySelectorAll('figure svg')).map(svg => {
  const rect = svg.querySelector('rect');  // a background is a first rect covering the chart
  const covers = rect && rect.getAttribute('width') === svg.getAttribute('width');
  return [svg.id || svg.getAttribute('class'), covers ? rect.getAttribute('fill') : null];
})"""

HEATMAP_CONTRAST = """() => Array.from(document.querySelectorAll('#tau-heatmap g > g')).map(g => {
  const rect = g.querySelector('rect'), text = g.querySelector('text');
  return [getComputedStyle(rect).fill, getComputedStyle(text).fill];
})"""


def luminance(colour: str) -> float:
    """Relative luminance (WCAG) of ``rgb(r, g, b)`` or ``#rrggbb``."""
    colour = colour.strip()
    if colour.startswith("#"):
        channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    else:
        channels = [int(float(v)) for v in colour[colour.index("(") + 1 : -1].split(",")[:3]]
    linear = [
        c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
        for c in channels
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


class ByNumber(ConsistentReader):
    """Never contradicts itself; needs no table of values."""

    def value(self, image: int | str) -> float:
        number = image if isinstance(image, int) else int(str(image)[-8:], 16)
        return (number * 7919) % 101


def sorted_masking_project(http, db, site: Site) -> int:
    """A masking project that two readers finished, so that its results have charts."""
    admin = bearer(http, "admin")
    rows = db.execute(
        select(Image.image_id, Image.study_pk).where(Image.view == "MLO").order_by(Image.id)
    ).all()
    images = [image_id for image_id, _ in rows]
    first_of_each_study: dict[int, str] = {}
    for image_id, study_pk in rows:
        first_of_each_study.setdefault(study_pk, image_id)
    body = {
        "name": "Masking finished by two readers with rather long names for the charts",
        "image_ids": images,
        "seed_list": list(first_of_each_study.values())[:2],  # at most one seed per woman
        "reader_ids": [site.readers["rd1"], site.readers["rd2"]],
    }
    created = http.post("/api/v1/masking/projects", json=body, headers=admin)
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    for name in ("rd1", "rd2"):
        sort_through_api(http, project_id, bearer(http, name), ByNumber({}))
    return project_id


@pytest.fixture
def site(live_server, db, accounts, admin, tmp_path) -> Site:
    with httpx.Client(base_url=live_server, timeout=60) as http:
        built = build_site(http, db, accounts, tmp_path / "release")
        built.finished_masking_id = sorted_masking_project(http, db, built)  # type: ignore[attr-defined]
    # the QC flag with the longest text, whose badge left the study page's card
    longest = max(QcKind, key=lambda kind: len(KINDS.get(kind, "")))
    study_pk = db.scalar(select(Study.id).where(Study.study_id == built.assigned))
    db.add(QcFlag(study_pk=study_pk, kind=longest, detail="A long QC flag"))
    db.commit()
    return built


def admin_pages(site: Site) -> list[str]:
    project = f"/projects/{site.project_id}"
    return [
        "/",
        "/studies",
        f"/studies/{site.assigned}",
        f"/studies/{site.outside}",
        "/import",
        "/imports",
        "/projects",
        project,
        f"{project}/agreement",
        f"{project}/statistics",
        f"{project}/reference",
        f"{project}/models",
        f"{project}/results",
        "/exports",
        "/releases/import",
        "/pacs",
        "/masking",
        f"/masking/projects/{site.masking_id}",
        f"/masking/projects/{site.finished_masking_id}",  # type: ignore[attr-defined]
        "/admin/users",
        f"/admin/users/{site.readers['rd1']}/confirm/disable",
        "/admin/audit",
        "/account",
    ]


def reader_pages(db, site: Site) -> list[str]:
    db.expire_all()
    task = db.scalar(select(ReadTask.id).where(ReadTask.user_id == site.readers["rd1"]))
    return [
        "/",
        "/reading",
        f"/reading/tasks/{task}",
        "/masking",
        f"/masking/projects/{site.masking_id}/sort",
        "/account",
    ]


def walk(browser, live_server: str, username: str, paths: list[str], role: str) -> list[str]:
    problems = []
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors = watch_errors(page)
        sign_in(page, live_server, username, "/")
        for path in paths:
            response = page.goto(f"{live_server}{path}")
            assert response.status < 400, (path, response.status)
            page.wait_for_load_state("networkidle")
            for found in page.evaluate(OVERFLOWS):
                problems.append(f"{width}x{height} {path}: {found}")
            for name, fill in page.evaluate(CHART_BACKGROUNDS):
                if fill and luminance(fill) > 0.2:
                    problems.append(f"{width}x{height} {path}: chart {name} is light ({fill})")
            slug = path.strip("/").replace("/", "-") or "dashboard"
            shoot(page, f"overflow-{role}-{width}x{height}-{slug}", full_page=True)
        assert errors == [], errors
        context.close()
    return problems


def test_no_admin_page_overflows(browser, live_server, site) -> None:
    problems = walk(browser, live_server, "admin", admin_pages(site), "admin")
    assert problems == [], "\n".join(problems)


def test_no_reader_page_overflows(browser, live_server, db, site) -> None:
    sign_in_elsewhere(live_server, "rd1")  # the account page offers to end the other sessions
    problems = walk(browser, live_server, "rd1", reader_pages(db, site), "reader")
    assert problems == [], "\n".join(problems)


def test_heatmap_numbers_are_readable(page, live_server, site) -> None:
    sign_in(page, live_server, "admin", f"/masking/projects/{site.finished_masking_id}")  # type: ignore[attr-defined]
    cells = page.evaluate(HEATMAP_CONTRAST)
    assert len(cells) == 4
    for fill, ink in cells:
        assert contrast(fill, ink) >= 4.5, (fill, ink)
