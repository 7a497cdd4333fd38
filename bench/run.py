"""Run every benchmark: python -m bench.run (make bench)."""

from __future__ import annotations

import subprocess
import sys

SCRIPTS = (
    "bench.auth",
    "bench.hanging",
    "bench.storage",
    "bench.importing",
    "bench.import_workers",
    "bench.reading",
    "bench.masking",
    "bench.export",
    "bench.viewer",
    "bench.priors",
    "bench.pacs_retrieve",
    "bench.mrmc",
    "bench.results_page",
    "bench.agreement",
)


def main() -> None:
    for module in SCRIPTS:
        print(f"\n== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module, *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
