"""Charts that filter: the SVG geometry (app.web.charts), LAION's reference lines
(app.explore.references), and the charts as the grid and the overview serve them."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from app.catalog.filters import RecordFilter
from app.catalog.queries import FacetValue, Histogram, histogram_edges
from app.catalog.schema import HISTOGRAM_BINS, SCORES
from app.explore.pipeline import load_presets
from app.explore.references import SETTING, blur_line, laion_lines, reference_lines
from app.web.charts import (
    CHAR_WIDTH,
    VIEW_WIDTH,
    facet_chart,
    grid_href,
    histogram_chart,
    nice_ticks,
    nice_top,
    score_charts,
)

SCORE_NAMES = [s.name for s in SCORES]


def histogram(score: str, counts: dict[int, int], *, approximate: bool = False) -> Histogram:
    values = [0] * HISTOGRAM_BINS
    for index, count in counts.items():
        values[index] = count
    return Histogram(score, histogram_edges(score), values, approximate=approximate)


def params(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


# --- axes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("low", "high", "target", "expected"),
    [
        (0.0, 0.5, 5, [0, 0.1, 0.2, 0.3, 0.4, 0.5]),
        (0.0, 1.0, 5, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.0, 10.0, 5, [0, 2, 4, 6, 8, 10]),
        (0.0, 45, 4, [0, 20, 40]),
        (0.0, 1234, 4, [0, 500, 1000]),
    ],
)
def test_nice_ticks(low, high, target, expected):
    assert nice_ticks(low, high, target) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        (0.37, [0, 0.2, 0.4]),
        (0.75, [0, 0.25, 0.5, 0.75]),
        (0.8, [0, 0.5, 1.0]),
        (0.05, [0, 0.02, 0.04, 0.06]),
        (0, [0, 1]),
    ],
)
def test_y_axis_reaches_the_first_round_value_above_the_peak(peak, expected):
    assert nice_top(peak) == pytest.approx(expected)


# --- histogram geometry -------------------------------------------------------------------------
def test_bars_are_bins_laid_side_by_side_with_heights_by_share():
    chart = histogram_chart(histogram("punsafe", {3: 10, 4: 30, 19: 1}))
    plot = chart.plot
    assert len(chart.bars) == HISTOGRAM_BINS
    width = plot.width / HISTOGRAM_BINS
    for i, bar in enumerate(chart.bars):
        assert bar.hit.x == pytest.approx(plot.x + i * width + 0.5)
        assert bar.hit.height == plot.height
        assert bar.bar.bottom == pytest.approx(plot.bottom)  # bars stand on the x axis
    # Shares of 41 records; the y axis tops at the first round value above the peak (30/41).
    assert chart.total == 41
    assert [t.value for t in chart.y_ticks] == pytest.approx([0, 0.25, 0.5, 0.75])
    assert chart.bars[4].bar.height == pytest.approx(30 / 41 / 0.75 * plot.height)
    assert chart.bars[3].bar.height == pytest.approx(10 / 41 / 0.75 * plot.height)
    assert chart.bars[0].bar.height == 0
    assert chart.bars[19].bar.height >= 1  # a bin with a record never vanishes
    assert chart.y_ticks[-1].pos == pytest.approx(plot.y)
    assert chart.y_ticks[0].pos == pytest.approx(plot.bottom)
    assert [t.label for t in chart.x_ticks] == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert chart.x_ticks[-1].pos == pytest.approx(plot.right)
    assert plot.right <= VIEW_WIDTH and chart.height == pytest.approx(plot.bottom + 26)


def test_bar_labels_give_exact_counts_and_ranges():
    chart = histogram_chart(histogram("aesthetic", {10: 1234, 11: 2}, approximate=True))
    bar = chart.bars[10]
    assert bar.range_text == "5–5.5"
    assert "≈1,234 records" in bar.label and "aesthetic 5–5.5" in bar.label
    assert chart.bars[0].range_text == "below 0.5"
    assert chart.bars[-1].range_text == "9.5 and above"
    assert chart.approximate


def test_each_bar_links_to_the_grid_with_its_range_and_keeps_other_filters():
    base = [("ds", "tiny"), ("q", "cat"), ("lang", "de"), ("lang", "fr"), ("page", "3")]
    base += [("similarity_min", "0.1"), ("after", "77")]
    chart = histogram_chart(histogram("similarity", {}), base_query=base)
    middle = params(chart.bars[11].href)
    assert middle["similarity_min"] == ["0.275"] and middle["similarity_max"] == ["0.3"]
    assert middle["q"] == ["cat"] and middle["lang"] == ["de", "fr"] and middle["ds"] == ["tiny"]
    assert "page" not in middle and "after" not in middle  # a new filter starts at its top
    assert urlsplit(chart.bars[11].href).path == "/"
    # The outer bins hold everything beyond the axis (the catalog clamps bins): open-ended.
    first, last = params(chart.bars[0].href), params(chart.bars[-1].href)
    assert "similarity_min" not in first and first["similarity_max"] == ["0.025"]
    assert last["similarity_min"] == ["0.475"] and "similarity_max" not in last
    assert (chart.bars[0].filter_min, chart.bars[-1].filter_max) == (None, None)
    # The brush starts from the same URL without this score's range.
    brush = params(chart.brush_href)
    assert "similarity_min" not in brush and brush["lang"] == ["de", "fr"]


@pytest.mark.parametrize("score", SCORES, ids=SCORE_NAMES)
def test_every_bin_edge_is_a_value_the_form_inputs_accept(score):
    """A clicked bar sets the score's number inputs; their step must divide the bin edges,
    or the browser refuses to submit the form (why similarity's step is 0.005)."""
    for edge in histogram_edges(score.name):
        steps = (edge - score.low) / score.step
        assert steps == pytest.approx(round(steps), abs=1e-6), (score.name, edge)


def test_the_selection_is_drawn_over_the_whole_dataset_as_shares_of_each():
    whole = histogram("aesthetic", {8: 600, 10: 300, 12: 100})
    selection = histogram("aesthetic", {10: 30, 12: 10})
    chart = histogram_chart(selection, whole=whole)
    assert chart.has_whole and chart.whole_total == 1000 and chart.total == 40
    assert chart.bars[8].whole_share == pytest.approx(0.6) and chart.bars[8].share == 0
    assert chart.bars[10].share == pytest.approx(0.75)
    # One percent axis for both: its top covers the larger share.
    y_top = chart.y_ticks[-1].value
    assert y_top >= 0.75
    assert chart.bars[10].bar.height == pytest.approx(0.75 / y_top * chart.plot.height)
    assert chart.bars[8].whole_bar.height == pytest.approx(0.6 / y_top * chart.plot.height)
    assert "whole dataset 600 (60%)" in chart.bars[8].label
    assert histogram_chart(selection).bars[10].whole_bar is None


def test_the_current_range_is_shaded():
    chart = histogram_chart(histogram("punsafe", {}), current=(0.3, None))
    plot = chart.plot
    assert chart.selected.x == pytest.approx(plot.x + 0.3 * plot.width)
    assert chart.selected.right == pytest.approx(plot.right)
    assert histogram_chart(histogram("punsafe", {})).selected is None
    # A range beyond the axis is clamped to it.
    wide = histogram_chart(histogram("similarity", {}), current=(-0.5, 0.9))
    assert (wide.selected.x, wide.selected.right) == pytest.approx((plot.x, plot.right))


# --- reference lines ----------------------------------------------------------------------------
def test_reference_lines_sit_at_their_values():
    chart = histogram_chart(histogram("similarity", {}), references=reference_lines("similarity"))
    plot = chart.plot
    assert [m.value for m in chart.references] == [0.26, 0.28, 0.3]
    for mark in chart.references:
        assert mark.x == pytest.approx(plot.x + mark.value / 0.5 * plot.width)
    assert [m.text for m in chart.references] == ["2B-multi", "2B-en", "400M"]


@pytest.mark.parametrize("score", SCORE_NAMES)
def test_reference_labels_never_overlap_and_stay_inside_the_chart(score):
    chart = histogram_chart(
        histogram(score, {}), references=reference_lines(score, blur_threshold=0.52)
    )
    spans: dict[float, list[tuple[float, float]]] = {}
    for mark in chart.references:
        end = mark.label_x + len(mark.text) * CHAR_WIDTH
        assert 0 <= mark.label_x and end <= VIEW_WIDTH
        assert mark.label_y < chart.plot.y  # labels sit above the bars
        spans.setdefault(mark.label_y, []).append((mark.label_x, end))
    for row in spans.values():
        row.sort()
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(row, row[1:], strict=False))


