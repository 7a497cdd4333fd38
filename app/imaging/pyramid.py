"""Resolution pyramid of ``uint16`` storage values (stored by app.imaging.storage).

Level 0 is the full image; level ``k + 1`` halves level ``k`` in both dimensions by
averaging 2x2 blocks, so pixel ``(r, c)`` of level ``k`` covers full-resolution pixels
``r * 2**k .. (r + 1) * 2**k - 1`` (rows) and likewise for columns.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def halve(level: NDArray[np.uint16]) -> NDArray[np.uint16]:
    """Average 2x2 blocks, rounding halves up.

    An odd last row or column is paired with itself (edge replication), so the result has
    ``ceil(rows / 2)`` x ``ceil(cols / 2)`` pixels and the edge pixels average only real data.
    """
    rows, cols = level.shape
    padded = np.pad(level, ((0, rows % 2), (0, cols % 2)), mode="edge")
    total = padded[0::2, 0::2].astype(np.uint32)
    total += padded[1::2, 0::2]
    total += padded[0::2, 1::2]
    total += padded[1::2, 1::2]
    total += 2
    total >>= 2
    return total.astype(np.uint16)


def build_levels(storage: NDArray[np.uint16], min_width: int = 512) -> list[NDArray[np.uint16]]:
    """Level 0 is ``storage`` itself (not copied); keep halving while ``width // 2 >= min_width``.

    So every level but possibly level 0 is at least ``min_width`` wide, and the last level is
    the first one narrower than ``2 * min_width``.
    """
    if storage.ndim != 2 or storage.dtype != np.uint16:
        raise ValueError(f"expected a 2-D uint16 array, got {storage.dtype} {storage.shape}")
    if min_width < 1:
        raise ValueError(f"min_width must be >= 1, got {min_width}")
    levels = [storage]
    while levels[-1].shape[1] // 2 >= min_width:
        levels.append(halve(levels[-1]))
    return levels


def pick_level(widths: list[int], wanted: int) -> int:
    """Index of the narrowest level at least ``wanted`` wide; level 0 when none is."""
    if not widths:
        raise ValueError("no levels to pick from")
    wide_enough = [(width, index) for index, width in enumerate(widths) if width >= wanted]
    return min(wide_enough)[1] if wide_enough else 0
