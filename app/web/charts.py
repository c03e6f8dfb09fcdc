"""Server-drawn SVG charts that filter: the geometry of score histograms and facet bars.

Python works out every coordinate and every link here; ``templates/partials/_charts.html``
only writes the SVG elements, so the drawing needs no script, no inline style and no chart
library (a vendored one would be 50-800 KB of JavaScript for 20 rectangles a chart, and it
could not work without JavaScript). Each bar is an ``<a href>`` to the grid with that bar's
filter, so the charts filter with JavaScript off and from the keyboard; ``static/charts.js``
adds brushing (drag across a histogram) as an enhancement.

Coordinates are in the SVG's viewBox units; the SVG scales to its box (``width: 100%``), so a
chart of ``VIEW_WIDTH`` (240) units drawn 225 px wide (the grid's sidebar) shows its 10-unit
text at ~9.4 px; the stylesheet caps a chart's width so text never grows past ~15 px.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from app.catalog.filters import RecordFilter
from app.catalog.queries import FacetValue, Histogram
from app.catalog.schema import BY_NAME, SCORE_BY_NAME
from app.explore.references import SETTING, ReferenceLine, reference_lines

QueryItems = Sequence[tuple[str, str]]

VIEW_WIDTH = 240
# Histograms: the plot's box inside the viewBox; the top margin grows by one row of
# reference-line labels at a time.
PLOT_HEIGHT = 80
MARGIN_LEFT = 32
MARGIN_RIGHT = 10
MARGIN_BOTTOM = 26
MARGIN_TOP = 4
LABEL_ROW = 12
BAR_GAP = 1.0
# Reference labels are drawn at 10 units (ticks and facet names at 11); a label's width is
# estimated from its length (system-ui digits and lower-case letters average ~5.6 units at 10)
# to keep labels from overlapping.
CHAR_WIDTH = 5.6
LABEL_PAD = 3.0
# Facet bars: one row per value, the value's name left of the bars, its count right of them.
FACET_ROW = 17
FACET_BAR = 12
FACET_LABEL_WIDTH = 92
FACET_COUNT_WIDTH = 40
FACET_LABEL_CHARS = 13

# The grid's query parameter for each facet column.
FACET_PARAMS: dict[str, str] = {"language": "lang", "domain": "domain", "license": "license"}
# Query parameters that say where in a result a page is: a new filter starts at its top.
PAGING: tuple[str, ...] = ("page", "after")


@dataclass(frozen=True)
class Tick:
    pos: float  # x on a horizontal axis, y on a vertical one
    value: float
    label: str


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class HistogramBar:
    index: int
    low: float
    high: float
    count: int
    share: float  # of the selection's records with a score
    whole_count: int | None
    whole_share: float | None
    bar: Box  # the selection
    whole_bar: Box | None  # the whole dataset, drawn faint behind
    hit: Box  # the full column: what a pointer or a click lands on
    filter_min: float | None  # the grid filter this bar applies (None: open-ended)
    filter_max: float | None
    href: str
    label: str  # what the bar says to a screen reader and in its tooltip
    range_text: str


@dataclass(frozen=True)
class ReferenceMark:
    value: float
    x: float
    text: str  # drawn beside the line
    title: str  # the whole sentence(s) with sources, on hover
    label_x: float  # where the text starts (text-anchor: start)
    label_y: float  # its baseline
    lines: tuple[ReferenceLine, ...]

    @property
    def local(self) -> bool:
        """A line of this server's own (the blur threshold), drawn apart from LAION's."""
        return any(SETTING in line.sources for line in self.lines)


@dataclass(frozen=True)
class HistogramChart:
    score: str
    title: str
    width: float
    height: float
    plot: Box
    domain: tuple[float, float]  # the x axis
    limits: tuple[float, float]  # what the score's filter accepts
    step: float
    bars: tuple[HistogramBar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    references: tuple[ReferenceMark, ...]
    selected: Box | None  # the current filter's range on this score, shaded
    current: tuple[float | None, float | None]
    total: int  # records of the selection with a score
    whole_total: int | None
    nulls: int
    approximate: bool
    brush_href: str  # the grid URL without this score's range: the brush adds its own

    @property
    def has_whole(self) -> bool:
        return self.whole_total is not None


@dataclass(frozen=True)
class FacetBar:
    value: str | None
    text: str  # the value as drawn (shortened)
    count: int
    approximate: bool
    bar: Box
    hit: Box
    label_y: float
    count_text: str  # drawn after the bar: exact up to 99,999, then 1.2M (exact on hover)
    href: str | None  # None: a missing value cannot be filtered on
    label: str


@dataclass(frozen=True)
class FacetChart:
    column: str
    param: str
    title: str
    width: float
    height: float
    plot: Box
    label_x: float
    bars: tuple[FacetBar, ...]
    x_ticks: tuple[Tick, ...]


# --- numbers ------------------------------------------------------------------------------------
def fmt(value: float) -> str:
    """A score or edge as URLs and labels write it: 0.275, 0.3, 5 (no float noise)."""
    return f"{round(value, 6):g}"


def compact(count: float) -> str:
    """An axis label for a count: 950, 12k, 1.5M."""
    if count >= 1_000_000:
        return f"{round(count / 1_000_000, 2):g}M"
    if count >= 1_000:
        return f"{round(count / 1_000, 2):g}k"
    return f"{round(count):g}"


def percent(share: float) -> str:
    return f"{round(share * 100, 4):g}%"


def nice_step(span: float, target: int) -> float:
    """The 1-2-2.5-5 × 10^k step that cuts ``span`` into at most ``target`` intervals."""
    if span <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(span / target))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if span / step <= target + 1e-9:
            return step
    return 10 * magnitude  # pragma: no cover - the loop always returns


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round values from ``low`` to ``high`` (both included when they fall on the step)."""
    step = nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    i = first
    while i * step <= high + step * 1e-9:
        ticks.append(round(i * step, 10))
        i += 1
    return ticks


