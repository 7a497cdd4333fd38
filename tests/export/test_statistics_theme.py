"""Statistics charts follow the dark theme on the page (a white chart glares in a reading
room); the downloads stay light for papers unless ``?theme=dark`` asks (issue 11, item 6)."""

from __future__ import annotations

import io

from PIL import Image

from app.export import dataset_statistics as stats
from tests.export.test_statistics import SVG, parse_svg, project_id  # noqa: F401 (fixture)
from tests.helpers import login


def background(svg_root) -> str:
    return next(svg_root.iter(f"{SVG}rect")).get("fill")


def test_the_page_draws_dark_charts(client, project_id: int) -> None:  # noqa: F811
    login(client, "admin")
    page = client.get(f"/projects/{project_id}/statistics")
    assert f'fill="{stats.DARK.background}"' in page.text
    assert f'fill="{stats.LIGHT.background}"' not in page.text
    assert f"/projects/{project_id}/statistics/findings.svg?theme=dark" in page.text


def test_downloads_are_light_or_dark(client, project_id: int) -> None:  # noqa: F811
    login(client, "admin")
    base = f"/projects/{project_id}/statistics/findings"
    assert background(parse_svg(client.get(f"{base}.svg").content)) == stats.LIGHT.background
    dark = client.get(f"{base}.svg?theme=dark")
    assert dark.headers["content-disposition"].endswith(f'project-{project_id}-findings-dark.svg"')
    root = parse_svg(dark.content)
    assert background(root) == stats.DARK.background
    assert {t.get("fill") for t in root.iter(f"{SVG}text")} == {stats.DARK.ink}
    with Image.open(io.BytesIO(client.get(f"{base}.png?theme=dark").content)) as image:
        assert image.convert("RGB").getpixel((1, 1)) == (0x1A, 0x20, 0x29)
    assert client.get(f"{base}.svg?theme=sepia").status_code == 422
