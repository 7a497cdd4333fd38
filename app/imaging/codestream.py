"""What a compressed frame says about itself, read from its first bytes, before any decoder runs.

A decoder allocates what the codestream states, not what the DICOM header states: a file whose
header says 256x208 but whose JPEG-LS frame header says 24000x24000 makes the decoder allocate
a gigabyte. These parsers read the stated size (JPEG SOFn, JPEG-LS SOF55 and LSE, JPEG 2000
SIZ, also inside a JP2 file; the RLE segment table) and the rule compares it with the header
and the pixel limit. Pure: bytes in, a description or a reason out.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise


class CodestreamError(ValueError):
    """The bytes are not a codestream of the expected kind (or are cut short)."""


@dataclass(frozen=True)
class Frame:
    """The size a codestream states: what its decoder will allocate."""

    rows: int
    columns: int
    components: int
    precision: int


@dataclass(frozen=True)
class Expected:
    """What the DICOM header says the one frame holds."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int

    @property
    def native_length(self) -> int:
        """Bytes of uncompressed pixel data (bit-packed when Bits Allocated is 1)."""
        return (self.rows * self.columns * self.samples * self.bits_allocated + 7) // 8


# --- JPEG and JPEG-LS ------------------------------------------------------------------------

SOI, SOS, EOI = 0xD8, 0xDA, 0xD9
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
SOF55, LSE, DHP = 0xF7, 0xF8, 0xDE
STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01, SOI}  # RSTn, TEM, SOI: no length
LSE_OVERSIZE = 4  # JPEG-LS preset parameters: image sizes beyond 16 bits
MAX_SEGMENTS = 4096  # real files have tens; hostile ones are not walked for minutes
_FILL = re.compile(rb"\xff+")
# After a scan header, entropy-coded bytes follow; the next marker is 0xFF and a byte of at
# least 0xC0 that is not RSTn (JPEG stuffs 0xFF00, JPEG-LS stuffs a byte below 0x80).
_NEXT_MARKER = re.compile(rb"\xff(?=[\xc0-\xcf\xd8-\xfe])")


def jpeg_frame(data: bytes) -> Frame:
    """The size a JPEG or JPEG-LS codestream states; every size it states must agree."""
    if data[:2] != b"\xff\xd8":
        raise CodestreamError("it does not start with a JPEG start-of-image marker")
    sizes = list(_jpeg_sizes(data))
    if not sizes:
        raise CodestreamError("it has no frame header (SOF)")
    frames = {(s.rows, s.columns) for s in sizes if s.rows or s.columns}
    if len(frames) > 1:
        shown = " and ".join(f"{r}x{c}" for r, c in sorted(frames))
        raise CodestreamError(f"it states more than one image size ({shown})")
    rows, columns = frames.pop() if frames else (0, 0)
    if not rows or not columns:
        raise CodestreamError("it does not state its image size in the frame header")
    headers = [s for s in sizes if s.components]  # SOFn and SOF55, not the LSE
    if not headers:
        raise CodestreamError("it has no frame header (SOF)")
    components = max(s.components for s in headers)
    return Frame(rows, columns, components, max(s.precision for s in headers))


def _jpeg_sizes(data: bytes) -> Iterator[Frame]:
    """Each size stated by a SOFn, SOF55, DHP or JPEG-LS oversize-dimension (LSE) segment."""
    position = 2
    for _ in range(MAX_SEGMENTS):
        marker, position = _marker_at(data, position)
        if marker == EOI:
            return
        if marker in STANDALONE:
            continue
        payload, position = _segment(data, position)
        if marker in SOF_MARKERS or marker in (SOF55, DHP):
            yield _sof(payload)
        elif marker == LSE and payload[:1] == bytes([LSE_OVERSIZE]):
            yield _oversize(payload)
        elif marker == SOS:
            found = _NEXT_MARKER.search(data, position)
            if found is None:
                return  # entropy-coded data to the end: no further headers
            position = found.start()
    raise CodestreamError(f"it has more than {MAX_SEGMENTS} marker segments")


