"""Import throughput and peak memory for 4096x3328 12-bit images, uncompressed and JPEG 2000.

    python -m bench.importing [--quick]

Each encoding is imported in a fresh child process, so its peak resident memory (ru_maxrss)
is the import's own; the child's memory after loading the code is printed as the baseline.
Targets: at least 2 uncompressed images per second, peak memory under 600 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless


def generate(encoding: str, exams: int, directory: Path) -> None:
    """Write the synthetic files (in its own process: generating them costs memory too)."""
    from app.imaging.synthetic import ExamOptions
    from bench.common import exam_sources

    syntax = {"uncompressed": ExplicitVRLittleEndian, "jpeg2000": JPEG2000Lossless}[encoding]
    for seed in range(exams):
        for index, source in enumerate(exam_sources(seed, ExamOptions(transfer_syntax=syntax))):
            (directory / f"{seed}-{index}.dcm").write_bytes(source.read())


def child(directory: Path) -> None:
    """Import every file in ``directory``; print images, seconds and memory as JSON."""
    from app.imaging.importer import Source
    from bench.common import run_import, scratch

    settings, kit = scratch(directory / "store")
    paths = sorted(directory.glob("*.dcm"))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    report = run_import(settings, kit, [Source(str(p), p.read_bytes) for p in paths])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "images": report.count("imported"),
                "seconds": seconds,
                "baseline_mb": baseline,
                "peak_mb": peak,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--generate", nargs=3, metavar=("ENCODING", "EXAMS", "DIR"))
    parser.add_argument("--child", metavar="DIR")
    args = parser.parse_args()
    if args.generate:
        generate(args.generate[0], int(args.generate[1]), Path(args.generate[2]))
        return
    if args.child:
        child(Path(args.child))
        return
    exams = 1 if args.quick else 2
    print(f"import of {exams * 4} synthetic 4096x3328 12-bit images per encoding")
    command = [sys.executable, "-m", "bench.importing"]
    for encoding in ("uncompressed", "jpeg2000"):
        with tempfile.TemporaryDirectory() as directory:
            subprocess.run([*command, "--generate", encoding, str(exams), directory], check=True)
            output = subprocess.run(
                [*command, "--child", directory], check=True, capture_output=True, text=True
            ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        rate = result["images"] / result["seconds"]
        print(
            f"{encoding:<13} {rate:5.2f} images/s ({result['seconds']:.1f} s)   peak "
            f"{result['peak_mb']:.0f} MB (process before import: {result['baseline_mb']:.0f} MB)"
            "   targets: >= 2 images/s uncompressed, < 600 MB"
        )


if __name__ == "__main__":
    main()
