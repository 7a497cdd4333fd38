"""Files for the service's user only: the data directory, everything in it, and the umask.

Folders are 0700 and files 0600, set explicitly where they are created (so a server started
by another launcher than ``mammoread`` still writes private files), and the process umask is
0077 for whatever libraries create (SQLite's -wal and -shm follow the database file's mode).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> None:
    """Files and folders this process creates from now on are for its user only."""
    os.umask(PRIVATE_UMASK)


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700 (whatever the umask)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by another process
        os.chmod(folder, DIR_MODE)  # mkdir's mode is reduced by the umask, never widened


def tighten(path: Path, mode: int) -> None:
    """Remove the group and other permission bits of an existing file or folder."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        os.chmod(path, current & mode)


def create_private(path: Path) -> BinaryIO:
    """A new file (refused if it exists) opened for binary writing, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    return os.fdopen(fd, "wb")
