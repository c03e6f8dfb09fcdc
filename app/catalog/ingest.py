"""Parquet metadata (LAION-5B, img2dataset, clip-retrieval, or mapped) -> a dataset folder.

This module knows the sources: it checks the files, maps their columns onto Loupe's and
writes the one query that reads them all (``_rows_sql``); ``app.catalog.build`` turns that
query's rows into the row store and the sorted ``records`` table. Everything is built in a
temporary folder beside the target and renamed into place at the end, so a failure or Ctrl-C
at any moment leaves the previous dataset as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from app.catalog import formats
from app.catalog.build import ID_HASH_COLUMN, BuildStats, LoadError, build_catalog
from app.catalog.layout import DatasetPaths, check_dataset_name
from app.catalog.manifest import Manifest, read_manifest, write_manifest
from app.catalog.rowstore import COMPUTED_FROM
from app.catalog.schema import BY_NAME, COLUMNS

PARQUET_MAGIC = b"PAR1"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
# Read from the files (mapped); the derived columns are computed in the same pass.
_LOADED_COLUMNS: tuple[str, ...] = formats.MAPPABLE_COLUMNS


class IngestError(Exception):
    """Bad input for ingest; the message is one sentence naming the file and the problem."""


@dataclass(frozen=True)
class _Source:
    path: Path
    rows: int
    columns: dict[str, str]  # column name as in the file -> DuckDB type


def ingest_dataset(
    data_dir: Path,
    name: str,
    sources: list[Path],
    mapping: dict[str, str] | None = None,
    *,
    images: Path | None = None,
    title: str | None = None,
    description: str | None = None,
    progress: bool = True,
    text_index: bool = True,
) -> Manifest:
    """Build (or rebuild) ``<data_dir>/<name>/`` from parquet ``sources``; returns its manifest.

    ``text_index=False`` leaves out the caption index (caption words then cannot be searched;
    the benchmark times the catalog build alone with it).

    Raises IngestError for any problem with the input; the previous dataset of that name, if
    any, is only replaced once the new one is complete.
    """
    started = time.perf_counter()
    try:
        check_dataset_name(name)
    except ValueError as error:
        raise IngestError(f"{error}.") from None
    target = data_dir / name
    _check_replaceable(target)
    files = _expand_sources(sources)
    inspected = [_inspect(path) for path in files]
    resolution = _resolve(inspected, mapping)
    for source in inspected:
        _check_source(source, resolution)
    total_rows = sum(s.rows for s in inspected)
    if total_rows == 0:
        raise IngestError(f"{_describe(files)}: no rows to ingest (the parquet data is empty).")
    image_kind = _check_images(images) if images is not None else None

    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=data_dir))
    tmp.chmod(0o755)  # mkdtemp makes it private; a dataset is read by the server's user too
    try:
        paths = DatasetPaths(tmp)
        stats = _build(paths, inspected, resolution, total_rows, progress)
        text_seconds = _build_text_index(paths, progress) if text_index else None
        image_store, image_part = (None, {})
        if images is not None and image_kind is not None:
            image_store, image_part = _import_images(images, image_kind, paths)
        manifest = Manifest(
            name=name,
            title=title,
            description=description,
            row_count=stats.row_count,
            source_format=resolution.source_format,
            source_files=[str(s.path.resolve()) for s in inspected],
            column_mapping=resolution.mapping,
            extra_columns=list(resolution.extras.values()),
            schema=stats.schema,
            score_stats=stats.score_stats,
            image_store=image_store,
            build_seconds=round(time.perf_counter() - started, 3),
            text_index_seconds=None if text_seconds is None else round(text_seconds, 3),
            parts={
                "ingest": {
                    "rows_read": stats.rows_read,
                    "duplicates_dropped": stats.duplicates_dropped,
                    "catalog_seconds": round(stats.seconds, 3),
                    "step_seconds": stats.timings,
                    **image_part,
                }
            },
        )
        write_manifest(paths.manifest, manifest)
        _check_replaceable(target)  # someone may have put something there meanwhile
        _swap_into_place(tmp, target)
    except (duckdb.Error, OSError) as error:
        # Not bad input but a failed build (disk full, out of memory): still one sentence.
        raise IngestError(f"{target}: the build failed ({_first_line(error)}).") from error
    finally:
        # After a successful swap ``tmp`` no longer exists; otherwise this discards the attempt.
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


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
        raise IngestError(f"{path}: cannot be read as parquet ({_first_line(error)}).") from None
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
                return IngestError(f"{source.path}: cannot be loaded ({_first_line(culprit)}).")
    return IngestError(
        f"{_describe([s.path for s in sources])}: cannot be loaded ({_first_line(error)})."
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


def _build_text_index(paths: DatasetPaths, progress: bool) -> float | None:
    try:
        from app.textsearch.index import build_text_index
    except ModuleNotFoundError as error:
        if error.name != "app.textsearch.index":
            raise
        return None  # a checkout without caption search still gets a browsable catalog
    con = duckdb.connect(str(paths.catalog), read_only=True)
    try:
        return build_text_index(con, paths.text_index, progress=progress)
    finally:
        con.close()


# --- images -----------------------------------------------------------------------------------


def _check_images(images: Path) -> str:
    if not images.is_dir():
        raise IngestError(f"{images}: --images must be a folder of images or of .tar shards.")
    if any(p.is_file() for p in images.glob("*.tar")):
        return "tar"
    if any(_is_image(p) for p in images.rglob("*")):
        return "folder"
    raise IngestError(f"{images}: the folder holds no image files and no .tar shards.")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _import_images(images: Path, kind: str, paths: DatasetPaths) -> tuple[dict[str, str], dict]:
    """Hard-link (or copy, across file systems) the images into the dataset folder.

    Links rather than moves: the files take no extra space, yet the source folder survives a
    failed ingest (and re-ingesting from an old dataset's own images/ folder still works).
    """
    if kind == "tar":
        dest = paths.shards
        files = sorted(p for p in images.glob("*.tar") if p.is_file())
    else:
        dest = paths.images
        # img2dataset's "files" output nests images in numbered sub-folders: flatten them, the
        # names (sample ids) are unique.
        files = sorted(p for p in images.rglob("*") if _is_image(p))
    dest.mkdir()
    count = 0
    for path in files:
        target = dest / path.name
        if target.exists():
            continue
        _link_or_copy(path, target)
        count += 1
    store = {"kind": kind, "path": dest.name}
    return store, {"image_files": count}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# --- replacing the old dataset ----------------------------------------------------------------


def _check_replaceable(target: Path) -> None:
    if target.exists() and not DatasetPaths(target).manifest.is_file():
        raise IngestError(
            f"{target}: exists and is not a Loupe dataset; move it away or choose another name."
        )


def _swap_into_place(tmp: Path, target: Path) -> None:
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


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__
