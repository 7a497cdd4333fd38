"""Lossless removal of comment and application segments from compressed pixel data.

Devices write free text into JPEG-family codestreams, some of it identifying (a patient's name
in a COM segment, EXIF or vendor blocks in APPn segments). None of it is needed to decode a
greyscale image, so every frame of encapsulated Pixel Data is rewritten without it; the
entropy-coded data and every other marker segment are copied byte for byte, so the decoded
pixels do not change.

- JPEG (ISO 10918) and JPEG-LS (ISO 14495): COM (FFFE) and APP0-APP15 (FFE0-FFEF) segments go,
  wherever they stand. Only for images of more than one sample per pixel, the fixed-size
  segments decoders read to choose a colour transform stay: Adobe APP14 and JFIF APP0 (its
  thumbnail, if any, removed) for JPEG, the 'mrfx' APP8 (HP colour transform) for JPEG-LS.
  A single-component image, as every mammogram, has no colour transform to choose.
- JPEG 2000 and HTJ2K (ISO 15444): COM (FF64) segments go from the main header and every
  tile-part header; tile-part lengths (Psot, and TLM when present) are corrected. A JP2 file
  wrapper (its XML, UUID and other boxes can hold anything) is replaced by the bare codestream
  it contains, which is what DICOM asks for anyway (PS3.5 A.4.4).
- Bytes after the end-of-image marker go too.

Pure functions: bytes in, bytes out; :class:`CodestreamError` when a codestream is malformed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import UID

JPEG_SYNTAXES = frozenset(f"1.2.840.10008.1.2.4.{n}" for n in (50, 51, 57, 70, 80, 81))
J2K_SYNTAXES = frozenset(f"1.2.840.10008.1.2.4.{n}" for n in (90, 91, 92, 93, 201, 202, 203))
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
COM = 0xFE
APP0, APP15 = 0xE0, 0xEF
RST0, RST7 = 0xD0, 0xD7
TEM = 0x01
JFIF, JFIF_SIZE = b"JFIF\x00", 14  # the JFIF APP0 payload without a thumbnail
COLOUR_SEGMENTS = {0xEE: (b"Adobe", 12), 0xE8: (b"mrfx", 5)}  # marker: (signature, size)

J2K_SOC, J2K_SOT, J2K_SOD, J2K_EOC = 0xFF4F, 0xFF90, 0xFF93, 0xFFD9
J2K_COM, J2K_TLM = 0xFF64, 0xFF55
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


class CodestreamError(ValueError):
    """The compressed pixel data is not a well-formed codestream of its transfer syntax."""


def strip_pixel_data(pixel_data: bytes, syntax: UID, frames: int, samples: int = 1) -> bytes:
    """Encapsulated Pixel Data with every frame stripped (see the module text); the data is
    returned unchanged for transfer syntaxes that carry no such segments."""
    strip = _stripper(str(syntax))
    if strip is None:
        return pixel_data
    try:
        found = list(generate_frames(pixel_data, number_of_frames=frames))
    except (ValueError, struct.error) as error:
        raise CodestreamError(f"The encapsulated pixel data is malformed ({error}).") from None
    if len(found) != frames:
        raise CodestreamError(f"The pixel data holds {len(found)} frames, not {frames}.")
    return encapsulate([strip(frame, samples) for frame in found], has_bot=frames > 1)


def _stripper(syntax: str) -> Callable[[bytes, int], bytes] | None:
    if syntax in JPEG_SYNTAXES:
        return strip_jpeg
    if syntax in J2K_SYNTAXES:
        return strip_j2k
    return None


# --- JPEG and JPEG-LS -----------------------------------------------------------------------


def strip_jpeg(frame: bytes, samples: int = 1) -> bytes:
    """One JPEG or JPEG-LS image without its COM and APPn segments."""
    if frame[:2] != b"\xff\xd8":
        raise CodestreamError("A JPEG frame does not start with SOI.")
    out = bytearray(b"\xff\xd8")
    pos = 2
    while pos < len(frame):
        pos, marker = _next_marker(frame, pos)
        if marker == EOI:
            out += b"\xff\xd9"
            return bytes(out)
        if RST0 <= marker <= RST7 or marker == TEM:
            out += bytes((0xFF, marker))
            pos += 2
            continue
        end = _segment_end(frame, pos)
        out += _kept(marker, frame[pos:end], samples)
        pos = end
        if marker == SOS:
            scan_end = _entropy_end(frame, pos)
            out += frame[pos:scan_end]
            pos = scan_end
    raise CodestreamError("A JPEG frame ends without EOI.")


def _next_marker(frame: bytes, pos: int) -> tuple[int, int]:
    """(position of the marker's FF, marker code), skipping fill bytes."""
    if frame[pos] != 0xFF:
        raise CodestreamError(f"A JPEG frame has no marker at byte {pos}.")
    while pos + 1 < len(frame) and frame[pos + 1] == 0xFF:
        pos += 1  # fill bytes
    if pos + 1 >= len(frame):
        raise CodestreamError("A JPEG frame ends inside a marker.")
    return pos, frame[pos + 1]


def _segment_end(frame: bytes, pos: int) -> int:
    if pos + 4 > len(frame):
        raise CodestreamError("A JPEG marker segment is truncated.")
    length = int.from_bytes(frame[pos + 2 : pos + 4], "big")
    if length < 2 or pos + 2 + length > len(frame):
        raise CodestreamError(f"A JPEG marker segment at byte {pos} has a bad length.")
    return pos + 2 + length


def _kept(marker: int, segment: bytes, samples: int) -> bytes:
    """What stays of a marker segment: all of it, none of it, or a JFIF APP0 without its
    thumbnail."""
    if marker != COM and not APP0 <= marker <= APP15:
        return segment
    if marker == COM or samples == 1:
        return b""
    payload = segment[4:]
    if marker == APP0 and payload.startswith(JFIF) and len(payload) >= JFIF_SIZE:
        return segment[:2] + (JFIF_SIZE + 2).to_bytes(2, "big") + payload[:12] + b"\x00\x00"
    kept = COLOUR_SEGMENTS.get(marker)
    fixed_form = kept is not None and payload.startswith(kept[0]) and len(payload) == kept[1]
    return segment if fixed_form else b""


def _entropy_end(frame: bytes, pos: int) -> int:
    """Where the entropy-coded data after a scan header ends: at the first FF that starts a
    marker. FF 00 (JPEG byte stuffing), FF followed by a byte below 80 (JPEG-LS bit stuffing)
    and restart markers belong to the data."""
    while True:
        pos = frame.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(frame):
            raise CodestreamError("A JPEG scan ends without a marker.")
        following = frame[pos + 1]
        if following < 0x80 or RST0 <= following <= RST7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


# --- JPEG 2000 ------------------------------------------------------------------------------


@dataclass
class _TilePart:
    sot: bytes  # the 12-byte SOT segment as read
    header: list[bytes]  # the kept marker segments after SOT
    data: bytes  # from SOD on
    to_end: bool  # Psot was 0: the last tile-part runs to EOC

    def length(self) -> int:
        return 12 + sum(map(len, self.header)) + len(self.data)

    def encoded(self) -> bytes:
        psot = 0 if self.to_end else self.length()
        sot = self.sot[:6] + psot.to_bytes(4, "big") + self.sot[10:]
        return sot + b"".join(self.header) + self.data


def strip_j2k(frame: bytes, samples: int = 1) -> bytes:
    """One JPEG 2000 codestream without COM segments (unwrapped from a JP2 file if need be);
    ``samples`` is not needed (JPEG 2000 colour transforms are coded in COD, not in COM)."""
    if frame.startswith(JP2_SIGNATURE):
        frame = _jp2_codestream(frame)
    if _u16(frame, 0) != J2K_SOC:
        raise CodestreamError("A JPEG 2000 frame does not start with SOC.")
    main, pos = _header_segments(frame, 2, until=J2K_SOT)
    parts: list[_TilePart] = []
    while _u16(frame, pos) == J2K_SOT:
        part, pos = _tile_part(frame, pos)
        parts.append(part)
    if _u16(frame, pos) != J2K_EOC:
        raise CodestreamError("A JPEG 2000 codestream does not end with EOC.")
    main = _with_tile_lengths(main, [part.length() for part in parts])
    return b"\xff\x4f" + b"".join(main) + b"".join(p.encoded() for p in parts) + b"\xff\xd9"


def _u16(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        raise CodestreamError("A JPEG 2000 codestream is truncated.")
    return int.from_bytes(data[pos : pos + 2], "big")


def _header_segments(frame: bytes, pos: int, until: int) -> tuple[list[bytes], int]:
    """The marker segments from ``pos`` up to the marker ``until``, COM segments left out."""
    kept = []
    while (marker := _u16(frame, pos)) != until:
        if marker >> 8 != 0xFF or marker in (J2K_SOT, J2K_SOD, J2K_EOC):
            raise CodestreamError(f"A JPEG 2000 header has no marker segment at byte {pos}.")
        end = pos + 2 + _u16(frame, pos + 2)
        if end > len(frame) or end < pos + 4:
            raise CodestreamError(f"A JPEG 2000 marker segment at byte {pos} has a bad length.")
        if marker != J2K_COM:
            kept.append(frame[pos:end])
        pos = end
    return kept, pos


def _tile_part(frame: bytes, start: int) -> tuple[_TilePart, int]:
    if _u16(frame, start + 2) != 10 or start + 12 > len(frame):
        raise CodestreamError("A JPEG 2000 SOT segment is malformed.")
    sot = frame[start : start + 12]
    psot = int.from_bytes(sot[6:10], "big")
    end = frame.rfind(b"\xff\xd9") if psot == 0 else start + psot  # Psot 0: up to EOC
    if end > len(frame) - 2 or end < start + 14:
        raise CodestreamError("A JPEG 2000 tile-part length runs past the codestream.")
    header, sod = _header_segments(frame, start + 12, until=J2K_SOD)
    if sod >= end:
        raise CodestreamError("A JPEG 2000 tile-part header runs past its tile-part.")
    return _TilePart(sot, header, frame[sod:end], psot == 0), end


def _with_tile_lengths(main: list[bytes], lengths: list[int]) -> list[bytes]:
    """The main header with the tile-part lengths of its TLM segments (if any) replaced by
    ``lengths``, in order: TLM lists every tile-part of the codestream."""
    pending = iter(lengths)
    out = []
    for segment in main:
        out.append(_rewritten_tlm(segment, pending) if _u16(segment, 0) == J2K_TLM else segment)
    if any(_u16(s, 0) == J2K_TLM for s in main) and next(pending, None) is not None:
        raise CodestreamError("The JPEG 2000 TLM segments list fewer tile-parts than there are.")
    return out


def _rewritten_tlm(segment: bytes, lengths: Iterator[int]) -> bytes:
    if len(segment) < 6:
        raise CodestreamError("A JPEG 2000 TLM segment is truncated.")
    stlm = segment[5]
    t_size = (stlm >> 4) & 3
    p_size = 4 if (stlm >> 6) & 1 else 2
    if t_size == 3 or (len(segment) - 6) % (t_size + p_size):
        raise CodestreamError("A JPEG 2000 TLM segment is malformed.")
    out = bytearray(segment[:6])
    for entry in range(6, len(segment), t_size + p_size):
        length = next(lengths, None)
        if length is None:
            raise CodestreamError("The JPEG 2000 TLM segments list more tile-parts than there are.")
        out += segment[entry : entry + t_size] + length.to_bytes(p_size, "big")
    return bytes(out)


def _jp2_codestream(data: bytes) -> bytes:
    """The contiguous codestream box of a JP2 file."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            raise CodestreamError("A JP2 box has a bad length.")
        if kind == b"jp2c":
            return data[pos + header : pos + size]
        pos += size
    raise CodestreamError("A JP2 file holds no codestream box.")
