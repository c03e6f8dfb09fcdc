"""Precomputed embeddings in clip-retrieval / embedding-reader layout::

    <root>/img_emb/img_emb_N.npy         (rows, dim) float16 or float32
    <root>/text_emb/text_emb_N.npy       optional, same rows
    <root>/metadata/metadata_N.parquet   the same rows' metadata, in the same order

Row i of ``img_emb_N.npy`` describes row i of ``metadata_N.parquet``; nothing else ties them
together, so a shard with one row too many or too few silently shifts every later result onto
an unrelated picture. Here each shard's arrays must have exactly its metadata's row count, or
the import is refused naming both files; on top of that a few rows per shard are spot-checked
(URL in the parquet = URL of the catalog record at that source row).

The dataset must have been ingested from ``<root>/metadata`` first (``loupe ingest NAME
<root>`` does both); each embedding row is placed by its ``source_row`` (the row's number
across the ingested files, in the manifest's order), so records dropped at ingest (duplicate
ids) simply get no vector.

Image embeddings become the dataset's ``image`` embeddings. Caption (``text_emb``) arrays are
checked for alignment but not imported: they live in CLIP's text space, and caption search by
meaning uses the packaged text model (``loupe embed`` computes those, offline).
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest, write_manifest
from app.catalog.rowstore import RowStore
from app.vectors import store

_SHARD = re.compile(r"^(?P<prefix>img_emb|text_emb|metadata)_(?P<n>\d+)\.(?P<ext>npy|parquet)$")
SPOT_CHECKS = 3
COPY_BLOCK = 65_536


class PrecomputedError(Exception):
    """Embeddings that cannot be imported; the message names the files and the problem."""


@dataclass(frozen=True)
class Shard:
    number: int
    metadata: Path
    img_emb: Path
    text_emb: Path | None
    rows: int
    dim: int


def is_precomputed_layout(root: Path) -> bool:
    """True when ``root`` looks like clip-retrieval output (``metadata/`` and ``img_emb/``)."""
    return (root / "metadata").is_dir() and (root / "img_emb").is_dir()


def metadata_files(root: Path) -> list[Path]:
    """The metadata parquet files in shard order (N = 0, 1, 2, ... 10, not 0, 1, 10, 2)."""
    return list(_numbered(root / "metadata", "metadata", "parquet").values())


def find_shards(root: Path) -> list[Shard]:
    """Every shard of ``root``, each checked for alignment; raises PrecomputedError."""
    if not is_precomputed_layout(root):
        raise PrecomputedError(
            f"{root}: expected the folders metadata/ and img_emb/ "
            "(clip-retrieval / embedding-reader layout)."
        )
    metadata = _numbered(root / "metadata", "metadata", "parquet")
    images = _numbered(root / "img_emb", "img_emb", "npy")
    texts = _numbered(root / "text_emb", "text_emb", "npy") if (root / "text_emb").is_dir() else {}
    if not images:
        raise PrecomputedError(f"{root / 'img_emb'}: no img_emb_N.npy files.")
    for n in sorted(set(images) | set(metadata) | set(texts)):
        if n not in metadata:
            raise PrecomputedError(
                f"{_path(images, texts, n)} has no metadata/metadata_{n}.parquet beside it: "
                "the embeddings cannot be matched to records."
            )
        if n not in images:
            raise PrecomputedError(f"{metadata[n]} has no img_emb/img_emb_{n}.npy beside it.")
    shards = []
    dim = None
    for n in sorted(metadata):
        meta_path = metadata[n]
        try:
            rows = pq.ParquetFile(meta_path).metadata.num_rows
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise PrecomputedError(f"{meta_path}: not a readable parquet file ({error}).") from None
        shard_dim = _check_array(images[n], rows, meta_path)
        if texts.get(n) is not None:
            _check_array(texts[n], rows, meta_path)
        if dim is not None and shard_dim != dim:
            raise PrecomputedError(
                f"{images[n]} has {shard_dim} dimensions but earlier shards "
                f"have {dim}: they come from different models."
            )
        dim = shard_dim
        shards.append(Shard(n, meta_path, images[n], texts.get(n), rows, shard_dim))
    return shards


def import_precomputed(
    source_root: Path,
    dataset: DatasetPaths,
    *,
    hidden: Collection[int],
    progress: bool = True,
) -> dict[str, Any]:
    """Check and import ``source_root``'s image embeddings into ``dataset``'s vectors; the
    vectors of ``hidden`` positions (the workspace's hidden set) are left out.

    Returns a summary (also stored in ``manifest.parts["vectors"]["precomputed"]``). Run
    ``loupe index NAME`` (``app.vectors.build.build_all``) afterwards to search them.
    """
    started = time.perf_counter()
    shards = find_shards(source_root)
    manifest = read_manifest(dataset.manifest)
    offsets = _source_offsets(shards, manifest.source_files)
    rows = RowStore(dataset.rows)
    lookup = rows.positions_by_source_row()
    for shard in shards:
        _spot_check(rows, shard, offsets[shard.number])
    kept = {s.number: _positions(lookup, offsets[s.number], s.rows) for s in shards}
    if hidden:
        hidden_array = np.fromiter(hidden, dtype=np.int64, count=len(hidden))
        for positions in kept.values():
            positions[np.isin(positions, hidden_array)] = -1
    count = int(sum(int((p >= 0).sum()) for p in kept.values()))
    dim = shards[0].dim
    with tqdm(
        total=sum(s.rows for s in shards),
        unit="vec",
        unit_scale=True,
        desc="import embeddings",
        disable=not progress,
    ) as bar:
        store.write_embeddings(
            dataset,
            "image",
            _parts(shards, kept, bar),
            count=count,
            dim=dim,
            meta={
                "model": f"precomputed ({source_root.name})",
                "trained": True,
                "source": f"precomputed: {source_root.resolve()}",
                "skipped": manifest.row_count - count,
            },
        )
    summary = {
        "root": str(source_root.resolve()),
        "shards": len(shards),
        "rows": sum(s.rows for s in shards),
        "imported": count,
        "not_in_catalog": sum(s.rows for s in shards) - count,
        "dim": dim,
        "text_emb_checked": sum(1 for s in shards if s.text_emb is not None),
        "seconds": round(time.perf_counter() - started, 3),
    }
    manifest = read_manifest(dataset.manifest)
    part = dict(manifest.parts.get("vectors") or {})
    part["precomputed"] = summary
    manifest.parts["vectors"] = part
    write_manifest(dataset.manifest, manifest)
    return summary


# --- helpers ----------------------------------------------------------------------------------


def _numbered(folder: Path, prefix: str, ext: str) -> dict[int, Path]:
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        match = _SHARD.match(path.name)
        if match and match["prefix"] == prefix and match["ext"] == ext and path.is_file():
            found[int(match["n"])] = path
    return dict(sorted(found.items()))


def _path(images: dict[int, Path], texts: dict[int, Path], n: int) -> Path:
    return images.get(n) or texts[n]


def _check_array(path: Path, rows: int, meta_path: Path) -> int:
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise PrecomputedError(f"{path}: not a readable .npy array ({error}).") from None
    if array.ndim != 2 or array.dtype not in (np.float16, np.float32):
        raise PrecomputedError(
            f"{path}: expected a 2-d float16/float32 array, found "
            f"{array.dtype} with shape {array.shape}."
        )
    if array.shape[0] != rows:
        raise PrecomputedError(
            f"{path} has {array.shape[0]:,} rows but {meta_path} has {rows:,}: the shard is "
            "misaligned (its rows would be matched to the wrong records), so it is refused."
        )
    return int(array.shape[1])


def _source_offsets(shards: list[Shard], source_files: list[str]) -> dict[int, int]:
    """First source_row of each shard, following the file order ingest used."""
    order = [Path(p).resolve() for p in source_files]
    rows_before: dict[Path, int] = {}
    total = 0
    for path in order:
        rows_before[path] = total
        try:
            total += pq.ParquetFile(path).metadata.num_rows
        except Exception as error:
            raise PrecomputedError(
                f"{path}: the dataset's source file cannot be read again "
                f"to place the embeddings ({error})."
            ) from None
    offsets = {}
    for shard in shards:
        resolved = shard.metadata.resolve()
        if resolved not in rows_before:
            raise PrecomputedError(
                f"{shard.metadata} is not among the files this dataset was ingested from: "
                f"run `loupe ingest NAME {shard.metadata.parent.parent}` first."
            )
        offsets[shard.number] = rows_before[resolved]
    return offsets


def _positions(lookup: np.ndarray, offset: int, rows: int) -> np.ndarray:
    source = np.arange(offset, offset + rows, dtype=np.int64)
    out = np.full(rows, -1, dtype=np.int64)
    inside = source < lookup.shape[0]
    out[inside] = lookup[source[inside]]
    return out


def _spot_check(rows: RowStore, shard: Shard, offset: int) -> None:
    """The URL at a few rows of the shard's parquet must be the catalog's at that source row."""
    parquet = pq.ParquetFile(shard.metadata)
    names = {name.lower(): name for name in parquet.schema_arrow.names}
    if "url" not in names or shard.rows == 0:
        return
    for group in sorted({0, parquet.num_row_groups - 1}):
        first = sum(parquet.metadata.row_group(g).num_rows for g in range(group))
        urls = parquet.read_row_group(group, columns=[names["url"]]).column(0).to_pylist()
        picks = np.unique(np.linspace(0, len(urls) - 1, SPOT_CHECKS).astype(int)) if urls else []
        for i in picks:
            row = offset + first + int(i)
            found = rows.source_rows_at([row], ["url"]).get(row)
            if found is not None and found["url"] != urls[i]:
                raise PrecomputedError(
                    f"{shard.metadata} row {first + int(i)} has URL {urls[i]!r} but the catalog "
                    f"has {found['url']!r} there: the dataset was not ingested from these files "
                    "in this order, so the embeddings are refused."
                )


def _parts(shards: list[Shard], kept: dict[int, np.ndarray], bar: tqdm):
    for shard in shards:
        array = np.load(shard.img_emb, mmap_mode="r")
        positions = kept[shard.number]
        for start in range(0, shard.rows, COPY_BLOCK):
            block_pos = positions[start : start + COPY_BLOCK]
            keep = block_pos >= 0
            block = np.asarray(array[start : start + COPY_BLOCK], dtype=np.float32)[keep]
            bar.update(int(block_pos.size))
            yield block, block_pos[keep]
