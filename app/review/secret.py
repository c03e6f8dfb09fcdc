"""The key that signs session cookies and CSRF tokens.

Taken from the ``secret_key`` setting if set; otherwise made once with ``secrets`` and kept in
``<state_dir>/secret_key`` (mode 0600), so sessions survive a restart and no key is ever
hard-coded.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SECRET_FILE_NAME = "secret_key"
MIN_SECRET_LENGTH = 32


def load_or_create_secret_key(state_dir: Path, configured: str | None = None) -> str:
    if configured:
        if len(configured) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"LOUPE_SECRET_KEY is too short: use at least {MIN_SECRET_LENGTH} characters "
                "(or unset it to have one generated)"
            )
        return configured
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / SECRET_FILE_NAME
    try:
        # O_EXCL: when two processes start at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
    key = ""
    # The writer may be between create and write: give it a moment.
    for _ in range(50):
        key = path.read_text(encoding="ascii").strip()
        if key:
            break
        time.sleep(0.02)
    if len(key) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{path}: the secret key is missing or too short; delete the file to regenerate it"
        )
    return key
