"""Server time for a four-view hanging at 1024 px wide, against a naive pipeline.

    python -m bench.hanging [--quick]

cold:   from the stored pyramid with an empty render cache (LUT, pick level, resize, encode),
        the four requests served concurrently as a browser sends them (2 threads, 2 cores)
cached: the same requests again (the render cache answers)
naive:  per request, read the DICOM file, pydicom windowing, Pillow resize, PNG encode
Figures for JPEG (what the viewer's first paint asks for) and for lossless PNG.
Targets (2-core machine): cold <= 50 ms, cached <= 10 ms, >= 20x faster than naive.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image as PILImage
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from sqlalchemy import select

from app.core.database import make_engine, make_session_factory
from app.imaging.display import WindowChoice
from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.service import Pixels, RenderRequest
from app.imaging.synthetic import ExamOptions
from bench.common import exam_sources, median, run_import, scratch, timed

WIDTH = 1024


def naive(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    low, high = float(values.min()), float(values.max())
    scaled = ((values - low) / max(high - low, 1) * 255).astype(np.uint8)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        scaled = 255 - scaled
    picture = PILImage.fromarray(scaled)
    height = round(picture.height * WIDTH / picture.width)
    buffer = io.BytesIO()
    picture.resize((WIDTH, height), PILImage.Resampling.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    with tempfile.TemporaryDirectory() as directory:
        settings, kit = scratch(Path(directory))
        run_import(settings, kit, exam_sources(1, ExamOptions()))
        images = images_of(settings)
        files = [Path(directory) / image.file_key for image in images]
        slow = timed(lambda: [naive(path) for path in files], max(2, repeats // 3))
        size = f"{images[0].columns}x{images[0].rows}"
        print(f"four-view hanging at {WIDTH} px wide from {size} 12-bit images")
        print(f"naive pipeline, PNG (baseline)  median {median(slow):8.1f} ms")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for fmt in ("jpeg", "png"):
                report(kit, images, pool, fmt, repeats, median(slow))


def images_of(settings) -> list[Image]:
    """The installation's images, their studies loaded (read after the session closes)."""
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as db:
        images = list(db.scalars(select(Image).order_by(Image.id)))
        for image in images:
            _ = image.study.study_id
    engine.dispose()
    return images


def cold_and_warm(
    kit: ImagingKit,
    images: list[Image],
    pool: ThreadPoolExecutor,
    fmt: str,
    cold_repeats: int,
    warm_repeats: int,
) -> tuple[list[float], list[float]]:
    """Times (ms) of the four views rendered concurrently at WIDTH: with an empty render
    cache each time (cold), and again and again from one full cache (warm)."""
    request = RenderRequest(WindowChoice(), WIDTH, False, fmt)

    def hanging(pixels: Pixels) -> None:
        list(pool.map(lambda image: pixels.rendered(image, request), images))

    cold = []
    for _ in range(cold_repeats):
        fresh = Pixels(kit)
        cold += timed(lambda fresh=fresh: hanging(fresh), 1)
    warm = Pixels(kit)
    hanging(warm)
    return cold, timed(lambda: hanging(warm), warm_repeats)


def report(
    kit: ImagingKit,
    images: list[Image],
    pool: ThreadPoolExecutor,
    fmt: str,
    repeats: int,
    baseline: float,
) -> None:
    cold, cached = cold_and_warm(kit, images, pool, fmt, repeats, repeats * 10)
    print(
        f"{fmt:<4} cold, stored pyramid       median {median(cold):8.1f} ms   "
        f"{baseline / median(cold):6.1f}x faster   target <= 50 ms"
    )
    print(
        f"{fmt:<4} cached                     median {median(cached):8.2f} ms   "
        f"{baseline / median(cached):6.0f}x faster   target <= 10 ms"
    )


if __name__ == "__main__":
    main()
