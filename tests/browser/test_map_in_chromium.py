"""The embedding map in Debian's chromium (WebGL in software: SwiftShader): it draws every
visible point, a click opens the record of the point under the pointer, a box selection
opens the grid filtered to exactly the points selected, a caption search highlights its
hits; screenshots at 390, 1366 and 1920 px."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.browser.support import SCREENSHOTS, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGE_POINTS = 117  # the tiny set's records with a picture


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def open_map(page, url: str) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" or "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(url)
    wait_until(page, "() => window.loupeMap && (loupeMap.ready || loupeMap.error)", timeout_s=60)
    assert page.evaluate("() => loupeMap.error") is None
    assert not problems, problems


def isolated_point(page) -> tuple[int, dict]:
    """A point that is the one picked at its own place (not under a neighbour)."""
    for pos in page.evaluate("() => loupeMap.positions()"):
        at = page.evaluate("(p) => loupeMap.screenOf(p)", pos)
        if page.evaluate("([x, y]) => loupeMap.pointAt(x, y)", [at["x"], at["y"]]) == pos:
            return pos, at
    raise AssertionError("every point is under another one")


def test_the_map_draws_every_visible_point_and_a_click_opens_its_record(live_server, page):
    open_map(page, live_server.url + "/map?ds=tiny")
    assert page.evaluate("() => loupeMap.pointsDrawn") == IMAGE_POINTS
    assert page.evaluate("() => loupeMap.countLitPixels()") > IMAGE_POINTS * 10
    labels = page.locator("#map-labels .map-label:not([hidden])")
    assert labels.count() >= 1
    shot(page, "map-1280")

    pos, at = isolated_point(page)
    page.mouse.move(at["x"], at["y"])
    page.wait_for_selector("#map-hover li.card")
    expected = httpx.get(
        f"{live_server.url}/map/point", params={"ds": "tiny", "pos": pos}, follow_redirects=False
    ).headers["location"]
    sample_id = expected.split("/records/")[1].split("?")[0]
    assert page.locator("#map-hover li.card").get_attribute("data-sample-id") == sample_id
    page.mouse.click(at["x"], at["y"])
    page.wait_for_url(f"**{expected}")
    assert page.locator("h1.record-caption").count() == 1


def test_a_box_selection_opens_the_grid_on_exactly_those_records(live_server, page):
    open_map(page, live_server.url + "/map?ds=tiny")
    page.click("#map-mode-select")
    box = page.locator("#map-canvas").bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.02, box["y"] + box["height"] * 0.02
    x1, y1 = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.98
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    selection = page.evaluate("() => loupeMap.selection")
    assert 0 < selection["count"] < IMAGE_POINTS
    assert page.locator("#map-selection-count").inner_text().startswith(str(selection["count"]))
    shot(page, "map-box")
    page.click("#map-open-grid")
    page.wait_for_selector("#total-count")
    query = parse_qs(urlsplit(page.url).query)
    assert query["region"] == [selection["region"]]
    assert page.locator("#total-count").inner_text() == str(selection["count"])


def test_a_caption_search_highlights_its_hits(live_server, page):
    open_map(page, live_server.url + "/map?ds=tiny")
    page.fill("#map-q", "astronaut")
    page.click("#map-search button[type=submit]")
    count = httpx.get(f"{live_server.url}/api/count", params={"ds": "tiny", "q": "astronaut"})
    total = count.json()["total"]
    wait_until(page, "() => location.search.includes('q=astronaut')")
    wait_until(
        page,
        "(n) => document.querySelector('#map-count strong').innerText === String(n)",
        total,
    )
    assert "of 117 points match" in page.locator("#map-count").inner_text()
    page.select_option("#map-colour", "punsafe")
    assert "punsafe" in page.locator("#map-legend").inner_text()
    shot(page, "map-search")


@pytest.mark.parametrize("width", [390, 1366, 1920])
def test_the_map_fits_every_width(live_server, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        foreign: list[str] = []
        page.on(
            "request",
            lambda r: foreign.append(r.url) if not r.url.startswith(live_server.url) else None,
        )
        open_map(page, live_server.url + "/map?ds=tiny&lang=en")
        assert page.evaluate("() => loupeMap.pointsDrawn") == IMAGE_POINTS
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll <= width, f"sideways scroll at {width} px"
        assert not foreign
        shot(page, f"map-{width}")
    finally:
        context.close()


def test_without_javascript_the_regions_are_links_to_the_grid(live_server, browser):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto(live_server.url + "/map?ds=tiny")
        assert not page.locator("#map-canvas").is_visible()
        assert "JavaScript and WebGL" in page.locator("main").inner_text()
        links = page.locator(".map-region-list a")
        assert links.count() >= 2
        links.first.click()
        page.wait_for_selector("#total-count")
        assert "region" in parse_qs(urlsplit(page.url).query)
        assert int(page.locator("#total-count").inner_text().replace(",", "")) > 0
    finally:
        context.close()


@pytest.fixture
def sampled_server(settings):
    """The tiny set served with a point limit of 40: the payload is a sample, with the
    density layer of every point, and the detail of a zoomed-in viewport comes on demand."""
    from app.explore.map import MapExplorer
    from app.main import create_app
    from tests.conftest import LiveServer

    app = create_app(settings)
    with LiveServer(app) as server:
        workspace = app.state.workspace
        app.state.map_explorer = MapExplorer(
            workspace.explorer, workspace.semantic, max_points=40, detail_points=30
        )
        yield server


def test_a_sampled_map_draws_the_density_and_loads_detail_as_it_zooms(sampled_server, page):
    open_map(page, sampled_server.url + "/map?ds=tiny")
    assert page.evaluate("() => loupeMap.pointsDrawn") == 40
    assert "a sample of 40 is drawn" in page.locator("#map-count").inner_text()
    assert page.evaluate("() => loupeMap.countLitPixels()") > 0
    # Zoom in on a drawn point: its viewport holds points the sample left out.
    page.evaluate(
        "() => { const c = document.getElementById('map-canvas').getBoundingClientRect();"
        " const at = loupeMap.screenOf(loupeMap.positions()[0]);"
        " loupeMap.zoomAt(at.x - c.left, at.y - c.top, 4); }"
    )
    wait_until(page, "() => loupeMap.pointsDrawn > 40")
    assert page.evaluate("() => loupeMap.pointsDrawn") <= 40 + 30
    shot(page, "map-sampled-zoomed")
