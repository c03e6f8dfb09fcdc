"""Charts that filter, in Debian's chromium: a bar click, a brush, the keyboard, and the
sidebar charts following every filter change (issue 10's bug)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.browser.support import SCREENSHOTS, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def api_count(server, params: dict) -> int:
    return httpx.get(server.url + "/api/count", params=params).json()["total"]


def reveal_charts(page) -> None:
    """Scroll the sidebar's charts into view (they load when seen), whatever state they are in;
    on a phone they are inside the folded filters, which open first."""
    page.evaluate("document.querySelector('details.filters-panel')?.setAttribute('open', '')")
    page.evaluate("document.querySelector('#histograms').scrollIntoView()")


def open_grid_charts(page, url: str) -> None:
    page.goto(url)
    reveal_charts(page)
    page.wait_for_selector("#histograms svg.chart-svg")


def wait_for_charts_of(page, fragment: str) -> None:
    """Wait until the sidebar shows the charts loaded for a URL holding ``fragment``."""
    wait_until(
        page,
        """fragment => {
            const h = document.querySelector('#histograms');
            return h && (h.dataset.src || '').includes(fragment) && h.querySelector('svg');
        }""",
        fragment,
    )


def caption_count(page, score: str) -> int:
    text = page.locator(f"#chart-{score} figcaption .muted").inner_text()
    return int(re.match(r"[\d,]+", text).group(0).replace(",", ""))


def test_clicking_a_punsafe_bar_filters_the_grid_and_every_chart(live_server, page):
    histograms = httpx.get(live_server.url + "/api/histograms").json()["punsafe"]
    # A middle bin holding some records but not all.
    index = next(i for i in range(1, 19) if 0 < histograms["counts"][i] < 120)
    low, high = histograms["edges"][index], histograms["edges"][index + 1]
    open_grid_charts(page, live_server.url + "/")
    assert page.locator("#total-count").inner_text() == "120"
    assert caption_count(page, "aesthetic") == 120

    bar = page.locator(f"#chart-punsafe a.chart-bar[data-index='{index}']")
    with page.expect_response(re.compile(r"/\?.*punsafe_min=")):
        bar.click()
    wait_until(page, "() => document.querySelector('#total-count').innerText !== '120'")
    q = query(page)
    assert float(q["punsafe_min"][0]) == pytest.approx(low)
    assert float(q["punsafe_max"][0]) == pytest.approx(high)
    expected = api_count(live_server, {"punsafe_min": low, "punsafe_max": high})
    assert page.locator("#total-count").inner_text() == f"{expected:,}"
    # The form agrees with the URL, so the next change keeps this filter.
    assert float(page.locator("input[name=punsafe_min]").input_value()) == pytest.approx(low)

    # Every chart re-rendered for the new selection, the whole dataset drawn behind.
    wait_for_charts_of(page, "punsafe_min=")
    for score in ("similarity", "punsafe", "pwatermark", "aesthetic"):
        assert caption_count(page, score) == expected
    assert page.locator("#chart-punsafe rect.chart-selected").count() == 1
    assert page.locator("#chart-aesthetic rect.chart-whole").count() == 20
    page.locator("#histograms").scroll_into_view_if_needed()
    shot(page, "charts-punsafe-bar")


def test_brushing_the_similarity_histogram_filters_to_the_range(live_server, page):
    open_grid_charts(page, live_server.url + "/")
    svg = page.locator("#chart-similarity svg.chart-svg")
    plot_x, plot_w = (float(svg.get_attribute(f"data-plot-{k}")) for k in ("x", "width"))
    box = svg.bounding_box()
    scale = box["width"] / float(svg.get_attribute("viewBox").split()[2])

    def screen_x(value: float) -> float:  # the similarity axis runs 0..0.5
        return box["x"] + (plot_x + value / 0.5 * plot_w) * scale

    y = box["y"] + box["height"] * 0.6
    page.mouse.move(screen_x(0.3), y)
    page.mouse.down()
    page.mouse.move(screen_x(0.35), y, steps=4)
    assert page.locator("#chart-similarity rect.chart-brush").count() == 1
    with page.expect_response(re.compile(r"/\?.*similarity_min=")):
        page.mouse.move(screen_x(0.4), y, steps=4)
        page.mouse.up()
    wait_until(page, "() => new URLSearchParams(location.search).has('similarity_max')")
    q = query(page)
    low, high = float(q["similarity_min"][0]), float(q["similarity_max"][0])
    # Rounded outwards to the score's input step (0.005): within a pixel or two of the drag.
    assert low == pytest.approx(0.3, abs=0.01) and high == pytest.approx(0.4, abs=0.01)
    assert low <= 0.3 + 0.005 and high >= 0.4 - 0.005
    expected = api_count(live_server, {"similarity_min": low, "similarity_max": high})
    wait_until(page, "n => document.querySelector('#total-count').innerText === n", f"{expected:,}")
    sims = [
        float(t.split()[1])
        for t in page.locator("#grid .badge[title='CLIP image–text similarity']").all_inner_texts()
    ]
    assert sims and all(low - 0.005 <= s <= high + 0.005 for s in sims)
    wait_for_charts_of(page, "similarity_min=")
    assert caption_count(page, "similarity") == expected
    shot(page, "charts-brushed")


def test_sidebar_charts_follow_a_filter_typed_in_the_form(live_server, page):
    """The bug: set punsafe min 0.5, the count changed but the charts stayed as they were."""
    open_grid_charts(page, live_server.url + "/")
    assert caption_count(page, "punsafe") == 120
    # A new page of the same selection keeps its charts (no reload, no skeleton flash).
    page.evaluate("document.querySelector('#histograms').dataset.mark = 'kept'")
    with page.expect_response(re.compile(r"after=|page=2")):
        page.locator("nav.pager a[rel=next]").click()
    wait_until(page, "() => /after=|page=2/.test(location.search)")
    assert page.locator("#histograms").get_attribute("data-mark") == "kept"

    page.fill("input[name=punsafe_min]", "0.5")
    with page.expect_response(re.compile(r"/\?.*punsafe_min=0.5")):
        page.press("input[name=punsafe_min]", "Enter")
    expected = api_count(live_server, {"punsafe_min": 0.5})
    wait_until(page, "n => document.querySelector('#total-count').innerText === n", f"{expected:,}")
    reveal_charts(page)
    wait_for_charts_of(page, "punsafe_min=0.5")
    for score in ("similarity", "punsafe", "pwatermark", "aesthetic"):
        assert caption_count(page, score) == expected

    # Clearing the filter brings the whole dataset's charts back.
    page.fill("input[name=punsafe_min]", "")
    with page.expect_response(re.compile(r"/\?")):
        page.press("input[name=punsafe_min]", "Enter")
    wait_until(page, "() => document.querySelector('#total-count').innerText === '120'")
    reveal_charts(page)
    wait_until(
        page,
        "() => { const h = document.querySelector('#histograms');"
        " return h.dataset.src && !h.dataset.src.includes('punsafe') && h.querySelector('svg'); }",
    )
    assert caption_count(page, "punsafe") == 120


def test_keyboard_moves_between_bars_and_enter_filters(live_server, page):
    open_grid_charts(page, live_server.url + "/")
    bars = page.locator("#chart-aesthetic a.chart-bar")
    # One tab stop per chart: the first bar; arrows move along the chart.
    assert [bars.nth(i).get_attribute("tabindex") for i in range(3)] == ["0", "-1", "-1"]
    bars.first.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.dataset.index")
    assert focused == "10"
    outline = page.evaluate(
        "getComputedStyle(document.activeElement.querySelector('.chart-hit')).strokeWidth"
    )
    assert outline == "2px"  # the focus ring
    with page.expect_response(re.compile(r"aesthetic_min=5")):
        page.keyboard.press("Enter")
    wait_until(page, "() => location.search.includes('aesthetic_max=5.5')")
    wait_for_charts_of(page, "aesthetic_min=5")
    # Focus comes back to the same bar of the new chart.
    wait_until(
        page,
        "() => document.activeElement && document.activeElement.dataset.index === '10'"
        " && document.activeElement.dataset.score === 'aesthetic'",
    )


def test_overview_bars_open_the_grid_with_their_filter(live_server, page):
    page.goto(live_server.url + "/overview")
    page.locator("#chart-language a.chart-bar[data-value='de']").click()
    page.wait_for_url(re.compile(r"/\?.*lang=de"))
    assert page.locator("#total-count").inner_text() == "15"
    assert set(page.locator("#grid .badge-lang").all_inner_texts()) == {"de"}

    page.goto(live_server.url + "/overview")
    page.locator("#chart-punsafe a.chart-bar[data-index='0']").click()
    page.wait_for_url(re.compile(r"punsafe_max=0.05"))
    assert "punsafe_min" not in query(page)  # the first bin is open-ended


def test_charts_filter_without_javascript(live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/overview")
    page.locator("#chart-aesthetic a.chart-bar[data-index='12']").click()
    page.wait_for_url(re.compile(r"aesthetic_min=6&aesthetic_max=6.5|aesthetic_max=6.5"))
    q = query(page)
    assert q["aesthetic_min"] == ["6"] and q["aesthetic_max"] == ["6.5"]
    # The grid's sidebar offers its charts as a page of their own, whose bars filter too.
    page.locator("#histograms noscript a, #histograms a", has_text="Score charts").click()
    page.wait_for_url(re.compile(r"/histograms\?.*aesthetic_min=6"))
    page.locator("#chart-punsafe a.chart-bar[data-index='0']").click()
    page.wait_for_url(re.compile(r"punsafe_max=0.05"))
    q = query(page)
    assert q["aesthetic_min"] == ["6"] and q["punsafe_max"] == ["0.05"]
    assert page.locator("#grid li.card").count() == api_count(
        live_server, {"aesthetic_min": 6, "aesthetic_max": 6.5, "punsafe_max": 0.05}
    )
    context.close()


@pytest.mark.parametrize("width", [390, 1366, 1920])
def test_screenshots_of_the_charts(live_server, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    open_grid_charts(page, live_server.url + "/?punsafe_min=0.3")
    page.locator("#histograms").scroll_into_view_if_needed()
    shot(page, f"charts-grid-{width}")
    page.goto(live_server.url + "/overview")
    page.screenshot(path=str(SCREENSHOTS / f"charts-overview-{width}.png"), full_page=True)
    assert hosts == {urlsplit(live_server.url).netloc}
    # The charts never make the page scroll sideways (the top bar is not theirs to check).
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('.chart')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= width
    context.close()
