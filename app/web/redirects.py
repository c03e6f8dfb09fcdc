"""The one redirect guard: where a form or a link may send a browser back to.

Every redirect whose target comes from a request (the login's ``next``, the blur toggle's and
the flag form's ``back``) goes through ``safe_next``: only a path on this site, never another
host — ``//evil.example`` and ``/\\evil.example`` included, which browsers follow off-site.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str:
    """Only a path on this site is followed after signing in, never another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target
