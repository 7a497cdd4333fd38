"""Grey-scale display chain, checked against pydicom's own VOI functions."""

from __future__ import annotations

import io
import json
import math
import tracemalloc
from functools import cache

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian

from app.imaging.display import (
    DisplayParams,
    VoiLut,
    Window,
    WindowChoice,
    apply_lut,
    build_lut,
    encode,
    inverts,
    render,
    resolve,
    to_storage,
)

# --- pydicom reference ----------------------------------------------------------------------


@cache
def load(name: str) -> tuple[Dataset, np.ndarray]:
    path = pydicom.data.get_testdata_file(name, download=False)
    assert path is not None, f"{name} missing: install pydicom-data"
    ds = pydicom.dcmread(path)
    return ds, ds.pixel_array


def pydicom_output_range(ds: Dataset) -> tuple[float, float]:
    """pydicom 3 apply_windowing's output range: the stored range, then rescaled."""
    bits = int(ds.BitsStored)
    if ds.PixelRepresentation == 0:
        y_min, y_max = 0.0, 2.0**bits - 1
    else:
        y_min, y_max = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
    return y_min, y_max


def reference(arr: np.ndarray, ds: Dataset, index: int, prefer_lut: bool) -> np.ndarray:
    """pydicom's VOI output scaled to 0..255, inverted for MONOCHROME1."""
    modality = apply_modality_lut(arr, ds)
    has_lut = bool(ds.get("VOILUTSequence"))
    has_window = "WindowCenter" in ds and "WindowWidth" in ds
    out = apply_voi_lut(modality, ds, index=index, prefer_lut=prefer_lut).astype(np.float64)
    if has_lut and (prefer_lut or not has_window):
        scaled = out / _lut_max(ds.VOILUTSequence[index])
    elif has_window:
        y_min, y_max = pydicom_output_range(ds)
        scaled = (out - y_min) / (y_max - y_min)
    else:  # no VOI at all: linear over the image's own value range
        scaled = (out - out.min()) / max(out.max() - out.min(), 1)
    grey = scaled * 255.0
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255.0 - grey
    return np.rint(grey)


def _lut_max(item: Dataset) -> float:
    data = item.LUTData
    values = np.frombuffer(data, "<u2") if isinstance(data, bytes) else np.asarray(data)
    return float(values.max())


def ours(arr: np.ndarray, params: DisplayParams, choice: WindowChoice) -> np.ndarray:
    return apply_lut(to_storage(arr, params.signed), build_lut(params, choice))


