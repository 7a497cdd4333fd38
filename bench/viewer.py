"""Key to visible change on the reading screen, in Chromium at 2560x1440.

    python -m bench.viewer [--quick]

One full-size four-view exam (4096x3328, 12 bits) imported into a scratch installation, served
in this process on a free loopback port; a reader opens the case in Debian's Chromium
(/usr/bin/chromium, headless, Playwright). In the page, each action is dispatched as the event
the user's input makes (keydown, wheel, pointermove of a right-drag) and timed until the frame
that shows it has been produced (requestAnimationFrame, then a task after it):

window/level:  one pointermove of a right-drag (every pane re-windowed through its LUT)
zoom:          one wheel step on a view (its pyramid level checked 150 ms later, not timed)
layout:        H, the next hanging (2x2 -> 1x4 -> CC -> MLO -> 2x2: panes resized, fitted, drawn)
one view:      X on a view and back
Baseline: a key the screen ignores, timed the same way (one frame of the page's cadence).
Target: median and p95 <= 50 ms for window/level, zoom and layout switches.
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from app.audit.service import Actor
from app.auth.states import Role
from app.auth.users import NewUser, create_user
from app.core.config import Settings
from app.imaging.synthetic import ExamOptions, synthetic_exam
from app.main import create_app
from bench import common

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 2560, 1440
PASSWORD = "bench-password-1234"
TARGET_MS = 50.0

MEASURE = """async ([kind, count]) => {
    const viewerEl = document.getElementById("reading-viewer");
    const pane = viewerEl.querySelector(".mr-pane[data-image-id]");
    const frame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
    const key = (target, name) => target.dispatchEvent(
        new KeyboardEvent("keydown", { key: name, bubbles: true, cancelable: true }));
    const centre = (el) => {
        const r = el.getBoundingClientRect();
        return { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2 };
    };
    const samples = [];
    let drag = null;
    if (kind === "window") {
        drag = centre(pane);
        pane.dispatchEvent(new PointerEvent("pointerdown", {
            ...drag, button: 2, buttons: 2, pointerId: 7, bubbles: true, cancelable: true }));
    }
    for (let i = 0; i < count; i++) {
        await frame();
        const shown = viewerEl.querySelector(".mr-pane[data-image-id]:not([hidden])");
        const t0 = performance.now();
        if (kind === "baseline") key(pane, "F13");
        else if (kind === "layout") key(pane, "h");
        else if (kind === "solo") key(pane, "x");
        else if (kind === "prior") key(pane, "o");
        else if (kind === "zoom") {
            const target = viewerEl.querySelector(".mr-pane[data-image-id] canvas");
            target.dispatchEvent(new WheelEvent("wheel", {
                ...centre(target), deltaY: i % 2 ? 120 : -120, bubbles: true, cancelable: true }));
        } else if (kind === "window") {
            pane.dispatchEvent(new PointerEvent("pointermove", {
                clientX: drag.clientX + ((i % 20) - 10) * 6,
                clientY: drag.clientY + ((i % 7) - 3) * 5,
                button: -1, buttons: 2, pointerId: 7, bubbles: true, cancelable: true }));
        }
        await frame();
        samples.push(performance.now() - t0);
        if (kind === "solo") {
            const hover = viewerEl.querySelector(".mr-pane.mr-solo") || shown;
            hover.focus();
        }
    }
    if (kind === "window") {
        pane.dispatchEvent(new PointerEvent("pointerup", { pointerId: 7, bubbles: true }));
    }
    return samples;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exam_files() -> list[tuple[str, bytes]]:
    datasets, _ = synthetic_exam(1, ExamOptions())
    files = []
    for ds in datasets:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files.append((f"{ds.ImageLaterality}_{ds.ViewPosition}.dcm", buffer.getvalue()))
    return files


def add_people(app) -> dict[str, int]:
    """An admin and two readers (rd1, rd2) with the benchmark's password: their ids."""
    kit = app.state.auth_kit
    with app.state.session_factory() as db:
        cli = Actor(None, None, "bench")
        ids = {}
        for name, role in (("admin", Role.ADMIN), ("rd1", Role.READER), ("rd2", Role.READER)):
            user, _ = create_user(
                db, kit, cli, NewUser(name, name, role, PASSWORD, must_change_password=False)
            )
            ids[name] = user.id
    return ids


def bearer(http: httpx.Client, name: str) -> dict[str, str]:
    return common.bearer(http, name, PASSWORD)


def install(app, base: str) -> tuple[int, str]:
    """Admin and two readers, the exam, a project assigning it; the first reader's task."""
    ids = add_people(app)
    with httpx.Client(base_url=base, timeout=120) as http:
        boss = bearer(http, "admin")
        files = exam_files()
        uploaded = http.post(
            "/api/v1/images",
            files=[("files", (name, data, "application/dicom")) for name, data in files],
            headers=boss,
        )
        uploaded.raise_for_status()
        study_id = uploaded.json()["outcomes"][0]["study_id"]
        project = http.post("/api/v1/reading/projects", json={"name": "Bench"}, headers=boss)
        project.raise_for_status()
        root = f"/api/v1/reading/projects/{project.json()['id']}"
        readers = [ids["rd1"], ids["rd2"]]
        http.put(f"{root}/pools", json={"readers": readers, "arbiters": []}, headers=boss)
        http.post(
            f"{root}/studies", json={"study_ids": [study_id]}, headers=boss
        ).raise_for_status()
        pairs = {"pairs": [{"study_id": study_id, "readers": readers}]}
        http.post(f"{root}/assign", json=pairs, headers=boss).raise_for_status()
        task = http.get("/api/v1/reading/tasks", headers=bearer(http, "rd1")).json()[0]["id"]
    return task, f"{files[0][0]}"


@contextmanager
def served() -> Iterator[tuple[object, str]]:
    """A scratch installation (SQLite, a temporary data folder, cheap password hashing)
    served by uvicorn in this process on a free loopback port: (the app, its base URL)."""
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            data_dir=Path(directory) / "data",
            secret_key="bench",
            argon2_time_cost=1,
            argon2_memory_kib=1024,
        )
        from app.core import migrations

        migrations.upgrade(settings)
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            yield app, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            app.state.engine.dispose()


