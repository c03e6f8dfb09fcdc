"""``manifest.json``: the record of how a dataset folder was built.

Other parts (vectors, link checks) add their own sections under ``parts`` so that one file
describes the whole folder.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class ScoreStats(BaseModel):
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    non_null: int = 0


class Manifest(BaseModel):
    name: str
    title: str | None = None
    description: str | None = None
    row_count: int
    source_format: str = Field(description="laion, img2dataset, clip-retrieval or mapped")
    source_files: list[str]
    column_mapping: dict[str, str] = Field(description="source column -> Loupe column")
    extra_columns: list[str] = Field(default_factory=list, description="kept raw, not filterable")
    schema_: list[dict[str, str]] = Field(default_factory=list, alias="schema")
    score_stats: dict[str, ScoreStats] = Field(default_factory=dict)
    image_store: dict[str, str] | None = Field(
        None, description='{"kind": "folder"|"tar", "path": relative or absolute path}'
    )
    built_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    build_seconds: float | None = None
    text_index_seconds: float | None = None
    parts: dict[str, Any] = Field(default_factory=dict)

    model_config = {"populate_by_name": True}


def read_manifest(path: Path) -> Manifest:
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write atomically: a reader never sees half a manifest."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps(manifest.model_dump(by_alias=True), indent=2, ensure_ascii=False),
        encoding="utf-8",
    )
    os.replace(tmp, path)
