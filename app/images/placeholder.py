"""The picture shown where a record has no image we can show, saying why.

A static SVG: a few hundred bytes, sharp at any size, no Pillow work per request. The text is
ours (never from a record), and is escaped anyway.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from xml.sax.saxutils import escape

MEDIA_TYPE = "image/svg+xml"

# reason -> (first line, second line)
REASONS: dict[str, tuple[str, str]] = {
    "no_image": ("No local image", "this record has a URL only"),
    "unreadable": ("Image unreadable", "the stored file is damaged"),
    "dead": ("Link dead", "the source no longer serves it"),
    "gone": ("Link gone", "the host name no longer exists"),
    "timeout": ("Link timed out", "the source did not answer"),
    "not_image": ("Not an image", "the source serves something else"),
    "too_large": ("Image too large", "refused by the size limits"),
    "opted_out": ("Opted out", "the site forbids AI use (noai)"),
    "changed": ("Image changed", "differs from the crawled image"),
    "blocked_address": ("Address refused", "not a public internet address"),
    "busy": ("Busy", "try again in a moment"),
}


@lru_cache(maxsize=len(REASONS) + 1)
def placeholder_svg(reason: str = "no_image") -> bytes:
    title, subtitle = REASONS.get(reason, REASONS["no_image"])
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" \
viewBox="0 0 256 256" role="img" aria-label="{escape(title)}: {escape(subtitle)}">
<title>{escape(title)}: {escape(subtitle)}</title>
<rect width="256" height="256" fill="#eceff1"/>
<g fill="none" stroke="#90a4ae" stroke-width="6" stroke-linejoin="round">
<rect x="78" y="60" width="100" height="76" rx="6"/>
<path d="M84 128l28-30 20 20 14-12 26 22"/>
<circle cx="154" cy="84" r="8"/>
<path d="M70 52l116 92" stroke="#b0bec5"/>
</g>
<text x="128" y="178" text-anchor="middle" font-family="sans-serif" font-size="19" \
font-weight="bold" fill="#37474f">{escape(title)}</text>
<text x="128" y="204" text-anchor="middle" font-family="sans-serif" font-size="13" \
fill="#546e7a">{escape(subtitle)}</text>
</svg>
"""
    return svg.encode("utf-8")


def placeholder_etag(reason: str = "no_image") -> str:
    return '"ph-' + hashlib.sha256(placeholder_svg(reason)).hexdigest()[:20] + '"'