def report(name: str, samples: list[float], baseline: float, target: bool) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(samples)
    verdict = ""
    if target:
        verdict = "  ok" if p95 <= TARGET_MS else f"  OVER {TARGET_MS:.0f} ms"
    print(
        f"{name:<28} median {median:6.1f} ms  p95 {p95:6.1f} ms"
        f"  (baseline {baseline:5.1f} ms, +{median - baseline:5.1f}){verdict}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 12 if args.quick else 60
    from playwright.sync_api import sync_playwright

    with served() as (app, base):
        task, _ = install(app, base)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(f"{base}/login?next=/reading/tasks/{task}")
            page.get_by_label("User name").fill("rd1")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("#reading-viewer[data-raw=ready]", timeout=120_000)
            page.wait_for_selector("#reading-viewer[data-preferences=loaded]")
            page.locator(".mr-pane[data-image-id]").first.focus()
            print(f"reading screen at {WIDTH}x{HEIGHT}, four views of 3328x4096, {count} samples")
            baseline = page.evaluate(MEASURE, ["baseline", count])
            base_ms = statistics.median(baseline)
            report("baseline (ignored key)", baseline, base_ms, False)
            report(
                "window/level (right-drag)",
                page.evaluate(MEASURE, ["window", count]),
                base_ms,
                True,
            )
            report("zoom (wheel step)", page.evaluate(MEASURE, ["zoom", count]), base_ms, True)
            # every hanging raw-ready before timing the switches
            for _ in range(4):
                page.keyboard.press("h")
                page.wait_for_selector("#reading-viewer[data-raw=ready]", timeout=120_000)
                page.wait_for_timeout(500)
            report("layout switch (H)", page.evaluate(MEASURE, ["layout", count]), base_ms, True)
            report("one view and back (X)", page.evaluate(MEASURE, ["solo", count]), base_ms, True)
            browser.close()


if __name__ == "__main__":
    main()
