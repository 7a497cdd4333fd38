"""Comment and application segments leave compressed pixel data losslessly: every installed
decoder gives the same pixels before and after, and the planted text is gone."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless

from app.imaging.jpeg_segments import CodestreamError, strip_j2k, strip_jpeg, strip_pixel_data
from app.imaging.synthetic import ExamOptions, synthetic_exam
from tests.imaging.helpers import SMALL, pydicom_file
from tests.imaging.phi_markers import (
    baseline_jpeg,
    j2k_with_text,
    jp2_wrapped,
    jpeg_with_text,
    planted_frames,
    segment,
)

TEXT = b"DOE^JANE MRN-4711-SECRET"
# Real codestreams from several encoders (pydicom's test files): JPEG lossless, baseline with
# JFIF and Adobe segments, JPEG-LS lossless and near-lossless, JPEG 2000 lossless and lossy,
# single and multi-frame, grey and colour.
REAL_FILES = [
    "JPEG-LL.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_app14_dcmd.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEGLSNearLossless_16.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "693_J2KI.dcm",
    "GDCMJ2K_TextGBR.dcm",
    "US1_J2KR.dcm",
]


def decodings(ds: pydicom.Dataset) -> dict[str, np.ndarray]:
    """The pixels each installed decoder gives (decoders that fail are left out)."""
    found = {}
    for plugin in get_decoder(ds.file_meta.TransferSyntaxUID).available_plugins:
        with contextlib.suppress(Exception):  # an old decoder refusing a segment it does not know
            found[plugin] = pixel_array(copy.deepcopy(ds), decoding_plugin=plugin)
    return found


def assert_lossless(planted: pydicom.Dataset) -> pydicom.Dataset:
    frames = int(planted.get("NumberOfFrames", 1) or 1)
    samples = int(planted.get("SamplesPerPixel", 1))
    syntax = planted.file_meta.TransferSyntaxUID
    stripped = copy.deepcopy(planted)
    stripped.PixelData = strip_pixel_data(planted.PixelData, syntax, frames, samples)
    assert TEXT in planted.PixelData
    assert TEXT not in stripped.PixelData
    before, after = decodings(planted), decodings(stripped)
    assert before, "no installed decoder reads the planted file"
    for plugin, pixels in before.items():
        assert np.array_equal(after[plugin], pixels), plugin
    return stripped


def planter(syntax: str):  # type: ignore[no-untyped-def]
    if syntax.startswith("1.2.840.10008.1.2.4.9"):
        return lambda frame: j2k_with_text(frame, TEXT)
    return lambda frame: jpeg_with_text(frame, TEXT)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", REAL_FILES)
def test_real_codestreams_lose_their_text_and_nothing_else(name: str) -> None:
    ds = pydicom.dcmread(io.BytesIO(pydicom_file(name)))
    planted_frames(ds, planter(str(ds.file_meta.TransferSyntaxUID)))
    assert_lossless(ds)


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless])
def test_synthetic_mammograms(syntax: str) -> None:
    ds = synthetic_exam(5, ExamOptions(**SMALL, transfer_syntax=syntax))[0][0]
    original = pixel_array(ds)
    planted_frames(ds, planter(str(syntax)), fragments=3)
    stripped = assert_lossless(ds)
    assert np.array_equal(pixel_array(stripped), original)


def test_a_jp2_file_becomes_its_bare_codestream() -> None:
    ds = synthetic_exam(6, ExamOptions(**SMALL, transfer_syntax=JPEG2000Lossless))[0][0]
    original = pixel_array(ds)
    planted_frames(ds, lambda f: jp2_wrapped(j2k_with_text(f, TEXT), 256, 208, 12, TEXT))
    stripped = assert_lossless(ds)
    frame = next(generate_frames(stripped.PixelData, number_of_frames=1))
    assert frame.startswith(b"\xff\x4f\xff\x51")
    assert frame.rstrip(b"\x00").endswith(b"\xff\xd9")
    assert np.array_equal(pixel_array(stripped), original)


def test_baseline_jpeg() -> None:
    ds = synthetic_exam(7, ExamOptions(**SMALL))[0][0]
    baseline_jpeg(ds, TEXT)
    assert_lossless(ds)


def test_colour_transform_segments_stay_only_for_colour_images() -> None:
    adobe = segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
    frame = b"\xff\xd8" + adobe + segment(0xFE, TEXT) + b"\xff\xd9"
    assert strip_jpeg(frame, samples=3) == b"\xff\xd8" + adobe + b"\xff\xd9"
    assert strip_jpeg(frame, samples=1) == b"\xff\xd8\xff\xd9"
    longer = segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01" + TEXT)  # not the fixed form
    assert strip_jpeg(b"\xff\xd8" + longer + b"\xff\xd9", samples=3) == b"\xff\xd8\xff\xd9"
    jfif = b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01"
    thumbnail = segment(0xE0, jfif + b"\x02\x01" + TEXT[:6])  # a 2x1 RGB thumbnail
    expected = b"\xff\xd8" + segment(0xE0, jfif + b"\x00\x00") + b"\xff\xd9"
    assert strip_jpeg(b"\xff\xd8" + thumbnail + b"\xff\xd9", samples=3) == expected


def test_tile_part_lengths_follow_a_removed_tile_part_comment() -> None:
    ds = synthetic_exam(8, ExamOptions(**SMALL, transfer_syntax=JPEG2000Lossless))[0][0]
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    sot = frame.index(b"\xff\x90\x00\x0a")
    psot = int.from_bytes(frame[sot + 6 : sot + 10], "big")
    tlm = segment(0xFF55, b"\x00\x50" + b"\x00" + psot.to_bytes(4, "big"))  # 1-byte T, 4-byte P
    with_tlm = frame[:sot] + tlm + frame[sot:]
    planted = j2k_with_text(with_tlm, TEXT)
    ds.PixelData = encapsulate([planted])
    stripped = strip_j2k(planted)
    new_sot = stripped.index(b"\xff\x90\x00\x0a")
    new_psot = int.from_bytes(stripped[new_sot + 6 : new_sot + 10], "big")
    tlm_at = stripped.index(b"\xff\x55")
    assert int.from_bytes(stripped[tlm_at + 7 : tlm_at + 11], "big") == new_psot
    assert stripped[new_sot + new_psot :] == b"\xff\xd9"
    assert_lossless(ds)


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x01\x02",  # no SOI
        b"\xff\xd8\xff\xfe\x00\x40abc",  # a segment longer than the data
        b"\xff\xd8\xff\xfe\x00\x05abc",  # no EOI
    ],
)
def test_malformed_jpeg_is_refused(frame: bytes) -> None:
    with pytest.raises(CodestreamError):
        strip_jpeg(frame)


def test_malformed_j2k_is_refused() -> None:
    with pytest.raises(CodestreamError):
        strip_j2k(b"\xff\x4f\xff\x51\x00\x40")
    with pytest.raises(CodestreamError):
        strip_pixel_data(encapsulate([b"\xff\x4f"]), JPEG2000Lossless, frames=1)
