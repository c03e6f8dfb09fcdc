"""Which metadata format a parquet source is, and which of its columns fill which Loupe column.

Three formats are recognised from their column names alone (case-insensitively):

* LAION-5B metadata (``SAMPLE_ID, URL, TEXT, WIDTH, HEIGHT, similarity, ...``);
* img2dataset output (``key, url, caption, status, width, height, ...``); when it carries
  LAION's ``SAMPLE_ID`` (``--save_additional_columns``), that is the record's id and
  img2dataset's ``key`` (a shard position, the name of the image file) its ``image_key``;
* clip-retrieval metadata (``image_path, caption, url, ...``).

A user mapping (``--map src=dst``) is applied on top and wins over detection. Every source column
that fills no Loupe column is kept as an "extra" column under a safe name. This module only deals
with names and types; ``app.catalog.ingest`` turns the result into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.catalog.schema import BY_NAME, COLUMNS, SCORE_DOMAINS, bin_column

# Filled by ingest itself, never from a source column.
DERIVED_COLUMNS: frozenset[str] = frozenset({"pos", "domain", "url_sha256", "source_row"})
MAPPABLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.name not in DERIVED_COLUMNS)
# Loupe columns whose source must be a number: a string "similarity" is refused, not guessed at.
NUMERIC_COLUMNS: frozenset[str] = frozenset(
    c.name for c in COLUMNS if c.kind in ("int", "float") and c.name not in DERIVED_COLUMNS
)
REQUIRED_COLUMNS: tuple[str, ...] = ("caption", "url")

# Extra columns become SQL identifiers and JSON keys: keep them plain.
_SAFE_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_NUMERIC_TYPE = re.compile(
    r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL|DECIMAL\(\d+,\s*\d+\))$"
)

# Names shared by all formats (img2dataset passes LAION's columns through as extras, and
# clip-retrieval keeps whatever the input had). Lower-case source names, in priority order.
_COMMON: dict[str, tuple[str, ...]] = {
    "url": ("url",),
    "license": ("license",),
    "language": ("language",),
    "width": ("width",),
    "height": ("height",),
    "similarity": ("similarity",),
    "punsafe": ("punsafe",),
    "pwatermark": ("pwatermark",),
    "aesthetic": ("aesthetic", "aesthetic_score"),
    "nsfw": ("nsfw",),
    "md5": ("md5",),
    "sha256": ("sha256",),
}


@dataclass(frozen=True)
class SourceFormat:
    name: str
    # Lower-case column names that must all be present for the format to be recognised.
    signature: frozenset[str]
    aliases: Mapping[str, tuple[str, ...]]


# Checked in this order: the most specific signature first.
FORMATS: tuple[SourceFormat, ...] = (
    SourceFormat(
        "img2dataset",
        frozenset({"key", "status"}),
        {
            "sample_id": ("sample_id", "key"),
            "caption": ("caption",),
            "image_key": ("key",),
            **_COMMON,
        },
    ),
    SourceFormat(
        "clip-retrieval",
        frozenset({"image_path", "caption"}),
        {
            "sample_id": ("sample_id", "key"),
            "caption": ("caption",),
            "image_path": ("image_path",),
            **_COMMON,
        },
    ),
    SourceFormat(
        "laion",
        frozenset({"url", "text"}),
        {"sample_id": ("sample_id",), "caption": ("text",), **_COMMON},
    ),
)


class MappingError(ValueError):
    """A column mapping that cannot work; the caller adds which file it concerns."""


@dataclass
class Resolution:
    """How the sources' columns land in the ``records`` table."""

    source_format: str
    # source column (as spelled in the files) -> Loupe column
    mapping: dict[str, str]
    # source column -> extra column name in ``records``
    extras: dict[str, str] = field(default_factory=dict)

    def source_of(self, loupe_column: str) -> str | None:
        for src, dst in self.mapping.items():
            if dst == loupe_column:
                return src
        return None


