"""The columns Loupe knows, what each means, and which model produced it.

This table is the whitelist: a column name coming from a request is only ever turned into SQL
after it is found here. Ingest maps every supported source format onto these names; any other
source column is kept as an "extra" column and shown raw, never filtered on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, get_args

ColumnKind = Literal["id", "text", "url", "int", "float", "category", "hash"]


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    kind: ColumnKind
    label: str
    meaning: str
    model: str | None = None
    laion_threshold: str | None = None


# Order matters: it is the column order of the ``records`` table and of the raw-row JSON.
COLUMNS: tuple[Column, ...] = (
    Column(
        "pos",
        "BIGINT",
        "int",
        "Position",
        "Row position in the catalog (sorted by similarity, highest first); stable within a build.",
    ),
    Column(
        "sample_id",
        "VARCHAR",
        "id",
        "Sample id",
        "Identifier of the pair in its source (LAION SAMPLE_ID, img2dataset key, ...).",
    ),
    Column("url", "VARCHAR", "url", "Source URL", "Where the image was found on the open web."),
    Column(
        "caption", "VARCHAR", "text", "Caption", "The alt text / caption crawled beside the image."
    ),
    Column(
        "domain",
        "VARCHAR",
        "category",
        "Domain",
        "Host name of the source URL, lower-cased, without a leading 'www.'.",
    ),
    Column(
        "license",
        "VARCHAR",
        "category",
        "Licence",
        "Licence found on the page, as detected by the crawler (often absent).",
    ),
    Column(
        "language",
        "VARCHAR",
        "category",
        "Language",
        "Detected language of the caption.",
        model="CLD3 language detector (LAION)",
        laion_threshold="LAION-2B-en kept captions detected as English; LAION-2B-multi the rest; "
        "LAION-1B-nolang those with no confident language.",
    ),
    Column("width", "INTEGER", "int", "Width", "Image width in pixels."),
    Column("height", "INTEGER", "int", "Height", "Image height in pixels."),
    Column(
        "similarity",
        "FLOAT",
        "float",
        "CLIP similarity",
        "Cosine similarity of the image and caption embeddings.",
        model="OpenAI CLIP ViT-B/32 (LAION-2B-en); mCLIP for multilingual",
        laion_threshold="kept if ≥ 0.28 (English, ViT-B/32) or ≥ 0.26 (multilingual)",
    ),
    Column(
        "punsafe",
        "FLOAT",
        "float",
        "punsafe",
        "Probability that the image is unsafe (sexual content), per LAION's NSFW detector.",
        model="LAION CLIP-based NSFW detector",
        laion_threshold="not a filter: LAION-5B kept all; 0.5 recommended",
    ),
    Column(
        "pwatermark",
        "FLOAT",
        "float",
        "pwatermark",
        "Probability that the image carries a watermark.",
        model="LAION watermark detector (EfficientNet-B3a image classifier; not CLIP-based)",
        laion_threshold="not a filter in LAION-5B; LAION-Aesthetics subsets kept < 0.8",
    ),
    Column(
        "aesthetic",
        "FLOAT",
        "float",
        "Aesthetic",
        "Predicted aesthetic rating on a 1-10 scale.",
        model="LAION aesthetic predictor v2 (linear head on CLIP ViT-L/14)",
        laion_threshold="LAION-Aesthetics subsets kept ≥ 4.5, ≥ 5, ≥ 6 and ≥ 6.5",
    ),
    Column(
        "nsfw",
        "VARCHAR",
        "category",
        "NSFW tag",
        "LAION's NSFW tag (UNLIKELY, UNSURE, NSFW), from zero-shot CLIP keyword matching of "
        "the image; not from the punsafe detector.",
        model="zero-shot CLIP keyword matching (LAION-400M's tagging)",
    ),
    Column("md5", "VARCHAR", "hash", "Image MD5", "MD5 of the image bytes when it was downloaded."),
    Column(
        "sha256",
        "VARCHAR",
        "hash",
        "Image SHA-256",
        "SHA-256 of the image bytes when it was downloaded.",
    ),
    Column(
        "url_sha256",
        "VARCHAR",
        "hash",
        "URL SHA-256",
        "SHA-256 of the URL, computed from it when read; blocklists match on it.",
    ),
    Column(
        "image_path",
        "VARCHAR",
        "text",
        "Image path",
        "Path of the image in a local store (clip-retrieval metadata), if given.",
    ),
    Column(
        "image_key",
        "VARCHAR",
        "text",
        "Image key",
        "The name img2dataset stored the image under (its `key`: a shard position), when the "
        "record's id is LAION's SAMPLE_ID instead.",
    ),
    Column(
        "source_row",
        "BIGINT",
        "int",
        "Source row",
        "Row number across the source files, in the order given at ingest; precomputed "
        "embeddings are aligned on it.",
    ),
)

BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}

# The columns of the DuckDB ``records`` table: what queries filter, sort, count and search on
# (plus the ``<score>_bin`` columns). The rest of each row (ids, URLs, hashes, extra source
# columns) is read from the row store (``app.catalog.rowstore``), never by SQL.
CATALOG_COLUMNS: tuple[str, ...] = (
    "pos",
    "caption",
    "domain",
    "license",
    "language",
    "width",
    "height",
    "similarity",
    "punsafe",
    "pwatermark",
    "aesthetic",
    "source_row",
)


@dataclass(frozen=True)
class Score:
    """A model score: the range a filter accepts, the step of its inputs, and the fixed
    domain of its histogram (the same scale for every dataset keeps charts comparable)."""

    name: str
    low: float
    high: float
    step: float
    chart: tuple[float, float]


# The one list of scores: filters, sorts, histograms, the text index's fields, the lab and the
# templates all take theirs from here. Each step divides its chart's bin width (similarity's
# bins are 0.025 wide), so a clicked bar's edges are values the form's number inputs accept.
SCORES: tuple[Score, ...] = (
    Score("similarity", -1.0, 1.0, 0.005, (0.0, 0.5)),
    Score("punsafe", 0.0, 1.0, 0.01, (0.0, 1.0)),
    Score("pwatermark", 0.0, 1.0, 0.01, (0.0, 1.0)),
    Score("aesthetic", 0.0, 10.0, 0.1, (0.0, 10.0)),
)
SCORE_BY_NAME: dict[str, Score] = {score.name: score for score in SCORES}
SCORE_COLUMNS: tuple[str, ...] = tuple(score.name for score in SCORES)
SCORE_RANGES: dict[str, tuple[float, float]] = {s.name: (s.low, s.high) for s in SCORES}
SCORE_DOMAINS: dict[str, tuple[float, float]] = {s.name: s.chart for s in SCORES}
SIZE_COLUMNS: tuple[str, ...] = ("width", "height")
FACET_COLUMNS: tuple[str, ...] = ("language", "domain", "license")
HISTOGRAM_BINS = 20
# ``records_sample`` holds the rows with hash(pos) % SAMPLE_RATE = 0 (a deterministic 1%).
SAMPLE_RATE = 100

# Orders of the grid. "relevance" is the text index's (caption words); the others are the
# catalog's, and similarity is the catalog's own physical order.
SortName = Literal[
    "relevance", "similarity", "aesthetic", "punsafe", "pwatermark", "size", "random"
]
SORT_LABELS: dict[str, str] = {
    "relevance": "Relevance (caption search)",
    "similarity": "CLIP similarity",
    "aesthetic": "Aesthetic score",
    "punsafe": "punsafe (highest first)",
    "pwatermark": "pwatermark (highest first)",
    "size": "Image size",
    "random": "Random sample",
}
CATALOG_SORTS: tuple[str, ...] = tuple(s for s in get_args(SortName) if s != "relevance")

# The statuses a link check records (``loupe check-links``, the fetcher); the grid filters on
# them and the overview counts them.
LinkStatus = Literal[
    "ok",
    "changed",
    "opted_out",
    "dead",
    "gone",
    "timeout",
    "not_image",
    "too_large",
    "blocked_address",
]
LINK_STATUSES: tuple[str, ...] = get_args(LinkStatus)


# The scores whose top rows also get a copy of their own, stored in that score's order
# (``records_top_<score>``): a page sorted by one reads that copy front to back and stops
# early, as pages in the catalog's order do (app.catalog.queries.Catalog.page).
TOP_SORTS: tuple[str, ...] = ("aesthetic", "punsafe", "pwatermark")


def top_table(score: str) -> str:
    if score not in TOP_SORTS:
        raise KeyError(score)
    return f"records_top_{score}"


def url_sha256(url: str) -> str:
    """The ``url_sha256`` of a URL: SHA-256 of its UTF-8 bytes, lower-case hex. The row store
    computes the column with it, flags store it, URL blocklists are hashed with it."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def bin_column(score: str) -> str:
    """Name of the precomputed 0..HISTOGRAM_BINS-1 bin column for a score column."""
    if score not in SCORE_DOMAINS:
        raise KeyError(score)
    return f"{score}_bin"


def quote_identifier(name: str) -> str:
    """Quote a column of the ``records`` table for SQL; anything else is refused."""
    if name not in CATALOG_COLUMNS and not any(name == bin_column(s) for s in SCORE_DOMAINS):
        raise ValueError(f"unknown column: {name!r}")
    return '"' + name + '"'
