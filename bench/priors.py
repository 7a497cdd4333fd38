"""Time to show a prior on the reading screen, in Chromium at 2560x1440.

    python -m bench.priors [--quick]

One woman's two full-size four-view exams (4096x3328, 12 bits, 24 months apart) imported into
a scratch installation; the later one is read in a project that shows priors. A reader opens
the case in Debian's Chromium (headless, Playwright), served in this process on loopback.

current views:  navigation to the four current views drawn from their raw pyramid level
                (the baseline: what a reader waits for today)
prior prefetched: navigation to the four prior views' first paint and fit level in memory
                (fetched once the current views show, before anyone asks)
key O:          O pressed to the frame that shows the prior beside the current views (CC, MLO,
                all eight, off, cycled), median and p95, next to the hanging switch (key H) of the
                same screen; target <= 50 ms like every layout switch (bench.viewer), and the
                image requests made after the keys (none once each layout was shown once)
Baseline of the key: a key the screen ignores, timed the same way (one frame).
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.viewer import (
    CHROMIUM,
    HEIGHT,
    MEASURE,
    PASSWORD,
    WIDTH,
    add_people,
    bearer,
    report,
    served,
)
from tests.imaging.helpers import WOMEN_EXAMS, woman_exam_files


def install(app, base: str) -> int:
    """Admin and two readers, the woman's two exams, the later one in a project with priors;
    the first reader's task."""
    ids = add_people(app)
    with httpx.Client(base_url=base, timeout=300) as http:
        boss = bearer(http, "admin")
        studies = []
        for seed, (patient, day, age) in zip((1, 2), WOMEN_EXAMS[:2], strict=True):
            files = woman_exam_files(seed, patient, day, age, rows=4096, columns=3328)
            uploaded = http.post(
                "/api/v1/images",
                files=[("files", (n, d, "application/dicom")) for n, d in files],
                headers=boss,
            )
            uploaded.raise_for_status()
            studies.append(uploaded.json()["outcomes"][0]["study_id"])
        body = {"name": "Bench priors", "rules": {"show_priors": True}}
        project = http.post("/api/v1/reading/projects", json=body, headers=boss)
        project.raise_for_status()
        root = f"/api/v1/reading/projects/{project.json()['id']}"
        readers = [ids["rd1"], ids["rd2"]]
        http.put(f"{root}/pools", json={"readers": readers, "arbiters": []}, headers=boss)
        http.post(f"{root}/studies", json={"study_ids": [studies[1]]}, headers=boss)
        pairs = {"pairs": [{"study_id": studies[1], "readers": readers}]}
        http.post(f"{root}/assign", json=pairs, headers=boss).raise_for_status()
        return http.get("/api/v1/reading/tasks", headers=bearer(http, "rd1")).json()[0]["id"]


def open_case(page, base: str, task: int, first: bool) -> tuple[float, float]:
    """Milliseconds from navigation to the current views raw-ready and to the priors ready."""
    if first:
        page.goto(f"{base}/login?next=/reading/tasks/{task}")
        page.get_by_label("User name").fill("rd1")
        page.get_by_label("Password").fill(PASSWORD)
        start = time.perf_counter()
        page.get_by_role("button", name="Sign in").click()
    else:
        start = time.perf_counter()
        page.goto(f"{base}/reading/tasks/{task}")
    page.wait_for_selector("#reading-viewer[data-raw=ready]", timeout=120_000)
    current = (time.perf_counter() - start) * 1000
    page.wait_for_selector("#reading-viewer[data-priors-state=ready]", timeout=120_000)
    prior = (time.perf_counter() - start) * 1000
    return current, prior


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 12 if args.quick else 40
    loads = 3 if args.quick else 8
    from playwright.sync_api import sync_playwright

    with served() as (app, base):
        task = install(app, base)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
            )
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            times = [open_case(page, base, task, n == 0) for n in range(loads)]
            current = [c for c, _ in times]
            prior = [p for _, p in times]
            print(
                f"reading screen at {WIDTH}x{HEIGHT}, two exams of four 3328x4096 views, "
                f"{loads} loads (the first cold), {count} key samples"
            )
            print(
                f"current views raw-ready       median {statistics.median(current):7.1f} ms"
                f"  (first {current[0]:7.1f} ms)"
            )
            print(
                f"prior prefetched (from load)  median {statistics.median(prior):7.1f} ms"
                f"  (first {prior[0]:7.1f} ms)"
                f"  +{statistics.median(p - c for c, p in times):6.1f} ms after the current"
            )
            page.wait_for_selector("#reading-viewer[data-preferences=loaded]")
            page.locator(".mr-pane[data-image-id]").first.focus()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            baseline = page.evaluate(MEASURE, ["baseline", count])
            base_ms = statistics.median(baseline)
            report("baseline (ignored key)", baseline, base_ms, False)
            # the hanging switch of the same screen, for comparison (bench.viewer's layout)
            for _ in range(4):
                page.keyboard.press("h")
                page.wait_for_selector("#reading-viewer[data-raw=ready]", timeout=120_000)
            report(
                "hanging switch (key H)",
                page.evaluate(MEASURE, ["layout", count]),
                base_ms,
                True,
            )
            for _ in range(4):  # every prior layout drawn once from its own level
                page.keyboard.press("o")
                page.wait_for_timeout(400)
            requests.clear()
            samples = page.evaluate(MEASURE, ["prior", count])
            report("prior shown (key O)", samples, base_ms, True)
            fetched = [url for url in requests if "/api/v1/images/" in url]
            print(
                f"image requests after the keys: {len(fetched)}"
                " (each layout drawn once before: expect 0)"
            )
            browser.close()


if __name__ == "__main__":
    main()
