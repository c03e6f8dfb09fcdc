"""Link statuses from what img2dataset already found, so the overview's link-rot figures and
the link-status filter work on its output without fetching anything again.

img2dataset writes, for every URL it tried, a ``status`` (``success``, ``failed_to_download``,
``failed_to_resize``) and an ``error_message`` (Python's own error text, or its fixed sentence
for an opt-out). They are mapped onto Loupe's statuses (app.images.linkstatus) by the same
definitions Loupe's own fetcher uses: an HTTP error is ``dead``, a host that no longer
resolves ``gone``, an ``X-Robots-Tag`` opt-out ``opted_out``; a picture refused only for its
size or shape still came from a live link (``ok``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator

import pyarrow as pa

from app.images.linkstatus import LinkCheck, domain_of

# img2dataset's sentence for a response carrying a disallowed X-Robots-Tag directive.
OPTED_OUT = "x-robots-tag"
_HTTP_ERROR = re.compile(r"http error (\d{3})")
_GONE = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "getaddrinfo failed",
)
_NOT_IMAGE = ("cannot identify image", "image decoding error", "not an image")
_TOO_LARGE = ("image area too large", "decompression bomb", "too large")


def status_of(status: str | None, error: str | None) -> tuple[str, int | None] | None:
    """Loupe's link status (and the HTTP status, if any) for img2dataset's; None when the row
    says nothing about its link."""
    if not status:
        return None
    if status == "success":
        return "ok", None
    message = (error or "").lower()
    if OPTED_OUT in message:
        return "opted_out", None
    if any(text in message for text in _NOT_IMAGE):
        return "not_image", None
    if any(text in message for text in _TOO_LARGE):
        return "too_large", None
    if status == "failed_to_resize":
        return "ok", None  # the link served a picture; only its size or shape was refused
    http = _HTTP_ERROR.search(message)
    if http:
        return "dead", int(http.group(1))
    if "timed out" in message or "timeout" in message:
        return "timeout", None
    if any(text in message for text in _GONE):
        return "gone", None
    return "dead", None


def checks_from_img2dataset(
    dataset: str, batches: Iterable[pa.RecordBatch], checked_at: float | None = None
) -> Iterator[LinkCheck]:
    """A LinkCheck per record whose img2dataset ``status`` says something about its link."""
    when = time.time() if checked_at is None else checked_at
    for batch in batches:
        names = set(batch.schema.names)
        if "status" not in names:
            return
        columns = {
            name: batch.column(name).to_pylist()
            for name in ("sample_id", "status", "error_message", "domain", "url")
            if name in names
        }
        for i, status in enumerate(columns["status"]):
            error = columns.get("error_message", [None] * batch.num_rows)[i]
            found = status_of(status if isinstance(status, str) else None, error)
            if found is None:
                continue
            url = columns.get("url", [None] * batch.num_rows)[i]
            yield LinkCheck(
                dataset,
                str(columns["sample_id"][i]),
                found[0],
                f"img2dataset: {error}" if error else "img2dataset: success",
                found[1],
                columns.get("domain", [None] * batch.num_rows)[i] or domain_of(url),
                checked_at=when,
            )
