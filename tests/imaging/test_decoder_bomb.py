"""Decoder bombs: a compressed frame that states another size than its header is refused
before any decoder runs, and decoders run in a worker whose memory and time are capped."""

from __future__ import annotations

import contextlib
import copy
import io
import struct
import time
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage
from pydicom.encaps import encapsulate, get_frame
from pydicom.filereader import _read_file_meta_info
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from app.imaging import codestream, decoding
from app.imaging.codestream import CodestreamError, Expected, Frame
from app.imaging.dicom import MAX_PIXELS, decode, pixel_data_refusal
from app.imaging.importing import sources
from tests.helpers import bearer
from tests.imaging.helpers import dataset_bytes, exam_files, upload

HEADER = Expected(rows=256, columns=208, samples=1, bits_allocated=16)
BOMB = (24000, 24000)
SOF_MARKERS = (b"\xff\xc0", b"\xff\xc1", b"\xff\xc3", b"\xff\xf7")


# --- real files, encoded by the real encoders -----------------------------------------------


def native(seed: int) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(exam_files(seed)[0][1]))


def encoded(seed: int, syntax: UID) -> pydicom.Dataset:
    """A 256x208 12-bit image in ``syntax``: pydicom's encoders, Pillow (baseline), GDCM."""
    if syntax == JPEGBaseline8Bit:
        return _baseline(native(seed))
    if syntax == JPEGLosslessSV1:
        return _gdcm_lossless(native(seed))
    return pydicom.dcmread(io.BytesIO(exam_files(seed, transfer_syntax=syntax)[0][1]))


def _baseline(ds: pydicom.Dataset) -> pydicom.Dataset:
    pixels = (decode(ds) >> 4).astype(np.uint8)
    buffer = io.BytesIO()
    PilImage.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    for keyword in ("WindowCenter", "WindowWidth", "VOILUTSequence"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    return with_frame(ds, JPEGBaseline8Bit, buffer.getvalue())


def _gdcm_lossless(ds: pydicom.Dataset) -> pydicom.Dataset:
    import tempfile

    import gdcm

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "in.dcm"), Path(folder, "out.dcm")
        source.write_bytes(dataset_bytes(ds))
        reader = gdcm.ImageReader()
        reader.SetFileName(str(source))
        assert reader.Read()
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        assert change.Change()
        writer = gdcm.ImageWriter()
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        writer.SetFileName(str(target))
        assert writer.Write()
        return pydicom.dcmread(target)


def with_frame(ds: pydicom.Dataset, syntax: UID, frame: bytes) -> pydicom.Dataset:
    ds = copy.deepcopy(ds)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def frame_of(ds: pydicom.Dataset) -> bytes:
    return get_frame(ds.PixelData, 0, number_of_frames=1)


# --- forgeries: the header says 256x208, the codestream says otherwise ----------------------


def forged_jpeg(frame: bytes, rows: int, columns: int) -> bytes:
    """The SOFn / SOF55 segment rewritten: FF Cn, length (2), precision (1), Y (2), X (2)."""
    at = min(i for i in (frame.find(m) for m in SOF_MARKERS) if i >= 0)
    return frame[: at + 5] + struct.pack(">HH", rows, columns) + frame[at + 9 :]


def forged_j2k(frame: bytes, rows: int, columns: int) -> bytes:
    """The SIZ segment rewritten: FF4F FF51, Lsiz, Rsiz, then Xsiz and Ysiz (offsets 0)."""
    return frame[:8] + struct.pack(">II", columns, rows) + frame[16:]


def forged_rle(frame: bytes, segments: int) -> bytes:
    count, *offsets = struct.unpack_from("<16I", frame)
    used = offsets[:count]
    used += [used[-1] + 2 * i for i in range(1, 16 - count)]  # more segments, further on
    return struct.pack("<16I", segments, *used[:15]) + frame[64:]