def nice_top(peak: float, target: int = 3) -> list[float]:
    """Ticks from 0 up to the first round value at or above ``peak`` (a y axis)."""
    if peak <= 0:
        return [0.0, 1.0]
    step = nice_step(peak, target)
    top = math.ceil(peak / step - 1e-9) * step
    return [round(i * step, 10) for i in range(round(top / step) + 1)]


# --- links --------------------------------------------------------------------------------------
def grid_href(base: QueryItems, path: str = "/", **changes: str | None) -> str:
    """The grid's URL: ``base`` (the current query) with ``changes`` replacing whole
    parameters (None removes one) and the paging dropped, so the new filter starts at its top."""
    drop = set(changes) | set(PAGING)
    items = [(key, value) for key, value in base if key not in drop]
    items.extend((key, value) for key, value in changes.items() if value is not None)
    query = urlencode(items)
    return path + (f"?{query}" if query else "")


# --- histograms ---------------------------------------------------------------------------------
def score_charts(
    histograms: Mapping[str, Histogram],
    record_filter: RecordFilter,
    *,
    whole: Mapping[str, Histogram] | None = None,
    blur_threshold: float | None = None,
    base_query: QueryItems = (),
    path: str = "/",
) -> list[HistogramChart]:
    """Every score's chart for a selection: ``whole`` is drawn behind only when the filter
    narrows something (over an empty filter the two layers would be the same bars)."""
    narrowed = bool(record_filter.query_items())
    return [
        histogram_chart(
            histogram,
            whole=whole[score] if whole is not None and narrowed else None,
            current=(
                getattr(record_filter, f"{score}_min"),
                getattr(record_filter, f"{score}_max"),
            ),
            references=reference_lines(score, blur_threshold),
            base_query=base_query,
            path=path,
        )
        for score, histogram in histograms.items()
    ]


