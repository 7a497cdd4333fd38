"""Grey-scale display of monochrome images: pure functions, no I/O, no database.

The whole DICOM grey-scale chain (PS3.3 C.11: modality rescale, VOI window or VOI LUT,
presentation inversion) is folded into one 65,536-entry ``uint8`` lookup table indexed by
*storage values*, so showing an image is a single ``lut[storage]`` gather.

Storage convention: decoded pixels are kept as ``np.uint16``; for unsigned data the storage
value is the stored value itself, for signed data (Pixel Representation 1) it is
``stored + 32768``.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image

LUT_SIZE = 65536
SIGNED_OFFSET = 32768
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
LUT_FUNCTION = "LUT"
_LUT_CACHE_SIZE = 256


@dataclass(frozen=True)
class Window:
    """One window (VOI) preset: Window Center / Window Width in modality units."""

    center: float
    width: float
    explanation: str = ""


@dataclass(frozen=True)
class VoiLut:
    """First item of the VOI LUT Sequence.

    ``bits`` is the descriptor's third value, kept for information only: some files state
    the container size rather than the data range, so the output is scaled by the largest
    entry of ``data`` instead.
    """

    first_mapped: int
    bits: int
    data: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", tuple(int(v) for v in self.data))
        if not self.data:
            raise ValueError("VOI LUT has no entries")
        # hashed once: the LUT cache hashes its key on every call, and data is up to 64k long
        object.__setattr__(self, "_hash", hash((self.first_mapped, self.bits, self.data)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]


def normalise_voi_function(name: str | None) -> str:
    """Upper-case VOI LUT Function; anything unknown or missing means LINEAR."""
    value = (name or "").strip().upper()
    return value if value in VOI_FUNCTIONS else "LINEAR"


@dataclass(frozen=True)
class DisplayParams:
    """Everything needed to turn storage values into display grey levels."""

    bits_stored: int
    signed: bool
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    photometric: str = "MONOCHROME2"
    presentation_lut_shape: str | None = None
    windows: tuple[Window, ...] = ()
    voi_function: str = "LINEAR"
    voi_lut: VoiLut | None = None
    value_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.bits_stored <= 16:
            raise ValueError(f"bits_stored must be 1..16, got {self.bits_stored}")
        photometric = self.photometric.strip().upper()
        if photometric not in PHOTOMETRICS:
            raise ValueError(f"unsupported photometric interpretation {self.photometric!r}")
        shape = self.presentation_lut_shape
        object.__setattr__(self, "photometric", photometric)
        object.__setattr__(self, "presentation_lut_shape", shape.strip().upper() if shape else None)
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "voi_function", normalise_voi_function(self.voi_function))
        if self.value_range is not None:
            low, high = self.value_range
            object.__setattr__(self, "value_range", (float(low), float(high)))

    @classmethod
    def from_dataset(
        cls, ds: pydicom.Dataset, value_range: tuple[float, float] | None = None
    ) -> DisplayParams:
        """Read the display attributes of a monochrome image header.

        ``value_range`` (min, max of the modality-transformed pixels) is only used when the
        header has neither a window nor a VOI LUT.
        """
        if ds.get("ModalityLUTSequence"):
            raise ValueError("Modality LUT Sequence is not supported")
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        return cls(
            bits_stored=int(ds.BitsStored),
            signed=signed,
            rescale_slope=_float_or(ds.get("RescaleSlope"), 1.0),
            rescale_intercept=_float_or(ds.get("RescaleIntercept"), 0.0),
            photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
            presentation_lut_shape=ds.get("PresentationLUTShape") or None,
            windows=_windows_from_dataset(ds),
            voi_function=normalise_voi_function(ds.get("VOILUTFunction")),
            voi_lut=_voi_lut_from_dataset(ds, signed),
            value_range=value_range,
        )

    def to_json(self) -> dict[str, Any]:
        """Plain dict (lists, numbers, strings, None) for a database JSON column."""
        lut = self.voi_lut
        return {
            **asdict(self),
            "windows": [asdict(w) for w in self.windows],
            "voi_lut": None if lut is None else {**asdict(lut), "data": list(lut.data)},
            "value_range": None if self.value_range is None else list(self.value_range),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DisplayParams:
        """Inverse of :meth:`to_json`."""
        lut = data.get("voi_lut")
        value_range = data.get("value_range")
        return cls(
            bits_stored=int(data["bits_stored"]),
            signed=bool(data["signed"]),
            rescale_slope=float(data.get("rescale_slope", 1.0)),
            rescale_intercept=float(data.get("rescale_intercept", 0.0)),
            photometric=data.get("photometric", "MONOCHROME2"),
            presentation_lut_shape=data.get("presentation_lut_shape"),
            windows=tuple(Window(**w) for w in data.get("windows", ())),
            voi_function=data.get("voi_function", "LINEAR"),
            voi_lut=None if lut is None else VoiLut(**lut),
            value_range=None if value_range is None else tuple(value_range),
        )


def _float_or(value: Any, default: float) -> float:
    return default if value is None or value == "" else float(value)


def _number(value: Any) -> float:
    try:
        return _float_or(value, math.nan)
    except (TypeError, ValueError):
        return math.nan


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _windows_from_dataset(ds: pydicom.Dataset) -> tuple[Window, ...]:
    """The header's presets; unusable ones (non-numeric, width not positive) are left out."""
    centers = _as_list(ds.get("WindowCenter"))
    widths = _as_list(ds.get("WindowWidth"))
    explanations = _as_list(ds.get("WindowCenterWidthExplanation"))
    windows = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        center, width = _number(c), _number(w)
        if math.isfinite(center) and math.isfinite(width) and width > 0:
            explanation = str(explanations[i]) if i < len(explanations) else ""
            windows.append(Window(center=center, width=width, explanation=explanation))
    return tuple(windows)


