"""Parquet metadata (LAION-5B, img2dataset, clip-retrieval, or mapped) -> a catalog.

This module knows the sources: it checks the files, maps their columns onto Loupe's and
writes the one query that reads them all (``_rows_sql``); ``app.catalog.build`` turns that
query's rows into the row store and the sorted ``records`` table. The whole dataset build —
sources, catalog, text index, images, swap into place, vectors — is ``app.build``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from app.catalog import formats
from app.catalog.build import ID_HASH_COLUMN, BuildStats, LoadError, build_catalog
from app.catalog.layout import DatasetPaths, check_dataset_name
from app.catalog.manifest import Manifest, read_manifest
from app.catalog.rowstore import COMPUTED_FROM
from app.catalog.schema import BY_NAME, COLUMNS

PARQUET_MAGIC = b"PAR1"
# Read from the files (mapped); the derived columns are computed in the same pass.
_LOADED_COLUMNS: tuple[str, ...] = formats.MAPPABLE_COLUMNS


class IngestError(Exception):
    """Bad input for ingest; the message is one sentence naming the file and the problem."""


@dataclass(frozen=True)
class _Source:
    path: Path
    rows: int
    columns: dict[str, str]  # column name as in the file -> DuckDB type


@dataclass(frozen=True)
class Sources:
    """Parquet sources checked and mapped onto Loupe's columns, ready to be read."""

    files: list[Path]
    inspected: list[_Source]
    resolution: formats.Resolution
    total_rows: int

    @property
    def source_format(self) -> str:
        return self.resolution.source_format


def read_sources(sources: list[Path], mapping: dict[str, str] | None = None) -> Sources:
    """Check the parquet ``sources`` (footers only) and map their columns; IngestError names
    the file and the problem."""
    files = _expand_sources(sources)
    inspected = [_inspect(path) for path in files]
    resolution = _resolve(inspected, mapping)
    for source in inspected:
        _check_source(source, resolution)
    total_rows = sum(s.rows for s in inspected)
    if total_rows == 0:
        raise IngestError(f"{_describe(files)}: no rows to ingest (the parquet data is empty).")
    return Sources(files, inspected, resolution, total_rows)


def write_catalog(paths: DatasetPaths, sources: Sources, progress: bool) -> BuildStats:
    """The row store and the DuckDB catalog of ``sources`` in the (new, empty) ``paths``."""
    return _build(paths, sources.inspected, sources.resolution, sources.total_rows, progress)


def manifest_for(name: str, sources: Sources, stats: BuildStats, **fields: object) -> Manifest:
    """The manifest of a catalog just written (the build adds timings and parts)."""
    return Manifest(
        name=name,
        row_count=stats.row_count,
        source_format=sources.source_format,
        source_files=[str(s.path.resolve()) for s in sources.inspected],
        column_mapping=sources.resolution.mapping,
        extra_columns=list(sources.resolution.extras.values()),
        schema=stats.schema,
        score_stats=stats.score_stats,
        **fields,  # type: ignore[arg-type]
    )


def list_datasets(data_dir: Path) -> list[Manifest]:
    """Manifests of the complete dataset folders in ``data_dir``, sorted by name."""
    if not data_dir.is_dir():
        return []
    found: list[Manifest] = []
    for child in sorted(data_dir.iterdir()):
        if child.name.startswith(".") or not _is_dataset_name(child.name):
            continue  # temp and swapped-out folders start with "."
        paths = DatasetPaths(child)
        if not paths.exists():
            continue
        try:
            found.append(read_manifest(paths.manifest))
        except (OSError, ValueError):
            continue  # a damaged manifest is not a dataset the server could open
    return found


def _is_dataset_name(name: str) -> bool:
    try:
        check_dataset_name(name)
    except ValueError:
        return False
    return True


# --- sources ----------------------------------------------------------------------------------


