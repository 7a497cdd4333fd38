"""The display pyramid as Zarr v3: each level one array, stored as one shard of 512x512 tiles,
each tile compressed on its own (Blosc: LZ4 after a bit shuffle, lossless and fast to decode).

A shard ends with an index of where each tile lies, so a region is read with two range
requests (the index, then the tiles it needs), from a local file or an S3 object alike; a whole
level is one file, so an image is a handful of objects, not thousands.

Pure: no database and no web code. The bytes are written through whatever ``BlobStore`` the
installation uses (``encode`` gives them), and read through Zarr's own store for it
(``app.imaging.storage``'s ``zarr_store``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import zarr
from numpy.typing import NDArray
from zarr.abc.store import Store
from zarr.codecs import BloscCodec

TILE: Final = 512
CODEC: Final = BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")


def encode(levels: dict[int, NDArray[np.uint16]]) -> dict[str, bytes]:
    """The files of a group holding these levels (numbered as in the pyramid), by key relative
    to the group's folder: ``zarr.json``, ``<level>/zarr.json`` and ``<level>/c/0/0``."""
    files: dict = {}
    group = zarr.open_group(zarr.storage.MemoryStore(files), mode="w")
    for number, level in levels.items():
        if level.ndim != 2 or level.dtype != np.uint16:
            raise ValueError(f"expected a 2-D uint16 level, got {level.dtype} {level.shape}")
        shard = tuple(-(-size // TILE) * TILE for size in level.shape)
        array = group.create_array(
            str(number),
            shape=level.shape,
            dtype="uint16",
            chunks=(TILE, TILE),
            shards=shard,
            compressors=CODEC,
            fill_value=0,
        )
        array[...] = level
    return {key: buffer.to_bytes() for key, buffer in files.items()}


def open_level(store: Store, group_path: str, number: int) -> zarr.Array:
    """One level of a stored group, for reading (only its metadata is read now)."""
    return zarr.open_array(store, path=f"{group_path}/{number}", mode="r")


def grid(shape: tuple[int, int]) -> tuple[int, int]:
    """How many tiles a level of this shape has down and across."""
    return -(-shape[0] // TILE), -(-shape[1] // TILE)


def tile_region(shape: tuple[int, int], row: int, col: int) -> tuple[slice, slice] | None:
    """The rows and columns of tile ``(row, col)`` of a level, or None when it has no such
    tile. Edge tiles are cut to the level (slices past the end stop at it)."""
    down, across = grid(shape)
    if not (0 <= row < down and 0 <= col < across):
        return None
    return slice(row * TILE, (row + 1) * TILE), slice(col * TILE, (col + 1) * TILE)


def tiles_of(shape: tuple[int, int], rows: slice, cols: slice) -> int:
    """How many tiles a region touches (what a region read fetches)."""
    r0, r1, _ = rows.indices(shape[0])
    c0, c1, _ = cols.indices(shape[1])
    if r1 <= r0 or c1 <= c0:
        return 0
    return ((r1 - 1) // TILE - r0 // TILE + 1) * ((c1 - 1) // TILE - c0 // TILE + 1)