def test_lines_at_one_value_share_a_label_and_the_blur_line_is_marked_local():
    same = histogram_chart(
        histogram("punsafe", {}), references=reference_lines("punsafe", blur_threshold=0.5)
    )
    assert len(same.references) == 1
    assert same.references[0].text == "0.5 rec. · blur" and same.references[0].local
    apart = histogram_chart(
        histogram("punsafe", {}), references=reference_lines("punsafe", blur_threshold=0.7)
    )
    assert [(m.value, m.local) for m in apart.references] == [(0.5, False), (0.7, True)]
    assert "LAION-5B" in apart.references[0].title


def test_reference_lines_are_laion_published_thresholds_read_from_their_one_definition():
    lines = laion_lines()
    values = {s: sorted(line.value for line in lines if line.score == s) for s in SCORE_NAMES}
    assert values == {
        "similarity": [0.26, 0.28, 0.30],
        "punsafe": [0.5],
        "pwatermark": [0.8],
        "aesthetic": [4.5, 5.0, 6.0, 6.5],
    }
    for line in lines:
        assert line.sources and all(s.url.startswith("https://") for s in line.sources)
        assert line.label.endswith(".")
    # The subsets' lines are the lab's presets: same value, same source.
    presets = load_presets()
    en = next(line for line in lines if line.short == "2B-en")
    assert en.value == presets.by_id["laion-2b-en"].filters["similarity_min"]
    assert en.sources == (presets.by_id["laion-2b-en"].source,)
    assert blur_line(0.4).sources == (SETTING,)
    assert [line.value for line in reference_lines("punsafe", 0.3)] == [0.3, 0.5]
    assert reference_lines("pwatermark", 0.3) == [
        line for line in lines if line.score == "pwatermark"
    ]