def _expand_sources(sources: Sequence[Path]) -> list[Path]:
    if not sources:
        raise IngestError("no source files given: name at least one parquet file or folder.")
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            inside = sorted(p for p in source.glob("*.parquet") if p.is_file())
            if not inside:
                raise IngestError(f"{source}: the folder holds no .parquet files.")
            files.extend(inside)
        elif source.is_file():
            files.append(source)
        else:
            raise IngestError(f"{source}: no such file or folder.")
    return files


def _inspect(path: Path) -> _Source:
    """Row count and column types from the parquet footer (no data is read)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - 4, 0))
            tail = handle.read(4)
    except OSError as error:
        raise IngestError(f"{path}: cannot be read ({error.strerror or error}).") from None
    if size >= 4 and head == PARQUET_MAGIC and tail != PARQUET_MAGIC:
        # Starts as parquet, but the footer (schema and row groups) is gone: a copy or a
        # download that stopped.
        raise IngestError(f"{path}: is cut short (a parquet file whose footer is missing).")
    if size < 12 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        raise IngestError(f"{path}: is not a parquet file (the PAR1 markers are missing).")
    con = duckdb.connect(":memory:")
    try:
        columns = {
            str(row[0]): str(row[1])
            for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        }
        rows = con.execute(
            "SELECT coalesce(max(num_rows), 0) FROM parquet_file_metadata(?)", [str(path)]
        ).fetchall()[0][0]
    except duckdb.Error as error:
        raise IngestError(f"{path}: cannot be read as parquet ({first_line(error)}).") from None
    finally:
        con.close()
    return _Source(path, int(rows), columns)


def _resolve(sources: Sequence[_Source], mapping: dict[str, str] | None) -> formats.Resolution:
    union: dict[str, str] = {}
    for source in sources:
        for column, column_type in source.columns.items():
            union.setdefault(column, column_type)
    try:
        return formats.resolve(list(union), mapping)
    except formats.MappingError as error:
        raise IngestError(f"{_describe([s.path for s in sources])}: {error}.") from None


def _check_source(source: _Source, resolution: formats.Resolution) -> None:
    if any(c.lower() == "file_row_number" for c in source.columns):
        # DuckDB adds this column itself to number the rows; it refuses a file that has one.
        raise IngestError(
            f"{source.path}: has a column named 'file_row_number', which the reader reserves; "
            "rename it in the file."
        )
    for required in formats.REQUIRED_COLUMNS:
        src = resolution.source_of(required)
        if src is not None and _column_in(source, src) is None:
            raise IngestError(
                f"{source.path}: has no column '{src}' (the {required} column of the other "
                f"files); name its {required} column with --map SOURCE={required}."
            )
        if src is None:
            shown = ", ".join(list(source.columns)[:12])
            raise IngestError(
                f"{source.path}: no {required} column among its columns ({shown}); "
                f"name one with --map SOURCE={required}."
            )
    for src, dst in resolution.mapping.items():
        actual = _column_in(source, src)
        if actual is None or dst not in formats.NUMERIC_COLUMNS:
            continue
        column_type = source.columns[actual]
        if not formats.is_numeric_type(column_type):
            raise IngestError(
                f"{source.path}: column '{actual}' (mapped to {dst}) holds {column_type}, "
                "not numbers."
            )


def _column_in(source: _Source, name: str) -> str | None:
    """The file's spelling of a column found in the union of all files (case may differ)."""
    if name in source.columns:
        return name
    for column in source.columns:
        if column.lower() == name.lower():
            return column
    return None


# --- the catalog ------------------------------------------------------------------------------


def _build(
    paths: DatasetPaths,
    sources: Sequence[_Source],
    resolution: formats.Resolution,
    total_rows: int,
    progress: bool,
) -> BuildStats:
    sql, params = _rows_sql(sources, resolution)
    try:
        stats = build_catalog(
            paths, sql, params, total_rows, threads=_cpu_count(), progress=progress
        )
    except LoadError as failure:
        raise _load_error(sources, resolution, failure.error) from None
    if stats.rows_read != total_rows:
        raise IngestError(
            f"{_describe([s.path for s in sources])}: read {stats.rows_read:,} rows where the "
            f"parquet footers announce {total_rows:,}; a file changed during the ingest or is "
            "damaged."
        )
    return stats


