"""Every flag the real server acknowledged survives SIGKILL of the server at a random moment.

The server runs as it does in production: ``python -m uvicorn --factory app.main:create_app``
in its own process, configured by environment variables. Reviewers on concurrent HTTP clients
flag records as fast as the server answers (single flags, near-duplicate batches, suspected
CSAM, which also re-applies the hidden sets) until the server is killed with SIGKILL. It is
restarted on the same state folder, and every flag that got a 2xx must be there, served by the
new process: in the queue API, and suspected-CSAM records hidden.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.review.sessions import CSRF_HEADER, SESSION_COOKIE
from app.review.store import ReviewStore
from tests.conftest import free_port
from tests.web.review_support import FAST_HASHER, PASSWORD

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 6
CATEGORIES = ["other", "sexual", "suspected_csam", "personal_data"]


class Server:
    def __init__(self, data_dir: Path, state_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            LOUPE_DATA_DIR=str(data_dir),
            LOUPE_STATE_DIR=str(state_dir),
            HF_HUB_OFFLINE="1",
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/datasets", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def open_sessions(settings: Settings, names: list[str]) -> list[tuple[str, str]]:
    """(cookie, csrf token) per reviewer, written to the database the server will read."""
    store = ReviewStore.open(settings, hasher=FAST_HASHER)
    try:
        sessions = []
        for name in names:
            user = store.users.find(name) or store.users.add(name, PASSWORD, "reviewer", actor="t")
            session, cookie = store.sessions.create(user)
            sessions.append((cookie, session.csrf_token))
        return sessions
    finally:
        store.close()


def flagger(
    url: str,
    cookie: str,
    token: str,
    worker: int,
    acknowledged: list[tuple[str, str]],
    stop: threading.Event,
) -> None:
    rng = random.Random(worker)
    with httpx.Client(
        base_url=url,
        cookies={SESSION_COOKIE: cookie},
        headers={CSRF_HEADER: token, "Accept": "application/json"},
        timeout=10,
    ) as client:
        n = 0
        while not stop.is_set():
            # Each worker owns the records whose id ends in its number: no two race for one.
            sample_id = str(1000 + (worker + CLIENTS * n) % 120)
            category = CATEGORIES[n % len(CATEGORIES)]
            data: dict[str, object] = {"sample_id": sample_id, "category": category}
            if rng.random() < 0.2:
                data["also"] = [str(int(sample_id) + CLIENTS), str(int(sample_id) + 2 * CLIENTS)]
            n += 1
            try:
                response = client.post("/review/flag?ds=tiny", data=data)
            except httpx.HTTPError:
                return  # the server is gone; what was answered before counts
            if response.status_code == 404:
                continue  # already hidden by an earlier suspected-CSAM flag
            assert response.status_code == 200, response.text
            for flag in response.json()["flags"]:
                acknowledged.append((flag["sample_id"], flag["category"]))


def test_acknowledged_flags_survive_sigkill_of_the_server(tiny_data_dir, tmp_path):
    settings = Settings(data_dir=tiny_data_dir, state_dir=tmp_path / "state")
    sessions = open_sessions(settings, [f"rev{i}" for i in range(CLIENTS)] + ["checker"])
    rng = random.Random()
    server = Server(tiny_data_dir, settings.state_dir)
    acknowledged: list[tuple[str, str]] = []
    try:
        server.wait_ready()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=flagger,
                args=(server.url, *sessions[i], i, acknowledged, stop),
                daemon=True,
            )
            for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.5, 2.0))
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    finally:
        server.stop()
    assert len(acknowledged) > 10, "the burst did not get going before the kill"
    print(f"{len(acknowledged)} flags acknowledged before SIGKILL")

    restarted = Server(tiny_data_dir, settings.state_dir)
    try:
        restarted.wait_ready()
        cookie, token = sessions[-1]
        with httpx.Client(
            base_url=restarted.url, cookies={SESSION_COOKIE: cookie}, timeout=10
        ) as client:
            stored: set[tuple[str, str]] = set()
            page = 1
            while True:
                body = client.get("/api/review/flags", params={"page": page}).json()
                stored |= {(f["sample_id"], f["category"]) for f in body["flags"]}
                if page * body["page_size"] >= body["total"]:
                    break
                page += 1
            missing = set(acknowledged) - stored
            assert missing == set(), f"{len(missing)} acknowledged flags lost"
            for sample_id, category in acknowledged:
                if category == "suspected_csam":
                    assert client.get(f"/api/records/{sample_id}").status_code == 404
    finally:
        restarted.stop()
    store = ReviewStore.open(settings)
    try:
        assert store.db.connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
