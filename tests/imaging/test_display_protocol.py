"""Display protocols: both images of a masking pair through one grey-scale function, checked
pixel by pixel on synthetic images whose headers ask for LINEAR and for SIGMOID."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_windowing

from app.imaging.display import (
    DisplayParams,
    DisplayProtocol,
    VoiLut,
    build_lut,
    render,
    under_protocol,
)

CENTER, WIDTH = 2048.0, 4096.0


def header(function: str, **extra: object) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.BitsStored = 12
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.WindowCenter = CENTER
    ds.WindowWidth = WIDTH
    ds.VOILUTFunction = function
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def synthetic() -> np.ndarray:
    """Air (0) on the right third, a ramp of tissue on the rest: 12-bit storage values."""
    image = np.zeros((64, 96), dtype=np.uint16)
    image[:, :64] = np.linspace(400, 4000, 64, dtype=np.uint16)
    return image


def shown(ds: pydicom.Dataset, protocol: DisplayProtocol) -> np.ndarray:
    params = under_protocol(DisplayParams.from_dataset(ds, value_range=(0, 4000)), protocol)
    return render(synthetic(), build_lut(params), width=None, flip=False)


LINEAR, SIGMOID = header("LINEAR"), header("SIGMOID")


def test_the_header_protocol_leaves_each_image_as_it_is_read_alone() -> None:
    params = DisplayParams.from_dataset(SIGMOID)
    assert under_protocol(params, DisplayProtocol.HEADER) is params
    linear, sigmoid = shown(LINEAR, DisplayProtocol.HEADER), shown(SIGMOID, DisplayProtocol.HEADER)
    # the bias the protocols remove: black air beside grey air
    assert linear[:, 80].max() == 0
    assert sigmoid[:, 80].min() > 20
    assert not np.array_equal(linear, sigmoid)


@pytest.mark.parametrize(
    ("protocol", "function"),
    [(DisplayProtocol.WINDOW_LINEAR, "LINEAR"), (DisplayProtocol.WINDOW_SIGMOID, "SIGMOID")],
)
def test_a_common_function_shows_both_images_of_a_pair_alike(protocol, function) -> None:
    linear, sigmoid = shown(LINEAR, protocol), shown(SIGMOID, protocol)
    assert np.array_equal(linear, sigmoid)
    # and it is that function, pixel for pixel, as pydicom applies it to the same window
    reference = apply_windowing(synthetic().astype(np.float64), header(function))
    expected = np.floor(np.clip(reference / 4095.0, 0, 1) * 255 + 0.5)
    assert np.abs(linear.astype(int) - expected).max() <= 1


def test_the_linear_protocol_keeps_air_black_for_both_images() -> None:
    for ds in (LINEAR, SIGMOID):
        assert shown(ds, DisplayProtocol.WINDOW_LINEAR)[:, 80].max() == 0


def test_the_uniform_rescale_maps_each_value_range_onto_the_grey_scale() -> None:
    linear = shown(LINEAR, DisplayProtocol.UNIFORM_RANGE)
    sigmoid = shown(SIGMOID, DisplayProtocol.UNIFORM_RANGE)
    assert np.array_equal(linear, sigmoid)
    assert linear[:, 80].max() == 0
    assert linear[0, 63] == round(255 * 4000 / 4000)
    expected = np.floor(synthetic()[0, :64] / 4000 * 255 + 0.5)
    assert np.abs(linear[0, :64].astype(int) - expected).max() <= 1


def test_a_voi_lut_gives_way_to_the_common_function() -> None:
    params = DisplayParams.from_dataset(LINEAR)
    with_lut = DisplayParams(
        bits_stored=12,
        signed=False,
        windows=params.windows,
        voi_function="SIGMOID",
        voi_lut=VoiLut(first_mapped=0, bits=12, data=tuple(range(4096, 0, -1))),
    )
    common = under_protocol(with_lut, DisplayProtocol.WINDOW_LINEAR)
    assert common.voi_lut is None
    assert common.voi_function == "LINEAR"
    assert np.array_equal(build_lut(common), build_lut(under_protocol(params, "window_linear")))


def test_an_image_without_windows_gets_its_value_range_through_the_common_function() -> None:
    bare = DisplayParams(bits_stored=12, signed=False, value_range=(100.0, 3900.0))
    common = under_protocol(bare, DisplayProtocol.WINDOW_SIGMOID)
    assert common.voi_function == "SIGMOID"
    assert [(w.center, w.width) for w in common.windows] == [(2000.0, 3800.0)]


def test_inversion_is_kept_under_every_protocol() -> None:
    inverted = header("LINEAR", PhotometricInterpretation="MONOCHROME1")
    for protocol in DisplayProtocol:
        assert np.array_equal(shown(inverted, protocol), 255 - shown(LINEAR, protocol))