@pytest.mark.parametrize(
    ("passing", "value", "score", "expected"),
    [
        ("gte", 0.28, 0.28, True),  # LAION's rule is >=: a record exactly at it is kept
        ("gte", 0.28, 0.2799, False),
        ("lte", 0.5, 0.5, True),
        ("lte", 0.5, 0.5001, False),
        ("gte", 0.28, None, None),
    ],
)
def test_passing_a_reference_line(passing, value, score, expected):
    line = next(line for line in laion_lines() if line.passing == passing)
    moved = type(line)(line.score, value, passing, line.short, line.label, line.sources)
    assert moved.passes(score) is expected


def test_score_charts_draw_the_whole_only_under_a_filter():
    hists = {s: histogram(s, {5: 3}) for s in SCORE_NAMES}
    plain = score_charts(hists, RecordFilter(), whole=hists)
    assert [c.score for c in plain] == SCORE_NAMES and not any(c.has_whole for c in plain)
    narrowed = score_charts(hists, RecordFilter(punsafe_min=0.5), whole=hists)
    assert all(c.has_whole for c in narrowed)
    assert narrowed[1].current == (0.5, None) and narrowed[0].current == (None, None)


# --- facet bars ---------------------------------------------------------------------------------
def test_facet_bars_are_scaled_counts_linking_to_the_grid_filter():
    values = [
        FacetValue("en", 45),
        FacetValue("de", 15),
        FacetValue(None, 3),
    ]
    chart = facet_chart("language", values, base_query=[("ds", "tiny"), ("lang", "fr")])
    en, de, missing = chart.bars
    x_max = chart.x_ticks[-1].value
    assert x_max == 40 or x_max >= 45
    assert en.bar.width == pytest.approx(45 / max(x_max, 45) * chart.plot.width)
    assert de.bar.width == pytest.approx(en.bar.width / 3)
    assert en.bar.x == de.bar.x == chart.plot.x
    assert de.bar.y > en.bar.y
    assert params(de.href) == {"ds": ["tiny"], "lang": ["de"]}  # the click picks that one
    assert missing.href is None and missing.text == "(none)"
    assert chart.height >= chart.plot.bottom


