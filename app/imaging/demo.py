"""Demo data: synthetic four-view exams that exercise the display chain, ready to import."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta

from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from app.imaging.importer import Source
from app.imaging.synthetic import ExamOptions, synthetic_exam

# Each exam differs the way real archives differ: encoding, polarity, VOI function.
VARIANTS = (
    {"transfer_syntax": ExplicitVRLittleEndian, "photometric": "MONOCHROME2"},
    {"transfer_syntax": JPEG2000Lossless, "photometric": "MONOCHROME1"},
    {"transfer_syntax": ExplicitVRLittleEndian, "voi_function": "SIGMOID"},
    {"transfer_syntax": JPEGLSLossless, "photometric": "MONOCHROME2"},
    {"transfer_syntax": RLELossless, "photometric": "MONOCHROME1", "voi_function": "SIGMOID"},
)


def demo_woman(index: int, seed: int) -> dict[str, object]:
    """Exams come in pairs of one woman, two years apart (her prior and her current exam), so
    the demo shows women, priors and patient-grouped splits; an odd last exam is alone."""
    woman, later = divmod(index, 2)
    day = date(2019, 3, 4) + timedelta(days=37 * woman + 730 * later)
    return {
        "patient_id": f"DEMO-{seed + woman:06d}",
        "study_date": day.strftime("%Y%m%d"),
        "patient_age": 48 + (woman * 7) % 25 + 2 * later,
    }


def demo_sources(studies: int, *, rows: int, columns: int, seed: int = 1000) -> Iterator[Source]:
    """Sources for ``studies`` exams; each exam is generated only when its turn comes."""
    for index in range(studies):
        variant = VARIANTS[index % len(VARIANTS)]
        options = ExamOptions(
            rows=rows, columns=columns, findings=index % 3, **demo_woman(index, seed), **variant
        )
        datasets, _ = synthetic_exam(seed + index, options)
        for ds in datasets:
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            data = buffer.getvalue()
            name = f"demo-{index + 1:03d}/{ds.ImageLaterality}-{ds.ViewPosition}.dcm"
            yield Source(name, lambda data=data: data)
