"""Dataset statistics of a reading project, as VinDr-Mammo's tables 3-5 give them: per split
(training, test, all), breast BI-RADS and density, findings per category, boxes per graded
category and finding BI-RADS, patient age; open QC flags per kind; totals.

Pure: :class:`Accumulator` takes one final study at a time (the caller streams them) and keeps
counters only, so memory does not grow with the project. :func:`chart` lays a table out as a
horizontal grouped bar chart; :func:`svg` and :func:`png` draw that same layout.

Counting rules (the release's, see ``app/export/split.py``):

- BI-RADS and density count breasts; ``BI-RADS 0`` and ``not assessed`` rows appear only
  when some breast has them (the release has neither);
- a finding category counts the boxes that carry it (a box with two categories counts in
  both); ``No Finding`` counts the images without any box; rates are per 100 images of the
  split;
- the graded table counts boxes per graded category x finding BI-RADS 3-5 (again a box counts
  under each of its graded categories);
- age counts studies, in bins of 10 years (40-49 .. 70-79 always shown, widened to the ages
  present) and ``unknown``;
- QC flags count the project's studies (any status) with an open flag of that kind: no split;
- totals count women too: distinct patient keys (a study without one is a woman of its own),
  and the women with studies in both training and test (a leak; 0 for a split made here).
  The keys met are the one thing kept beyond counters: one short string per woman.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw, ImageFont

from app.export import vindr_format
from app.imaging import qc
from app.imaging.longitudinal import woman_key

TRAINING, TEST, ALL = "training", "test", "all"
SPLITS = (TRAINING, TEST, ALL)
NOT_ASSESSED = "not assessed"
UNKNOWN_AGE = "unknown"
FINDING_BIRADS = (3, 4, 5)
AGE_FRAME = (40, 70)  # the decades always shown, so that an empty project has a shape
WOMEN_ON_BOTH_SIDES = "women in training and test"
CSV_HEADER = ("table", "row", "split", "count", "rate_per_100_images")


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    unit: str  # what a count counts
    rows_title: str  # what the rows are
    splits: tuple[str, ...] = SPLITS
    rated: bool = False  # whether rows carry a rate per 100 images


SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("totals", "Totals", "items", "Total"),
        TableSpec("birads", "Breast BI-RADS", "breasts", "Breast BI-RADS"),
        TableSpec("density", "Breast density", "breasts", "Density"),
        TableSpec(
            "findings",
            "Findings per category",
            "boxes (No Finding: images)",
            "Category",
            rated=True,
        ),
        TableSpec(
            "finding_birads",
            "Boxes per graded category and finding BI-RADS",
            "boxes",
            "Category, finding BI-RADS",
            rated=True,
        ),
        TableSpec("age", "Patient age", "studies", "Age (years)"),
        TableSpec("qc", "Open QC flags", "studies", "QC flag", splits=(ALL,)),
    )
}
TABLE_NAMES = tuple(SPECS)


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    counts: dict[str, int]  # per split of the table
    rates: dict[str, float | None] = field(default_factory=dict)  # rated tables only
    note: str = ""  # a longer description (QC kinds)


@dataclass(frozen=True)
class Table:
    spec: TableSpec
    rows: list[Row]

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Statistics:
    tables: list[Table]
    images: dict[str, int]

    def table(self, name: str) -> Table:
        """The table called ``name``; KeyError when there is none."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


# --- accumulating -----------------------------------------------------------------------------