def assert_close(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.dtype == np.uint8
    assert mine.shape == ref.shape
    assert np.abs(mine.astype(int) - ref.astype(int)).max() <= 1


# --- real files -----------------------------------------------------------------------------

REAL_FILES = [
    "RG1_UNCI.dcm",
    "RG1_J2KR.dcm",
    "RG3_UNCI.dcm",
    "RG3_J2KR.dcm",
    "vlut_04.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG-LL.dcm",
]


WINDOWED_FILES = [name for name in REAL_FILES if name not in ("vlut_04.dcm", "JPEG-LL.dcm")]


@pytest.mark.parametrize("name", WINDOWED_FILES)
def test_every_window_preset_matches_pydicom(name: str) -> None:
    ds, arr = load(name)
    params = DisplayParams.from_dataset(ds)
    assert params.windows
    for index in range(len(params.windows)):
        mine = ours(arr, params, WindowChoice(preset=index))
        assert_close(mine, reference(arr, ds, index, prefer_lut=False))


@pytest.mark.parametrize("name", REAL_FILES)
def test_default_display_matches_pydicom(name: str) -> None:
    ds, arr = load(name)
    modality = apply_modality_lut(arr, ds)
    params = DisplayParams.from_dataset(ds, value_range=(modality.min(), modality.max()))
    assert_close(ours(arr, params, WindowChoice()), reference(arr, ds, 0, prefer_lut=True))


def test_header_facts_of_the_test_files() -> None:
    rg1 = DisplayParams.from_dataset(load("RG1_UNCI.dcm")[0])
    assert (rg1.bits_stored, rg1.signed, rg1.photometric) == (15, False, "MONOCHROME1")
    assert rg1.windows == (Window(15000.0, 30000.0),)
    vlut = DisplayParams.from_dataset(load("vlut_04.dcm")[0])
    assert vlut.voi_lut is not None
    assert (vlut.voi_lut.first_mapped, vlut.voi_lut.bits, len(vlut.voi_lut.data)) == (0, 16, 256)
    assert DisplayParams.from_dataset(load("MR_small_jpeg_ls_lossless.dcm")[0]).signed


def test_dense_tissue_is_bright_for_monochrome1_file() -> None:
    ds, arr = load("RG3_UNCI.dcm")
    grey = ours(arr, DisplayParams.from_dataset(ds), WindowChoice())
    assert grey[arr == arr.max()].max() < grey[arr == arr.min()].min()


# --- synthetic 12-bit images ----------------------------------------------------------------

CENTERS = [2048.0, 1000.5, 3000.0, 2047.5, 1000.0]
WIDTHS = [4096.0, 1.0, 500.0, 0.5, 3.0]
RESCALES = [(None, None), (2.0, -1024.0), (0.5, 100.0)]


def synthetic(
    function: str, signed: bool = False, rescale: tuple[float | None, float | None] = (None, None)
) -> tuple[Dataset, np.ndarray]:
    """Every 12-bit stored value once, with window lists in stored-value units."""
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = int(signed)
    ds.VOILUTFunction = function
    offset = -2048 if signed else 0
    slope, intercept = rescale
    scale, shift = slope or 1.0, intercept or 0.0
    ds.WindowCenter = [(c + offset) * scale + shift for c in CENTERS]
    ds.WindowWidth = [w * scale for w in WIDTHS]
    ds.WindowCenterWidthExplanation = ["FULL", "THIN", "NARROW", "HALF", "STEEP"]
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    arr = (np.arange(4096) + offset).astype(np.int16 if signed else np.uint16).reshape(64, 64)
    return ds, arr


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("rescale", RESCALES)
def test_synthetic_windows_match_pydicom(
    function: str, signed: bool, rescale: tuple[float | None, float | None]
) -> None:
    ds, arr = synthetic(function, signed, rescale)
    params = DisplayParams.from_dataset(ds)
    assert params.voi_function == function
    for index, window in enumerate(params.windows):
        if function != "LINEAR_EXACT" and window.width < 1:
            with pytest.raises(ValueError, match="window width must be"):
                build_lut(params, WindowChoice(preset=index))
            continue
        mine = ours(arr, params, WindowChoice(preset=index))
        assert_close(mine, reference(arr, ds, index, prefer_lut=False))


@pytest.mark.parametrize(
    ("function", "center", "width", "expected"),
    [
        ("LINEAR", 1000.0, 3.0, [0, 64, 191, 255]),  # ramp 998.5..1000.5 over (w - 1)
        ("LINEAR", 1000.1, 3.2, [0, 58, 174, 255]),
        ("LINEAR_EXACT", 1000.1, 3.2, [0, 40, 120, 199]),  # ramp 998.5..1001.7 over w
        ("SIGMOID", 1000.0, 3.0, [17, 53, 128, 202]),  # 255 / (1 + exp(-4 (x - c) / w))
    ],
)
def test_narrow_windows_by_hand(
    function: str, center: float, width: float, expected: list[int]
) -> None:
    """Grey levels of stored values 998..1001 worked out by hand from PS3.3 C.11.2.1."""
    params = DisplayParams(bits_stored=12, signed=False, voi_function=function)
    lut = build_lut(params, WindowChoice(center=center, width=width))
    assert lut[998:1002].tolist() == expected


def test_explanations_and_multi_valued_windows_are_read() -> None:
    params = DisplayParams.from_dataset(synthetic("SIGMOID")[0])
    assert [w.explanation for w in params.windows] == ["FULL", "THIN", "NARROW", "HALF", "STEEP"]
    assert params.windows[2] == Window(3000.0, 500.0, "NARROW")


def test_unknown_voi_function_means_linear() -> None:
    ds = synthetic("LINEAR")[0]
    linear = DisplayParams.from_dataset(ds)
    ds.VOILUTFunction = "BOGUS"
    assert DisplayParams.from_dataset(ds) == linear
    assert DisplayParams(bits_stored=12, signed=False, voi_function="").voi_function == "LINEAR"


def lying_lut_dataset(as_bytes: bool = False) -> tuple[Dataset, np.ndarray]:
    """VOI LUT whose descriptor claims 16 bits but whose entries stop at 4000."""
    ds, arr = synthetic("LINEAR")
    entries = np.rint(np.sqrt(np.linspace(0, 1, 3000)) * 4000).astype(np.uint16)
    item = Dataset()
    item.LUTDescriptor = [3000, 500, 16]
    if as_bytes:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        item.add_new(0x00283006, "OW", entries.astype("<u2").tobytes())
    else:
        item.LUTData = entries.tolist()
    ds.VOILUTSequence = [item]
    return ds, arr


def test_voi_lut_scaled_by_its_real_maximum_and_clamped() -> None:
    ds, arr = lying_lut_dataset()
    params = DisplayParams.from_dataset(ds)
    assert params.voi_lut is not None
    assert params.voi_lut.bits == 16
    mine = ours(arr, params, WindowChoice())
    assert_close(mine, reference(arr, ds, 0, prefer_lut=True))
    assert mine.max() == 255  # a 16-bit scaling would stop at 4000/65535*255 = 16
    assert np.all(mine.ravel()[:501] == 0)  # below first_mapped: first entry
    assert np.all(mine.ravel()[3499:] == 255)  # past the end: last entry


def test_voi_lut_from_ow_bytes_equals_us_list() -> None:
    from_bytes = DisplayParams.from_dataset(lying_lut_dataset(as_bytes=True)[0])
    assert from_bytes == DisplayParams.from_dataset(lying_lut_dataset()[0])


def test_windows_instead_of_lut_when_asked() -> None:
    ds, arr = lying_lut_dataset()
    params = DisplayParams.from_dataset(ds)
    mine = ours(arr, params, WindowChoice(use_lut=False))
    assert_close(mine, reference(arr, ds, 0, prefer_lut=False))


# --- choosing the transform -----------------------------------------------------------------

TWO_WINDOWS = (Window(100.0, 50.0, "A"), Window(200.0, 80.0, "B"))
LUT = VoiLut(first_mapped=0, bits=8, data=(0, 10, 20))


def test_resolution_priority() -> None:
    params = DisplayParams(bits_stored=12, signed=False, windows=TWO_WINDOWS, voi_lut=LUT)
    explicit = resolve(params, WindowChoice(preset=1, center=7.0, width=9.0))
    assert (explicit.window.center, explicit.window.width) == (7.0, 9.0)
    assert resolve(params, WindowChoice(preset=1)).window == TWO_WINDOWS[1]
    assert resolve(params, WindowChoice()).lut == LUT
    assert resolve(params, WindowChoice(use_lut=False)).window == TWO_WINDOWS[0]


def test_fallbacks_value_range_then_full_range() -> None:
    with_range = DisplayParams(bits_stored=12, signed=False, value_range=(100.0, 300.0))
    lut = build_lut(with_range)
    assert (lut[100], lut[200], lut[300], lut[4095]) == (0, 128, 255, 255)
    full = build_lut(DisplayParams(bits_stored=12, signed=True, rescale_slope=-1.0))
    assert full[32768 - 2048] == 255  # most negative stored value -> largest modality value
    assert full[32768 + 2047] == 0


@pytest.mark.parametrize("preset", [2, -1, 99])
def test_bad_preset_names_the_valid_range(preset: int) -> None:
    params = DisplayParams(bits_stored=12, signed=False, windows=TWO_WINDOWS)
    with pytest.raises(ValueError, match=r"valid presets are 0\.\.1"):
        build_lut(params, WindowChoice(preset=preset))


def test_preset_on_image_without_windows() -> None:
    with pytest.raises(ValueError, match="no window presets"):
        resolve(DisplayParams(bits_stored=8, signed=False), WindowChoice(preset=0))


def test_center_without_width_is_rejected() -> None:
    with pytest.raises(ValueError, match="together"):
        WindowChoice(center=10.0)


# --- inversion ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("photometric", "shape", "inverted"),
    [
        ("MONOCHROME2", None, False),
        ("MONOCHROME2", "IDENTITY", False),
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME1", None, True),
        ("MONOCHROME1", "INVERSE", True),
        ("MONOCHROME1", "IDENTITY", True),
    ],
)
def test_inverted_exactly_once(photometric: str, shape: str | None, inverted: bool) -> None:
    plain = build_lut(
        DisplayParams(bits_stored=12, signed=False), WindowChoice(center=2048.0, width=4096.0)
    )
    params = DisplayParams(
        bits_stored=12, signed=False, photometric=photometric, presentation_lut_shape=shape
    )
    lut = build_lut(params, WindowChoice(center=2048.0, width=4096.0))
    assert inverts(params) is inverted
    np.testing.assert_array_equal(lut, 255 - plain if inverted else plain)