def test_facet_labels_are_shortened_and_values_encoded():
    long = "a-very-long-domain-name.example.org"
    chart = facet_chart("domain", [FacetValue(long, 2_500_000, approximate=True)])
    bar = chart.bars[0]
    assert bar.text.endswith("…") and len(bar.text) <= 14
    assert bar.count_text == "≈2.5M" and "≈2,500,000 records" in bar.label
    tricky = facet_chart("license", [FacetValue("CC BY & <co>", 1)]).bars[0]
    assert params(tricky.href) == {"license": ["CC BY & <co>"]}
    assert grid_href([("ds", "x")], "/", domain="a b") == "/?ds=x&domain=a+b"


# --- through the app ----------------------------------------------------------------------------
def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def bar_count(link) -> int:
    """The exact count a bar's tooltip gives ("punsafe 0.5–0.55: 12 records ...")."""
    title = link.find("title").text
    return int(title.split(": ", 1)[1].split(" records")[0].lstrip("≈").replace(",", ""))


def assert_no_inline_style_or_script(page: BeautifulSoup) -> None:
    assert not page.select("[style]"), "inline style attributes are refused by the CSP"
    assert not page.select("style")
    assert not [s for s in page.select("script") if not s.get("src")]
    for element in page.find_all(True):
        assert not any(a.startswith("on") for a in element.attrs), element.name


HX = {"HX-Request": "true"}


def test_histograms_partial_draws_four_charts_of_links(client):
    response = client.get("/histograms", headers=HX)
    assert response.status_code == 200
    page = soup(response)
    assert page.select_one("html") is None
    assert page.select_one("#histograms")["data-src"] == "/histograms"
    figures = page.select("figure.chart-histogram")
    assert [f["id"] for f in figures] == [f"chart-{s}" for s in SCORE_NAMES]
    for figure in figures:
        links = figure.select("svg a.chart-bar")
        assert len(links) == HISTOGRAM_BINS
        assert sum(bar_count(a) for a in links) == 120
        assert len(figure.select("details.chart-table tbody tr")) == HISTOGRAM_BINS
        assert len(figure.select("svg text.chart-tick-x")) >= 5
        assert not figure.select("rect.chart-whole")  # nothing narrowed: one layer
    punsafe = page.select_one("#chart-punsafe")
    values = [float(g["data-value"]) for g in punsafe.select("g.chart-ref")]
    assert values == [0.5]  # recommended, and the default blur threshold, one label
    assert "blur" in punsafe.select_one("g.chart-ref text").text
    assert_no_inline_style_or_script(page)


def test_histograms_follow_the_filter_and_keep_it_in_their_links(client):
    filters = {"punsafe_min": 0.5, "lang": "en"}
    total = client.get("/api/count", params=filters).json()["total"]
    page = soup(client.get("/histograms", params=filters, headers=HX))
    assert "punsafe_min=0.5" in page.select_one("#histograms")["data-src"]
    for score in SCORE_NAMES:
        figure = page.select_one(f"#chart-{score}")
        assert sum(bar_count(a) for a in figure.select("a.chart-bar")) == total
        assert figure.select_one("figcaption .muted").text.startswith(f"{total} selected")
        assert len(figure.select("rect.chart-whole")) == HISTOGRAM_BINS
    assert page.select("#chart-punsafe rect.chart-selected")
    assert not page.select("#chart-aesthetic rect.chart-selected")
    link = page.select_one("#chart-aesthetic a.chart-bar[data-index='10']")["href"]
    assert params(link) == {
        "punsafe_min": ["0.5"],
        "lang": ["en"],
        "aesthetic_min": ["5"],
        "aesthetic_max": ["5.5"],
    }
    # Following the link gives the grid the bar's count (no record sits on a bin edge here).
    grid = soup(client.get(link))
    assert grid.select_one("#total-count").text == str(
        bar_count(page.select_one("#chart-aesthetic a.chart-bar[data-index='10']"))
    )