def _load_error(
    sources: Sequence[_Source],
    resolution: formats.Resolution,
    error: Exception,
) -> IngestError:
    """Name the file that broke the single load statement by reading the files one by one
    (only ever on this error path)."""
    with duckdb.connect(":memory:") as con:
        for offset, source in zip(_offsets(sources), sources, strict=True):
            select = _source_select(sources, source, resolution, offset)
            try:
                con.execute(f"SELECT count(*) FROM ({select})", [str(source.path)]).fetchall()  # noqa: S608
            except duckdb.Error as culprit:
                return IngestError(f"{source.path}: cannot be loaded ({first_line(culprit)}).")
    return IngestError(
        f"{_describe([s.path for s in sources])}: cannot be loaded ({first_line(error)})."
    )


def _offsets(sources: Sequence[_Source]) -> list[int]:
    """Each file's first source_row: the rows are numbered across the files in order."""
    offsets, offset = [], 0
    for source in sources:
        offsets.append(offset)
        offset += source.rows
    return offsets


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _q(name: str) -> str:
    """Quote an identifier taken from a parquet file (these never come from a request)."""
    return '"' + name.replace('"', '""') + '"'


def _extra_type(sources: Sequence[_Source], src: str) -> str:
    for source in sources:
        actual = _column_in(source, src)
        if actual is not None:
            return source.columns[actual]
    return "VARCHAR"


def _source_select(
    sources: Sequence[_Source], source: _Source, resolution: formats.Resolution, offset: int
) -> str:
    """One file's rows as Loupe columns, each converted to its type (absent ones NULL)."""
    values: list[str] = []
    for column in _LOADED_COLUMNS:
        src = resolution.source_of(column)
        actual = _column_in(source, src) if src is not None else None
        if column == "sample_id":
            value = _sample_id_sql(source, actual, offset)
        elif actual is None:
            value = f"CAST(NULL AS {BY_NAME[column].sql_type})"
        else:
            value = _convert_sql(column, _q(actual), source.columns[actual])
        values.append(f"{value} AS {_q(column)}")
    values.append(f"file_row_number + {int(offset)} AS source_row")
    for src, extra in resolution.extras.items():
        actual = _column_in(source, src)
        extra_type = _extra_type(sources, src)
        value = "NULL" if actual is None else _q(actual)
        values.append(f"CAST({value} AS {extra_type}) AS {_q(extra)}")
    # The file's path is a bound parameter (see _create_records_sql).
    return f"SELECT {', '.join(values)} FROM read_parquet(?, file_row_number = true)"  # noqa: S608


def _sample_id_sql(source: _Source, actual: str | None, offset: int) -> str:
    row = f"(file_row_number + {int(offset)})"
    if actual is None:
        return f"CAST({row} AS VARCHAR)"  # no id column: the row number is the id
    col, column_type = _q(actual), source.columns[actual].upper()
    if column_type in ("FLOAT", "DOUBLE") or column_type.startswith("DECIMAL"):
        # LAION stores SAMPLE_ID as a double in some releases: write 123, not 123.0.
        value = (
            f"CASE WHEN NOT isfinite(CAST({col} AS DOUBLE)) THEN NULL "
            f"WHEN {col} = trunc({col}) AND abs(CAST({col} AS DOUBLE)) < 1e37 "
            f"THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) ELSE CAST({col} AS VARCHAR) END"
        )
    elif column_type == "VARCHAR":
        value = f"NULLIF({col}, '')"
    else:
        value = f"NULLIF(CAST({col} AS VARCHAR), '')"
    # A row without an id still needs a unique one.
    return f"coalesce({value}, 'row-' || {row})"