# --- invariants -----------------------------------------------------------------------------

SHAPES = st.sampled_from(["MONOCHROME1", "MONOCHROME2"])
NUMBERS = st.floats(-70000, 70000, allow_nan=False)


@st.composite
def display_params(draw: st.DrawFn, function: st.SearchStrategy[str]) -> DisplayParams:
    return DisplayParams(
        bits_stored=draw(st.integers(1, 16)),
        signed=draw(st.booleans()),
        rescale_slope=draw(st.floats(0.001, 100)),
        rescale_intercept=draw(st.floats(-5000, 5000)),
        photometric=draw(SHAPES),
        voi_function=draw(function),
    )


@settings(max_examples=60, deadline=None)
@given(
    params=display_params(st.sampled_from(["LINEAR", "SIGMOID"])),
    center=NUMBERS,
    width=st.floats(1, 140000),
)
def test_lut_is_monotonic(params: DisplayParams, center: float, width: float) -> None:
    steps = np.diff(build_lut(params, WindowChoice(center=center, width=width)).astype(int))
    if params.photometric == "MONOCHROME2":
        assert steps.min() >= 0
    else:
        assert steps.max() <= 0


@settings(max_examples=40, deadline=None)
@given(
    params=display_params(st.sampled_from(["LINEAR", "SIGMOID"])),
    width=st.floats(max_value=1, exclude_max=True) | st.just(math.nan),
)
def test_width_below_one_is_rejected(params: DisplayParams, width: float) -> None:
    with pytest.raises(ValueError, match="window width must be"):
        build_lut(params, WindowChoice(center=0.0, width=width))