def histogram_chart(
    histogram: Histogram,
    *,
    whole: Histogram | None = None,
    current: tuple[float | None, float | None] = (None, None),
    references: Sequence[ReferenceLine] = (),
    base_query: QueryItems = (),
    path: str = "/",
) -> HistogramChart:
    """The geometry of one score's histogram: the selection's share of records in each bin
    over the whole dataset's (faint, when ``whole`` is given), axes, the reference lines,
    and for each bin the grid URL that filters to it.

    Both layers are drawn as shares of their own totals, on one percent axis: a selection of
    79 records and a dataset of 10M are then compared by shape, which absolute counts on one
    scale would flatten to nothing; exact counts are in every bar's tooltip and the table."""
    score = SCORE_BY_NAME[histogram.score]
    low, high = score.chart
    edges, counts = histogram.edges, histogram.counts
    bins = len(counts)
    total = sum(counts)
    whole_total = sum(whole.counts) if whole is not None else None

    shares = [count / total if total else 0.0 for count in counts]
    whole_shares = (
        [count / whole_total if whole_total else 0.0 for count in whole.counts]
        if whole is not None
        else None
    )
    peak = max(shares + (whole_shares or []), default=0.0)
    y_values = nice_top(peak)
    y_top = y_values[-1]

    marks, rows = _place_reference_labels(references, low, high)
    plot = Box(
        MARGIN_LEFT,
        MARGIN_TOP + rows * LABEL_ROW,
        VIEW_WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
        PLOT_HEIGHT,
    )

    def x_of(value: float) -> float:
        return plot.x + (value - low) / (high - low) * plot.width

    def y_box(share: float, count: int, column: Box) -> Box:
        height = share / y_top * plot.height if y_top else 0.0
        if count > 0:
            height = max(height, 1.0)  # a bin with records never disappears
        return Box(column.x, plot.bottom - height, column.width, height)

    brush_href = grid_href(
        base_query, path, **{f"{score.name}_min": None, f"{score.name}_max": None}
    )
    prefix = "≈" if histogram.approximate else ""
    bars = []
    bin_width = plot.width / bins
    for i in range(bins):
        lo, hi = edges[i], edges[i + 1]
        column = Box(plot.x + i * bin_width + BAR_GAP / 2, plot.y, bin_width - BAR_GAP, plot.height)
        # The outer bins hold everything beyond the chart's domain (the catalog clamps bins),
        # so their filters are open-ended.
        filter_min = None if i == 0 else lo
        filter_max = None if i == bins - 1 else hi
        range_text = _range_text(filter_min, filter_max, lo, hi)
        label = f"{score.name} {range_text}: {prefix}{counts[i]:,} records ({percent(shares[i])})"
        whole_count = whole_share = None
        if whole is not None and whole_shares is not None:
            whole_count, whole_share = whole.counts[i], whole_shares[i]
            label += f"; whole dataset {whole_count:,} ({percent(whole_share)})"
        href = grid_href(
            base_query,
            path,
            **{
                f"{score.name}_min": None if filter_min is None else fmt(filter_min),
                f"{score.name}_max": None if filter_max is None else fmt(filter_max),
            },
        )
        bars.append(
            HistogramBar(
                index=i,
                low=lo,
                high=hi,
                count=counts[i],
                share=shares[i],
                whole_count=whole_count,
                whole_share=whole_share,
                bar=y_box(shares[i], counts[i], column),
                whole_bar=(
                    y_box(whole_share, whole_count, column)
                    if whole_share is not None and whole_count is not None
                    else None
                ),
                hit=column,
                filter_min=filter_min,
                filter_max=filter_max,
                href=href,
                label=label + f". Show {score.name} {range_text} in the grid.",
                range_text=range_text,
            )
        )

    x_ticks = tuple(Tick(x_of(v), v, fmt(v)) for v in nice_ticks(low, high))
    y_ticks = tuple(Tick(plot.bottom - v / y_top * plot.height, v, percent(v)) for v in y_values)
    placed = tuple(
        ReferenceMark(
            value=m.value,
            x=x_of(m.value),
            text=m.text,
            title=m.title,
            label_x=m.label_x,
            label_y=MARGIN_TOP + (m.row + 1) * LABEL_ROW - 3,
            lines=m.lines,
        )
        for m in marks
    )
    cur_min, cur_max = current
    selected = None
    if cur_min is not None or cur_max is not None:
        a = x_of(min(max(cur_min if cur_min is not None else low, low), high))
        b = x_of(min(max(cur_max if cur_max is not None else high, low), high))
        selected = Box(a, plot.y, max(b - a, 1.0), plot.height)
    return HistogramChart(
        score=score.name,
        title=BY_NAME[score.name].label,
        width=VIEW_WIDTH,
        height=plot.bottom + MARGIN_BOTTOM,
        plot=plot,
        domain=(low, high),
        limits=(score.low, score.high),
        step=score.step,
        bars=tuple(bars),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        references=placed,
        selected=selected,
        current=current,
        total=total,
        whole_total=whole_total,
        nulls=histogram.nulls,
        approximate=histogram.approximate or bool(whole is not None and whole.approximate),
        brush_href=brush_href,
    )


def _range_text(filter_min: float | None, filter_max: float | None, lo: float, hi: float) -> str:
    if filter_min is None:
        return f"below {fmt(hi)}"
    if filter_max is None:
        return f"{fmt(lo)} and above"
    return f"{fmt(lo)}–{fmt(hi)}"


