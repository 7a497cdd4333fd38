"""The mammogram viewer (static/js/viewer.js) in a real Chromium: four-view hanging and
mirroring, first paint, client-side window/level, 1:1 zoom and the pointer -> image
coordinate mapping; and its grey-scale LUT against the server's display chain."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from playwright.sync_api import expect
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import select

from app.audit.service import Actor
from app.imaging.display import DisplayParams, WindowChoice, build_lut
from app.imaging.importer import Source, import_sources
from app.imaging.models import Image
from app.imaging.states import ImportChannel
from tests.browser.helpers import shoot as _shoot
from tests.helpers import PASSWORD
from tests.imaging.helpers import stored_dicom

pytestmark = pytest.mark.browser

# Big enough for two pyramid levels (1248 and 624 px wide), so the level <-> full-resolution
# scaling is exercised, small enough to build and import in about a second.
ROWS, COLUMNS = 1536, 1248
VIEWS = ("R-CC", "L-CC", "R-MLO", "L-MLO")
# Stored mirrored on purpose (chest wall on the "wrong" edge): the viewer must flip it back.
MIRRORED = "R-CC"
MAMMOGRAPHY_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"


# --- test data ------------------------------------------------------------------------------


def shoot(page, name: str) -> None:
    _shoot(page, name, full_page=True)


def exam_datasets() -> list[Dataset]:
    try:
        from app.imaging.synthetic import ExamOptions, synthetic_exam
    except ImportError:
        return hand_made_exam()
    datasets, _ = synthetic_exam(3, ExamOptions(rows=ROWS, columns=COLUMNS, flip_view=MIRRORED))
    return datasets


def hand_made_exam() -> list[Dataset]:
    """Four MG images: a bright half-ellipse against the chest-wall edge (left for L, right
    for R; mirrored for MIRRORED), darker towards the nipple, on dark air."""
    study_uid = generate_uid()
    rows, cols = np.mgrid[0:ROWS, 0:COLUMNS]
    datasets = []
    for number, view in enumerate(VIEWS, start=1):
        laterality, projection = view.split("-")
        wall_on_left = (laterality == "L") != (view == MIRRORED)
        depth = cols if wall_on_left else COLUMNS - 1 - cols
        inside = (depth / (0.75 * COLUMNS)) ** 2 + ((rows - ROWS / 2) / (0.42 * ROWS)) ** 2 <= 1
        pixels = np.where(inside, 3000 - depth * 1200 // COLUMNS, 120).astype(np.uint16)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MAMMOGRAPHY_FOR_PRESENTATION
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = MAMMOGRAPHY_FOR_PRESENTATION
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = generate_uid()
        ds.SeriesNumber, ds.InstanceNumber = number, 1
        ds.PatientID, ds.PatientName, ds.PatientSex, ds.PatientAge = "T-1", "", "F", "055Y"
        ds.Modality = "MG"
        ds.BodyPartExamined = "BREAST"
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = ds.Laterality = laterality
        ds.ViewPosition = projection
        ds.WindowCenter, ds.WindowWidth = [1600, 1800], [3000, 2000]
        ds.WindowCenterWidthExplanation = ["NORMAL", "HARDER"]
        ds.VOILUTFunction = "LINEAR"
        ds.set_pixel_data(pixels, "MONOCHROME2", 12)
        datasets.append(ds)
    return datasets


@pytest.fixture
def study(app, db) -> dict:
    """The exam imported through the real importer: study id and the images by view."""
    sources = []
    for ds in exam_datasets():
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        sources.append(Source(f"{ds.SOPInstanceUID}.dcm", lambda data=buffer.getvalue(): data))
    report = import_sources(
        db, app.state.imaging, sources, actor=Actor(None, None, "test"), channel=ImportChannel.CLI
    )
    assert report.count("imported") == 4, report.outcomes
    images = {image.view_name: image for image in db.scalars(select(Image))}
    assert sorted(images) == sorted(VIEWS)
    assert images[MIRRORED].chest_wall_side == "L"  # detected from the pixels
    return {"study_id": report.outcomes[0].study_id, "images": images}


def sign_in(page, live_server: str, path: str) -> None:
    page.goto(f"{live_server}/login?next={path}")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}{path}")


# --- page helpers ---------------------------------------------------------------------------

CANVAS_STATS = """(pane) => {
  const canvas = pane.querySelector("canvas");
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const strip = Math.max(1, Math.floor(width / 10));
  let all = 0, left = 0, right = 0, max = 0, squares = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[(y * width + x) * 4];
      all += v; squares += v * v;
      if (v > max) max = v;
      if (x < strip) left += v;
      if (x >= width - strip) right += v;
    }
  }
  return { mean: all / (width * height), left: left / (strip * height),
           right: right / (strip * height), max, squares };
}"""


def pointer(page) -> tuple[str, float, float]:
    image_id, x, y = page.locator("#viewer").get_attribute("data-pointer").split()
    return image_id, float(x), float(y)


def hover_image_point(
    page, pane, image_id: str, fx: float, fy: float
) -> tuple[float, tuple[float, float]]:
    """Move the mouse to the fraction (fx, fy) of the image as laid out by the protocol:
    fitted, vertically centred, against the pane edge its chest wall faces (computed here,
    independently of the viewer). fx runs left to right ON SCREEN. Returns the CSS pixels per
    image pixel and the mouse position."""
    box = pane.locator("canvas").bounding_box()
    scale = min(box["width"] / COLUMNS, box["height"] / ROWS)
    shown_width = COLUMNS * scale
    wall_right = pane.get_attribute("data-align") == "right"
    left = box["x"] + (box["width"] - shown_width if wall_right else 0)
    top = box["y"] + (box["height"] - ROWS * scale) / 2
    position = (left + fx * shown_width, top + fy * ROWS * scale)
    page.mouse.move(*position)
    page.wait_for_function(
        "(id) => (document.getElementById('viewer').dataset.pointer || '').startsWith(id)",
        arg=image_id,
    )
    return scale, position


# --- tests ----------------------------------------------------------------------------------


def test_four_view_hanging_windowing_and_coordinates(live_server, page, admin, study) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    images = study["images"]
    sign_in(page, live_server, f"/studies/{study['study_id']}")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-state", "ready", timeout=10_000)
    assert (
        page.evaluate("() => getComputedStyle(document.querySelector('.mr-pane')).backgroundColor")
        == "rgb(0, 0, 0)"
    ), "static/css/viewer.css is not loaded"
    panes = {view: viewer.locator(f".mr-pane[data-view='{view}']") for view in VIEWS}

    # hanging: R-CC | L-CC over R-MLO | L-MLO, the right image ids, only the mirrored one flipped
    boxes = {view: pane.bounding_box() for view, pane in panes.items()}
    for top, bottom in (("R-CC", "R-MLO"), ("L-CC", "L-MLO")):
        assert boxes[bottom]["y"] >= boxes[top]["y"] + boxes[top]["height"] - 1
        assert abs(boxes[bottom]["x"] - boxes[top]["x"]) < 1
    for right, left in (("R-CC", "L-CC"), ("R-MLO", "L-MLO")):
        assert boxes[left]["x"] >= boxes[right]["x"] + boxes[right]["width"] - 1
        assert abs(boxes[left]["y"] - boxes[right]["y"]) < 1
    for view, pane in panes.items():
        expect(pane).to_have_attribute("data-image-id", images[view].image_id)
        expect(pane).to_have_attribute("data-flip", "true" if view == MIRRORED else "false")
        expect(pane.locator(".mr-label")).to_have_text(view.replace("-", " "))

    # every pane painted, chest walls back to back: right breasts against their pane's right
    # edge, left breasts against their left edge (the mirrored R-CC included)
    expect(viewer).to_have_attribute("data-raw", "ready", timeout=10_000)
    shoot(page, "viewer-four")
    for view, pane in panes.items():
        expect(pane).to_have_attribute("data-level", "1")  # 624 px covers the pane
        stats = pane.evaluate(CANVAS_STATS)
        assert stats["max"] > 100, (view, stats)
        assert stats["mean"] > 5, (view, stats)
        wall, far = ("right", "left") if view.startswith("R") else ("left", "right")
        assert stats[wall] > stats[far] + 30, (view, stats)

    # pointer -> original, unflipped, full-resolution pixels
    for view in ("L-CC", MIRRORED):
        image_id = images[view].image_id
        scale, _ = hover_image_point(page, panes[view], image_id, 0.5, 0.5)
        tolerance = 1.5 / scale  # a mouse position is good to about a CSS pixel
        got_id, x, y = pointer(page)
        assert got_id == image_id
        assert abs(x - COLUMNS / 2) < tolerance, (view, x)
        assert abs(y - ROWS / 2) < tolerance, (view, y)
    # on screen the mirrored R-CC has its chest wall at the right; in the stored image
    # (and so in reported coordinates) it is at the left, x near 0
    scale, _ = hover_image_point(page, panes[MIRRORED], images[MIRRORED].image_id, 0.98, 0.5)
    _, x, _ = pointer(page)
    assert abs(x - 0.02 * COLUMNS) < 1.5 / scale, x
    scale, _ = hover_image_point(page, panes["R-MLO"], images["R-MLO"].image_id, 0.98, 0.5)
    _, x, _ = pointer(page)
    assert abs(x - 0.98 * COLUMNS) < 1.5 / scale, x
    # toScreen is the inverse of toImage
    round_trip = page.evaluate(
        """(id) => {
          const viewer = MammoViewer.get(document.getElementById("viewer"));
          const p = viewer.toScreen(id, 100, 200);
          return viewer.toImage(id, p.clientX, p.clientY);
        }""",
        images[MIRRORED].image_id,
    )
    assert round_trip["x"] == pytest.approx(100)
    assert round_trip["y"] == pytest.approx(200)

    # right-drag windows every pane in the browser: pixels and W/L readouts change, shared,
    # and no image is asked of the server
    renders: list[str] = []
    page.on("request", lambda r: "/render" in r.url and renders.append(r.url))
    overlays = viewer.locator(".mr-wl")
    before_text = overlays.first.inner_text()
    before = panes["L-CC"].evaluate(CANVAS_STATS)
    _, (x, y) = hover_image_point(page, panes["L-CC"], images["L-CC"].image_id, 0.5, 0.5)
    page.mouse.down(button="right")
    page.mouse.move(x - 70, y + 50, steps=6)
    page.mouse.up(button="right")
    expect(overlays.first).not_to_have_text(before_text)
    texts = overlays.all_inner_texts()
    assert len(set(texts)) == 1, texts
    page.wait_for_timeout(100)  # one animation frame
    after = panes["L-CC"].evaluate(CANVAS_STATS)
    assert after["squares"] != before["squares"]
    assert renders == []
    shoot(page, "viewer-windowed")

    # keys: invert, reset
    page.keyboard.press("i")
    expect(overlays.first).to_contain_text("INV")
    page.keyboard.press("r")
    expect(overlays.first).to_have_text(before_text)

    # Z: 1:1 at the pointer, full-resolution data fetched; the point under the mouse stays
    # put and one CSS pixel is one image pixel (device pixel ratio 1)
    _, (x, y) = hover_image_point(page, panes["L-CC"], images["L-CC"].image_id, 0.4, 0.45)
    _, x0, y0 = pointer(page)
    page.keyboard.press("z")
    expect(panes["L-CC"]).to_have_attribute("data-level", "0", timeout=5_000)
    page.mouse.move(x + 1, y)  # pointer events at the new zoom
    page.mouse.move(x, y)
    _, x1, y1 = pointer(page)
    assert abs(x1 - x0) < 2, (x0, x1)
    assert abs(y1 - y0) < 2, (y0, y1)
    page.mouse.move(x + 40, y)
    _, x2, _ = pointer(page)
    assert abs((x2 - x1) - 40) < 1.5, (x1, x2)
    expect(panes["L-CC"].locator(".mr-wl")).to_contain_text("1:1")
    shoot(page, "viewer-one-to-one")
    page.keyboard.press("f")
    expect(panes["L-CC"]).to_have_attribute("data-level", "1")

    assert problems == []


PIXEL_UNDER = """(pane, [x, y]) => {
  const canvas = pane.querySelector("canvas");
  const box = canvas.getBoundingClientRect();
  const dx = Math.floor(((x - box.left) * canvas.width) / box.width);
  const dy = Math.floor(((y - box.top) * canvas.height) / box.height);
  return canvas.getContext("2d").getImageData(dx, dy, 1, 1).data[0];
}"""


def test_full_resolution_zoom_fetches_only_the_tiles_on_screen_and_reuses_them(
    live_server, page, admin, study, settings
) -> None:
    """Zoomed past the level that fits the pane, the viewer asks for the 512 px tiles of the
    finer level that are on screen, never the whole level, windows them in the browser
    exactly as the server would, and keeps them: zooming in again costs no request."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    requests: list[str] = []
    page.on("request", lambda r: "/api/v1/images/" in r.url and requests.append(r.url))
    images = study["images"]
    image = images["L-CC"]
    sign_in(page, live_server, f"/studies/{study['study_id']}")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-raw", "ready", timeout=10_000)
    pane = viewer.locator(".mr-pane[data-view='L-CC']")
    expect(pane).to_have_attribute("data-level", "1")
    assert not [url for url in requests if "/tiles/" in url], requests  # fit level: whole

    # the magnifier (G) shows level 0 as the few tiles under it
    _, (x, y) = hover_image_point(page, pane, image.image_id, 0.3, 0.5)
    page.keyboard.down("g")
    expect(viewer).to_have_attribute("data-lens", "L-CC")
    page.wait_for_function(
        "() => performance.getEntriesByType('resource').some((e) => e.name.includes('/tiles/'))"
    )
    page.keyboard.up("g")
    lens = {url.split("/tiles/")[1] for url in requests if "/tiles/" in url}
    assert 1 <= len(lens) <= 4, lens
    assert all(t.startswith("0/") for t in lens), lens

    asked = len(requests)
    page.keyboard.press("z")
    expect(pane).to_have_attribute("data-level", "0", timeout=5_000)
    tiles = {url.split("/tiles/")[1] for url in requests if "/tiles/" in url}
    assert all(image.image_id in url for url in requests if "/tiles/" in url), requests
    # level 0 is 1248x1536, 3x3 tiles; a 1:1 view of a pane this size shows at most 2x2
    assert len(tiles) <= 4, tiles
    assert all(t.startswith("0/") for t in tiles), tiles
    assert not [url for url in requests if "raw?level=0" in url], requests
    # what the lens fetched is drawn again without asking, the rest was asked for now
    drawn = int(pane.get_attribute("data-tiles"))
    assert 1 <= drawn <= 4
    assert len([url for url in requests[asked:] if "/tiles/" in url]) <= drawn

    # the pixel under the pointer is the stored full-resolution value through the server's
    # window (smoothing may blend it with its neighbours)
    page.mouse.move(x + 1, y)
    page.mouse.move(x, y)
    _, ix, iy = pointer(page)
    values = stored_dicom(settings, study["study_id"], image.image_id).pixel_array
    lut = build_lut(DisplayParams.from_json(image.display), WindowChoice())
    col, row = int(ix), int(iy)
    around = lut[values[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2]].astype(int)
    got = pane.evaluate(PIXEL_UNDER, [x, y])
    assert around.min() - 1 <= got <= around.max() + 1, (got, around)
    shoot(page, "viewer-tiles-one-to-one")

    # back to fit, then 1:1 again at the same point: the tiles come from memory
    page.keyboard.press("f")
    expect(pane).to_have_attribute("data-level", "1")
    before = len(requests)
    page.mouse.move(x + 1, y)
    page.mouse.move(x, y)
    page.keyboard.press("z")
    expect(pane).to_have_attribute("data-level", "0", timeout=5_000)
    page.wait_for_timeout(300)
    assert requests[before:] == [], requests[before:]
    assert problems == []


