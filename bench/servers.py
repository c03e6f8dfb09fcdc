"""The servers the benchmarks start: a free loopback port, waiting until one answers, and
stopping it (terminate, then kill), also when the benchmark fails half-way."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(
    client: Any, url: str, process: subprocess.Popen, log: Path | None, limit: float
) -> None:
    """Poll ``url`` until it answers below 500; exit with a message if the server dies."""
    where = f"; see {log}" if log is not None else ""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode}){where}")
        try:
            if client.get(url, timeout=2).status_code < 500:
                return
        except Exception:  # noqa: BLE001 (not listening yet)
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready after {limit:.0f} s{where}")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
