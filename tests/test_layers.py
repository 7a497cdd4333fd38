"""The import contracts in pyproject.toml (`make test` runs `lint-imports` too): the layers
ARCHITECTURE.md draws, pure cores free of database and web code, route modules that do not
import each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def test_the_import_contracts_hold() -> None:
    done = subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "Layers: export > studies > reading | masking > imaging > auth : audit > core KEPT"
        in done.stdout
    )
    assert "Pure cores import no database or web code KEPT" in done.stdout
    assert "No route module imports another route module KEPT" in done.stdout
