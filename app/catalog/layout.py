"""Where each part of a dataset lives inside ``<data_dir>/<name>/``.

Every module that reads or writes a dataset folder goes through this one description, so the
layout is written down exactly once:

    manifest.json       what was built, from what, when (see ``app.catalog.manifest``)
    catalog.duckdb      table ``records``: schema.CATALOG_COLUMNS (what queries filter, sort
                        and count on), then the ``<score>_bin`` histogram columns; rows
                        physically sorted by similarity (highest first) with ``pos`` = 0..N-1
                        in that order; ``records_sample``, its 1 %; ``records_top_<score>``,
                        the top 2 % by aesthetic, punsafe and pwatermark in that order
    rows/               every whole row (all columns, extra source columns too), memory-mapped
                        for lookups by pos or sample_id (``app.catalog.rowstore``)
    text/               tantivy full-text index of the captions (``app.textsearch``)
    images/             optional local image folder, files named ``<sample_id>.<ext>``
    shards/             optional webdataset tar shards (img2dataset output)
    vectors/            embeddings and FAISS indexes (``app.vectors``)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from app.catalog.rowstore import RowStore

DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_dataset_name(name: str) -> str:
    """Dataset names become folder names and URL parts: keep them boring."""
    if not DATASET_NAME.match(name):
        raise ValueError(
            f"invalid dataset name {name!r}: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class DatasetPaths:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def rows(self) -> Path:
        return self.root / "rows"

    @property
    def text_index(self) -> Path:
        return self.root / "text"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors"

    def exists(self) -> bool:
        """A complete dataset of the current layout (one built before the row store took
        the whole rows is not: ``loupe ingest`` it again)."""
        return self.manifest.is_file() and self.catalog.is_file() and RowStore.exists(self.rows)

    def outdated(self) -> bool:
        """Built by an older Loupe: a catalog without the current row store."""
        return self.manifest.is_file() and self.catalog.is_file() and not self.exists()
