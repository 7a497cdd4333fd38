"""The breast phantom: outline, skin, fat, fibroglandular tissue, strands, vessels, nipple and
pectoral muscle of one view, as a smooth working-resolution intensity field in the canonical
frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

FloatArray = NDArray[np.float32]

# Display-level intensities as fractions of the stored range (MONOCHROME2 sense).
AIR: Final = 0.045
FAT: Final = 0.30
SKIN_AMP: Final = 0.07
GLAND_AMP: Final = 0.36
PECTORAL: Final = 0.36
WORK_COLUMNS: Final = 832

DENSITY_COVERAGE: Final = {"A": 0.06, "B": 0.3, "C": 0.55, "D": 0.8}


# --- anatomy ---------------------------------------------------------------------------------
# Anatomy lives in a canonical frame: chest wall at x = 0, nipple pointing to +x, lengths in
# units of the image height (so x runs 0..columns/rows and y runs 0..1).


@dataclass(frozen=True)
class Outline:
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


def random_outline(rng: np.random.Generator, view: str, aspect: float, size: float) -> Outline:
    depth = aspect * size * rng.uniform(0.96, 1.04)
    if view == "CC":
        center = rng.uniform(0.47, 0.53)
        return Outline(
            depth=depth,
            center_y=center,
            top=rng.uniform(0.31, 0.39),
            bottom=rng.uniform(0.31, 0.39),
            exponent=rng.uniform(1.9, 2.4),
            pectoral=None,
        )
    center = rng.uniform(0.55, 0.6)
    return Outline(
        depth=depth * rng.uniform(1.0, 1.05),
        center_y=center,
        top=rng.uniform(0.68, 0.78),
        bottom=min(0.95 - center, rng.uniform(0.30, 0.36)),
        exponent=rng.uniform(1.6, 1.9),
        pectoral=(depth * rng.uniform(0.30, 0.40), rng.uniform(0.36, 0.50)),
    )


def grid(shape: tuple[int, int], factor: int, rows: int) -> tuple[FloatArray, FloatArray]:
    """Pixel-centre coordinates (height units) of a working grid: x as a row, y as a column."""
    h, w = shape
    unit = np.float32(factor / rows)
    xs = (np.arange(w, dtype=np.float32) + 0.5) * unit
    ys = (np.arange(h, dtype=np.float32) + 0.5) * unit
    return xs[None, :], ys[:, None]


def smoothstep(edge0: float, edge1: float, values: FloatArray) -> FloatArray:
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
    rng: np.random.Generator, outline: Outline, xs: FloatArray, ys: FloatArray
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
    return field * smoothstep(0.05, 0.3, radius / np.float32(outline.depth))


def tissue(
    rng: np.random.Generator, outline: Outline, xs: FloatArray, ys: FloatArray, coverage: float
) -> FloatArray:
    """Working-resolution intensity field (0..1) of one view in the canonical frame."""
    shape = (ys.shape[0], xs.shape[1])
    scale = shape[0] / 1024
    pixel = float(xs[0, 1] - xs[0, 0]) / outline.depth
    rho = _nippled_rho(outline, xs, ys) + np.float32(0.006) * _smooth_noise(rng, shape, 90 * scale)
    inside = smoothstep(1 + pixel, 1 - pixel, rho)
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


def _nipple_distance(outline: Outline, xs: FloatArray, ys: FloatArray) -> FloatArray:
    nx, ny = outline.nipple
    return np.sqrt(((xs - np.float32(nx)) / 0.012) ** 2 + ((ys - np.float32(ny)) / 0.026) ** 2)


def _nippled_rho(outline: Outline, xs: FloatArray, ys: FloatArray) -> FloatArray:
    """Outline field with a nipple bump at the tip, blended in by a smooth minimum."""
    rho = outline.rho(xs, ys)
    bump = 1 + (_nipple_distance(outline, xs, ys) - 1) * np.float32(0.012 / outline.depth)
    blend = np.float32(0.025)
    h = np.clip(blend - np.abs(rho - bump), 0, None) / blend
    return np.minimum(rho, bump) - h * h * (blend / 4)


def _nipple_density(outline: Outline, xs: FloatArray, ys: FloatArray) -> FloatArray:
    return np.float32(0.06) * np.exp(-(_nipple_distance(outline, xs, ys) ** 2) / 2)


def _glands(
    rng: np.random.Generator,
    outline: Outline,
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
    envelope = smoothstep(0.03, 0.4, depth_in) * (1 - 0.55 * along**2) * central
    cloud = envelope + 0.3 * _smooth_noise(rng, shape, 110 * shape[0] / 1024)
    level = cloud + np.float32(0.2) * texture - np.float32(1 - coverage)
    gland = 1 / (1 + np.exp(np.float32(-6) * level))
    return gland * (0.85 + 0.08 * texture) * smoothstep(0.0, 0.12, depth_in)


def _strands(rng: np.random.Generator, streaks: FloatArray, depth_in: FloatArray) -> FloatArray:
    """Thin trabecular strands running roughly towards the nipple (zero crossings)."""
    wobble = _smooth_noise(rng, depth_in.shape, 24 * depth_in.shape[0] / 1024)
    lines = np.exp(-(((streaks + 0.7 * wobble) / np.float32(0.07)) ** 2))
    return np.float32(0.03) * lines * smoothstep(0.02, 0.08, depth_in)


def _vessels(
    rng: np.random.Generator, outline: Outline, xs: FloatArray, ys: FloatArray
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
        fade = smoothstep(0.8 * start, 1.2 * start, radius)
        out += np.float32(rng.uniform(0.025, 0.045)) * np.exp(-(offset**2)) * fade
    return out


def _add_pectoral(
    rng: np.random.Generator,
    outline: Outline,
    xs: FloatArray,
    ys: FloatArray,
    field: FloatArray,
    inside: FloatArray,
) -> FloatArray:
    if outline.pectoral is None:
        return field
    coordinate = outline.muscle(xs, ys)
    muscle = smoothstep(1.02, 0.98, coordinate) * inside
    shade = _smooth_noise(rng, field.shape, 40 * field.shape[0] / 1024)
    value = np.float32(PECTORAL) + 0.1 * (1 - np.clip(coordinate, 0, 1)) + 0.01 * shade
    return field * (1 - 0.75 * muscle) + value * muscle
