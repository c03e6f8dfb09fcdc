"""`loupe check-links NAME`: measure link rot on a random sample of a dataset.

Each sampled record's URL is fetched once through the guarded fetcher (the same guards as the
server: public addresses only unless allow-listed, timeouts, byte and pixel caps, opt-outs)
and its status stored in ``<state_dir>/linkstatus.sqlite3``, which the overview and the browse
filter read. Nothing fetched is kept: no pixels are cached by this command.

The sample is drawn through the workspace (app.workspace) like every page: records hidden by
a blocklist or a suspected-CSAM flag are never sampled, and each URL is checked against the
hidden set once more right before it is fetched (a flag may arrive during a long run).

Safe to leave running in the background (``nohup loupe check-links demo &``): results are
written every few seconds, Ctrl-C or SIGTERM stops it after saving what was checked, and a run
started again with the same seed skips the records checked recently.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import typer
from tqdm import tqdm

from app.catalog.filters import RecordFilter
from app.catalog.hidden import HiddenSetUnknown
from app.catalog.layout import check_dataset_name
from app.config import Settings
from app.images.linkstatus import ALIVE, STATUSES, LinkCheck, LinkStatusStore, domain_of
from app.images.remote import FetchLimits, FetchOutcome, RemoteFetcher
from app.review.errors import ReviewError
from app.workspace import Workspace, WorkspaceError, open_workspace

log = logging.getLogger(__name__)
SAVE_EVERY_S = 5.0


def check_links(
    name: str = typer.Argument(..., help="Dataset name under the data folder."),
    sample: int = typer.Option(
        10_000, min=1, max=200_000, help="How many records to draw at random."
    ),
    seed: int = typer.Option(0, help="Seed of the random sample (same seed, same records)."),
    workers: int = typer.Option(
        8, min=1, max=64, help="Fetches at once (remote_per_host_concurrency still applies)."
    ),
    recheck: bool = typer.Option(
        False, help="Fetch again records checked less than remote_recheck_s seconds ago."
    ),
) -> None:
    """Fetch a random sample of a dataset's URLs and record which links still work."""
    settings = Settings()
    try:
        check_dataset_name(name)
        limits = FetchLimits.from_settings(settings)
    except ValueError as exc:
        _fail(str(exc))
    # A longer time limit than the server's: a sample of 200,000 sorts the whole catalog.
    settings = settings.model_copy(update={"query_timeout_s": max(settings.query_timeout_s, 120)})
    try:
        ws = open_workspace(settings, names=[name])
    except (WorkspaceError, HiddenSetUnknown, ReviewError) as exc:
        _fail(str(exc))
    try:
        records = _sample(ws, name, sample, seed)
        links = ws.images.links
        with_url = [r for r in records if isinstance(r.get("url"), str) and r["url"]]
        todo = (
            with_url if recheck else _not_recent(links, name, with_url, settings.remote_recheck_s)
        )
        typer.echo(
            f"{name}: {len(records):,} records sampled (seed {seed}), {len(with_url):,} with a "
            f"URL, {len(todo):,} to fetch ({len(with_url) - len(todo):,} checked recently)",
            err=True,
        )
        interrupted = _run(ws, settings, limits, links, name, todo, workers)
        _summary(links, name, [str(r["sample_id"]) for r in with_url])
    finally:
        ws.close()
    if interrupted:
        typer.echo("stopped early; the links checked so far are saved", err=True)
        raise typer.Exit(code=130)


def _fail(message: str) -> None:
    typer.echo(f"loupe check-links: {message}", err=True)
    raise typer.Exit(code=2)


def _sample(ws: Workspace, name: str, n: int, seed: int) -> list[dict[str, Any]]:
    """A seeded random sample of the visible records, as the grid's random order draws it."""
    handle = ws.dataset(name)
    return ws.explorer.browse(handle, RecordFilter(), sort="random", limit=n, seed=seed).rows


def _not_recent(
    links: LinkStatusStore, dataset: str, records: list[dict[str, Any]], recheck_s: float
) -> list[dict[str, Any]]:
    now = time.time()
    todo = []
    for record in records:
        last = links.get(dataset, str(record["sample_id"]))
        if last is None or now - last.checked_at >= recheck_s:
            todo.append(record)
    return todo


