"""The one redirect guard: where a form or a link may send a browser back to.

Every redirect whose target comes from a request (the login's ``next``, the blur toggle's and
the flag form's ``back``, the review decisions' ``back``) goes through ``safe_next``: only a
path on this site, never another host — ``//evil.example`` and ``/\\evil.example`` included,
which browsers follow off-site, and tabs or newlines, which browsers delete from a URL
(``/\\t/evil.example`` becomes ``//evil.example``). The same checks are made again on the
percent-decoded target, so nothing that decodes to one of those gets through either.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``."""
    if not target:
        return "/"
    decoded = unquote(target)
    if _is_local_path(target) and _is_local_path(decoded) and _is_local_path(unquote(decoded)):
        return target
    return "/"


def _is_local_path(target: str) -> bool:
    if not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc)