class Accumulator:
    """Counters fed one study at a time; :meth:`result` gives the tables."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[tuple[str, str]]] = {name: Counter() for name in SPECS}
        self._seen: dict[str, set[str]] = {name: set() for name in SPECS}  # rows met (bounded)
        self._ages: set[int] = set()  # decades met (bounded)
        self._women: dict[str, set[str]] = {split: set() for split in SPLITS}

    def _add(self, table: str, row: str, splits: Iterable[str], count: int = 1) -> None:
        self._seen[table].add(row)
        for split in splits:
            self._counts[table][row, split] += count

    def add_study(
        self,
        split: str,
        label: Mapping[str, Any] | None,
        image_ids: Sequence[str],
        age: int | None,
        patient_key: str | None = None,
        study_id: str = "",
    ) -> None:
        """One final study: its split (``training``, ``test``; anything else counts under
        ``all`` only), final label (JSON), every image id, the patient's age and her key
        (None: the study is a woman of its own, named by ``study_id``)."""
        splits = (split, ALL) if split in (TRAINING, TEST) else (ALL,)
        woman = woman_key(patient_key, study_id or len(self._women[ALL]))
        for name in splits:
            self._women[name].add(woman)
        label = label or {}
        breasts = label.get("breasts") or {}
        boxes = label.get("boxes") or []
        self._add("totals", "studies", splits)
        self._add("totals", "images", splits, len(image_ids))
        self._add("totals", "boxes", splits, len(boxes))
        for lat in ("R", "L"):
            breast = breasts.get(lat) or {}
            birads, density = breast.get("birads"), breast.get("density")
            self._add("birads", NOT_ASSESSED if birads is None else f"BI-RADS {birads}", splits)
            self._add("density", NOT_ASSESSED if density is None else f"DENSITY {density}", splits)
        boxed = {box.get("image_id") for box in boxes}
        self._add(
            "findings", vindr_format.NO_FINDING, splits, sum(i not in boxed for i in image_ids)
        )
        for box in boxes:
            birads = box.get("birads")
            for category in dict.fromkeys(box.get("categories") or []):
                self._add("findings", category, splits)
                if birads is not None and category not in vindr_format.ASSOCIATED:
                    self._add("finding_birads", f"{category} BI-RADS {birads}", splits)
        if age is None:
            self._add("age", UNKNOWN_AGE, splits)
        else:
            decade = max(0, age) // 10 * 10
            self._ages.add(decade)
            self._add("age", _age_bin(decade), splits)

    def add_qc(self, kind: str, studies: int) -> None:
        """``studies`` of the project have an open flag of ``kind``."""
        self._add("qc", kind, (ALL,), studies)

    def result(self) -> Statistics:
        images = {split: self._counts["totals"]["images", split] for split in SPLITS}
        for name in SPLITS:
            self._counts["totals"]["women", name] = len(self._women[name])
        both = len(self._women[TRAINING] & self._women[TEST])
        for name in SPLITS:
            self._counts["totals"][WOMEN_ON_BOTH_SIDES, name] = both
        tables = []
        for name, spec in SPECS.items():
            rows = []
            for row, note in self._row_names(name):
                counts = {split: self._counts[name][row, split] for split in spec.splits}
                rates = (
                    {split: _rate(counts[split], images[split]) for split in spec.splits}
                    if spec.rated
                    else {}
                )
                rows.append(Row(row, counts, rates, note))
            tables.append(Table(spec, rows))
        return Statistics(tables, images)

    def _row_names(self, table: str) -> list[tuple[str, str]]:
        """Rows in a fixed order; rows outside it (custom categories, unusual values) after,
        sorted, and only when met."""
        seen = self._seen[table]
        if table == "totals":
            fixed = ["studies", "women", WOMEN_ON_BOTH_SIDES, "images", "boxes"]
        elif table == "birads":
            fixed = [f"BI-RADS {n}" for n in (0, 1, 2, 3, 4, 5) if n or "BI-RADS 0" in seen]
        elif table == "density":
            fixed = [f"DENSITY {d}" for d in vindr_format.RELEASE_DENSITIES]
        elif table == "findings":
            fixed = list(vindr_format.VINDR_CATEGORIES)
        elif table == "finding_birads":
            fixed = [f"{c} BI-RADS {b}" for c in vindr_format.GRADED for b in FINDING_BIRADS]
        elif table == "age":
            decades = self._ages | set(AGE_FRAME)
            fixed = [_age_bin(d) for d in range(min(decades), max(decades) + 1, 10)]
            fixed.append(UNKNOWN_AGE)
        else:
            fixed = list(qc.KINDS)
        last = [NOT_ASSESSED] if NOT_ASSESSED in seen else []
        extra = sorted(seen - set(fixed) - set(last))
        notes = qc.KINDS if table == "qc" else {}
        return [(row, notes.get(row, "")) for row in [*fixed, *extra, *last]]


def _age_bin(decade: int) -> str:
    return f"{decade}-{decade + 9}"


def _rate(count: int, images: int) -> float | None:
    return round(100 * count / images, 2) if images else None


# --- CSV --------------------------------------------------------------------------------------


def csv_rows(statistics: Statistics) -> Iterable[list[str]]:
    """``table,row,split,count,rate_per_100_images`` rows (header first); the rate is empty
    for tables without one and for a split without images."""
    yield list(CSV_HEADER)
    for table in statistics.tables:
        for row in table.rows:
            for split in table.spec.splits:
                rate = row.rates.get(split)
                shown = "" if rate is None else f"{rate:.2f}"
                yield [table.name, row.name, split, str(row.counts[split]), shown]


# --- charts -----------------------------------------------------------------------------------

Anchor = Literal["start", "middle", "end"]
SERIES_COLOURS = {TRAINING: "#3b7bb0", TEST: "#e07b39", ALL: "#5b8a4a"}
INK = "#1f2937"
GRID = "#d8dde3"
BACKGROUND = "#ffffff"


@dataclass(frozen=True)
class Theme:
    """The colours a chart is drawn in; the bars keep their series colours in both themes."""

    name: str
    background: str
    ink: str  # text and axes
    grid: str

    def colour(self, stored: str) -> str:
        """A colour of the drawing in this theme (the drawing is made in the light one)."""
        return {INK: self.ink, GRID: self.grid}.get(stored, stored)


# light for papers (the downloads' default); dark for the pages of a reading room
LIGHT = Theme("light", BACKGROUND, INK, GRID)
DARK = Theme("dark", "#1a2029", "#e6ebf1", "#2f3a48")
THEMES = {theme.name: theme for theme in (LIGHT, DARK)}
BAR = 12  # height of one bar
GAP = 10  # between row groups
PLOT_WIDTH = 360
TOP = 58  # title and legend above the plot
CHAR = 6.4  # approximate width of a 12 px character, for the label column
LABEL_CHARS = 40  # longer row names are shortened on the chart (not in its tooltips)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    tip: str = ""


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: int = 12
    anchor: Anchor = "start"
    bold: bool = False


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    width: int
    height: int
    grid: list[Line]  # drawn first, behind the bars
    rects: list[Rect]
    lines: list[Line]
    texts: list[Text]


def nice_ticks(top: int) -> list[int]:
    """0, step, 2 step, ... up to the first tick at or above ``top`` (at least 1), with a step
    of 1, 2 or 5 times a power of ten giving at most 5 intervals."""
    top = max(1, top)
    magnitude = 10 ** max(0, math.floor(math.log10(top / 5))) if top > 5 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if top / (m * magnitude) <= 5)
    return list(range(0, math.ceil(top / step) * step + 1, step))


def chart(table: Table) -> Chart:
    """A horizontal grouped bar chart: one group per row, one bar per series (training and
    test; ``all`` for a table without splits), counts along the bottom axis."""
    spec = table.spec
    series = [s for s in spec.splits if s != ALL] or [ALL]
    longest = max((len(_short(r.name)) for r in table.rows), default=0)
    label_width = max(90, round(longest * CHAR) + 16)
    x0 = label_width
    group = BAR * len(series) + GAP
    plot_height = max(group, group * len(table.rows))
    ticks = nice_ticks(max((r.counts[s] for r in table.rows for s in series), default=0))
    scale = PLOT_WIDTH / ticks[-1]
    width = x0 + PLOT_WIDTH + 56
    height = TOP + plot_height + 44
    rects: list[Rect] = []
    grid: list[Line] = []
    lines: list[Line] = []
    texts = [Text(8, 20, spec.title, 14, bold=True)]
    legend_x = float(x0)
    for name in series:
        rects.append(Rect(legend_x, 31, 10, 10, SERIES_COLOURS[name]))
        texts.append(Text(legend_x + 14, 40, name, 11))
        legend_x += 14 + len(name) * 6.5 + 18
    texts.append(Text(x0 - 8, TOP - 6, spec.rows_title, 11, "end", bold=True))
    bottom = TOP + plot_height
    for tick in ticks:
        x = x0 + tick * scale
        grid.append(Line(x, TOP, x, bottom, GRID))
        texts.append(Text(x, bottom + 14, str(tick), 10, "middle"))
    lines.append(Line(x0, TOP, x0, bottom, INK))
    lines.append(Line(x0, bottom, x0 + PLOT_WIDTH, bottom, INK))
    texts.append(Text(x0 + PLOT_WIDTH / 2, bottom + 32, f"Count ({spec.unit})", 11, "middle"))
    for index, row in enumerate(table.rows):
        top = TOP + index * group + GAP / 2
        texts.append(Text(x0 - 8, top + BAR * len(series) / 2 + 4, _short(row.name), 12, "end"))
        for offset, name in enumerate(series):
            count = row.counts[name]
            y = top + offset * BAR
            length = count * scale
            rects.append(Rect(x0, y, length, BAR - 1, SERIES_COLOURS[name], _tip(spec, row, name)))
            texts.append(Text(x0 + length + 4, y + BAR - 2, str(count), 10))
    return Chart(table.name, spec.title, round(width), round(height), grid, rects, lines, texts)


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "\u2026"


def _tip(spec: TableSpec, row: Row, split: str) -> str:
    tip = f"{row.name}, {split}: {row.counts[split]} {spec.unit}"
    rate = row.rates.get(split)
    if rate is not None:
        tip += f" ({rate:.2f} per 100 images)"
    return tip


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def svg(drawing: Chart, theme: Theme = LIGHT) -> str:
    """The chart as a standalone SVG document (also fit to inline in a page: presentation
    attributes only, no style)."""
    w, h = drawing.width, drawing.height
    ink = theme.ink
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stats-chart" id="chart-{drawing.name}" '
        f'width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f"aria-label={quoteattr(drawing.title + ' chart')}>",
        f"<title>{escape(drawing.title)}</title>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="{theme.background}"/>',
    ]
    parts += [_svg_line(line, theme) for line in drawing.grid]
    for rect in drawing.rects:
        shape = (
            f'<rect x="{_number(rect.x)}" y="{_number(rect.y)}" width="{_number(rect.width)}" '
            f'height="{_number(rect.height)}" fill="{rect.fill}"'
        )
        parts.append(
            f"{shape}><title>{escape(rect.tip)}</title></rect>" if rect.tip else f"{shape}/>"
        )
    parts += [_svg_line(line, theme) for line in drawing.lines]
    for text in drawing.texts:
        weight = ' font-weight="bold"' if text.bold else ""
        parts.append(
            f'<text x="{_number(text.x)}" y="{_number(text.y)}" font-family="sans-serif" '
            f'font-size="{text.size}" text-anchor="{text.anchor}" fill="{ink}"{weight}>'
            f"{escape(text.text)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _svg_line(line: Line, theme: Theme) -> str:
    return (
        f'<line x1="{_number(line.x1)}" y1="{_number(line.y1)}" x2="{_number(line.x2)}" '
        f'y2="{_number(line.y2)}" stroke="{theme.colour(line.stroke)}" stroke-width="1"/>'
    )


_PIL_ANCHORS = {"start": "ls", "middle": "ms", "end": "rs"}


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def png(drawing: Chart, scale: int = 2, theme: Theme = LIGHT) -> bytes:
    """The same chart drawn with Pillow, ``scale`` times the SVG's pixel size."""
    ink = theme.ink
    size = (drawing.width * scale, drawing.height * scale)
    image = Image.new("RGB", size, theme.background)
    draw = ImageDraw.Draw(image)
    for line in drawing.grid:
        points = (line.x1 * scale, line.y1 * scale, line.x2 * scale, line.y2 * scale)
        draw.line(points, fill=theme.colour(line.stroke), width=scale)
    for rect in drawing.rects:
        if rect.width <= 0 or rect.height <= 0:
            continue
        box = (
            rect.x * scale,
            rect.y * scale,
            (rect.x + rect.width) * scale - 1,
            (rect.y + rect.height) * scale - 1,
        )
        draw.rectangle(box, fill=rect.fill)
    for line in drawing.lines:
        points = (line.x1 * scale, line.y1 * scale, line.x2 * scale, line.y2 * scale)
        draw.line(points, fill=theme.colour(line.stroke), width=scale)
    for text in drawing.texts:
        font = _font(text.size * scale)
        position = (text.x * scale, text.y * scale)
        # the bitmap fallback font (Pillow without FreeType) takes no anchor
        anchor = _PIL_ANCHORS[text.anchor] if isinstance(font, ImageFont.FreeTypeFont) else None
        draw.text(position, text.text, fill=ink, font=font, anchor=anchor)
        if text.bold:  # the default font has no bold face: overstrike
            draw.text((position[0] + 1, position[1]), text.text, fill=ink, font=font, anchor=anchor)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
