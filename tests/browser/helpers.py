"""Shared by the browser tests."""

from __future__ import annotations

import os
from pathlib import Path

SCREENSHOTS = os.environ.get("MAMMOREAD_SCREENSHOTS")


def shoot(page, name: str, *, full_page: bool = False) -> None:
    """Keep a screenshot when MAMMOREAD_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)