def test_histograms_without_htmx_are_a_page(client):
    page = soup(client.get("/histograms", params={"aesthetic_min": 5}))
    assert page.select_one("html") is not None
    assert page.select_one(".crumbs a")["href"] == "/?aesthetic_min=5"
    assert len(page.select("figure.chart-histogram")) == 4
    assert_no_inline_style_or_script(page)


def test_the_grid_sends_its_charts_slot_with_every_htmx_answer(client):
    full = soup(client.get("/", params={"punsafe_min": 0.5}))
    slot = full.select_one("#histograms")
    assert slot["hx-get"] == "/histograms?punsafe_min=0.5"
    assert slot["hx-trigger"] == "intersect once" and not slot.has_attr("hx-swap-oob")
    assert slot.select(".chart-skeleton") and len(full.select("#histograms")) == 1
    partial = soup(client.get("/", params={"punsafe_min": 0.5, "sort": "aesthetic"}, headers=HX))
    oob = partial.select_one("#histograms")
    assert oob["hx-swap-oob"] == "true"
    assert oob["hx-get"] == "/histograms?punsafe_min=0.5&sort=aesthetic"
    script_srcs = [s["src"] for s in full.select("script[src]")]
    assert "/static/charts.js" in script_srcs


def test_overview_draws_score_and_facet_charts_that_open_the_grid(client):
    response = client.get("/overview")
    page = soup(response)
    for score in SCORE_NAMES:
        links = page.select(f"#chart-{score} a.chart-bar")
        assert len(links) == HISTOGRAM_BINS and sum(bar_count(a) for a in links) == 120
        assert all(params(a["href"])["ds"] == ["tiny"] for a in links)
    languages = page.select("#chart-language a.chart-bar")
    assert {a["data-value"] for a in languages} >= {"en", "de"}
    de = next(a for a in languages if a["data-value"] == "de")
    assert params(de["href"]) == {"ds": ["tiny"], "lang": ["de"]}
    assert "15 records" in de.find("title").text
    domain = page.select_one("#chart-domain a.chart-bar")
    assert set(params(domain["href"])) == {"ds", "domain"}
    assert page.select("#chart-license svg")
    similarity_lines = [g["data-value"] for g in page.select("#chart-similarity g.chart-ref")]
    assert similarity_lines == ["0.26", "0.28", "0.3"]
    assert_no_inline_style_or_script(page)
    data = client.get("/api/overview").json()
    assert sum(data["histograms"]["punsafe"]["counts"]) == 120


def test_the_configured_blur_threshold_is_its_own_line(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings.model_copy(update={"punsafe_threshold": 0.7}))) as c:
        page = soup(c.get("/histograms", headers=HX))
    refs = page.select("#chart-punsafe g.chart-ref")
    assert [(g["data-value"], "is-local" in g["class"]) for g in refs] == [
        ("0.5", False),
        ("0.7", True),
    ]
    assert "0.7" in refs[1].find("title").text


def test_whole_histograms_are_kept_until_the_hidden_set_changes(client):
    workspace = client.app.state.workspace
    dataset = workspace.datasets["tiny"]
    explorer = workspace.explorer
    first = explorer.whole_histograms(dataset)
    assert explorer.whole_histograms(dataset) is first
    hidden = workspace.catalog.hidden
    before = set(hidden.of("tiny").positions)
    hidden.replace("tiny", before | {0, 1, 2})
    try:
        again = explorer.whole_histograms(dataset)
        assert again is not first
        assert sum(again["aesthetic"].counts) == sum(first["aesthetic"].counts) - 3
    finally:
        hidden.replace("tiny", before)
    assert math.isclose(sum(explorer.whole_histograms(dataset)["punsafe"].counts), 120)
