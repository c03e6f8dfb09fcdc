"""The README's screenshots, taken from the demo so that they stay current.

    .venv/bin/python scripts/screenshots.py                   # LOUPE_DATA_DIR, else ./indexes
    .venv/bin/python scripts/screenshots.py --data-dir /work/demo/indexes --out /tmp/shots
    make screenshots

Starts `loupe serve` on a free port of 127.0.0.1 over the data folder (a throw-away state
folder unless LOUPE_STATE_DIR or --state-dir names one), opens the pages in Debian's chromium
through Playwright (as tests/browser does; Playwright never downloads a browser) at 1366 px,
and writes docs/screenshots/: the grid, a record's verdicts, the threshold lab in
presentation mode, the embedding map (when the dataset has one: `loupe index` computes it)
and the overview's charts. Any request to another host fails the run: a screenshot must not
show a page that needed the network.

The grid, a page of photographs, is a JPEG; the other pages, text and charts, are 256-colour
PNGs (see `encode`). Each must stay under MAX_BYTES: the README should stay light to clone
and to load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1366, 860
MAX_BYTES = 250_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def loupe_server(data_dir: Path, state_dir: Path, log_path: Path) -> Iterator[str]:
    """`loupe serve` in a child process; yields its base URL and stops it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOUPE_")}
    env.update(
        LOUPE_DATA_DIR=str(data_dir),
        LOUPE_STATE_DIR=str(state_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    log = open(log_path, "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise SystemExit(f"loupe serve stopped; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"loupe serve did not answer in 120 s; see {log.name}"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def json_get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def wait_until(page, expression: str, timeout_s: float = 30.0) -> None:
    """Poll a JS function until it is truthy (wait_for_function uses eval, which the
    Content-Security-Policy refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)


def settle(page) -> None:
    """Lazy parts (charts, counts, thumbnails) loaded and nothing still moving."""
    page.wait_for_load_state("networkidle")
    wait_until(
        page,
        "() => [...document.images].every(i => i.complete"
        " || i.getBoundingClientRect().top > window.innerHeight)",
    )
    page.wait_for_timeout(400)


def encode(png: bytes, kind: str) -> bytes:
    """A page of photographs as JPEG (quality 80), a page of text and charts as a 256-colour
    PNG (octree: the median cut turned the blur line's red to brown), so each stays sharp and
    small. Measured at 1366 x 860: the grid is 163 KB as JPEG and 157 KB as a 256-colour PNG,
    but the PNG bands its blurred cards into rings; the lab is 49 KB as such a PNG, 138 KB as
    JPEG (with soft text) and 149 KB as chromium's own PNG (the grid's: 510 KB)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    buffer = io.BytesIO()
    if kind == "jpg":
        image.save(buffer, "JPEG", quality=80, optimize=True, progressive=True)
    else:
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
            buffer, "PNG", optimize=True
        )
    return buffer.getvalue()


def shoot(page, out: Path, name: str, kind: str = "png", scroll_to: str | None = None) -> None:
    if scroll_to:
        page.locator(scroll_to).first.scroll_into_view_if_needed()
        page.evaluate(
            "(sel) => window.scrollBy(0, document.querySelector(sel).getBoundingClientRect().top"
            " - 16)",
            scroll_to,
        )
        page.wait_for_timeout(300)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    if width > WIDTH:
        raise SystemExit(f"{name}: the page is {width} px wide at {WIDTH} (sideways scroll)")
    data = encode(page.screenshot(full_page=False), kind)
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{name}.{kind} is {len(data):,} bytes, over {MAX_BYTES:,}")
    (out / f"{name}.{kind}").write_bytes(data)
    print(f"{out / name}.{kind}  {len(data) / 1000:.0f} KB")


def blurred_seed(url: str, ds: str, visible: int = 8, wanted: int = 2) -> int:
    """A seed whose random sample shows a few blurred cards among the first ones on screen:
    the blur is part of what the picture should show."""
    threshold = Settings.model_fields["punsafe_threshold"].default  # the server's: no LOUPE_ env
    for seed in range(1, 200):
        rows = json_get(f"{url}/api/records?ds={ds}&sort=random&seed={seed}&size={visible}")
        above = sum(1 for row in rows["records"] if (row.get("punsafe") or 0) > threshold)
        if above == wanted:
            return seed
    return 1


def grid(page, url: str, ds: str, out: Path) -> None:
    page.goto(f"{url}/?ds={ds}&sort=random&seed={blurred_seed(url, ds)}")
    page.wait_for_selector("#grid li.card")
    settle(page)
    shoot(page, out, "grid", "jpg")  # photographs


def record(page, url: str, ds: str, out: Path) -> None:
    page.goto(f"{url}/?ds={ds}&q=astronaut&lang=en")
    page.wait_for_selector("#grid li.card a[href*='/records/']")
    page.locator("#grid li.card a[href*='/records/']").first.click()
    page.wait_for_selector("#why")
    settle(page)
    shoot(page, out, "record-verdicts")


def lab(page, url: str, ds: str, out: Path) -> None:
    page.goto(f"{url}/lab?ds={ds}&present=1&similarity_min=0.28&aesthetic_min=5")
    page.wait_for_selector("#lab-results")
    settle(page)
    shoot(page, out, "lab-presentation")


def embedding_map(page, url: str, ds: str, out: Path) -> None:
    if status(f"{url}/api/map?ds={ds}") != 200:
        print(f"map: skipped ({ds} has no map: `loupe index {ds}` computes it)")
        return
    page.goto(f"{url}/map?ds={ds}")
    wait_until(page, "() => window.loupeMap && (loupeMap.ready || loupeMap.error)", 60)
    if page.evaluate("() => loupeMap.error"):
        raise SystemExit(f"map: {page.evaluate('() => loupeMap.error')}")
    wait_until(page, "() => loupeMap.pointsDrawn > 0", 60)
    settle(page)
    shoot(page, out, "map")


def overview(page, url: str, ds: str, out: Path) -> None:
    page.goto(f"{url}/overview?ds={ds}")
    page.wait_for_selector("svg")
    settle(page)
    shoot(page, out, "overview-charts", scroll_to=".overview-scores")


SHOTS: dict[str, Callable] = {
    "grid": grid,
    "record": record,
    "lab": lab,
    "map": embedding_map,
    "overview": overview,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("LOUPE_DATA_DIR", ROOT / "indexes")),
        help="data folder holding the dataset (default: LOUPE_DATA_DIR, else ./indexes)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=os.environ.get("LOUPE_STATE_DIR"),
        help="state folder for the server (default: LOUPE_STATE_DIR, else a temporary one)",
    )
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", choices=sorted(SHOTS), action="append")
    args = parser.parse_args(argv)
    if not (args.data_dir / args.dataset / "manifest.json").exists():
        raise SystemExit(
            f"no dataset {args.dataset!r} in {args.data_dir}: run `loupe demo` "
            "(or give --data-dir / LOUPE_DATA_DIR)"
        )
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make chromium` installs it")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loupe-shots-") as scratch:
        state_dir = args.state_dir or Path(scratch)
        state_dir.mkdir(parents=True, exist_ok=True)
        log_path = Path(scratch) / "serve.log"
        with (
            loupe_server(args.data_dir, state_dir, log_path) as url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--use-angle=swiftshader",  # WebGL (the map) in software
                    "--enable-unsafe-swiftshader",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--hide-scrollbars",
                ],
            )
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
            elsewhere: list[str] = []

            def only_here(route) -> None:
                if route.request.url.startswith((url, "data:", "blob:")):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            context.route("**/*", only_here)
            page = context.new_page()
            for name in args.only or SHOTS:
                SHOTS[name](page, url, args.dataset, args.out)
            browser.close()
            if elsewhere:
                raise SystemExit(f"pages asked for other hosts: {sorted(set(elsewhere))}")


if __name__ == "__main__":
    main()
