"""Blocklists: lists of records never to show, read from CSV, parquet or one value per line.

A list holds one kind of value:

    sample_id   the dataset's own ids (LAION SAMPLE_ID, img2dataset key)
    url_sha256  SHA-256 of the image URL (what Re-LAION-5B published); a column of plain URLs
                is hashed on import and stored as this kind
    md5         MD5 of the image bytes
    sha256      SHA-256 of the image bytes
    hex64       64 hex digits with nothing saying whether they hash the URL or the image; matched
                against both (two different SHA-256 inputs colliding is not a practical risk)
    pdq         PDQ perceptual hashes of images (64 hex digits too), matched by Hamming distance
                up to the list's ``max_distance`` (PDQ's confident match, 31 bits, by default)
                against the hashes Loupe computed of the dataset's pictures

The kind comes from the column name when there is one (``--kind`` overrides), else from the
shape of the values. A PDQ hash has the shape of a SHA-256 (64 hex digits), so the shape never
says ``pdq``: a list is PDQ only when ``--kind pdq`` says so or its column is named ``pdq`` or
``pdq_hash``. (Guessing wrong either way would be silent: SHA-256s matched as perceptual hashes
hide random look-alikes, PDQ hashes matched as SHA-256s hide nothing.)

Raw entries are stored here; which records of a dataset they hit is worked out against the
catalog by ``app.review.safety``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from app.catalog.layout import check_dataset_name
from app.catalog.schema import url_sha256
from app.review import audit
from app.review.db import Database
from app.review.errors import BlocklistFormatError, InvalidInput

KINDS: tuple[str, ...] = ("sample_id", "url_sha256", "md5", "sha256", "hex64", "pdq")
# What --kind accepts: the stored kinds (but hex64, which only auto-detection produces) and url.
IMPORT_KINDS: tuple[str, ...] = ("auto", "sample_id", "url_sha256", "md5", "sha256", "url", "pdq")
PDQ = "pdq"
# ThreatExchange's PDQ_CONFIDENT_MATCH_THRESHOLD (app.images.phash.CONFIDENT_DISTANCE; the
# review store does not import the image layer, tests/review/test_blocklist.py checks the two
# agree). Unrelated pictures are ~128 bits apart, so even the largest limit allowed stays far
# from chance matches; past ~40 bits different pictures of one scene start to match.
PDQ_DEFAULT_DISTANCE = 31
PDQ_MAX_DISTANCE = 64
MAX_ENTRIES = 20_000_000
MAX_SAMPLE_ID_LENGTH = 256
MAX_URL_LENGTH = 8192

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Column names (lower-case, without '_', '-' or spaces) -> the kind they announce.
# "hash" is a hint that the values are hashes, of a kind told by their length.
COLUMN_HINTS: dict[str, str] = {
    "sampleid": "sample_id",
    "key": "sample_id",
    "id": "sample_id",
    "urlsha256": "url_sha256",
    "urlhash": "url_sha256",
    "sha256url": "url_sha256",
    "sha256": "sha256",
    "imagesha256": "sha256",
    "sha256image": "sha256",
    "md5": "md5",
    "imagemd5": "md5",
    "md5image": "md5",
    "hash": "hash",
    "url": "url",
    "pdq": "pdq",
    "pdqhash": "pdq",
}
# When a file has several known columns: the order in which one is picked.
COLUMN_PRIORITY: tuple[str, ...] = (
    "sample_id",
    "url_sha256",
    "sha256",
    "md5",
    "pdq",
    "hash",
    "url",
)
KIND_DESCRIPTION: dict[str, str] = {
    "sample_id": "a sample id (1-256 printable characters)",
    "url_sha256": "a URL SHA-256 (64 hex digits)",
    "sha256": "an image SHA-256 (64 hex digits)",
    "md5": "an image MD5 (32 hex digits)",
    "url": "a URL (http:// or https://)",
    "pdq": "a PDQ hash (64 hex digits)",
}


@dataclass(frozen=True)
class ParsedList:
    source: Path
    kind: str  # one of KINDS
    values: list[str]  # normalised, distinct, in file order
    column: str | None  # the column read, if the file had named columns
    file_format: str  # parquet, csv, tsv or lines


@dataclass(frozen=True)
class Blocklist:
    id: int
    name: str
    source: str
    dataset: str | None  # None: applies to every dataset
    kind: str
    entries: int
    content_sha256: str
    imported_by: str
    imported_at: str
    max_distance: int | None = None  # PDQ lists: match within this many bits

    def public(self) -> dict[str, object]:
        public: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "dataset": self.dataset,
            "kind": self.kind,
            "entries": self.entries,
            "content_sha256": self.content_sha256,
        }
        if self.kind == PDQ:
            public["max_distance"] = self.max_distance
        return public


@dataclass(frozen=True)
class ImportResult:
    blocklist: Blocklist
    already_imported: bool  # an identical list (same kind, values and scope) was there already
    column: str | None
    file_format: str


# --- reading files ---------------------------------------------------------------------------
def _hint(column: str) -> str | None:
    return COLUMN_HINTS.get(re.sub(r"[\s_\-]", "", column.strip().lower()))


def _fail(path: Path, problem: str) -> BlocklistFormatError:
    return BlocklistFormatError(f"{path}: {problem}")


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    # utf-8-sig: spreadsheets like to start CSV files with a byte-order mark.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _file_format(path: Path) -> str:
    with open(path, "rb") as handle:
        if handle.read(4) == b"PAR1":
            return "parquet"
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".tsv"):
        return "tsv"
    return "lines"


def _choose_column(path: Path, columns: list[str], kind: str) -> tuple[int, str]:
    """Index of the column to read and the hint it gives (or 'auto')."""
    hinted = [(i, c, _hint(c)) for i, c in enumerate(columns) if _hint(c)]
    if kind != "auto":
        wanted = {
            "sample_id": ("sample_id",),
            "url": ("url",),
            "md5": ("md5", "hash"),
            "sha256": ("sha256", "hash"),
            "url_sha256": ("url_sha256", "hash"),
            "pdq": ("pdq", "hash"),
        }[kind]
        for want in wanted:
            for i, column, hint in hinted:
                if hint == want:
                    return i, column
        if len(columns) == 1:
            return 0, columns[0]
        raise _fail(path, f"no column for --kind {kind} among {', '.join(columns)}")
    for preferred in COLUMN_PRIORITY:
        for i, column, hint in hinted:
            if hint == preferred:
                return i, column
    if len(columns) == 1:
        return 0, columns[0]
    raise _fail(
        path,
        f"none of the columns {', '.join(columns)} is one of SAMPLE_ID, url_sha256, sha256, md5, "
        "hash or url; rename one or give a file with a single column",
    )


def _iter_parquet(path: Path, kind: str) -> tuple[str | None, Iterator[tuple[int, str]]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise _fail(path, f"not a readable parquet file ({error})") from None
    columns = parquet.schema_arrow.names
    if not columns:
        raise _fail(path, "the parquet file has no columns")
    index, column = _choose_column(path, columns, kind)

    def rows() -> Iterator[tuple[int, str]]:
        number = 0
        try:
            for batch in parquet.iter_batches(columns=[column], batch_size=65_536):
                for value in batch.column(0).to_pylist():
                    number += 1
                    if value is None:
                        continue
                    if isinstance(value, float):
                        # Integer ids stored as floats (pandas does this when a column has nulls).
                        if not value.is_integer():
                            raise _fail(path, f"row {number}: {value!r} is not an id or a hash")
                        value = int(value)
                    if isinstance(value, bytes):
                        value = value.hex() if len(value) in (16, 32) else value.decode("utf-8")
                    yield number, str(value)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
            raise _fail(path, f"row {number + 1} could not be read ({error})") from None

    return column, rows()


def _iter_csv(
    path: Path, kind: str, delimiter: str
) -> tuple[str | None, Iterator[tuple[int, str]]]:
    handle = _open_text(path)
    try:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            first = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as error:
            raise _fail(path, f"line 1 is not valid CSV text ({error})") from None
    except BaseException:
        handle.close()
        raise
    if first is None or not any(cell.strip() for cell in first):
        handle.close()
        raise _fail(path, "the file is empty")
    header = [cell.strip() for cell in first]
    has_header = any(_hint(cell) for cell in header)
    if not has_header and len(header) > 1:
        handle.close()
        raise _fail(
            path,
            f"{len(header)} columns but no header naming SAMPLE_ID, url_sha256, sha256, md5, hash "
            "or url; add a header row or give a single column",
        )
    index, column = _choose_column(path, header, kind) if has_header else (0, None)

    def rows() -> Iterator[tuple[int, str]]:
        with handle:
            if not has_header:
                yield 1, first[0]
            try:
                for row in reader:
                    line = reader.line_num
                    if not row or not any(cell.strip() for cell in row):
                        continue
                    if index >= len(row):
                        raise _fail(path, f"line {line} has no value in column {column!r}")
                    yield line, row[index]
            except (csv.Error, UnicodeDecodeError) as error:
                raise _fail(
                    path, f"line {reader.line_num + 1} could not be read ({error})"
                ) from None

    return column, rows()


def _iter_lines(path: Path) -> tuple[str | None, Iterator[tuple[int, str]]]:
    def rows() -> Iterator[tuple[int, str]]:
        with _open_text(path) as handle:
            line = 0
            try:
                for line, text in enumerate(handle, start=1):
                    value = text.strip()
                    if value and not value.startswith("#"):
                        yield line, value
            except UnicodeDecodeError as error:
                raise _fail(path, f"line {line + 1} is not UTF-8 text ({error})") from None

    return None, rows()


def _normalise(path: Path, kind: str, line: int, value: str) -> str:
    value = value.strip()
    if kind in ("md5", "sha256", "url_sha256", "hex64", "pdq"):
        value = value.lower()
        pattern = HEX32 if kind == "md5" else HEX64
        if not pattern.match(value):
            described = KIND_DESCRIPTION.get(kind, "a SHA-256 (64 hex digits)")
            raise _fail(path, f"line {line}: {value[:80]!r} is not {described}")
        return value
    if kind == "url":
        if not value.lower().startswith(("http://", "https://")) or len(value) > MAX_URL_LENGTH:
            raise _fail(path, f"line {line}: {value[:80]!r} is not {KIND_DESCRIPTION['url']}")
        return url_sha256(value)
    if not value or len(value) > MAX_SAMPLE_ID_LENGTH or CONTROL.search(value):
        raise _fail(path, f"line {line}: {value[:80]!r} is not {KIND_DESCRIPTION['sample_id']}")
    return value


def _detect(path: Path, rows: list[tuple[int, str]], hint: str) -> str:
    """Kind of a list from the shape of its values (hint 'hash': must be hashes)."""
    shapes: dict[str, tuple[int, str]] = {}
    for line, value in rows:
        text = value.strip().lower()
        if HEX32.match(text):
            shape = "md5"
        elif HEX64.match(text):
            shape = "hex64"
        elif text.startswith(("http://", "https://")):
            shape = "url"
        else:
            shape = "sample_id"
        shapes.setdefault(shape, (line, value))
    if len(shapes) > 1:
        (shape_a, (line_a, _)), (shape_b, (line_b, value_b)) = list(shapes.items())[:2]
        raise _fail(
            path,
            f"mixes kinds of value ({shape_a} on line {line_a}, {shape_b} on line {line_b}: "
            f"{value_b[:80]!r}); split the file or pass --kind",
        )
    shape = next(iter(shapes))
    if hint == "hash" and shape not in ("md5", "hex64"):
        line, value = shapes[shape]
        raise _fail(path, f"line {line}: {value[:80]!r} is not an MD5 or SHA-256 hash")
    return shape


def read_blocklist(path: Path, kind: str = "auto", *, max_entries: int = MAX_ENTRIES) -> ParsedList:
    """Read and check a blocklist file; any problem raises BlocklistFormatError naming the file."""
    path = Path(path)
    if kind not in IMPORT_KINDS:
        raise InvalidInput(f"unknown blocklist kind {kind!r}: use one of {', '.join(IMPORT_KINDS)}")
    if not path.is_file():
        raise _fail(path, "no such file")
    file_format = _file_format(path)
    if file_format == "parquet":
        column, rows = _iter_parquet(path, kind)
    elif file_format in ("csv", "tsv"):
        column, rows = _iter_csv(path, kind, "," if file_format == "csv" else "\t")
    else:
        column, rows = _iter_lines(path)
        # A first line that is a known column name is a header, not a value.
        collected = list(rows)
        if collected and _hint(collected[0][1]) and not HEX64.match(collected[0][1].lower()):
            column = collected.pop(0)[1]
        rows = iter(collected)
    hint = _hint(column) if column else None
    materialised: list[tuple[int, str]] = []
    for item in rows:
        materialised.append(item)
        if len(materialised) > max_entries:
            raise _fail(path, f"more than {max_entries} entries; split the list")
    if not materialised:
        raise _fail(path, "no entries found")
    if kind != "auto":
        effective = kind
    elif hint in ("sample_id", "url_sha256", "sha256", "md5", "url", "pdq"):
        effective = hint
    else:
        effective = _detect(path, materialised, hint or "")
    values = dict.fromkeys(_normalise(path, effective, line, value) for line, value in materialised)
    stored = "url_sha256" if effective == "url" else effective
    return ParsedList(path, stored, list(values), column, file_format)


def content_digest(kind: str, values: Iterable[str]) -> str:
    digest = hashlib.sha256(kind.encode() + b"\n")
    for value in sorted(values):  # already sorted is cheap to sort again (timsort)
        digest.update(value.encode("utf-8") + b"\n")
    return digest.hexdigest()


def check_max_distance(kind: str, max_distance: int | None) -> int | None:
    """The Hamming limit a list is stored with: PDQ's default for PDQ lists, None otherwise."""
    if kind != PDQ:
        if max_distance is not None:
            raise InvalidInput(
                f"--max-distance applies to PDQ lists only (this list holds {kind} values)"
            )
        return None
    if max_distance is None:
        return PDQ_DEFAULT_DISTANCE
    if isinstance(max_distance, bool) or not isinstance(max_distance, int):
        raise InvalidInput(f"max_distance must be a whole number of bits, not {max_distance!r}")
    if not 0 <= max_distance <= PDQ_MAX_DISTANCE:
        raise InvalidInput(
            f"max_distance must be within 0..{PDQ_MAX_DISTANCE} bits (PDQ's confident match is "
            f"{PDQ_DEFAULT_DISTANCE}; unrelated pictures differ by ~128), not {max_distance}"
        )
    return max_distance


