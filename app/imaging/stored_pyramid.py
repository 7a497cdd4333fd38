"""An image's display pyramid as files for the image store, and read back from it, in either layout
(``PyramidFormat``): Zarr (512x512 compressed tiles, level 0 read from the DICOM when it keeps
its pixels plainly) for images imported now; one ``.npy`` file per level for images imported
before. Whole levels for the renders, regions for the viewer's tiles: a region reads only the
tiles (or, from the DICOM, the rows) it covers."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

import numpy as np
import zarr
from numpy.typing import NDArray

from app.imaging import tiled
from app.imaging.models import Image
from app.imaging.states import PyramidFormat
from app.imaging.storage import BlobStore, level_key, load_array, pyramid_group


def files(
    study_id: str,
    image_id: str,
    levels: list[NDArray[np.uint16]],
    pixel_offset: int | None,
) -> dict[str, bytes]:
    """The files of the Zarr pyramid of ``levels`` by store key, in the order to write them
    (the group's own ``zarr.json`` last, so a folder without it was never finished); level 0
    too unless the DICOM holds it plainly at ``pixel_offset``."""
    group = pyramid_group(study_id, image_id)
    first = 1 if pixel_offset is not None else 0
    encoded = tiled.encode({number: levels[number] for number in range(first, len(levels))})
    ordered = sorted(encoded, key=lambda key: key == "zarr.json")
    return {f"{group}/{key}": encoded[key] for key in ordered}


class Reader:
    """Reads levels and regions of stored pyramids; keeps the opened Zarr arrays (their
    metadata only) for the images read lately."""

    def __init__(self, store: BlobStore, remember: int = 512) -> None:
        self.store = store
        self.remember = remember
        self._arrays: OrderedDict[tuple[str, object, int], zarr.Array] = OrderedDict()
        self._lock = Lock()

    def shape(self, image: Image, level: int) -> tuple[int, int]:
        if _from_dicom(image, level):
            return image.rows, image.columns
        if image.pyramid_format == PyramidFormat.NPY:
            shape = self.level(image, level).shape
        else:
            shape = self._array(image, level).shape
        return int(shape[0]), int(shape[1])

    def level(self, image: Image, level: int) -> NDArray[np.uint16]:
        """A whole level (memory-mapped where the store is local and the layout allows)."""
        if image.pyramid_format == PyramidFormat.NPY:
            return load_array(self.store, level_key(image.study.study_id, image.image_id, level))
        if _from_dicom(image, level):
            return self._dicom_rows(image, 0, image.rows)
        return self._array(image, level)[...]

    def region(self, image: Image, level: int, rows: slice, cols: slice) -> NDArray[np.uint16]:
        """Part of a level, reading only what it covers: the tiles it touches (Zarr), the rows
        it spans (a DICOM's plain pixels), or a memory-mapped slice (the older layout)."""
        if image.pyramid_format == PyramidFormat.NPY:
            return np.ascontiguousarray(self.level(image, level)[rows, cols])
        if _from_dicom(image, level):
            r0, r1, _ = rows.indices(image.rows)
            return np.ascontiguousarray(self._dicom_rows(image, r0, r1)[:, cols])
        return self._array(image, level)[rows, cols]

    def _dicom_rows(self, image: Image, first: int, stop: int) -> NDArray[np.uint16]:
        assert image.pixel_offset is not None
        row_bytes = image.columns * 2
        start = image.pixel_offset + first * row_bytes
        shape = (max(stop - first, 0), image.columns)
        if shape[0] == 0:
            return np.zeros(shape, dtype=np.uint16)
        path = self.store.local_path(image.file_key)
        if path is not None:
            return np.memmap(path, dtype="<u2", mode="r", offset=start, shape=shape)
        data = self.store.get_range(image.file_key, start, shape[0] * row_bytes)
        return np.frombuffer(data, dtype="<u2").reshape(shape)

    def _array(self, image: Image, level: int) -> zarr.Array:
        key = (image.image_id, image.imported_at, level)
        with self._lock:
            if key in self._arrays:
                self._arrays.move_to_end(key)
                return self._arrays[key]
        store, path = self.store.zarr_location(pyramid_group(image.study.study_id, image.image_id))
        array = tiled.open_level(store, path, level)
        with self._lock:
            self._arrays[key] = array
            while len(self._arrays) > self.remember:
                self._arrays.popitem(last=False)
        return array


def _from_dicom(image: Image, level: int) -> bool:
    return (
        level == 0 and image.pyramid_format == PyramidFormat.ZARR and image.pixel_offset is not None
    )