def _voi_lut_from_dataset(ds: pydicom.Dataset, signed: bool) -> VoiLut | None:
    sequence = ds.get("VOILUTSequence")
    if not sequence:
        return None
    item = sequence[0]
    if item.get("LUTDescriptor") is None or item.get("LUTData") is None:
        return None
    count, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
    if signed and first_mapped > 32767:  # descriptor read as US for signed data
        first_mapped -= 65536
    data = _lut_data(ds, item)[: count or LUT_SIZE]
    return VoiLut(first_mapped=first_mapped, bits=bits, data=tuple(int(v) for v in data))


def _lut_data(ds: pydicom.Dataset, item: pydicom.Dataset) -> NDArray[np.uint16]:
    raw = item.LUTData
    if not isinstance(raw, bytes | bytearray):
        return np.asarray(_as_list(raw), dtype=np.uint16)
    little = True
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        little = syntax.is_little_endian
    elif ds.original_encoding[1] is not None:
        little = bool(ds.original_encoding[1])
    return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<u2" if little else ">u2")


def to_storage(arr: np.ndarray, signed: bool) -> NDArray[np.uint16]:
    """Decoded pixels -> ``uint16`` storage values (signed data shifted by +32768)."""
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"pixels must be integers, got {arr.dtype}")
    if signed:
        return (arr.astype(np.int32) + SIGNED_OFFSET).astype(np.uint16)
    return arr.astype(np.uint16, copy=False)


# --- choosing the VOI transform -------------------------------------------------------------


@dataclass(frozen=True)
class WindowChoice:
    """What the viewer asked for.

    Priority (see :func:`resolve`): explicit ``center`` + ``width``; else ``preset`` (index
    into the header's windows); else the VOI LUT Sequence when present and ``use_lut``; else
    the first window preset; else the image's value range; else the full stored range.
    """

    preset: int | None = None
    center: float | None = None
    width: float | None = None
    use_lut: bool = True

    def __post_init__(self) -> None:
        if (self.center is None) != (self.width is None):
            raise ValueError("window center and width must be given together")


@dataclass(frozen=True)
class ResolvedVoi:
    """The VOI transform actually applied: a window with its function, or a VOI LUT."""

    function: str
    window: Window | None = None
    lut: VoiLut | None = field(default=None, repr=False)


def resolve(params: DisplayParams, choice: WindowChoice) -> ResolvedVoi:
    """Pick the VOI transform for ``choice`` (priority documented on :class:`WindowChoice`).

    Raises ValueError for an unknown preset or an invalid window width.
    """
    if choice.center is not None and choice.width is not None:
        resolved = ResolvedVoi(params.voi_function, Window(choice.center, choice.width, "custom"))
    elif choice.preset is not None:
        resolved = ResolvedVoi(params.voi_function, _preset(params, choice.preset))
    elif choice.use_lut and params.voi_lut is not None:
        resolved = ResolvedVoi(LUT_FUNCTION, lut=params.voi_lut)
    elif params.windows:
        resolved = ResolvedVoi(params.voi_function, params.windows[0])
    else:
        resolved = ResolvedVoi("LINEAR_EXACT", _range_window(params))
    _check_window(resolved)
    return resolved


