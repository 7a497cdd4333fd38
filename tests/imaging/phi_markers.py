"""Identifying text planted where devices put it inside compressed pixel data."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from PIL import Image as PILImage
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGBaseline8Bit

from app.imaging.jpeg_segments import JP2_SIGNATURE


def segment(marker: int, payload: bytes) -> bytes:
    """A JPEG-family marker segment (JPEG 2000 markers given as 0xFFnn)."""
    code = marker if marker > 0xFF else 0xFF00 | marker
    return code.to_bytes(2, "big") + (len(payload) + 2).to_bytes(2, "big") + payload


def jpeg_with_text(frame: bytes, text: bytes) -> bytes:
    """A JPEG or JPEG-LS frame with APP0, APP1 (Exif), APP8, APP15 and COM segments holding
    ``text`` after SOI, and ``text`` again after EOI. (Not a JFIF APP0: its presence changes
    how decoders read colour images.)"""
    assert frame[:2] == b"\xff\xd8"
    end = frame.rindex(b"\xff\xd9") + 2
    planted = (
        segment(0xE0, b"AVI1\x00" + text)
        + segment(0xE1, b"Exif\x00\x00" + text)
        + segment(0xE8, b"SPIFF\x00" + text)
        + segment(0xEF, text)
        + segment(0xFE, text)
    )
    return frame[:2] + planted + frame[2:end] + text


def box(kind: bytes, content: bytes) -> bytes:
    """A JP2 box."""
    return (len(content) + 8).to_bytes(4, "big") + kind + content


def j2k_with_text(frame: bytes, text: bytes) -> bytes:
    """A JPEG 2000 codestream with COM segments holding ``text`` in its main header and in
    its first tile-part header (Psot corrected), and ``text`` after EOC. A JP2 file gets the
    same in its codestream, and ``text`` in an XML box."""
    if frame.startswith(JP2_SIGNATURE):
        at = frame.index(b"jp2c") - 4
        size = int.from_bytes(frame[at : at + 4], "big") or len(frame) - at
        inner = j2k_with_text(frame[at + 8 : at + size], text)
        return frame[:at] + box(b"xml ", text) + box(b"jp2c", inner)
    comment = segment(0xFF64, b"\x00\x01" + text)
    sot = frame.index(b"\xff\x90\x00\x0a")
    psot = int.from_bytes(frame[sot + 6 : sot + 10], "big")
    new_psot = 0 if psot == 0 else psot + len(comment)
    end = frame.rindex(b"\xff\xd9") + 2
    return (
        frame[:sot]
        + comment
        + frame[sot : sot + 6]
        + new_psot.to_bytes(4, "big")
        + frame[sot + 10 : sot + 12]
        + comment
        + frame[sot + 12 : end]
        + text
    )


def jp2_wrapped(codestream: bytes, rows: int, columns: int, bits: int, text: bytes) -> bytes:
    """The codestream in a JP2 file, with ``text`` in an XML box before it."""
    ihdr = rows.to_bytes(4, "big") + columns.to_bytes(4, "big") + b"\x00\x01"
    ihdr += bytes((bits - 1, 7, 0, 0))
    colr = b"\x01\x00\x00" + (17).to_bytes(4, "big")  # enumerated: greyscale
    return (
        box(b"jP  ", b"\r\n\x87\n")
        + box(b"ftyp", b"jp2 \x00\x00\x00\x00jp2 ")
        + box(b"jp2h", box(b"ihdr", ihdr) + box(b"colr", colr))
        + box(b"xml ", b"<patient>" + text + b"</patient>")
        + box(b"jp2c", codestream)
    )


def planted_frames(ds: pydicom.Dataset, plant, fragments: int = 2) -> None:  # type: ignore[no-untyped-def]
    """Rewrite every frame of ``ds`` with ``plant(frame)``, split over ``fragments``."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    found = list(generate_frames(ds.PixelData, number_of_frames=frames))
    ds.PixelData = encapsulate([plant(f) for f in found], fragments_per_frame=fragments)


def baseline_jpeg(ds: pydicom.Dataset, text: bytes) -> None:
    """Turn ``ds`` into an 8-bit baseline JPEG image whose file holds ``text`` in a COM (by
    Pillow) and in APP segments."""
    pixels = ds.pixel_array
    eight = (pixels.astype(np.float64) * 255 / max(int(pixels.max()), 1)).astype(np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(eight).save(buffer, "JPEG", quality=95, comment=text)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.WindowCenter, ds.WindowWidth = [128, 110, 140], [255, 200, 250]
    ds.PixelData = encapsulate([jpeg_with_text(buffer.getvalue(), text)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"