@dataclass(frozen=True)
class _Mark:
    value: float
    text: str
    title: str
    label_x: float
    row: int
    lines: tuple[ReferenceLine, ...]


def _place_reference_labels(
    references: Sequence[ReferenceLine], low: float, high: float
) -> tuple[list[_Mark], int]:
    """One mark per distinct value inside the domain (lines at one value share a label), its
    label placed in the first row above the plot where it overlaps no other; returns the
    marks and how many rows they take."""
    by_value: dict[float, list[ReferenceLine]] = {}
    for line in references:
        if low <= line.value <= high:
            by_value.setdefault(round(line.value, 6), []).append(line)
    plot_x, plot_width = MARGIN_LEFT, VIEW_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    row_ends: list[float] = []
    marks = []
    for value in sorted(by_value):
        lines = tuple(by_value[value])
        text = " · ".join(line.short for line in lines)
        title = " ".join(
            f"{fmt(line.value)}: {line.label} Source: "
            + "; ".join(source.label for source in line.sources)
            + "."
            for line in lines
        )
        width = len(text) * CHAR_WIDTH
        x = plot_x + (value - low) / (high - low) * plot_width
        start = min(max(x - width / 2, 1.0), VIEW_WIDTH - width - 1.0)
        row = next((r for r, end in enumerate(row_ends) if start >= end + LABEL_PAD), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0.0)
        row_ends[row] = start + width
        marks.append(_Mark(value, text, title, start, row, lines))
    return marks, len(row_ends)


# --- facets -------------------------------------------------------------------------------------
def facet_charts(
    facets: Mapping[str, Sequence[FacetValue]],
    *,
    titles: Mapping[str, str] | None = None,
    base_query: QueryItems = (),
    path: str = "/",
) -> list[FacetChart]:
    return [
        facet_chart(
            column,
            values,
            base_query=base_query,
            path=path,
            title=(titles or {}).get(column),
        )
        for column, values in facets.items()
        if column in FACET_PARAMS
    ]


def facet_chart(
    column: str,
    values: Sequence[FacetValue],
    *,
    base_query: QueryItems = (),
    path: str = "/",
    title: str | None = None,
) -> FacetChart:
    """Horizontal bars of a facet's counts (language, domain, licence), each a link to the
    grid filtered to that value (the grid's ``lang``, ``domain`` or ``license``)."""
    param = FACET_PARAMS[column]
    plot_x = FACET_LABEL_WIDTH
    plot_width = VIEW_WIDTH - FACET_LABEL_WIDTH - FACET_COUNT_WIDTH
    top = 4.0
    peak = max((v.count for v in values), default=0)
    x_values = nice_ticks(0, peak, 4) if peak else [0.0]
    x_max = max(x_values[-1], peak, 1)
    plot = Box(plot_x, top, plot_width, max(len(values), 1) * FACET_ROW)

    bars = []
    for i, item in enumerate(values):
        y = top + i * FACET_ROW
        width = item.count / x_max * plot_width
        if item.count > 0:
            width = max(width, 1.0)
        shown = item.value if item.value is not None else "(none)"
        text = shown if len(shown) <= FACET_LABEL_CHARS + 1 else shown[:FACET_LABEL_CHARS] + "…"
        count = f"{'≈' if item.approximate else ''}{item.count:,}"
        href = None if item.value is None else grid_href(base_query, path, **{param: item.value})
        label = f"{shown}: {count} records"
        if href:
            label += f". Show {column} {shown} in the grid."
        bars.append(
            FacetBar(
                value=item.value,
                text=text,
                count=item.count,
                approximate=item.approximate,
                bar=Box(plot_x, y + (FACET_ROW - FACET_BAR) / 2, width, FACET_BAR),
                hit=Box(0, y, VIEW_WIDTH, FACET_ROW),
                label_y=y + FACET_ROW / 2 + 3.5,
                count_text=("≈" if item.approximate else "")
                + (f"{item.count:,}" if item.count < 100_000 else compact(item.count)),
                href=href,
                label=label,
            )
        )
    x_ticks = tuple(
        Tick(plot_x + v / x_max * plot_width, v, compact(v)) for v in x_values if v <= x_max
    )
    return FacetChart(
        column=column,
        param=param,
        title=title or BY_NAME[column].label,
        width=VIEW_WIDTH,
        height=plot.bottom + MARGIN_BOTTOM - 6,
        plot=plot,
        label_x=plot_x - 5,
        bars=tuple(bars),
        x_ticks=x_ticks,
    )
