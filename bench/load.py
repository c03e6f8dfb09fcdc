"""Load benchmark: many users at once against one `loupe serve`, as a new user would measure.

    python bench/load.py --data-dir indexes                    # the demo, both shapes, 60 s each
    python bench/load.py --data-dir bench/out/data-10000000 --workers 2

Starts `loupe serve` on a free loopback port (or uses ``--url``), then runs two shapes for
``--seconds`` each with a bounded asyncio client (aiohttp on uvloop: httpx's async client
spent a whole core of the two on itself at 150 requests/s) on the same machine:

- ``pausing``: ``--users`` users arriving over the first 3 s, each pausing 1–3 s between
  requests (people browsing);
- ``saturate``: ``--users`` clients with no pause (the server's ceiling).

Every user draws from one mix: grid pages (HTML), API pages, caption searches, facets, counts,
record pages, searches by meaning (when the dataset has vectors) and thumbnails, with filter
values drawn from small lists, so identical filters recur as they do when people browse.
Reports requests/s, p50/p95/p99 and errors by kind (status or exception), and the load average.
Only 127.0.0.1 is contacted. The run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import uvloop

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.servers import free_port, stop, wait_ready  # noqa: E402

LANGS = ("en", "de", "fr", "es", "it", "nl")
AESTHETIC = (4.5, 5.0, 5.5, 6.0)
PUNSAFE = (0.1, 0.3, 0.5)
WORDS = ("cat", "dog", "photo", "red", "house", "beach", "car", "portrait", "blue", "vintage")
WARM_ROUNDS = 3  # warm-up rounds per server worker
MEANING = ("a dog on a beach", "an old red car", "a portrait photo", "mountains at sunset")
# (weight, kind): what a browsing person's requests are made of.
MIX = (
    (20, "grid"),
    (15, "api_page"),
    (15, "caption_search"),
    (10, "facets"),
    (10, "count"),
    (10, "record"),
    (5, "meaning"),
    (15, "thumb"),
)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    by_kind: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.by_kind.setdefault(kind, []).append(seconds)


class Mix:
    def __init__(self, dataset: str, ids: list[str], meaning: bool, seed: int) -> None:
        self.dataset = dataset
        self.ids = ids
        self.kinds = [kind for weight, kind in MIX for _ in range(weight)]
        if not meaning:
            self.kinds = [k for k in self.kinds if k != "meaning"]
        self.random = random.Random(seed)

    def filters(self) -> dict[str, object]:
        r = self.random
        params: dict[str, object] = {"ds": self.dataset, "lang": r.choice(LANGS)}
        if r.random() < 0.6:
            params["aesthetic_min"] = r.choice(AESTHETIC)
        if r.random() < 0.5:
            params["punsafe_max"] = r.choice(PUNSAFE)
        return params

    def next(self) -> tuple[str, str, dict[str, object]]:
        r = self.random
        kind = r.choice(self.kinds)
        if kind == "grid":
            return kind, "/", self.filters()
        if kind == "api_page":
            return kind, "/api/records", self.filters()
        if kind == "caption_search":
            return kind, "/api/records", {**self.filters(), "q": r.choice(WORDS)}
        if kind == "facets":
            return kind, "/api/facets", self.filters()
        if kind == "count":
            return kind, "/api/count", self.filters()
        if kind == "record":
            return kind, f"/records/{r.choice(self.ids)}", {"ds": self.dataset}
        if kind == "meaning":
            return (
                kind,
                "/api/search",
                {"ds": self.dataset, "q": r.choice(MEANING), "mode": "meaning"},
            )
        return kind, f"/images/{r.choice(self.ids)}/thumb", {"ds": self.dataset}


async def user(
    client: aiohttp.ClientSession, mix: Mix, tally: Tally, until: float, pause: bool
) -> None:
    if pause:  # people arrive over the first pause, not all in the same millisecond
        await asyncio.sleep(mix.random.uniform(0.0, 3.0))
    while time.monotonic() < until:
        kind, path, params = mix.next()
        started = time.perf_counter()
        try:
            async with client.get(path, params={k: str(v) for k, v in params.items()}) as response:
                await response.read()
            if response.status >= 400:
                tally.errors[f"HTTP {response.status}"] += 1
            else:
                tally.add(kind, time.perf_counter() - started)
        except (aiohttp.ClientError, TimeoutError) as error:
            tally.errors[type(error).__name__] += 1
        if pause:
            await asyncio.sleep(mix.random.uniform(1.0, 3.0))


async def run_shape(
    url: str, dataset: str, ids: list[str], meaning: bool, users: int, seconds: float, pause: bool
) -> tuple[Tally, float]:
    connector = aiohttp.TCPConnector(limit=users, limit_per_host=users)
    timeout = aiohttp.ClientTimeout(total=30.0)
    tally = Tally()
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as client:
        until = time.monotonic() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(
                user(client, Mix(dataset, ids, meaning, seed=i), tally, until, pause)
                for i in range(users)
            )
        )
        elapsed = time.perf_counter() - started
    return tally, elapsed


def report(name: str, tally: Tally, elapsed: float) -> list[str]:
    done = len(tally.latencies)
    lines = [
        f"#### {name}: {done:,} answered in {elapsed:.0f} s = {done / elapsed:,.1f} requests/s"
    ]
    if done:
        p50, p95, p99 = np.percentile(np.array(tally.latencies) * 1000, [50, 95, 99])
        lines.append(f"- all: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms")
        for kind, values in sorted(tally.by_kind.items()):
            k50, k95 = np.percentile(np.array(values) * 1000, [50, 95])
            lines.append(f"- {kind}: {len(values):,} requests, p50 {k50:.0f} ms, p95 {k95:.0f} ms")
    errors = sum(tally.errors.values())
    detail = ", ".join(f"{kind} {n}" for kind, n in tally.errors.most_common()) or "none"
    lines.append(f"- errors: {errors} ({detail})")
    lines.append(f"- load average after: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return lines


def start_server(args: argparse.Namespace) -> tuple[str, subprocess.Popen | None]:
    if args.url:
        return args.url.rstrip("/"), None
    port = free_port()
    env = {
        **os.environ,
        "LOUPE_DATA_DIR": str(args.data_dir),
        "LOUPE_STATE_DIR": str(args.out / "load-state"),
        "HF_HUB_OFFLINE": "1",
    }
    log = args.out / "load-server.log"
    command = [
        str(Path(sys.executable).with_name("loupe")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(httpx.Client(), url + "/healthz", process, log, 300)
    return url, process


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description="Load a loupe server with many users.")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "indexes")
    parser.add_argument("--dataset", default=None, help="dataset name (default: the first)")
    parser.add_argument("--url", default=None, help="use a running server instead")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--shape", choices=("pausing", "saturate", "both"), default="both")
    parser.add_argument("--workers", type=int, default=2, help="`loupe serve --workers`")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    url, process = start_server(args)
    lines: list[str] = []
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            datasets = client.get("/api/datasets").json()
            dataset = args.dataset or datasets[0]["name"]
            sample = client.get(
                "/api/records", params={"ds": dataset, "sort": "random", "size": 200}
            ).json()["records"]
            ids = [str(row["sample_id"]) for row in sample]
            meaning = (
                client.get(
                    "/api/search", params={"ds": dataset, "q": "a dog", "mode": "meaning", "k": 5}
                ).status_code
                == 200
            )
            # Warm up: every kind of request a few times, each on a new connection so that
            # every worker process loads its models and compiles its templates before the clock.
            warm = Mix(dataset, ids, meaning, seed=-1)
            for _ in range(WARM_ROUNDS * max(args.workers, 1)):
                for kind in dict.fromkeys(warm.kinds):
                    while True:
                        drawn, path, params = warm.next()
                        if drawn == kind:
                            client.get(path, params=params, headers={"Connection": "close"})
                            break
        rows = next(d["row_count"] for d in datasets if d["name"] == dataset)
        lines.append(
            f"### Load on `{dataset}` ({rows:,} rows), {args.users} users, {args.seconds:.0f} s "
            f"per shape, server workers: {args.workers if process else 'external'}"
        )
        lines.append(f"- load average before: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
        shapes = ("pausing", "saturate") if args.shape == "both" else (args.shape,)
        for shape in shapes:
            print(f"{shape} ...", file=sys.stderr, flush=True)
            cpu_before = time.process_time()
            tally, elapsed = uvloop.run(
                run_shape(url, dataset, ids, meaning, args.users, args.seconds, shape == "pausing")
            )
            lines.extend(report(shape, tally, elapsed))
            client_cpu = (time.process_time() - cpu_before) / elapsed
            lines.append(f"- the client itself used {client_cpu:.0%} of one core")
    finally:
        stop(process)
    text = "\n".join(lines) + "\n"
    print(text)
    (args.out / "load-results.md").write_text(text, encoding="utf-8")
    return lines


if __name__ == "__main__":
    main()