def _convert_sql(column: str, col: str, column_type: str) -> str:
    target = BY_NAME[column].sql_type
    if column in ("similarity", "punsafe", "pwatermark", "aesthetic"):
        # NaN and infinities would sort above every real score: they mean "unknown".
        return f"CASE WHEN isfinite(CAST({col} AS DOUBLE)) THEN TRY_CAST({col} AS FLOAT) END"
    if target == "INTEGER":
        return f"TRY_CAST({col} AS INTEGER)"
    text = col if column_type.upper() == "VARCHAR" else f"CAST({col} AS VARCHAR)"
    if column == "language":
        return f"NULLIF(lower(trim({text})), '')"
    if column in ("md5", "sha256"):
        return f"lower({text})"
    return text


def _rows_sql(sources: Sequence[_Source], resolution: formats.Resolution) -> tuple[str, list[str]]:
    """The query giving every source row, in source order, as the record's stored columns
    (schema.COLUMNS but ``pos`` and the computed ``url_sha256``, then the extra source
    columns) plus the sample_id's hash; and its parameters (the files' paths)."""
    selects = [
        _source_select(sources, source, resolution, offset)
        for offset, source in zip(_offsets(sources), sources, strict=True)
    ]
    union = "(" + " UNION ALL ".join(selects) + ")"
    select: list[str] = []
    for column in COLUMNS:
        if column.name == "domain":
            select.append(f"{_DOMAIN_SQL} AS domain")
        elif column.name not in ("pos", *COMPUTED_FROM):  # those the row store gives
            select.append(_q(column.name))
    select += [_q(extra) for extra in resolution.extras.values()]
    select.append(f"hash(sample_id) AS {_q(ID_HASH_COLUMN)}")
    sql = f"SELECT {', '.join(select)} FROM {union}"  # noqa: S608
    return sql, [str(source.path) for source in sources]


# The URL's host, lower-cased, without user info, port, trailing dot or a leading "www.".
# One regular expression finds the authority (after "scheme://" or a leading "//"); only the
# rare authority holding "@", ":" or "[" needs a second one. DuckDB evaluates each repeated
# sub-expression once, so the nesting below costs ~1.5 s for 10M URLs (by split_part and a
# chain of sub-queries it took ~7 s, with one regular expression for all of it ~5 s).
def _domain_sql() -> str:
    authority = "regexp_extract(url, '^(?:[^:/?#]*:)?//([^/?#]*)', 1)"
    host = (
        f"lower(CASE WHEN contains({authority}, '@') OR contains({authority}, ':') "
        f"OR contains({authority}, '[') "
        f"THEN regexp_extract({authority}, '^(?:.*@)?(\\[[^\\]]*\\]|[^:]*)', 1) "
        f"ELSE {authority} END)"
    )
    # rtrim is slow enough to matter; only a host that ends with "." needs it.
    host = f"CASE WHEN ends_with({host}, '.') THEN rtrim({host}, '.') ELSE {host} END"
    return f"NULLIF(CASE WHEN starts_with({host}, 'www.') THEN {host}[5:] ELSE {host} END, '')"


_DOMAIN_SQL = _domain_sql()


# --- replacing the old dataset ----------------------------------------------------------------


def check_replaceable(target: Path) -> None:
    if target.exists() and not DatasetPaths(target).manifest.is_file():
        raise IngestError(
            f"{target}: exists and is not a Loupe dataset; move it away or choose another name."
        )


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the old folder away, the new one in, then delete the old one.

    If anything interrupts between the two renames, the old folder is put back.
    """
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    try:
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --- messages ---------------------------------------------------------------------------------


def _describe(files: Sequence[Path]) -> str:
    if len(files) <= 3:
        return ", ".join(str(f) for f in files)
    return f"{files[0]}, {files[1]} and {len(files) - 2} more files"


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__
