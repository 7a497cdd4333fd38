"""Building an exam: the plan of its views (anatomy, lesions, QC tweaks), each view rendered
to stored pixel values, and the datasets with their ground-truth findings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from app.imaging.synthetic.dataset import attach_pixels, image_dataset
from app.imaging.synthetic.lesions import (
    Lesion,
    draw_calcifications,
    draw_mass,
    merge_placed,
    random_lesions,
)
from app.imaging.synthetic.options import VIEWS, ExamOptions, Finding, check
from app.imaging.synthetic.phantom import (
    DENSITY_COVERAGE,
    WORK_COLUMNS,
    FloatArray,
    Outline,
    grid,
    random_outline,
    tissue,
)

# --- exam layout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ViewPlan:
    """One image to draw: its anatomy, lesions (canonical frame) and pixel-level tweaks."""

    label: str
    index: int
    outline: Outline
    lesions: tuple[Lesion, ...]
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
        label: random_outline(
            np.random.default_rng([seed, 1, i]), label[2:], aspect, sizes[label[0]]
        )
        for i, label in enumerate(VIEWS)
    }
    lesions = random_lesions(np.random.default_rng([seed, 2]), options.findings, outlines)
    lesions = merge_placed(lesions, options)
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
    xs, ys = grid(shape, factor, rows)
    field = tissue(rng, plan.outline, xs, ys, DENSITY_COVERAGE[density])
    for lesion in plan.lesions:
        if lesion.kind == "mass":
            draw_mass(field, lesion, rows / factor, rng)
    if plan.mirrored:
        field = field[:, ::-1]
    image = _upsample(field, factor)[:rows, :columns]
    for finding in _findings(plan, options):
        if finding.kind == "calcification":
            draw_calcifications(image, (finding.x, finding.y), finding.radius, rng)
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


def synthetic_exam(
    seed: int, options: ExamOptions = ExamOptions()
) -> tuple[list[Dataset], list[Finding]]:
    """Build one four-view exam (R-CC, L-CC, R-MLO, L-MLO), deterministic for ``seed`` >= 0.

    Returns the datasets (one study, one series per image) and the ground-truth findings in each
    image's stored pixel grid.
    """
    check(seed >= 0, "seed must be >= 0")
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
            ds = image_dataset(seed, plan.age, view.label, copy, len(datasets) + 1, options)
            attach_pixels(ds, pixels, options)
            datasets.append(ds)
        findings.extend(_findings(view, options))
    return datasets, findings