def test_without_raw_data_the_rendered_image_stays_and_windows_on_the_server(
    live_server, page, admin, study
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/raw?*", lambda route: route.fulfill(status=503, body="unavailable"))
    renders: list[str] = []
    page.on("request", lambda r: "/render" in r.url and renders.append(r.url))
    sign_in(page, live_server, f"/studies/{study['study_id']}")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-state", "ready", timeout=10_000)
    expect(viewer).to_have_attribute("data-raw", "failed")
    pane = viewer.locator(".mr-pane[data-view='L-CC']")
    expect(pane).to_have_attribute("data-level", "rendered")
    assert len(renders) == 4, renders
    assert all("flip=false" in url for url in renders), renders
    before = pane.evaluate(CANVAS_STATS)
    assert before["max"] > 100

    box = pane.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x - 80, y + 40, steps=4)
    page.mouse.up(button="right")
    expect(pane.locator(".mr-wl")).not_to_have_text("W 3194 L 1761 NORMAL")
    # debounced: about one request per pane for the final window, not one per drag step
    page.wait_for_timeout(600)
    windowed = [url for url in renders if "wc=" in url]
    assert 4 <= len(windowed) <= 8, windowed
    after = pane.evaluate(CANVAS_STATS)
    assert after["squares"] != before["squares"]
    page.keyboard.press("i")  # the server has no inversion: done on the canvas
    expect(pane.locator(".mr-wl")).to_contain_text("INV")
    page.wait_for_timeout(100)
    assert pane.evaluate(CANVAS_STATS)["mean"] > after["mean"] + 20
    assert errors == []


