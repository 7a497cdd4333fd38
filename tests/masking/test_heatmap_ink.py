"""The tau-b heatmap's numbers are readable on every cell colour (issue 11, broken item 6):
the label is black or white by the cell's luminance, never dark on saturated blue."""

from __future__ import annotations

import pytest

from app.masking.pages import ink_on, relative_luminance, tau_rgb


def contrast(rgb: tuple[int, int, int], ink: str) -> float:
    ink_luminance = 0.0 if ink == "#000" else 1.0
    light, dark = sorted((relative_luminance(rgb), ink_luminance), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("tau", [None, *(step / 20 for step in range(-20, 21))])
def test_every_cell_label_has_enough_contrast(tau) -> None:
    rgb = tau_rgb(tau)
    assert contrast(rgb, ink_on(rgb)) >= 4.5


def test_zero_sits_on_the_dark_page_and_one_is_saturated() -> None:
    assert relative_luminance(tau_rgb(0.0)) < 0.05  # no white cell glaring in a dark room
    assert ink_on(tau_rgb(0.0)) == "#fff"
    assert tau_rgb(1.0)[2] > tau_rgb(1.0)[0]  # blue
    assert tau_rgb(-1.0)[0] > tau_rgb(-1.0)[2]  # red