def _marker_at(data: bytes, position: int) -> tuple[int, int]:
    fill = _FILL.match(data, position)  # a marker, after any number of fill bytes
    if fill is None:
        raise CodestreamError("a marker is missing where one must be (damaged)")
    position = fill.end()
    if position >= len(data):
        raise CodestreamError("it is cut short")
    return data[position], position + 1


def _segment(data: bytes, position: int) -> tuple[bytes, int]:
    if position + 2 > len(data):
        raise CodestreamError("it is cut short")
    (length,) = struct.unpack_from(">H", data, position)
    end = position + length
    if length < 2 or end > len(data):
        raise CodestreamError("it is cut short")
    return data[position + 2 : end], end


def _sof(payload: bytes) -> Frame:
    if len(payload) < 6:
        raise CodestreamError("its frame header is cut short")
    precision, rows, columns, components = struct.unpack_from(">BHHB", payload)
    return Frame(rows, columns, components, precision)


def _oversize(payload: bytes) -> Frame:
    width = payload[1] if len(payload) > 1 else 0
    if not 2 <= width <= 4 or len(payload) < 2 + 2 * width:
        raise CodestreamError("its oversize-dimension segment (LSE) is malformed")
    rows = int.from_bytes(payload[2 : 2 + width], "big")
    columns = int.from_bytes(payload[2 + width : 2 + 2 * width], "big")
    return Frame(rows, columns, 0, 0)


# --- JPEG 2000 -------------------------------------------------------------------------------

J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
MAX_TILES = 65535  # the tile index (Isot) is 16 bits and 65535 is reserved


def j2k_frame(data: bytes) -> Frame:
    """The size a JPEG 2000 codestream states in its SIZ segment (J2K, HTJ2K or a JP2 file)."""
    if data.startswith(JP2_SIGNATURE):
        return _jp2_frame(data)
    return _siz_frame(data)