@settings(max_examples=40, deadline=None)
@given(params=display_params(st.just("LINEAR_EXACT")), width=st.floats(max_value=0))
def test_linear_exact_needs_positive_width(params: DisplayParams, width: float) -> None:
    with pytest.raises(ValueError, match="window width must be"):
        build_lut(params, WindowChoice(center=0.0, width=width))


@settings(max_examples=30, deadline=None)
@given(params=display_params(st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"])))
def test_lut_is_cached_and_read_only(params: DisplayParams) -> None:
    twin = DisplayParams.from_json(json.loads(json.dumps(params.to_json())))
    choice = WindowChoice(center=100.0, width=400.0)
    lut = build_lut(params, choice)
    assert twin == params
    assert build_lut(twin, WindowChoice(center=100.0, width=400.0)) is lut
    assert lut.dtype == np.uint8
    assert lut.shape == (65536,)
    assert not lut.flags.writeable


def test_json_round_trip_with_everything() -> None:
    ds = lying_lut_dataset()[0]
    ds.PresentationLUTShape = "INVERSE"
    params = DisplayParams.from_dataset(ds, value_range=(1.0, 2.0))
    assert DisplayParams.from_json(json.loads(json.dumps(params.to_json()))) == params


# --- storage values and rendering -----------------------------------------------------------


def test_to_storage() -> None:
    signed = np.array([[-32768, -1, 0, 32767]], dtype=np.int16)
    np.testing.assert_array_equal(to_storage(signed, True), [[0, 32767, 32768, 65535]])
    unsigned = np.array([[0, 4095]], dtype=np.uint16)
    assert to_storage(unsigned, False).dtype == np.uint16
    with pytest.raises(TypeError):
        to_storage(unsigned.astype(float), False)


def test_apply_lut_does_not_copy_indices_to_intp() -> None:
    storage = np.random.default_rng(0).integers(0, 65536, (1024, 1024), dtype=np.uint16)
    lut = build_lut(DisplayParams(bits_stored=16, signed=False))
    tracemalloc.start()
    grey = apply_lut(storage, lut)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(grey, lut[storage.astype(np.intp)])
    assert peak < 3 * grey.nbytes  # an intp copy of the indices alone would be 8x


def test_render_resizes_and_flips() -> None:
    level = np.tile(np.arange(400, dtype=np.uint16), (300, 1))  # a left-to-right ramp
    lut = build_lut(DisplayParams(bits_stored=9, signed=False), WindowChoice(center=200, width=400))
    full = render(level, lut, width=None, flip=False)
    np.testing.assert_array_equal(full, apply_lut(level, lut))
    small = render(level, lut, width=100, flip=False)
    assert small.shape == (75, 100)
    assert small.dtype == np.uint8
    assert small[0, 0] < small[0, -1]
    np.testing.assert_array_equal(render(level, lut, width=100, flip=True), small[:, ::-1])
    big = render(level, lut, width=800, flip=False)
    assert big.shape == (600, 800)


def test_encode_png_is_lossless_and_jpeg_decodes() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (60, 80), dtype=np.uint8)
    png = encode(pixels, "png")
    assert png.startswith(b"\x89PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), pixels)
    smooth = np.tile(np.arange(80, dtype=np.uint8) * 3, (60, 1))
    jpeg = np.asarray(Image.open(io.BytesIO(encode(smooth, "jpeg"))))
    assert jpeg.shape == smooth.shape
    assert np.abs(jpeg.astype(int) - smooth).mean() < 2
    with pytest.raises(ValueError, match="unsupported"):
        encode(pixels, "gif")
