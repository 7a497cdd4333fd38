"""Synthetic four-view mammography exams as real pydicom Datasets.

The images are drawn, not simulated: a breast outline touching the chest-wall edge against dark
air, a skin line, correlated fibroglandular texture (denser towards the chest wall), a nipple,
the pectoral muscle in MLO views and, on request, mass-like and calcification-like findings whose
positions are returned as ground truth. Everything is deterministic for a given seed and uses no
file or network I/O except :func:`write_exam`.

Orientation convention (DICOM Patient Orientation, row direction then column direction): the
chest wall of a RIGHT breast lies at the image's RIGHT edge, that of a LEFT breast at its LEFT
edge, the lateral side is at the top of CC views and the head at the top of MLO views::

    R-CC  P\\L     L-CC  A\\R     R-MLO  P\\FL     L-MLO  A\\FR

The pixels agree with these values (unless ``ExamOptions.flip_view`` deliberately breaks that).
Smooth anatomy is computed at a working resolution of about 832 columns from low-resolution
noise upsampled with Pillow's bicubic filter, then brought to full resolution once by a separable
cubic (Catmull-Rom) upsampling in numpy (converting a full-size Pillow float image back to numpy
alone would cost about 0.1 s); quantum noise and calcifications are added at full resolution.
One 4096x3328 image takes about 0.25 s on a 2-core machine.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

__all__ = [
    "FOR_PRESENTATION_SOP_CLASS",
    "FOR_PROCESSING_SOP_CLASS",
    "PATIENT_ORIENTATION",
    "PHI_VALUES",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "VIEWS",
    "ExamOptions",
    "Finding",
    "synthetic_exam",
    "write_exam",
]

FloatArray = NDArray[np.float32]

FOR_PRESENTATION_SOP_CLASS: Final = UID("1.2.840.10008.5.1.4.1.1.1.2")
FOR_PROCESSING_SOP_CLASS: Final = UID("1.2.840.10008.5.1.4.1.1.1.2.1")
SUPPORTED_TRANSFER_SYNTAXES: Final = (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)
VIEWS: Final = ("R-CC", "L-CC", "R-MLO", "L-MLO")
PATIENT_ORIENTATION: Final = {
    "R-CC": ("P", "L"),
    "L-CC": ("A", "R"),
    "R-MLO": ("P", "FL"),
    "L-MLO": ("A", "FR"),
}
VIEW_CODES: Final = {
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
}
UID_NAMESPACE: Final = "mammoread-synthetic"
# Name-based (version 5) UUIDs as "2.25.<integer>" UIDs: deterministic, and valid UUID-derived
# UIDs. (pydicom's generate_uid ignores entropy_srcs when prefix is None: it returns a random
# UUID then.)
_UUID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mammoread:synthetic-mammography")


def _name_uid(*parts: str) -> UID:
    return UID(f"2.25.{uuid.uuid5(_UUID_NAMESPACE, '/'.join(parts)).int}")


IMPLEMENTATION_CLASS_UID: Final = _name_uid(UID_NAMESPACE, "implementation", "1")
IMPLEMENTATION_VERSION_NAME: Final = "MAMMOREAD_SYN1"

# Identifying values placed when ``with_phi=True``; a pseudonymiser must remove every one.
PHI_NAME: Final = "DOE^JANE"
PHI_MRN: Final = "MRN-4711-SECRET"
PHI_OTHER_MRN: Final = "MRN-ALT-0815-SECRET"
PHI_ACCESSION: Final = "ACC-99812"
PHI_INSTITUTION: Final = "St. Example Hospital"
PHI_BIRTH_DATE: Final = "19700101"
PHI_STUDY_DATE: Final = "20240315"
PHI_TIME: Final = "101502.4711"
PHI_VALUES: Final[tuple[str, ...]] = (
    PHI_NAME,
    PHI_MRN,
    PHI_OTHER_MRN,
    PHI_ACCESSION,
    PHI_INSTITUTION,
    PHI_BIRTH_DATE,
    PHI_STUDY_DATE,
    PHI_TIME,
    "ROE^JANE^MAIDEN",
    "12 Secret Lane, Springfield",
    "1 Hospital Road, Exampletown",
    "WHO^REFERRING^DR",
    "MEDIC^PERFORMING",
    "TECH^OPERATOR",
    "STUDY-5521",
    "SN-DEVICE-31337",
    "REQ-PROC-77123",
    "555-0147-SECRET",
)

# Display-level intensities as fractions of the stored range (MONOCHROME2 sense).
AIR: Final = 0.045
FAT: Final = 0.30
SKIN_AMP: Final = 0.07
GLAND_AMP: Final = 0.36
PECTORAL: Final = 0.36
WORK_COLUMNS: Final = 832
# (explanation, centre, width) as fractions of the stored range.
WINDOWS: Final = (("NORMAL", 0.43, 0.78), ("HARDER", 0.47, 0.52), ("SOFTER", 0.42, 0.98))
DENSITY_COVERAGE: Final = {"A": 0.06, "B": 0.3, "C": 0.55, "D": 0.8}


@dataclass(frozen=True)
class Finding:
    """A ground-truth finding on one image, in that image's own (stored) pixel grid.

    ``x`` and ``y`` are the centre in pixels (column, row) and ``radius`` the mass radius or
    the calcification cluster radius in pixels.
    """

    kind: str  # "mass" | "calcification"
    view: str  # "CC" | "MLO"
    laterality: str  # "L" | "R"
    x: float
    y: float
    radius: float
    spiculated: bool = False


@dataclass(frozen=True)
class ExamOptions:
    """How to build an exam. View labels are ``"R-CC"``, ``"L-CC"``, ``"R-MLO"``, ``"L-MLO"``.

    ``findings`` random lesions are placed per exam; each lies in one breast and is drawn on both
    of its views, so it yields two :class:`Finding` records. ``placed_findings`` are drawn exactly
    where given (on the image matching their view and laterality). QC helpers: ``flip_view``
    mirrors that view's pixels (header unchanged), ``invert_view`` stores it with inverted
    intensities (header unchanged), ``omit_view`` leaves it out and ``duplicate_view`` adds a
    second copy with its own series and SOP Instance UID. ``voi_lut_sequence`` adds a VOI LUT
    Sequence (which takes precedence over the windows in most viewers).
    """

    rows: int = 4096
    columns: int = 3328
    bits_stored: int = 12
    photometric: str = "MONOCHROME2"
    transfer_syntax: str = ExplicitVRLittleEndian
    voi_function: str = "LINEAR"
    presentation_intent: str = "FOR PRESENTATION"
    with_phi: bool = False
    manufacturer: str = "MammoRead Synthetic"
    model: str = "Phantom 1"
    findings: int = 0
    placed_findings: tuple[Finding, ...] = ()
    density: str | None = None
    pixel_spacing_mm: float = 0.1
    voi_lut_sequence: bool = False
    flip_view: str | None = None
    invert_view: str | None = None
    omit_view: str | None = None
    duplicate_view: str | None = None
    uid_namespace: str = UID_NAMESPACE

    def __post_init__(self) -> None:
        _check(self.rows >= 64 and self.columns >= 64, "rows and columns must be >= 64")
        _check(8 <= self.bits_stored <= 16, "bits_stored must be 8..16")
        _check(self.photometric in ("MONOCHROME1", "MONOCHROME2"), "bad photometric")
        _check(self.transfer_syntax in SUPPORTED_TRANSFER_SYNTAXES, "unsupported syntax")
        _check(self.voi_function in ("LINEAR", "LINEAR_EXACT", "SIGMOID"), "bad VOI function")
        _check(
            self.presentation_intent in ("FOR PRESENTATION", "FOR PROCESSING"),
            "bad presentation intent",
        )
        _check(self.findings >= 0, "findings must be >= 0")
        _check(self.density in (None, "A", "B", "C", "D"), "density must be A-D or None")
        for label in (self.flip_view, self.invert_view, self.omit_view, self.duplicate_view):
            _check(label is None or label in VIEWS, f"unknown view {label!r}")
        for finding in self.placed_findings:
            _check(finding.kind in ("mass", "calcification"), f"bad kind {finding.kind!r}")
            _check(f"{finding.laterality}-{finding.view}" in VIEWS, "bad finding view")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


# --- anatomy ---------------------------------------------------------------------------------
# Anatomy lives in a canonical frame: chest wall at x = 0, nipple pointing to +x, lengths in
# units of the image height (so x runs 0..columns/rows and y runs 0..1).


@dataclass(frozen=True)
class _Outline:
    """Breast outline of one view: an asymmetric super-ellipse against the chest wall."""

    depth: float  # chest wall to nipple
    center_y: float  # nipple height
    top: float  # extent above the nipple along the chest wall
    bottom: float  # extent below the nipple along the chest wall
    exponent: float
    pectoral: tuple[float, float] | None  # (width at the top edge, height at the chest wall)

    def rho(self, x: FloatArray | float, y: FloatArray | float) -> FloatArray:
        """Normalised distance from the chest-wall centre: < 1 inside the breast."""
        dy = np.asarray(y, dtype=np.float32) - np.float32(self.center_y)
        extent = np.where(dy < 0, np.float32(self.top), np.float32(self.bottom))
        across = np.abs(dy / extent) ** np.float32(self.exponent)
        along = (np.asarray(x, dtype=np.float32) / np.float32(self.depth)) ** 2
        return np.sqrt(along + across)

    def muscle(self, x: FloatArray | float, y: FloatArray | float) -> FloatArray:
        """Pectoral coordinate: < 1 inside the muscle triangle (always 2 without muscle)."""
        if self.pectoral is None:
            return np.full(np.broadcast_shapes(np.shape(x), np.shape(y)), 2.0, np.float32)
        width, height = self.pectoral
        xs = np.clip(np.asarray(x, dtype=np.float32) / np.float32(width), 0, None)
        ys = np.clip(np.asarray(y, dtype=np.float32) / np.float32(height), 0, None)
        return xs ** np.float32(1.25) + ys ** np.float32(1.25)

    @property
    def nipple(self) -> tuple[float, float]:
        return self.depth, self.center_y


@dataclass(frozen=True)
class _Lesion:
    kind: str
    x: float  # canonical frame, height units
    y: float
    radius: float
    spiculated: bool


def _outline(rng: np.random.Generator, view: str, aspect: float, size: float) -> _Outline:
    depth = aspect * size * rng.uniform(0.96, 1.04)
    if view == "CC":
        center = rng.uniform(0.47, 0.53)
        return _Outline(
            depth=depth,
            center_y=center,
            top=rng.uniform(0.31, 0.39),
            bottom=rng.uniform(0.31, 0.39),
            exponent=rng.uniform(1.9, 2.4),
            pectoral=None,
        )
    center = rng.uniform(0.55, 0.6)
    return _Outline(
        depth=depth * rng.uniform(1.0, 1.05),
        center_y=center,
        top=rng.uniform(0.68, 0.78),
        bottom=min(0.95 - center, rng.uniform(0.30, 0.36)),
        exponent=rng.uniform(1.6, 1.9),
        pectoral=(depth * rng.uniform(0.30, 0.40), rng.uniform(0.36, 0.50)),
    )


def _grid(shape: tuple[int, int], factor: int, rows: int) -> tuple[FloatArray, FloatArray]:
    """Pixel-centre coordinates (height units) of a working grid: x as a row, y as a column."""
    h, w = shape
    unit = np.float32(factor / rows)
    xs = (np.arange(w, dtype=np.float32) + 0.5) * unit
    ys = (np.arange(h, dtype=np.float32) + 0.5) * unit
    return xs[None, :], ys[:, None]


def _smoothstep(edge0: float, edge1: float, values: FloatArray) -> FloatArray:
    t = np.clip((values - np.float32(edge0)) / np.float32(edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> FloatArray:
    """Zero-mean, unit-variance noise correlated over ``cell`` pixels (Pillow bicubic)."""
    h, w = shape
    cell = max(cell, 1.5)
    grid_shape = (max(3, round(h / cell) + 3), max(3, round(w / cell) + 3))
    grid = rng.standard_normal(grid_shape).astype(np.float32)
    field = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))
    return (field - field.mean()) / np.float32(field.std() + 1e-6)


def _octaves(
    rng: np.random.Generator, shape: tuple[int, int], cells: tuple[float, ...], falloff: float
) -> FloatArray:
    """Sum of noise octaves whose amplitudes fall by ``falloff`` per octave; unit variance."""
    total = np.zeros(shape, np.float32)
    for index, cell in enumerate(cells):
        total += np.float32(falloff**index) * _smooth_noise(rng, shape, cell)
    return total / np.float32(total.std() + 1e-6)


def _streaks(
    rng: np.random.Generator, outline: _Outline, xs: FloatArray, ys: FloatArray
) -> FloatArray:
    """Texture radiating from the nipple: fine across the rays, coarse along them."""
    nx, ny = outline.nipple
    dx, dy = np.float32(nx) - xs, ys - np.float32(ny)
    angle = np.arctan2(dy, dx)
    radius = np.sqrt(dx * dx + dy * dy)
    grid = rng.standard_normal((6, 110)).astype(np.float32)
    table = np.asarray(Image.fromarray(grid).resize((2048, 64), Image.Resampling.BICUBIC))
    rows = np.clip(radius * np.float32(63 / (1.3 * outline.depth)), 0, 63).astype(np.intp)
    cols = np.clip((angle + np.float32(math.pi)) * np.float32(2047 / (2 * math.pi)), 0, 2047)
    field = table[rows, cols.astype(np.intp)]
    field = (field - field.mean()) / np.float32(field.std() + 1e-6)
    return field * _smoothstep(0.05, 0.3, radius / np.float32(outline.depth))


def _tissue(
    rng: np.random.Generator, outline: _Outline, xs: FloatArray, ys: FloatArray, coverage: float
) -> FloatArray:
    """Working-resolution intensity field (0..1) of one view in the canonical frame."""
    shape = (ys.shape[0], xs.shape[1])
    scale = shape[0] / 1024
    pixel = float(xs[0, 1] - xs[0, 0]) / outline.depth
    rho = _nippled_rho(outline, xs, ys) + np.float32(0.006) * _smooth_noise(rng, shape, 90 * scale)
    inside = _smoothstep(1 + pixel, 1 - pixel, rho)
    depth_in = np.clip(1 - rho, 0, None)
    thickness = np.sqrt(1 - (1 - np.clip(depth_in / np.float32(0.10), 0, 1)) ** 2)
    field = np.float32(AIR) + np.float32(FAT - AIR) * inside * (0.5 + 0.5 * thickness)
    skin = np.float32(max(0.003 / outline.depth, 1.2 * pixel))
    field += np.float32(SKIN_AMP) * inside * np.exp(-(((depth_in - skin) / skin) ** 2))
    detail = _octaves(rng, shape, tuple(c * scale for c in (48, 24, 12, 6, 3)), 0.7)
    streaks = _streaks(rng, outline, xs, ys)
    gland = _glands(rng, outline, xs, ys, depth_in, coverage, detail + 0.5 * streaks)
    fat_texture = 0.018 * detail + _strands(rng, streaks, depth_in)
    field += (fat_texture * (1 - gland) + np.float32(GLAND_AMP) * gland) * inside
    field += (_vessels(rng, outline, xs, ys) + _nipple_density(outline, xs, ys)) * inside
    return _add_pectoral(rng, outline, xs, ys, field, inside)


def _nipple_distance(outline: _Outline, xs: FloatArray, ys: FloatArray) -> FloatArray:
    nx, ny = outline.nipple
    return np.sqrt(((xs - np.float32(nx)) / 0.012) ** 2 + ((ys - np.float32(ny)) / 0.026) ** 2)


def _nippled_rho(outline: _Outline, xs: FloatArray, ys: FloatArray) -> FloatArray:
    """Outline field with a nipple bump at the tip, blended in by a smooth minimum."""
    rho = outline.rho(xs, ys)
    bump = 1 + (_nipple_distance(outline, xs, ys) - 1) * np.float32(0.012 / outline.depth)
    blend = np.float32(0.025)
    h = np.clip(blend - np.abs(rho - bump), 0, None) / blend
    return np.minimum(rho, bump) - h * h * (blend / 4)


def _nipple_density(outline: _Outline, xs: FloatArray, ys: FloatArray) -> FloatArray:
    return np.float32(0.06) * np.exp(-(_nipple_distance(outline, xs, ys) ** 2) / 2)


def _glands(
    rng: np.random.Generator,
    outline: _Outline,
    xs: FloatArray,
    ys: FloatArray,
    depth_in: FloatArray,
    coverage: float,
    texture: FloatArray,
) -> FloatArray:
    """Fibroglandular fraction 0..1: a central cloud with fuzzy, textured borders and fat holes,
    denser towards the chest wall."""
    shape = depth_in.shape
    along = np.clip(xs / np.float32(outline.depth), 0, 1)
    spread = np.float32(0.6 * (outline.top + outline.bottom) / 2)
    central = np.exp(-(((ys - np.float32(outline.center_y)) / spread) ** 2))
    envelope = _smoothstep(0.03, 0.4, depth_in) * (1 - 0.55 * along**2) * central
    cloud = envelope + 0.3 * _smooth_noise(rng, shape, 110 * shape[0] / 1024)
    level = cloud + np.float32(0.2) * texture - np.float32(1 - coverage)
    gland = 1 / (1 + np.exp(np.float32(-6) * level))
    return gland * (0.85 + 0.08 * texture) * _smoothstep(0.0, 0.12, depth_in)


def _strands(rng: np.random.Generator, streaks: FloatArray, depth_in: FloatArray) -> FloatArray:
    """Thin trabecular strands running roughly towards the nipple (zero crossings)."""
    wobble = _smooth_noise(rng, depth_in.shape, 24 * depth_in.shape[0] / 1024)
    lines = np.exp(-(((streaks + 0.7 * wobble) / np.float32(0.07)) ** 2))
    return np.float32(0.03) * lines * _smoothstep(0.02, 0.08, depth_in)


def _vessels(
    rng: np.random.Generator, outline: _Outline, xs: FloatArray, ys: FloatArray
) -> FloatArray:
    """A few thin, gently winding vessels running from the chest wall towards the nipple."""
    nx, ny = outline.nipple
    dx, dy = np.float32(nx) - xs, ys - np.float32(ny)
    radius = np.sqrt(dx * dx + dy * dy)
    angle = np.arctan2(dy, dx)
    out = np.zeros(radius.shape, np.float32)
    for _ in range(int(rng.integers(2, 6))):
        frequency = np.float32(rng.uniform(4, 10) / outline.depth)
        path = rng.uniform(-0.9, 0.9) + rng.uniform(0.03, 0.09) * np.sin(
            radius * frequency + np.float32(rng.uniform(0, 2 * math.pi))
        )
        offset = (angle - path) * radius / np.float32(rng.uniform(0.0012, 0.0022))
        start = rng.uniform(0.15, 0.5) * outline.depth
        fade = _smoothstep(0.8 * start, 1.2 * start, radius)
        out += np.float32(rng.uniform(0.025, 0.045)) * np.exp(-(offset**2)) * fade
    return out


def _add_pectoral(
    rng: np.random.Generator,
    outline: _Outline,
    xs: FloatArray,
    ys: FloatArray,
    field: FloatArray,
    inside: FloatArray,
) -> FloatArray:
    if outline.pectoral is None:
        return field
    coordinate = outline.muscle(xs, ys)
    muscle = _smoothstep(1.02, 0.98, coordinate) * inside
    shade = _smooth_noise(rng, field.shape, 40 * field.shape[0] / 1024)
    value = np.float32(PECTORAL) + 0.1 * (1 - np.clip(coordinate, 0, 1)) + 0.01 * shade
    return field * (1 - 0.75 * muscle) + value * muscle


def _draw_mass(field: FloatArray, lesion: _Lesion, unit: float, rng: np.random.Generator) -> None:
    """Add a blurred (optionally spiculated) ellipse; ``unit`` = working pixels per height."""
    h, w = field.shape
    cx, cy, r = lesion.x * unit, lesion.y * unit, max(lesion.radius * unit, 2.0)
    reach = r * (3.4 if lesion.spiculated else 1.6)
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 2)
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 2)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - np.float32(cy)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - np.float32(cx)
    turn, squash = rng.uniform(0, math.pi), rng.uniform(0.7, 1)
    ca, sa = np.float32(math.cos(turn)), np.float32(math.sin(turn))
    dist = np.sqrt(((dx * ca + dy * sa) / r) ** 2 + ((dy * ca - dx * sa) / (r * squash)) ** 2)
    soft = 0.3 if lesion.spiculated else rng.choice((0.2, 0.5))
    body = _smoothstep(1 + soft, 1 - soft, dist) * (0.75 + 0.25 * np.clip(1 - dist, 0, 1))
    if lesion.spiculated:
        body = np.maximum(body, _spicules(rng, dx, dy, r))
    field[y0:y1, x0:x1] += np.float32(rng.uniform(0.11, 0.16)) * body


def _spicules(rng: np.random.Generator, dx: FloatArray, dy: FloatArray, r: float) -> FloatArray:
    lines = np.zeros(np.broadcast_shapes(dx.shape, dy.shape), np.float32)
    width = np.float32(max(0.06 * r, 0.6))
    for angle in rng.uniform(0, 2 * math.pi, rng.integers(10, 18)):
        ca, sa = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        along, across = dx * ca + dy * sa, dy * ca - dx * sa
        length = np.float32(r * rng.uniform(0.8, 2.4))
        taper = np.clip((r + length - along) / length, 0, 1) * (along > 0)
        lines = np.maximum(lines, 0.7 * taper * np.exp(-((across / width) ** 2)))
    return lines


def _draw_calcifications(
    image: FloatArray, center: tuple[float, float], radius: float, rng: np.random.Generator
) -> None:
    """Add a cluster of tiny bright specks (full resolution, stored frame, 0..1 units)."""
    h, w = image.shape
    scale = h / 4096
    for _ in range(int(rng.integers(6, 16))):
        distance = radius * math.sqrt(rng.uniform(0, 1))
        angle = rng.uniform(0, 2 * math.pi)
        sx, sy = center[0] + distance * math.cos(angle), center[1] + distance * math.sin(angle)
        size = max(rng.uniform(1.5, 4.0) * scale, 0.6)
        reach = int(3 * size) + 2
        y0, y1 = max(0, int(sy) - reach), min(h, int(sy) + reach + 1)
        x0, x1 = max(0, int(sx) - reach), min(w, int(sx) + reach + 1)
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - np.float32(sy)
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - np.float32(sx)
        speck = np.exp(-(xx * xx + yy * yy) / np.float32(size * size))
        image[y0:y1, x0:x1] += np.float32(rng.uniform(0.3, 0.5)) * speck


# --- exam layout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ViewPlan:
    """One image to draw: its anatomy, lesions (canonical frame) and pixel-level tweaks."""

    label: str
    index: int
    outline: _Outline
    lesions: tuple[_Lesion, ...]
    mirrored: bool  # chest wall at the right edge of the stored pixels
    inverted: bool


@dataclass(frozen=True)
class _ExamPlan:
    age: int
    density: str
    views: tuple[_ViewPlan, ...]


def _plan_exam(seed: int, options: ExamOptions) -> _ExamPlan:
    rng = np.random.default_rng([seed, 0])
    age = int(rng.integers(40, 75))
    density = options.density or str(rng.choice(("A", "B", "C", "D"), p=(0.1, 0.4, 0.4, 0.1)))
    aspect = options.columns / options.rows
    sizes = {"R": rng.uniform(0.56, 0.68)}
    sizes["L"] = sizes["R"] * rng.uniform(0.95, 1.05)
    outlines = {
        label: _outline(np.random.default_rng([seed, 1, i]), label[2:], aspect, sizes[label[0]])
        for i, label in enumerate(VIEWS)
    }
    lesions = _random_lesions(np.random.default_rng([seed, 2]), options.findings, outlines)
    lesions = _merge_placed(lesions, options)
    views = tuple(
        _ViewPlan(
            label=label,
            index=i,
            outline=outlines[label],
            lesions=tuple(lesions.get(label, ())),
            mirrored=(label[0] == "R") != (label == options.flip_view),
            inverted=label == options.invert_view,
        )
        for i, label in enumerate(VIEWS)
    )
    return _ExamPlan(age=age, density=density, views=views)


def _random_lesions(
    rng: np.random.Generator, count: int, outlines: dict[str, _Outline]
) -> dict[str, list[_Lesion]]:
    """Each lesion lies in one breast and shows on both of its views."""
    lesions: dict[str, list[_Lesion]] = {label: [] for label in VIEWS}
    for _ in range(count):
        side = str(rng.choice(("L", "R")))
        kind = str(rng.choice(("mass", "calcification")))
        spiculated = kind == "mass" and bool(rng.uniform() < 0.4)
        radius = rng.uniform(0.010, 0.024) if kind == "mass" else rng.uniform(0.006, 0.012)
        along = rng.uniform(0.25, 0.65)
        for view in ("CC", "MLO"):
            outline = outlines[f"{side}-{view}"]
            x, y = _place(rng, outline, along)
            lesions[f"{side}-{view}"].append(_Lesion(kind, x, y, radius, spiculated))
    return lesions


def _place(rng: np.random.Generator, outline: _Outline, along: float) -> tuple[float, float]:
    """A point well inside the breast (and outside the pectoral muscle)."""
    for _ in range(64):
        x = outline.depth * along
        y = outline.center_y + rng.uniform(-0.5, 0.5) * (outline.top + outline.bottom) / 2
        inside = float(outline.rho(x, y)) < 0.75 and float(outline.muscle(x, y)) > 1.25
        if inside and 0.03 < y < 0.97:
            return x, y
        along = max(0.2, along * 0.9)
    return outline.depth * 0.5, outline.center_y


def _merge_placed(
    lesions: dict[str, list[_Lesion]], options: ExamOptions
) -> dict[str, list[_Lesion]]:
    """Convert findings given in stored pixel coordinates into canonical lesions."""
    rows, columns = options.rows, options.columns
    for finding in options.placed_findings:
        label = f"{finding.laterality}-{finding.view}"
        mirrored = (label[0] == "R") != (label == options.flip_view)
        x = (columns - finding.x) if mirrored else finding.x
        lesion = _Lesion(
            finding.kind, x / rows, finding.y / rows, finding.radius / rows, finding.spiculated
        )
        lesions.setdefault(label, []).append(lesion)
    return lesions


def _findings(plan: _ViewPlan, options: ExamOptions) -> list[Finding]:
    rows, columns = options.rows, options.columns
    out = []
    for lesion in plan.lesions:
        x = lesion.x * rows
        out.append(
            Finding(
                kind=lesion.kind,
                view=plan.label[2:],
                laterality=plan.label[0],
                x=round(columns - x if plan.mirrored else x, 2),
                y=round(lesion.y * rows, 2),
                radius=round(lesion.radius * rows, 2),
                spiculated=lesion.spiculated,
            )
        )
    return out


# --- pixels ----------------------------------------------------------------------------------


def _render(seed: int, plan: _ViewPlan, density: str, options: ExamOptions) -> NDArray[np.uint16]:
    """Stored pixel values (0..2**bits_stored-1) of one view, before any inversion."""
    rows, columns = options.rows, options.columns
    factor = max(1, round(columns / WORK_COLUMNS))
    shape = (math.ceil(rows / factor), math.ceil(columns / factor))
    rng = np.random.default_rng([seed, 3, plan.index])
    xs, ys = _grid(shape, factor, rows)
    field = _tissue(rng, plan.outline, xs, ys, DENSITY_COVERAGE[density])
    for lesion in plan.lesions:
        if lesion.kind == "mass":
            _draw_mass(field, lesion, rows / factor, rng)
    if plan.mirrored:
        field = field[:, ::-1]
    image = _upsample(field, factor)[:rows, :columns]
    for finding in _findings(plan, options):
        if finding.kind == "calcification":
            _draw_calcifications(image, (finding.x, finding.y), finding.radius, rng)
    return _quantise(image, options.bits_stored, np.random.default_rng([seed, 4, plan.index]))


def _cubic_weights(t: float) -> tuple[float, float, float, float]:
    """Catmull-Rom weights of the samples at offsets -1, 0, 1, 2 for a position t in [0, 1)."""
    t2, t3 = t * t, t * t * t
    return (
        (-t3 + 2 * t2 - t) / 2,
        (3 * t3 - 5 * t2 + 2) / 2,
        (-3 * t3 + 4 * t2 + t) / 2,
        (t3 - t2) / 2,
    )


def _upsample_rows(field: FloatArray, factor: int) -> FloatArray:
    """Cubic upsampling along axis 0 by an integer factor (pixel centres aligned)."""
    n = field.shape[0]
    padded = np.concatenate([field[:1], field[:1], field, field[-1:], field[-1:], field[-1:]])
    out = np.empty((n * factor, *field.shape[1:]), np.float32)
    for phase in range(factor):
        position = (phase + 0.5) / factor - 0.5
        base = math.floor(position)
        weights = _cubic_weights(position - base)
        start = 2 + base - 1
        target = out[phase::factor]
        np.multiply(padded[start : start + n], np.float32(weights[0]), out=target)
        for k in range(1, 4):
            target += np.float32(weights[k]) * padded[start + k : start + k + n]
    return out


def _upsample(field: FloatArray, factor: int) -> FloatArray:
    """Separable cubic upsampling of the smooth working field to full resolution."""
    if factor == 1:
        return np.array(field, dtype=np.float32)
    wide = _upsample_rows(np.ascontiguousarray(field.T), factor).T
    return _upsample_rows(np.ascontiguousarray(wide), factor)


def _quantise(image: FloatArray, bits_stored: int, rng: np.random.Generator) -> NDArray[np.uint16]:
    """Scale 0..1 to the stored range and add uniform full-resolution quantum noise."""
    top = (1 << bits_stored) - 1
    span = 1 << min(8, max(1, bits_stored - 6))  # noise values 0..span-1, centred below
    image *= np.float32(top)
    image += np.float32(0.5)
    np.clip(image, span // 2, top - span // 2, out=image)
    pixels = image.astype(np.uint16)
    noise = np.frombuffer(rng.bytes(pixels.size), np.uint8).reshape(pixels.shape)
    pixels += noise & np.uint8(span - 1)
    pixels -= np.uint16(span // 2)
    return pixels


# --- DICOM -----------------------------------------------------------------------------------


def _uid(options: ExamOptions, seed: int, *parts: str) -> UID:
    return _name_uid(options.uid_namespace, str(seed), *parts)


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = meaning
    return item


def _file_meta(sop_class: UID, sop_instance: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def _identity(ds: Dataset, seed: int, age: int, options: ExamOptions) -> None:
    """Patient and study identity: empty Type 2 elements unless PHI was asked for."""
    ds.PatientName = ""
    ds.PatientID = f"SYN-{seed:06d}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.PatientAge = f"{age:03d}Y"
    ds.StudyDate = ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    if options.with_phi:
        _add_phi(ds)


def _add_phi(ds: Dataset) -> None:
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_MRN
    ds.OtherPatientIDs = PHI_OTHER_MRN
    ds.OtherPatientNames = "ROE^JANE^MAIDEN"
    ds.PatientBirthDate = PHI_BIRTH_DATE
    ds.PatientAddress = "12 Secret Lane, Springfield"
    ds.PatientTelephoneNumbers = "555-0147-SECRET"
    for prefix in ("Study", "Series", "Acquisition", "Content"):
        setattr(ds, f"{prefix}Date", PHI_STUDY_DATE)
        setattr(ds, f"{prefix}Time", PHI_TIME)
    ds.AcquisitionDateTime = PHI_STUDY_DATE + PHI_TIME
    ds.AccessionNumber = PHI_ACCESSION
    ds.InstitutionName = PHI_INSTITUTION
    ds.InstitutionAddress = "1 Hospital Road, Exampletown"
    ds.ReferringPhysicianName = "WHO^REFERRING^DR"
    ds.PerformingPhysicianName = "MEDIC^PERFORMING"
    ds.OperatorsName = "TECH^OPERATOR"
    ds.StudyID = "STUDY-5521"
    ds.StudyDescription = f"Bilateral screening {PHI_NAME}"
    ds.DeviceSerialNumber = "SN-DEVICE-31337"
    _add_phi_sequences(ds)
    block = ds.private_block(0x0011, "MAMMOREAD SYNTHETIC", create=True)
    block.add_new(0x01, "LO", PHI_NAME)
    block.add_new(0x02, "LO", f"{PHI_MRN} {PHI_INSTITUTION}")


def _add_phi_sequences(ds: Dataset) -> None:
    other = Dataset()
    other.PatientID = PHI_OTHER_MRN
    other.IssuerOfPatientID = PHI_INSTITUTION
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = PHI_INSTITUTION
    patient = Dataset()
    patient.PatientName = PHI_NAME
    patient.AccessionNumber = PHI_ACCESSION
    request = Dataset()
    request.AccessionNumber = PHI_ACCESSION
    request.RequestedProcedureID = "REQ-PROC-77123"
    request.IssuerOfAccessionNumberSequence = Sequence([issuer])
    request.ReferencedPatientSequence = Sequence([patient])
    ds.RequestAttributesSequence = Sequence([request])


def _image_tags(ds: Dataset, label: str, options: ExamOptions) -> None:
    laterality, view = label[0], label[2:]
    ds.Modality = "MG"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = options.presentation_intent
    ds.BodyPartExamined = "BREAST"
    ds.Laterality = ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.ViewCodeSequence = Sequence([_code_item(*VIEW_CODES[view])])
    ds.PatientOrientation = list(PATIENT_ORIENTATION[label])
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.SeriesDescription = f"{laterality} {view}"
    ds.Manufacturer = options.manufacturer
    ds.ManufacturerModelName = options.model
    spacing = [options.pixel_spacing_mm, options.pixel_spacing_mm]
    ds.ImagerPixelSpacing = ds.PixelSpacing = spacing
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"


def _display_tags(ds: Dataset, options: ExamOptions) -> None:
    top = (1 << options.bits_stored) - 1
    inverse = options.photometric == "MONOCHROME1"
    centres = [round((1 - c if inverse else c) * top) for _, c, _ in WINDOWS]
    ds.WindowCenter = centres
    ds.WindowWidth = [round(w * top) for _, _, w in WINDOWS]
    ds.WindowCenterWidthExplanation = [name for name, _, _ in WINDOWS]
    ds.VOILUTFunction = options.voi_function
    ds.PresentationLUTShape = "INVERSE" if inverse else "IDENTITY"
    if options.voi_lut_sequence:
        ds.VOILUTSequence = Sequence([_voi_lut_item(options.bits_stored, inverse)])


def _voi_lut_item(bits_stored: int, inverse: bool) -> Dataset:
    """A sigmoid-shaped VOI LUT covering every stored value, output in bits_stored bits."""
    entries = 1 << bits_stored
    top = entries - 1
    centre = 1 - WINDOWS[0][1] if inverse else WINDOWS[0][1]
    values = np.arange(entries, dtype=np.float64) / top
    curve = 1 / (1 + np.exp(-4 * (values - centre) / WINDOWS[0][2]))
    curve = (curve - curve.min()) / (curve.max() - curve.min())
    item = Dataset()
    item.add_new(0x00283002, "US", [entries % 65536, 0, bits_stored])
    item.LUTExplanation = "SYNTHETIC SIGMOID"
    item.add_new(0x00283006, "OW", np.round(curve * top).astype("<u2").tobytes())
    return item


def _dataset(
    seed: int, plan: _ExamPlan, view: _ViewPlan, copy: int, number: int, options: ExamOptions
) -> Dataset:
    """Header of one image; UIDs depend only on the seed, the view and the copy number."""
    for_processing = options.presentation_intent == "FOR PROCESSING"
    sop_class = FOR_PROCESSING_SOP_CLASS if for_processing else FOR_PRESENTATION_SOP_CLASS
    sop_instance = _uid(options, seed, "image", view.label, str(copy))
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_instance)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_instance
    ds.StudyInstanceUID = _uid(options, seed, "study")
    ds.SeriesInstanceUID = _uid(options, seed, "series", view.label, str(copy))
    ds.SeriesNumber, ds.InstanceNumber = number, 1
    _identity(ds, seed, plan.age, options)
    _image_tags(ds, view.label, options)
    _display_tags(ds, options)
    return ds


def _attach_pixels(ds: Dataset, pixels: NDArray[np.uint16], options: ExamOptions) -> None:
    top = (1 << options.bits_stored) - 1
    if options.photometric == "MONOCHROME1":
        pixels = np.uint16(top) - pixels
    ds.set_pixel_data(pixels, options.photometric, options.bits_stored, generate_instance_uid=False)
    if options.transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(options.transfer_syntax, pixels, generate_instance_uid=False)


def synthetic_exam(
    seed: int, options: ExamOptions = ExamOptions()
) -> tuple[list[Dataset], list[Finding]]:
    """Build one four-view exam (R-CC, L-CC, R-MLO, L-MLO), deterministic for ``seed`` >= 0.

    Returns the datasets (one study, one series per image) and the ground-truth findings in each
    image's stored pixel grid.
    """
    _check(seed >= 0, "seed must be >= 0")
    plan = _plan_exam(seed, options)
    datasets: list[Dataset] = []
    findings: list[Finding] = []
    for view in plan.views:
        if view.label == options.omit_view:
            continue
        pixels = _render(seed, view, plan.density, options)
        if view.inverted:
            pixels = np.uint16((1 << options.bits_stored) - 1) - pixels
        copies = 2 if view.label == options.duplicate_view else 1
        for copy in range(copies):
            ds = _dataset(seed, plan, view, copy, len(datasets) + 1, options)
            _attach_pixels(ds, pixels, options)
            datasets.append(ds)
        findings.extend(_findings(view, options))
    return datasets, findings


def write_exam(datasets: list[Dataset], directory: Path) -> list[Path]:
    """Save each dataset as ``<directory>/<SOPInstanceUID>.dcm``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        path = directory / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