def _preset(params: DisplayParams, index: int) -> Window:
    count = len(params.windows)
    if count == 0:
        raise ValueError(f"window preset {index} requested but the image has no window presets")
    if not 0 <= index < count:
        raise ValueError(f"window preset {index} does not exist: valid presets are 0..{count - 1}")
    return params.windows[index]


def stored_range(params: DisplayParams) -> tuple[float, float]:
    """Smallest and largest modality value representable with ``bits_stored`` bits."""
    if params.signed:
        low, high = -(2 ** (params.bits_stored - 1)), 2 ** (params.bits_stored - 1) - 1
    else:
        low, high = 0, 2**params.bits_stored - 1
    ends = sorted(v * params.rescale_slope + params.rescale_intercept for v in (low, high))
    return ends[0], ends[1]


def _range_window(params: DisplayParams) -> Window:
    """Linear ramp over the value range (or the full stored range); flat images -> mid-grey."""
    low, high = params.value_range if params.value_range is not None else stored_range(params)
    low, high = min(low, high), max(low, high)
    return Window((low + high) / 2, high - low if high > low else 1.0, "value range")


def _check_window(resolved: ResolvedVoi) -> None:
    window = resolved.window
    if window is None:
        return
    if not np.isfinite(window.center):
        raise ValueError(f"window center must be finite, got {window.center}")
    if resolved.function == "LINEAR_EXACT":
        if not window.width > 0:
            raise ValueError(f"window width must be > 0 for LINEAR_EXACT, got {window.width}")
    elif not window.width >= 1:
        raise ValueError(f"window width must be >= 1 for {resolved.function}, got {window.width}")


# --- the lookup table -----------------------------------------------------------------------


def modality_values(params: DisplayParams) -> NDArray[np.float64]:
    """Modality value (rescaled) of every storage value 0..65535."""
    stored = np.arange(LUT_SIZE, dtype=np.float64)
    if params.signed:
        stored -= SIGNED_OFFSET
    return stored * params.rescale_slope + params.rescale_intercept


def _linear(x: NDArray[np.float64], center: float, width: float) -> NDArray[np.float64]:
    """PS3.3 C.11.2.1.2.1 / C.11.2.1.3.2 ramp as a 0..1 fraction (width may be 0)."""
    low, high = center - width / 2, center + width / 2
    if width == 0:
        return (x > high).astype(np.float64)
    return np.where(x <= low, 0.0, np.where(x > high, 1.0, (x - center) / width + 0.5))