def _run(
    ws: Workspace,
    settings: Settings,
    limits: FetchLimits,
    links: LinkStatusStore,
    dataset: str,
    todo: list[dict[str, Any]],
    workers: int,
) -> bool:
    """Fetch ``todo`` with ``workers`` threads; returns True if stopped early."""
    stop = threading.Event()
    restore = _stop_on_sigterm(stop)
    pending_rows: list[LinkCheck] = []
    saved_at = time.monotonic()
    interactive = sys.stderr.isatty()
    progress = tqdm(
        total=len(todo),
        unit="link",
        desc="checking",
        file=sys.stderr,
        mininterval=0.5 if interactive else 30.0,
        disable=not todo,
    )

    def check(record: dict[str, Any]) -> LinkCheck | None:
        if stop.is_set() or ws.is_hidden(dataset, record["pos"]):
            return None  # hidden since it was sampled: never fetched
        try:
            outcome = fetcher.fetch(
                record["url"],
                md5=_text(record.get("md5")),
                sha256=_text(record.get("sha256")),
                decode_target=settings.thumbnail_size,
            )
        except Exception:  # a bug on one odd URL must not end a run of thousands
            log.exception("checking %s failed", record["url"])
            return None
        return _to_check(dataset, record, outcome)

    interrupted = False
    with RemoteFetcher(limits) as fetcher, ThreadPoolExecutor(workers) as pool:
        try:
            for result in _bounded_map(pool, check, todo, window=workers * 2, stop=stop):
                progress.update(1)
                if result is not None:
                    pending_rows.append(result)
                if time.monotonic() - saved_at > SAVE_EVERY_S:
                    links.record_many(pending_rows)
                    pending_rows, saved_at = [], time.monotonic()
        except KeyboardInterrupt:
            stop.set()
        finally:
            interrupted = stop.is_set()
            links.record_many(pending_rows)
            progress.close()
            restore()
    return interrupted


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Any, items: list[Any], window: int, stop: threading.Event
) -> Iterator[Any]:
    """Results of ``fn(item)`` as they finish, with at most ``window`` submitted at once
    (a large sample never becomes that many queued futures)."""
    queue = iter(items)
    running: set[Future] = set()
    while True:
        while not stop.is_set() and len(running) < window:
            item = next(queue, None)
            if item is None:
                break
            running.add(pool.submit(fn, item))
        if not running:
            return
        done, running = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()


def _to_check(dataset: str, record: dict[str, Any], outcome: FetchOutcome) -> LinkCheck | None:
    if outcome.status not in STATUSES:  # "busy" says nothing about the link
        return None
    return LinkCheck(
        dataset,
        str(record["sample_id"]),
        outcome.status,
        outcome.detail,
        outcome.http_status,
        _text(record.get("domain")) or domain_of(record["url"]),
        seconds=outcome.seconds,
    )


def _stop_on_sigterm(stop: threading.Event):
    """SIGTERM (``kill``, a stopping container) ends the run like Ctrl-C, saving results."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _summary(links: LinkStatusStore, dataset: str, sample_ids: list[str]) -> None:
    statuses = links.statuses(dataset, sample_ids)
    counts = Counter(statuses.values())
    checked = sum(counts.values())
    if not checked:
        typer.echo("no link of this sample has been checked yet")
        return
    alive = sum(counts[s] for s in ALIVE)
    typer.echo(f"links checked in this sample: {checked:,}")
    typer.echo(f"alive (ok + changed): {alive / checked:.1%}")
    for status in STATUSES:
        if counts[status]:
            typer.echo(f"  {status:<16}{counts[status]:>8,}  {counts[status] / checked:6.1%}")
    overall = links.rot_stats(dataset, top_domains=10)
    typer.echo(
        f"all links checked so far in {dataset}: {overall.checked:,}, "
        f"{overall.share_alive:.1%} alive; by domain:"
    )
    for domain in overall.by_domain:
        typer.echo(
            f"  {domain.domain:<40}{domain.checked:>8,} checked  {domain.share_alive:6.1%} alive"
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
