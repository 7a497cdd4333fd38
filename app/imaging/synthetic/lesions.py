"""Lesions: where random masses and calcification clusters go (each on both views of one
breast), findings placed by the caller, and drawing them into the pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.imaging.synthetic.options import VIEWS, ExamOptions
from app.imaging.synthetic.phantom import FloatArray, Outline, smoothstep


@dataclass(frozen=True)
class Lesion:
    kind: str
    x: float  # canonical frame, height units
    y: float
    radius: float
    spiculated: bool


def random_lesions(
    rng: np.random.Generator, count: int, outlines: dict[str, Outline]
) -> dict[str, list[Lesion]]:
    """Each lesion lies in one breast and shows on both of its views."""
    lesions: dict[str, list[Lesion]] = {label: [] for label in VIEWS}
    for _ in range(count):
        side = str(rng.choice(("L", "R")))
        kind = str(rng.choice(("mass", "calcification")))
        spiculated = kind == "mass" and bool(rng.uniform() < 0.4)
        radius = rng.uniform(0.010, 0.024) if kind == "mass" else rng.uniform(0.006, 0.012)
        along = rng.uniform(0.25, 0.65)
        for view in ("CC", "MLO"):
            outline = outlines[f"{side}-{view}"]
            x, y = _place(rng, outline, along)
            lesions[f"{side}-{view}"].append(Lesion(kind, x, y, radius, spiculated))
    return lesions


def _place(rng: np.random.Generator, outline: Outline, along: float) -> tuple[float, float]:
    """A point well inside the breast (and outside the pectoral muscle)."""
    for _ in range(64):
        x = outline.depth * along
        y = outline.center_y + rng.uniform(-0.5, 0.5) * (outline.top + outline.bottom) / 2
        inside = float(outline.rho(x, y)) < 0.75 and float(outline.muscle(x, y)) > 1.25
        if inside and 0.03 < y < 0.97:
            return x, y
        along = max(0.2, along * 0.9)
    return outline.depth * 0.5, outline.center_y


def merge_placed(lesions: dict[str, list[Lesion]], options: ExamOptions) -> dict[str, list[Lesion]]:
    """Convert findings given in stored pixel coordinates into canonical lesions."""
    rows, columns = options.rows, options.columns
    for finding in options.placed_findings:
        label = f"{finding.laterality}-{finding.view}"
        mirrored = (label[0] == "R") != (label == options.flip_view)
        x = (columns - finding.x) if mirrored else finding.x
        lesion = Lesion(
            finding.kind, x / rows, finding.y / rows, finding.radius / rows, finding.spiculated
        )
        lesions.setdefault(label, []).append(lesion)
    return lesions


def draw_mass(field: FloatArray, lesion: Lesion, unit: float, rng: np.random.Generator) -> None:
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
    body = smoothstep(1 + soft, 1 - soft, dist) * (0.75 + 0.25 * np.clip(1 - dist, 0, 1))
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


def draw_calcifications(
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
