"""Where a stored DICOM file keeps its pixels as plain rows, so that full resolution is read
from the file itself instead of a second copy in the pyramid (pure: no I/O).

A file qualifies when its Pixel Data is native (not encapsulated), little-endian, 16 bits per
sample, one frame, and its bytes are exactly the storage values the pyramid would hold (so not
for signed data, which storage shifts by 32768). The answer is checked against the decoded
pixels, never assumed from the header.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

PLAIN_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})


def plain_pixel_offset(file_bytes: bytes, storage: NDArray[np.uint16]) -> int | None:
    """The byte offset of ``storage``'s rows (uint16 little-endian, row-major) in the file,
    or None when the file does not hold them so."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(file_bytes))
        if dataset.file_meta.TransferSyntaxUID not in PLAIN_SYNTAXES:
            return None
        if (
            int(dataset.get("BitsAllocated", 0)) != 16
            or int(dataset.get("SamplesPerPixel", 1)) != 1
        ):
            return None
        if int(dataset.get("NumberOfFrames", 1) or 1) != 1:
            return None
        element = dataset.get_item("PixelData")
        offset = getattr(element, "value_tell", None)
    except Exception:
        return None
    if offset is None or offset + storage.nbytes > len(file_bytes):
        return None
    rows = np.frombuffer(file_bytes, dtype="<u2", count=storage.size, offset=offset)
    if not np.array_equal(rows.reshape(storage.shape), storage):
        return None
    return int(offset)