def _siz_frame(data: bytes) -> Frame:
    if not data.startswith(J2K_SOC_SIZ):
        raise CodestreamError("it does not start with a JPEG 2000 SOC and SIZ marker")
    if len(data) < 6:
        raise CodestreamError("it is cut short")
    (length,) = struct.unpack_from(">H", data, 4)
    siz = data[6 : 4 + length]
    if length < 41 or len(siz) < length - 2:
        raise CodestreamError("its SIZ segment is cut short")
    xsiz, ysiz, xo, yo, xt, yt, xto, yto, components = struct.unpack_from(">8IH", siz, 2)
    if not (xsiz > xo and ysiz > yo and xt and yt and xto <= xo and yto <= yo):
        raise CodestreamError("its SIZ segment states an empty or inconsistent image area")
    tiles = -(-(xsiz - xto) // xt) * -(-(ysiz - yto) // yt)
    if tiles > MAX_TILES:
        raise CodestreamError(f"it states {tiles} tiles (at most {MAX_TILES} are allowed)")
    if components < 1 or len(siz) < 36 + 3 * components:
        raise CodestreamError("its SIZ segment is cut short")
    precision = max((siz[36 + 3 * i] & 0x7F) + 1 for i in range(components))
    return Frame(ysiz - yo, xsiz - xo, components, precision)


def _jp2_frame(data: bytes) -> Frame:
    header: Frame | None = None
    for kind, content in _boxes(data):
        if kind == b"jp2h":
            header = next((_ihdr(inner) for k, inner in _boxes(content) if k == b"ihdr"), None)
        elif kind == b"jp2c":
            frame = _siz_frame(content)
            if header is not None and (header.rows, header.columns) != (frame.rows, frame.columns):
                raise CodestreamError(
                    f"its JP2 header states {header.rows}x{header.columns} but its codestream "
                    f"states {frame.rows}x{frame.columns}"
                )
            return frame
    raise CodestreamError("the JP2 file holds no codestream")


def _boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    position = 0
    for _ in range(MAX_SEGMENTS):
        if position + 8 > len(data):
            return
        length, kind = struct.unpack_from(">I4s", data, position)
        start = position + 8
        if length == 1:
            if position + 16 > len(data):
                raise CodestreamError("a JP2 box is cut short")
            (length,) = struct.unpack_from(">Q", data, start)
            start += 8
        end = len(data) if length == 0 else position + length
        if end < start or end > len(data):
            raise CodestreamError("a JP2 box is cut short")
        yield kind, data[start:end]
        position = end
    raise CodestreamError(f"the JP2 file has more than {MAX_SEGMENTS} boxes")


def _ihdr(content: bytes) -> Frame:
    if len(content) < 11:
        raise CodestreamError("its JP2 image header is cut short")
    rows, columns, components, bits = struct.unpack_from(">IIHB", content)
    return Frame(rows, columns, components, (bits & 0x7F) + 1)


# --- RLE -------------------------------------------------------------------------------------

RLE_HEADER = 64


def rle_segments(data: bytes) -> int:
    """The number of segments an RLE frame holds, after checking its offset table."""
    if len(data) < RLE_HEADER:
        raise CodestreamError("its 64-byte RLE header is cut short")
    count, *offsets = struct.unpack_from("<16I", data)
    if not 1 <= count <= 15:
        raise CodestreamError(f"its RLE header states {count} segments (1 to 15 are allowed)")
    used = offsets[:count]
    if used[0] != RLE_HEADER or any(b <= a for a, b in pairwise(used)):
        raise CodestreamError("its RLE segment offsets are not in order after the header")
    if used[-1] >= len(data):
        raise CodestreamError("its RLE segment offsets point past the end of the frame")
    return count


TRUNCATED = "The pixel data could not be decoded (damaged or truncated)."


# --- the rule --------------------------------------------------------------------------------


def frame_refusal(kind: str, frame: Frame, expected: Expected, max_pixels: int) -> str | None:
    """Why a codestream that states ``frame`` cannot be decoded for this header; or None."""
    stated = f"{frame.rows}x{frame.columns}"
    if (frame.rows, frame.columns) != (expected.rows, expected.columns):
        return (
            f"The {kind} codestream states {stated} pixels but the header states "
            f"{expected.rows}x{expected.columns} (Rows x Columns); it is not decoded."
        )
    if frame.rows * frame.columns > max_pixels:
        return f"The {kind} codestream states {stated} pixels, more than the limit."
    if frame.components != expected.samples:
        return (
            f"The {kind} codestream has {frame.components} components but the header states "
            f"{expected.samples} (Samples per Pixel)."
        )
    if not 1 <= frame.precision <= expected.bits_allocated:
        return (
            f"The {kind} codestream has {frame.precision}-bit samples but the header allocates "
            f"{expected.bits_allocated} bits (Bits Allocated)."
        )
    return None


def rle_refusal(segments: int, expected: Expected) -> str | None:
    """RLE states no size: one segment per sample and byte, each decoded to Rows x Columns."""
    if expected.bits_allocated % 8:
        return f"RLE cannot hold {expected.bits_allocated}-bit samples (Bits Allocated)."
    wanted = expected.samples * expected.bits_allocated // 8
    if segments != wanted:
        return (
            f"The RLE data has {segments} segments but the header ({expected.samples} sample of "
            f"{expected.bits_allocated} bits) needs {wanted}."
        )
    return None


def native_refusal(length: int, expected: Expected) -> str | None:
    """Uncompressed pixel data must be as long as the header says (one padding byte allowed)."""
    wanted = expected.native_length
    if length < wanted:
        return TRUNCATED
    if length > wanted + wanted % 2:
        return (
            f"The pixel data holds {length} bytes, more than the {wanted} that "
            f"{expected.rows}x{expected.columns} pixels of {expected.bits_allocated} bits need."
        )
    return None