def rle_run_bomb(megabytes: int) -> bytes:
    """Two RLE segments of replicate runs: each two bytes decode to 128 (64x expansion)."""
    segment = b"\x81\x00" * (megabytes * 2**19 // 2)
    header = struct.pack("<16I", 2, 64, 64 + len(segment), *([0] * 13))
    return header + segment + segment


# --- the parsers, on real codestreams -------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> dict[str, pydicom.Dataset]:
    syntaxes = (JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless)
    return {str(syntax): encoded(300 + i, syntax) for i, syntax in enumerate(syntaxes)}


def test_parsers_read_the_size_real_encoders_state(real) -> None:
    assert codestream.jpeg_frame(frame_of(real[JPEGBaseline8Bit])) == Frame(256, 208, 1, 8)
    assert codestream.jpeg_frame(frame_of(real[JPEGLosslessSV1])) == Frame(256, 208, 1, 16)
    assert codestream.jpeg_frame(frame_of(real[JPEGLSLossless])) == Frame(256, 208, 1, 12)
    assert codestream.j2k_frame(frame_of(real[JPEG2000Lossless])) == Frame(256, 208, 1, 12)
    assert codestream.rle_segments(frame_of(real[RLELossless])) == 2
    for ds in real.values():
        assert pixel_data_refusal(ds) is None


def test_a_jp2_file_is_read_through_its_boxes(real) -> None:
    j2k = frame_of(real[JPEG2000Lossless])
    header = struct.pack(">IIHBBBB", 256, 208, 1, 11, 7, 0, 0)
    jp2h = _box(b"jp2h", _box(b"ihdr", header))
    jp2 = codestream.JP2_SIGNATURE + _box(b"ftyp", b"jp2 \0\0\0\0jp2 ") + jp2h
    assert codestream.j2k_frame(jp2 + _box(b"jp2c", j2k)) == Frame(256, 208, 1, 12)
    with pytest.raises(CodestreamError, match="JP2 header states 256x208"):
        codestream.j2k_frame(jp2 + _box(b"jp2c", forged_j2k(j2k, *BOMB)))


def _box(kind: bytes, content: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(content), kind) + content


@pytest.mark.parametrize(
    ("syntax", "forge"),
    [
        (JPEGBaseline8Bit, forged_jpeg),
        (JPEGLosslessSV1, forged_jpeg),
        (JPEGLSLossless, forged_jpeg),
        (JPEG2000Lossless, forged_j2k),
    ],
)
def test_forged_sizes_are_read_as_forged(real, syntax, forge) -> None:
    ds = real[syntax]
    forged = forge(frame_of(ds), *BOMB)
    reader = codestream.j2k_frame if forge is forged_j2k else codestream.jpeg_frame
    assert (reader(forged).rows, reader(forged).columns) == BOMB
    reason = pixel_data_refusal(with_frame(ds, syntax, forged))
    assert reason is not None
    assert "states 24000x24000 pixels but the header states 256x208" in reason


def test_jpeg_ls_oversize_segment_counts_as_a_stated_size(real) -> None:
    frame = frame_of(real[JPEGLSLossless])
    sos = frame.index(b"\xff\xda")
    lse = b"\xff\xf8" + struct.pack(">HBB", 12, 4, 4) + struct.pack(">II", *BOMB)
    with pytest.raises(CodestreamError, match="more than one image size"):
        codestream.jpeg_frame(frame[:sos] + lse + frame[sos:])
    zeroed = forged_jpeg(frame, 0, 0)
    sos = zeroed.index(b"\xff\xda")
    assert codestream.jpeg_frame(zeroed[:sos] + lse + zeroed[sos:]).rows == 24000


def test_a_second_frame_header_after_the_scan_is_seen(real) -> None:
    frame = frame_of(real[JPEGLSLossless]).rstrip(b"\0")
    assert frame.endswith(b"\xff\xd9")
    second = b"\xff\xf7" + struct.pack(">HBHHB", 11, 12, *BOMB, 1) + b"\x01\x11\x00"
    with pytest.raises(CodestreamError, match="24000x24000"):
        codestream.jpeg_frame(frame[:-2] + second + frame[-2:])


def test_j2k_tile_count_is_bounded(real) -> None:
    frame = bytearray(frame_of(real[JPEG2000Lossless]))
    frame[24:32] = struct.pack(">II", 1, 1)  # 1x1 tiles: 53248 of them is fine
    assert codestream.j2k_frame(bytes(frame)).rows == 256
    big = forged_j2k(bytes(frame), 512, 512)
    with pytest.raises(CodestreamError, match="262144 tiles"):
        codestream.j2k_frame(big)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_damaged_codestreams_raise_only_codestream_errors(real, data) -> None:
    """Cut short or with bytes changed, a codestream is read as a size or refused cleanly."""
    syntax = data.draw(st.sampled_from(sorted(real)))
    frame = bytearray(frame_of(real[syntax])[:400])
    for _ in range(data.draw(st.integers(0, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    cut = bytes(frame[: data.draw(st.integers(0, len(frame)))])
    reader = {
        str(JPEG2000Lossless): codestream.j2k_frame,
        str(RLELossless): codestream.rle_segments,
    }.get(syntax, codestream.jpeg_frame)
    try:
        result = reader(cut)
    except CodestreamError:
        return
    assert isinstance(result, Frame | int)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_is_refused_cleanly(data: bytes) -> None:
    for reader in (codestream.jpeg_frame, codestream.j2k_frame, codestream.rle_segments):
        with contextlib.suppress(CodestreamError):
            reader(data)
    for prefix in (b"\xff\xd8", codestream.J2K_SOC_SIZ, codestream.JP2_SIGNATURE):
        for reader in (codestream.jpeg_frame, codestream.j2k_frame):
            with contextlib.suppress(CodestreamError):
                reader(prefix + data)


def test_hostile_structures_are_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(CodestreamError, match="more than 4096 marker segments"):
        codestream.jpeg_frame(b"\xff\xd8" + b"\xff\xfe\x00\x02" * 100_000)
    with pytest.raises(CodestreamError, match="cut short"):
        codestream.jpeg_frame(b"\xff\xd8" + b"\xff" * 2**24)  # fill bytes
    nested = codestream.JP2_SIGNATURE
    for _ in range(5000):  # a codestream box holding a JP2 file holding one...
        nested = codestream.JP2_SIGNATURE + _box(b"jp2c", nested)
    with pytest.raises(CodestreamError, match="SOC and SIZ"):
        codestream.j2k_frame(nested)
    with pytest.raises(CodestreamError, match="more than 4096 boxes"):
        codestream.j2k_frame(codestream.JP2_SIGNATURE + _box(b"free", b"") * 10_000)
    assert time.monotonic() - started < 2


@settings(max_examples=100, deadline=None)
@given(rows=st.integers(1, 65535), columns=st.integers(1, 65535))
def test_any_stated_size_is_read_and_judged(real, rows, columns) -> None:
    forged = forged_jpeg(frame_of(real[JPEGLSLossless]), rows, columns)
    frame = codestream.jpeg_frame(forged)
    assert (frame.rows, frame.columns) == (rows, columns)
    reason = codestream.frame_refusal("JPEG-LS", frame, HEADER, MAX_PIXELS)
    assert (reason is None) == ((rows, columns) == (256, 208))


# --- the rules ------------------------------------------------------------------------------


def test_frame_rule() -> None:
    fine = Frame(256, 208, 1, 12)
    assert codestream.frame_refusal("JPEG", fine, HEADER, MAX_PIXELS) is None
    assert "24000x24000" in codestream.frame_refusal("JPEG", Frame(*BOMB, 1, 12), HEADER, 10**9)
    huge = Expected(24000, 24000, 1, 16)
    assert "more than the limit" in codestream.frame_refusal(
        "JPEG", Frame(*BOMB, 1, 12), huge, MAX_PIXELS
    )
    assert "3 components" in codestream.frame_refusal(
        "JPEG", Frame(256, 208, 3, 8), HEADER, MAX_PIXELS
    )
    assert "24-bit samples" in codestream.frame_refusal(
        "JPEG 2000", Frame(256, 208, 1, 24), HEADER, MAX_PIXELS
    )


def test_rle_and_native_rules() -> None:
    assert codestream.rle_refusal(2, HEADER) is None
    assert "has 3 segments" in codestream.rle_refusal(3, HEADER)
    eight = Expected(256, 208, 1, 8)
    assert codestream.rle_refusal(1, eight) is None
    assert codestream.native_refusal(256 * 208 * 2, HEADER) is None
    assert codestream.native_refusal(5, Expected(1, 5, 1, 8)) is None
    assert codestream.native_refusal(6, Expected(1, 5, 1, 8)) is None  # one padding byte
    assert codestream.native_refusal(100, HEADER) == codestream.TRUNCATED
    assert "more than the 106496" in codestream.native_refusal(10**6, HEADER)
    assert codestream.native_refusal(8, Expected(8, 8, 1, 1)) is None  # bit-packed


def test_rle_offsets_are_checked(real) -> None:
    frame = frame_of(real[RLELossless])
    assert "has 1 segments" in pixel_data_refusal(
        with_frame(real[RLELossless], RLELossless, forged_rle(frame, 1))
    )
    assert "has 3 segments" in pixel_data_refusal(
        with_frame(real[RLELossless], RLELossless, forged_rle(frame, 3))
    )
    backwards = struct.pack("<16I", 2, 64, 60, *([0] * 13)) + frame[64:]
    with pytest.raises(CodestreamError, match="not in order"):
        codestream.rle_segments(backwards)


def test_longer_native_pixel_data_is_refused() -> None:
    ds = native(310)
    ds.PixelData = ds.PixelData + b"\0" * 4096
    assert "more than the 106496" in pixel_data_refusal(ds)


# --- the capped worker ----------------------------------------------------------------------


def rle_job(plugin: str, **changes: object) -> decoding.Job:
    options = {
        "rows": 256,
        "columns": 208,
        "samples_per_pixel": 1,
        "bits_allocated": 16,
        "bits_stored": 12,
        "pixel_representation": 0,
        "photometric_interpretation": "MONOCHROME2",
        "number_of_frames": 1,
    }
    budget = decoding.memory_budget(256, 208, 1, 2**20)
    return decoding.Job(str(RLELossless), plugin, options, budget, **changes)  # type: ignore[arg-type]


def test_worker_decodes_exactly_as_in_process(real) -> None:
    for ds in real.values():
        expected = decode(ds)
        pixels = decoding.decode_capped(ds)
        assert pixels.dtype == expected.dtype
        assert np.array_equal(pixels, expected)


def test_threads_share_a_few_workers(real) -> None:
    """The server decodes from its request threads: they queue for at most WORKERS workers."""
    ds = real[JPEG2000Lossless]
    expected = decode(ds)
    with ThreadPoolExecutor(4) as threads:
        results = list(threads.map(lambda _: decoding.decode_capped(ds), range(8)))
    assert all(np.array_equal(result, expected) for result in results)
    assert 1 <= len(decoding._pool()._idle) <= decoding.WORKERS


def test_a_decoder_that_outgrows_its_budget_is_stopped(real) -> None:
    """pydicom's own RLE decoder grows its output with the runs: 64 MB of runs would become
    4 GB. Capped at what 256x208 needs plus the margin, it is refused, and the server's own
    memory does not grow."""
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(decoding.DecodeRefused, match="within the memory limit"):
        decoding.run(rle_job("pydicom"), encapsulate([rle_run_bomb(64)]))
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 30
    assert peak < 300 * 2**20  # the 128 MB input, twice at most; never the 4 GB
    ds = real[RLELossless]
    assert np.array_equal(decoding.decode_capped(ds), decode(ds))  # a new worker took over


def test_a_decoder_that_panics_is_a_refusal() -> None:
    """pylibjpeg-rle panics (a BaseException) when runs overflow the frame. A decoder's error
    leaves its worker usable: the next file does not wait for a new one to start."""
    with pytest.raises(decoding.DecodeRefused, match="damaged or truncated"):
        decoding.run(rle_job("pylibjpeg"), encapsulate([rle_run_bomb(1)]))
    workers = {worker.process.pid for worker in decoding._pool()._idle}
    with pytest.raises(decoding.DecodeRefused, match="damaged or truncated"):
        decoding.run(rle_job("pylibjpeg"), encapsulate([rle_run_bomb(1)]))
    assert {worker.process.pid for worker in decoding._pool()._idle} == workers


def test_a_slow_decode_is_stopped_at_its_time_limit(real) -> None:
    ds = real[JPEG2000Lossless]
    job = decoding.job_for(ds)
    hurried = decoding.Job(job.syntax, job.plugin, job.options, job.memory_bytes, seconds=0.0)
    with pytest.raises(decoding.DecodeRefused, match="within 0 seconds"):
        decoding.run(hurried, ds.PixelData)
    assert np.array_equal(decoding.decode_capped(ds), decode(ds))


def test_a_killed_worker_is_a_refusal(real) -> None:
    ds = real[JPEG2000Lossless]
    worker = decoding._Worker()
    worker.process.kill()
    worker.process.wait()
    with pytest.raises(decoding.DecodeRefused, match="within the memory limit"):
        worker.decode(decoding.job_for(ds), ds.PixelData)
    worker.stop()


# --- through the import API -----------------------------------------------------------------


@pytest.fixture
def admin_headers(client, admin) -> dict[str, str]:
    return bearer(client, "admin")


def forged_upload(real, syntax: UID) -> tuple[str, bytes]:
    ds = real[syntax]
    if syntax == RLELossless:
        forged = forged_rle(frame_of(ds), 15)
    elif syntax == JPEG2000Lossless:
        forged = forged_j2k(frame_of(ds), *BOMB)
    else:
        forged = forged_jpeg(frame_of(ds), *BOMB)
    return f"forged-{syntax}.dcm", dataset_bytes(with_frame(ds, syntax, forged))


@pytest.mark.parametrize(
    "syntax", [JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless]
)
def test_forged_codestreams_are_refused_and_genuine_ones_import(
    client, admin_headers, real, syntax
) -> None:
    """The issue's file: 4 KB, header 256x208, JPEG-LS SOF55 24000x24000 (2.3 GB before)."""
    forged = forged_upload(real, syntax)
    genuine = (f"genuine-{syntax}.dcm", dataset_bytes(real[syntax]))
    tracemalloc.start()
    started = time.monotonic()
    response = upload(client, [forged, genuine], admin_headers)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 200
    first, second = response.json()["outcomes"]
    assert first["status"] == "rejected"
    if syntax == RLELossless:
        assert first["reason"].startswith("The RLE data has 15 segments but the header")
    else:
        assert (
            "codestream states 24000x24000 pixels but the header states 256x208"
            in (first["reason"])
        )
    assert second["status"] == "imported", second
    assert elapsed < 20
    assert peak < 64 * 2**20


def test_an_rle_run_bomb_is_refused_not_a_500(client, admin_headers, real) -> None:
    """Before, pylibjpeg-rle's panic (a BaseException) went through the import as a 500."""
    ds = real[RLELossless]
    bomb = ("bomb.dcm", dataset_bytes(with_frame(ds, RLELossless, rle_run_bomb(4))))
    good = exam_files(320)[0]
    response = upload(client, [bomb, good], admin_headers)
    assert response.status_code == 200
    first, second = response.json()["outcomes"]
    assert first["status"] == "rejected"
    assert "could not be decoded" in first["reason"]
    assert second["status"] == "imported"


# --- deflated data sets ---------------------------------------------------------------------


def deflated(ds: pydicom.Dataset) -> bytes:
    ds = copy.deepcopy(ds)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return dataset_bytes(ds)


def deflate_bomb(ds: pydicom.Dataset, megabytes: int) -> bytes:
    data = deflated(ds)
    stream = io.BytesIO(data)
    stream.seek(132)
    _read_file_meta_info(stream)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(2**20)
    body = b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()
    return data[: stream.tell()] + body


def test_a_deflate_bomb_is_refused_before_pydicom_inflates_it(
    client, admin_headers, monkeypatch
) -> None:
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 8 * 2**20)
    ds = native(330)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    files = [("bomb.dcm", deflate_bomb(ds, 32)), ("deflated.dcm", deflated(native(331)))]
    body = upload(client, files, admin_headers).json()
    first, second = body["outcomes"]
    assert first["reason"] == "The deflated data set expands to more than 8 MB."
    assert second["status"] == "imported", second