# The server's display chain is the reference: every VOI flavour, inversion, signed data
# with a rescale, and a VOI LUT Sequence.
LUT_CASES = [
    ({"windows": [{"center": 1800.0, "width": 2500.0, "explanation": ""}]}, {}),
    (
        {
            "windows": [{"center": 1800.0, "width": 2500.0, "explanation": ""}],
            "voi_function": "LINEAR_EXACT",
        },
        {"center": 900.5, "width": 301.0},
    ),
    (
        {
            "windows": [{"center": 1800.0, "width": 2500.0, "explanation": ""}],
            "voi_function": "SIGMOID",
        },
        {},
    ),
    (
        {
            "windows": [
                {"center": 1.0, "width": 2.0, "explanation": "A"},
                {"center": 2000.0, "width": 1000.0, "explanation": "B"},
            ],
            "photometric": "MONOCHROME1",
        },
        {"preset": 1},
    ),
    ({"presentation_lut_shape": "INVERSE", "value_range": [100.0, 3000.0]}, {}),
    (
        {
            "bits_stored": 14,
            "signed": True,
            "rescale_slope": 0.5,
            "rescale_intercept": -100.0,
            "photometric": "MONOCHROME1",
            "windows": [{"center": -300.0, "width": 1500.0, "explanation": ""}],
        },
        {},
    ),
    (
        {
            "voi_lut": {"first_mapped": 200, "bits": 16, "data": [0, 10, 500, 900, 4000] * 200},
            "windows": [{"center": 1800.0, "width": 2500.0, "explanation": ""}],
        },
        {},
    ),
]


LUT_BASE64 = """([display, choice]) => {
  const lut = MammoViewer.buildLut(display, choice);
  let text = "";
  for (let i = 0; i < lut.length; i += 8192) {
    text += String.fromCharCode.apply(null, lut.subarray(i, i + 8192));
  }
  return btoa(text);
}"""


def test_client_lut_matches_the_server(live_server, page) -> None:
    page.goto(f"{live_server}/login")
    page.add_script_tag(url=f"{live_server}/static/js/viewer.js")
    for overrides, choice in LUT_CASES:
        display = DisplayParams(bits_stored=12, signed=False).to_json() | overrides
        expected = build_lut(DisplayParams.from_json(display), WindowChoice(**choice))
        got = np.frombuffer(
            base64.b64decode(page.evaluate(LUT_BASE64, [display, choice])), np.uint8
        )
        difference = np.abs(got.astype(np.int16) - expected.astype(np.int16))
        # exp() may differ in its last bit between numpy and V8: then one grey level at a
        # rounding edge is allowed
        allowed = 1 if display["voi_function"] == "SIGMOID" else 0
        assert difference.max() <= allowed, (overrides, choice, np.flatnonzero(difference)[:5])
        assert np.count_nonzero(difference) <= 8, (overrides, choice)
