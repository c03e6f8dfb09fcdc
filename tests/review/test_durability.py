"""An acknowledged flag survives kill -9 of the process that wrote it, at any moment.

Two writer processes with two threads each flag records as fast as they can; each prints a
line only after the store returned. Both are killed with SIGKILL at random moments; the database
is reopened and every printed flag must be there, with its audit row, and the file intact.
Three rounds on the same database, so recovery after a kill is itself exercised.
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

from argon2 import PasswordHasher

from app.config import Settings
from app.review.store import ReviewStore

REPO = Path(__file__).resolve().parents[2]
WRITERS = 2
THREADS = 2


def _collect(stream, lines: list[str]) -> None:
    for line in iter(stream.readline, b""):
        if line.endswith(b"\n"):  # a line cut by the kill was never acknowledged in full
            lines.append(line.decode())


def _round(state_dir: Path, rng: random.Random) -> list[tuple[int, str, str]]:
    env = dict(os.environ, LOUPE_STATE_DIR=str(state_dir))
    procs, outputs, readers = [], [], []
    for worker in range(WRITERS):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.review.flag_writer",
                str(state_dir),
                str(worker),
                str(THREADS),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        lines: list[str] = []
        reader = threading.Thread(target=_collect, args=(proc.stdout, lines), daemon=True)
        reader.start()
        procs.append(proc)
        outputs.append(lines)
        readers.append(reader)
    deadline = time.monotonic() + 60
    while any(len(lines) < 10 for lines in outputs):
        for proc in procs:
            assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "writers made no progress"
        time.sleep(0.01)
    for proc in procs:
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
    for proc, reader in zip(procs, readers, strict=True):
        assert proc.wait(timeout=30) == -signal.SIGKILL
        reader.join(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    acknowledged = []
    for lines in outputs:
        for line in lines:
            flag_id, sample_id, category = line.split()
            acknowledged.append((int(flag_id), sample_id, category))
    return acknowledged


def test_acknowledged_flags_survive_sigkill(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    settings = Settings(state_dir=tmp_path / "state")
    store = ReviewStore.open(
        settings, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    for worker in range(WRITERS):
        store.users.add(f"writer{worker}", "durability-pass", "reviewer", actor="test")
    store.close()

    acknowledged: list[tuple[int, str, str]] = []
    for _ in range(3):
        acknowledged += _round(settings.state_dir, rng)

        reopened = ReviewStore.open(settings)
        try:
            conn = reopened.db.connection()
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {
                row["id"]: row for row in conn.execute("SELECT id, sample_id, category FROM flags")
            }
            audited = {
                row[0]
                for row in conn.execute("SELECT target FROM audit WHERE action = 'flag.create'")
            }
            missing = [a for a in acknowledged if a[0] not in stored]
            assert not missing, f"seed {seed}: acknowledged flags lost: {missing[:5]}"
            for flag_id, sample_id, category in acknowledged:
                assert (stored[flag_id]["sample_id"], stored[flag_id]["category"]) == (
                    sample_id,
                    category,
                )
                assert f"flag:{flag_id}" in audited
            hidden = reopened.safety.hidden_sample_ids("tiny")
            assert {s for _, s, c in acknowledged if c == "suspected_csam"} <= hidden
        finally:
            reopened.close()
    assert len(acknowledged) >= 3 * WRITERS * 10