# --- storing ---------------------------------------------------------------------------------
def _blocklist(row: sqlite3.Row) -> Blocklist:
    return Blocklist(**{key: row[key] for key in row.keys()})


class Blocklists:
    def __init__(self, db: Database) -> None:
        self.db = db

    def import_file(
        self,
        path: Path,
        *,
        actor: str,
        dataset: str | None = None,
        kind: str = "auto",
        name: str | None = None,
        max_distance: int | None = None,
    ) -> ImportResult:
        """Read, check and store one list file; ``max_distance`` only for PDQ lists."""
        parsed = read_blocklist(path, kind)
        return self.import_values(
            parsed.values,
            parsed.kind,
            actor=actor,
            source=str(Path(path).resolve()),
            dataset=dataset,
            name=name or Path(path).name,
            column=parsed.column,
            file_format=parsed.file_format,
            max_distance=max_distance,
        )

    def import_values(
        self,
        values: Iterable[str],
        kind: str,
        *,
        actor: str,
        source: str,
        dataset: str | None = None,
        name: str | None = None,
        column: str | None = None,
        file_format: str = "values",
        max_distance: int | None = None,
    ) -> ImportResult:
        """Store checked, normalised values (see ``read_blocklist``) as one list."""
        if kind not in KINDS:
            raise InvalidInput(f"unknown blocklist kind {kind!r}: use one of {', '.join(KINDS)}")
        max_distance = check_max_distance(kind, max_distance)
        if dataset is not None:
            try:
                check_dataset_name(dataset)
            except ValueError as error:
                raise InvalidInput(str(error)) from None
        # Sorted: B-tree inserts in key order are several times faster than in file order.
        distinct = sorted(set(values))
        if not distinct:
            raise InvalidInput("a blocklist needs at least one entry")
        # The same PDQ hashes with another distance are another list (they hide other records).
        label = kind if max_distance is None else f"{kind}:{max_distance}"
        digest = content_digest(label, distinct)
        with self.db.write() as conn:
            existing = conn.execute(
                "SELECT * FROM blocklists WHERE content_sha256 = ? AND dataset IS ?",
                (digest, dataset),
            ).fetchone()
            if existing is not None:
                return ImportResult(_blocklist(existing), True, column, file_format)
            cursor = conn.execute(
                "INSERT INTO blocklists (name, source, dataset, kind, entries, content_sha256, "
                "imported_by, imported_at, max_distance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name or source,
                    source,
                    dataset,
                    kind,
                    len(distinct),
                    digest,
                    actor,
                    self.db.now(),
                    max_distance,
                ),
            )
            list_id = cursor.lastrowid
            conn.executemany(
                "INSERT INTO blocklist_entries (list_id, value) VALUES (?, ?)",
                ((list_id, value) for value in distinct),
            )
            blocklist = _blocklist(
                conn.execute("SELECT * FROM blocklists WHERE id = ?", (list_id,)).fetchone()
            )
            audit.record(
                self.db,
                conn,
                actor=actor,
                action="blocklist.import",
                target=f"blocklist:{list_id}",
                dataset=dataset,
                new=blocklist.public(),
            )
            self.db.bump_hidden_version(conn)
        return ImportResult(blocklist, False, column, file_format)

    def lists(self, dataset: str | None = None) -> list[Blocklist]:
        """All lists, or those that apply to ``dataset`` (its own and the global ones)."""
        conn = self.db.connection()
        if dataset is None:
            rows = conn.execute("SELECT * FROM blocklists ORDER BY id").fetchall()
        else:
            rows = conn.execute(
                "SELECT * FROM blocklists WHERE dataset IS NULL OR dataset = ? ORDER BY id",
                (dataset,),
            ).fetchall()
        return [_blocklist(row) for row in rows]

    def entries(self, list_id: int) -> list[str]:
        rows = (
            self.db.connection()
            .execute("SELECT value FROM blocklist_entries WHERE list_id = ?", (list_id,))
            .fetchall()
        )
        return [row[0] for row in rows]

    def hits(self, dataset: str) -> dict[int, int]:
        """{list id: records of ``dataset`` it hides}, for lists already matched."""
        rows = (
            self.db.connection()
            .execute(
                "SELECT list_id, hits FROM blocklist_resolutions WHERE dataset = ?", (dataset,)
            )
            .fetchall()
        )
        return {row["list_id"]: row["hits"] for row in rows}
