"""Where the runtime resources are: page templates, static files, database migrations.

The repository keeps them at its top level (``templates/``, ``static/``, ``migrations/``). A
wheel carries them inside the package, as ``app/_resources/<name>`` (pyproject's
``force-include``); a source checkout (an editable install, the tests) has no such copy and
uses the repository's folders. Everything that needs one asks here."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGED = "_resources"
SOURCE_ROOT = Path(__file__).resolve().parents[2]
NAMES = ("templates", "static", "migrations")


def resource_dir(name: str) -> Path:
    """The folder of the resource ``name``: the packaged copy when installed from a wheel,
    else the source tree's."""
    if name not in NAMES:
        raise ValueError(f"Unknown resource {name!r}: expected one of {', '.join(NAMES)}.")
    packaged = files("app") / PACKAGED / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    source = SOURCE_ROOT / name
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"The {name} folder is missing: neither {packaged} (an installed wheel) nor {source} "
        "(a source checkout) exists. Reinstall MammoRead."
    )


TEMPLATES_DIR = resource_dir("templates")
STATIC_DIR = resource_dir("static")
MIGRATIONS_DIR = resource_dir("migrations")