def is_numeric_type(duckdb_type: str) -> bool:
    return bool(_NUMERIC_TYPE.match(duckdb_type.strip().upper()))


def detect_format(columns: Sequence[str]) -> SourceFormat | None:
    present = {c.lower() for c in columns}
    for fmt in FORMATS:
        if fmt.signature <= present:
            return fmt
    return None


def _find(columns: Sequence[str], wanted: str) -> str | None:
    """A source column by name: exact spelling first, then ignoring case."""
    if wanted in columns:
        return wanted
    for col in columns:
        if col.lower() == wanted.lower():
            return col
    return None


def check_user_mapping(columns: Sequence[str], user_mapping: Mapping[str, str]) -> dict[str, str]:
    """Resolve ``--map`` pairs against the source columns; returns source -> Loupe column."""
    resolved: dict[str, str] = {}
    for src, dst in user_mapping.items():
        if dst in DERIVED_COLUMNS:
            raise MappingError(
                f"--map {src}={dst}: '{dst}' is computed at ingest and cannot be mapped"
            )
        if dst not in BY_NAME:
            raise MappingError(
                f"--map {src}={dst}: '{dst}' is not a Loupe column "
                f"(choose from {', '.join(MAPPABLE_COLUMNS)})"
            )
        found = _find(columns, src)
        if found is None:
            raise MappingError(f"--map {src}={dst}: the sources have no column '{src}'")
        if dst in resolved.values():
            raise MappingError(f"--map maps two source columns onto '{dst}'")
        resolved[found] = dst
    return resolved


def resolve(columns: Sequence[str], user_mapping: Mapping[str, str] | None = None) -> Resolution:
    """Decide the mapping for sources whose (union of) columns is ``columns``.

    Raises MappingError when no format is recognised and no mapping is given, or when the
    mapping itself is wrong. Missing caption/url columns are checked per file by the caller.
    """
    user = check_user_mapping(columns, user_mapping or {})
    fmt = detect_format(columns)
    if fmt is None and not user:
        raise MappingError(
            "columns (" + ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "") + ") "
            "match no known format (LAION-5B, img2dataset, clip-retrieval); "
            "name the caption and URL columns with --map SRC=caption --map SRC=url"
        )
    mapping: dict[str, str] = dict(user)
    if fmt is not None:
        for dst, candidates in fmt.aliases.items():
            if dst in mapping.values():
                continue  # the user's choice wins
            for candidate in candidates:
                src = _find(columns, candidate)
                if src is not None and src not in mapping:
                    mapping[src] = dst
                    break
    # Keep the Loupe column order: the manifest reads better that way.
    order = {name: i for i, name in enumerate(MAPPABLE_COLUMNS)}
    mapping = dict(sorted(mapping.items(), key=lambda item: order[item[1]]))
    taken: set[str] = set()
    extras: dict[str, str] = {}
    for col in columns:
        if col not in mapping:
            extras[col] = extra_column_name(col, taken)
            taken.add(extras[col].lower())
    return Resolution("mapped" if user or fmt is None else fmt.name, mapping, extras)


def _reserved() -> set[str]:
    names = {c.name for c in COLUMNS} | {bin_column(s) for s in SCORE_DOMAINS}
    return {n.lower() for n in names}


def extra_column_name(source: str, taken: set[str]) -> str:
    """A name for an unmapped source column: as in the source when that is a plain identifier
    and collides with nothing (DuckDB names ignore case), otherwise ``raw_`` + a cleaned name."""
    reserved = _reserved()
    name = source
    if not _SAFE_IDENTIFIER.match(name) or name.lower() in reserved:
        cleaned = re.sub(r"[^A-Za-z0-9_]", "_", source)[:58] or "column"
        name = "raw_" + cleaned
    base, n = name, 2
    while name.lower() in reserved or name.lower() in taken:
        name = f"{base}_{n}"
        n += 1
    return name