def _sigmoid(x: NDArray[np.float64], center: float, width: float) -> NDArray[np.float64]:
    """PS3.3 C.11.2.1.3.1 as a 0..1 fraction."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))


def _lut_fraction(x: NDArray[np.float64], lut: VoiLut) -> NDArray[np.float64]:
    """VOI LUT Sequence: clamp below first_mapped / above the end, scale by the largest entry."""
    data = np.asarray(lut.data, dtype=np.float64)
    index = np.clip(np.floor(x - lut.first_mapped), 0, data.size - 1).astype(np.intp)
    top = data.max()
    return data[index] / top if top > 0 else np.zeros_like(x)


def voi_fraction(x: NDArray[np.float64], voi: ResolvedVoi) -> NDArray[np.float64]:
    """Apply the resolved VOI transform to modality values; result in 0..1."""
    if voi.lut is not None:
        return _lut_fraction(x, voi.lut)
    assert voi.window is not None
    center, width = voi.window.center, voi.window.width
    if voi.function == "SIGMOID":
        return _sigmoid(x, center, width)
    if voi.function == "LINEAR_EXACT":
        return _linear(x, center, width)
    return _linear(x, center - 0.5, width - 1.0)


def inverts(params: DisplayParams) -> bool:
    """Whether the display is inverted: exactly once, so that dense tissue is bright.

    Rule: invert when photometric is MONOCHROME1 (whatever its Presentation LUT Shape, which
    for MONOCHROME1 is normally INVERSE and describes that same single inversion), or when
    photometric is MONOCHROME2 and Presentation LUT Shape is INVERSE.
    """
    if params.photometric == "MONOCHROME1":
        return True
    return params.presentation_lut_shape == "INVERSE"


def build_lut(params: DisplayParams, choice: WindowChoice | None = None) -> NDArray[np.uint8]:
    """65,536-entry read-only ``uint8`` LUT indexed by storage value (cached).

    Chain: storage -> stored value -> rescale -> VOI (window with the VOI LUT Function, or
    the VOI LUT Sequence) -> 0..255 (rounded half up) -> inversion per :func:`inverts`.
    Equal ``params`` and ``choice`` return the same array object.
    """
    return _cached_lut(params, choice if choice is not None else WindowChoice())


@lru_cache(maxsize=_LUT_CACHE_SIZE)
def _cached_lut(params: DisplayParams, choice: WindowChoice) -> NDArray[np.uint8]:
    fraction = voi_fraction(modality_values(params), resolve(params, choice))
    lut = np.floor(np.clip(fraction, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if inverts(params):
        lut = 255 - lut
    lut.flags.writeable = False
    return lut


# --- display protocols: one grey-scale function for images shown side by side -----------------


class DisplayProtocol(StrEnum):
    """How images compared with each other (a masking pair) are turned into grey levels.

    The header's own VOI can differ between two images (one LINEAR with black air, one
    SIGMOID with grey air, one a VOI LUT), which biases a side-by-side judgement by looks;
    every protocol but ``HEADER`` applies one function to every image.
    """

    HEADER = "header"  # each image's own header VOI (window function or VOI LUT), as read alone
    WINDOW_LINEAR = "window_linear"  # each image's own windows, all through LINEAR
    WINDOW_SIGMOID = "window_sigmoid"  # each image's own windows, all through SIGMOID
    UNIFORM_RANGE = "uniform_range"  # each image's value range rescaled linearly (CSAW-M)

    @property
    def common_function(self) -> str | None:
        """The one VOI function every image goes through (None: each image's own)."""
        return {
            DisplayProtocol.WINDOW_LINEAR: "LINEAR",
            DisplayProtocol.WINDOW_SIGMOID: "SIGMOID",
            DisplayProtocol.UNIFORM_RANGE: "LINEAR_EXACT",
        }.get(self)


def under_protocol(params: DisplayParams, protocol: DisplayProtocol | str) -> DisplayParams:
    """``params`` as ``protocol`` shows the image: ``HEADER`` leaves them alone (the same
    object); the others drop the VOI LUT and put every window through the common function
    (an image without windows gets its value-range ramp as its one window), or replace the
    windows by the value-range ramp (``UNIFORM_RANGE``). Inversion is untouched."""
    protocol = DisplayProtocol(protocol)
    function = protocol.common_function
    if function is None:
        return params
    ramp = _range_window(params)
    if protocol == DisplayProtocol.UNIFORM_RANGE:
        windows: tuple[Window, ...] = (ramp,)
    else:
        windows = params.windows or (ramp,)
    return replace(params, windows=windows, voi_function=function, voi_lut=None)


# --- rendering ------------------------------------------------------------------------------


def apply_lut(storage: NDArray[np.uint16], lut: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Grey levels of ``storage`` through ``lut``.

    Plain fancy indexing: measured, ``np.take`` converts the whole index array to intp even
    with ``out=`` (about 10x the memory); ``lut[storage]`` does not.
    """
    if storage.dtype != np.uint16:
        raise TypeError(f"storage values must be uint16, got {storage.dtype}")
    if lut.shape != (LUT_SIZE,):
        raise ValueError(f"LUT must have {LUT_SIZE} entries, got shape {lut.shape}")
    return lut[storage]


def render(
    level: NDArray[np.uint16], lut: NDArray[np.uint8], *, width: int | None, flip: bool
) -> NDArray[np.uint8]:
    """Window ``level`` through ``lut``, resize to ``width`` (aspect kept), mirror if ``flip``."""
    pixels = apply_lut(level, lut)
    if width is not None:
        pixels = resize(pixels, width)
    if flip:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return pixels


def resize(pixels: NDArray[np.uint8], width: int) -> NDArray[np.uint8]:
    """Resize an 8-bit image to ``width`` keeping its aspect ratio (BOX down, BILINEAR up)."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    rows, cols = pixels.shape
    if width == cols:
        return pixels
    height = max(1, round(rows * width / cols))
    method = Image.Resampling.BOX if width < cols else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(pixels).resize((width, height), method))


def encode(pixels: NDArray[np.uint8], fmt: str) -> bytes:
    """Encode an 8-bit grey image as ``png`` (lossless, level 1) or ``jpeg`` (quality 90)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 image, got {pixels.dtype} {pixels.shape}")
    kind = fmt.lower()
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if kind == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif kind in ("jpeg", "jpg"):
        image.save(buffer, format="JPEG", quality=90)
    else:
        raise ValueError(f"unsupported image format {fmt!r}: use 'png' or 'jpeg'")
    return buffer.getvalue()
