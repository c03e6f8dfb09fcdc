"""The embedding map's data: which points of a dataset's layout may be drawn, what colours
them, which of them the grid's filters select, and the compact binary form they travel in.

The layout itself is computed once per dataset (``app.vectors.layout``, by `loupe index`);
this module reads it for one request at a time.

**Safety.** A point is *visible* when its record is not hidden (blocklists, suspected CSAM,
the quarantine: ``catalog.hidden``) and, in classroom mode, passes classroom mode's
conditions (``Explorer.safety_conditions``). Only visible points are ever put in a payload,
counted, sampled, binned into the density layer or given a colour: a hidden record is not
in the map's data at all, not merely left undrawn. Layouts hold records that were visible
when they were computed; records hidden since are taken out here, on every hidden-set change.

**Filters.** The grid's filters reach the map through the explorer's plan (the same
conditions, engine and restriction as the grid's count): a caption search selects its text
hits, a search by meaning (``mode=meaning``, ``like``, ``vec``) its nearest records. The
selection is sent as one byte per point (``FLAG_MATCH``, ``FLAG_HIT``), so the page dims what
the filters leave out and highlights what a search found.

**Size.** Up to ``MAX_POINTS`` visible points travel whole (16 bytes each). Above that a
seeded sample of ``MAX_POINTS`` travels (the points with the smallest hash of their catalog
position: the same points on every request, whatever the filters), with a density layer of
every visible point (``DENSITY_BINS`` x ``DENSITY_BINS`` counts) drawn under them, and the
page asks for the points inside its viewport (``bbox``, at most ``DETAIL_POINTS``, chosen by
the same hash, so a viewport's detail holds the sample's points there) as it zooms in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from app.catalog.filters import MAP_KINDS, RecordFilter, Region, parse_region
from app.catalog.layout import DatasetPaths
from app.catalog.schema import SCORE_DOMAINS
from app.explore.datasets import DatasetHandle
from app.vectors import store
from app.vectors.layout import Layout, LayoutError, layout_files, load_layout
from app.vectors.saved import SavedVectorMissing

if TYPE_CHECKING:
    from app.explore.semantic import SemanticSearch
    from app.explore.service import Explorer

log = logging.getLogger(__name__)

# Visible points a payload holds whole; above, a sample of this many plus the density layer.
MAX_POINTS = 1_000_000
# Most points one viewport's detail (``bbox``) holds.
DETAIL_POINTS = 250_000
DENSITY_BINS = 256
# Coordinates travel as uint16 steps across the layout's bounds (0 .. QUANT).
QUANT = 65_535
# A score travels as uint8: 0..254 across its chart domain (app.catalog.schema.SCORES),
# MISSING where the record has none.
SCORE_STEPS = 254
MISSING = 255
# Language codes: 0 = none detected, 1..254 = ``languages[i]``, OTHER_LANGUAGE = any other.
MAX_LANGUAGES = 254
OTHER_LANGUAGE = 255
# Bits of the ``flags`` column.
FLAG_MATCH = 1  # passes the grid's filters (every point when there are none)
FLAG_HIT = 2  # a search's result: caption words, or the nearest records of a meaning search
# A caption search selects at most this many text hits (as an export does).
MAX_TEXT_HITS = 2_000_000
# Most records a ``region`` restriction may name: the positions travel to DuckDB as a list
# (a box over all of 1M counted in 0.8 s and paged in 1.5-4 s at a load average of 7); a
# larger box is refused with a sentence rather than left to run into the query time limit.
MAX_REGION_RECORDS = 1_000_000
# Rows read per batch when the colour channels (language, scores) are first read.
READ_ROWS = 100_000

PAYLOAD_MAGIC = b"LOUPEMAP"
PAYLOAD_VERSION = 1
ALIGN = 8
ATTRIBUTE_COLUMNS: tuple[str, ...] = ("language", *SCORE_DOMAINS)

# Columns of the points payload, in the order they are written: (name, type, components).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("xy", "uint16", 2),
    ("pos", "uint32", 1),
    ("cluster", "uint16", 1),
    ("language", "uint8", 1),
    *((score, "uint8", 1) for score in SCORE_DOMAINS),
    ("flags", "uint8", 1),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in COLUMNS)
# What a payload may be asked for (``fields``): the columns, and the density layer.
PAYLOAD_FIELDS: tuple[str, ...] = (*COLUMN_NAMES, "density")
BYTES_PER_POINT = sum(np.dtype(t).itemsize * c for _, t, c in COLUMNS)

FORMAT_DESCRIPTION: dict[str, Any] = {
    "media_type": "application/octet-stream",
    "layout": "8 bytes 'LOUPEMAP'; uint32 little-endian N; N bytes of UTF-8 JSON (the "
    "header, padded with spaces so the first column starts 8-byte aligned); then each column "
    "at the byte offset the header gives for it, little-endian, one value per point (xy: two).",
    "header": {
        "count": "points in this payload",
        "total": "visible points of the map (under no filter)",
        "sampled": "true when the payload holds a sample of the visible points",
        "bounds": "[x0, y0, x1, y1]: the layout's bounds in map coordinates",
        "columns": "name, type, components, offset (bytes from the start), bytes",
        "density": "null, or offset/type/width/height of a uint32 grid of every visible "
        "point's count (row-major, y up from bounds[1])",
        "token": "changes when the visible points change (the hidden set, the layout): "
        "a client holding points of another token fetches them again",
    },
    "columns": {
        "xy": "uint16 x, y: x = bounds[0] + xy[0] / 65535 * (bounds[2] - bounds[0]), y alike",
        "pos": "uint32 catalog position: /map/point?ds=NAME&pos=POS opens the record",
        "cluster": "uint16 cluster id (clusters in /api/map)",
        "language": "uint8: 0 none, i = languages[i] of /api/map, 255 another language",
        **{
            score: f"uint8: 0..254 across [{low:g}, {high:g}], 255 missing"
            for score, (low, high) in SCORE_DOMAINS.items()
        },
        "flags": f"uint8 bits: {FLAG_MATCH} passes the filters, {FLAG_HIT} a search's result",
    },
}


class MapUnavailable(Exception):
    """The map of a dataset cannot be drawn; the message says why and what to run, without
    the server's file paths (those go to the log)."""


class RegionTooLarge(MapUnavailable):
    """A ``region`` holding more records than MAX_REGION_RECORDS."""


class PointNotFound(LookupError):
    """A position that is absent, hidden or filtered out by classroom mode."""


# --- layouts, loaded once per change of their files -------------------------------------------


def _signature(paths: DatasetPaths, kind: str) -> tuple[Any, ...]:
    files, emb = layout_files(paths, kind), store.files_for(paths, kind)
    stamp = []
    for path in (files.meta, files.xy, files.clusters, emb.meta, emb.positions):
        try:
            stat = path.stat()
            stamp.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


class LayoutCache:
    """Loaded layouts by dataset folder and kind, each kept while its files are unchanged:
    ``load_layout`` checks the layout against the embeddings (7 ms at 1M rows, 0.2 s at
    10M), which a request should pay once, not every time."""

    def __init__(self, size: int = 8) -> None:
        self._layouts: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], Layout]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, dataset: DatasetHandle, kind: str) -> Layout:
        if kind not in MAP_KINDS:
            raise MapUnavailable(f"there is no {kind!r} map; kinds: {', '.join(MAP_KINDS)}")
        key = (str(dataset.paths.root), kind)
        signature = _signature(dataset.paths, kind)
        with self._lock:
            found = self._layouts.get(key)
            if found is not None and found[0] == signature:
                self._layouts.move_to_end(key)
                return found[1]
        try:
            layout = load_layout(dataset.paths, kind)
        except LayoutError as error:
            log.warning("map of %s (%s): %s", dataset.name, kind, error)
            raise MapUnavailable(_public_reason(dataset, kind)) from None
        with self._lock:
            self._layouts[key] = (signature, layout)
            self._layouts.move_to_end(key)
            while len(self._layouts) > self._size:
                self._layouts.popitem(last=False)
        return layout

    def clear(self) -> None:
        with self._lock:
            self._layouts.clear()


LAYOUTS = LayoutCache()


def _public_reason(dataset: DatasetHandle, kind: str) -> str:
    name = dataset.name
    if store.read_meta(dataset.paths, kind) is None:
        return (
            f"dataset {name!r} has no {kind} embeddings to draw a map of: run "
            f"`loupe embed {name}` and then `loupe index {name}`"
        )
    if not layout_files(dataset.paths, kind).meta.is_file():
        return (
            f"the map of dataset {name!r} ({kind} embeddings) has not been computed: run "
            f"`loupe index {name}`"
        )
    return (
        f"the map of dataset {name!r} ({kind} embeddings) does not match its embeddings or "
        f"catalog any more: run `loupe index {name}` to compute it again"
    )


def layout_kinds(dataset: DatasetHandle) -> dict[str, bool]:
    """Each map kind, and whether a layout of it was computed (not checked: loading does)."""
    return {kind: layout_files(dataset.paths, kind).meta.is_file() for kind in MAP_KINDS}


def region_positions(dataset: DatasetHandle, region: str | Region) -> list[int]:
    """Catalog positions of the layout points inside ``region`` (hidden ones included: the
    restriction they become is applied together with the hidden set, never instead of it).
    The explorer's plan restricts to them (``Explorer._restriction``)."""
    box = parse_region(region) if isinstance(region, str) else region
    layout = LAYOUTS.get(dataset, box.kind)
    inside = box.contains(layout.xy)
    count = int(np.count_nonzero(inside))
    if count > MAX_REGION_RECORDS:
        raise RegionTooLarge(
            f"region: the box holds {count:,} points of the map; a filter takes at most "
            f"{MAX_REGION_RECORDS:,}: select a smaller box"
        )
    return np.sort(layout.positions[inside]).tolist()


# --- what a request asks the map ----------------------------------------------------------------


@dataclass(frozen=True)
class MapSearch:
    """The grid's search parameters besides its filters (app.web.params.SearchParams)."""

    mode: str = "text"
    like: str | None = None
    vec: str | None = None
    space: str = "auto"

    @property
    def by_meaning(self) -> bool:
        return self.like is not None or self.vec is not None or self.mode == "meaning"


@dataclass
class Selection:
    """The records a request's filters select: ``positions`` sorted (None: every visible
    record, no filter), ``kind`` all / filter / search (caption words) / nearest."""

    kind: str
    positions: np.ndarray | None
    approximate: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def hits(self) -> bool:
        return self.kind in ("search", "nearest")


@dataclass
class ClusterView:
    """A cluster as the page shows it: its visible size and the box around its visible
    points (the no-script fallback links to the grid filtered to that box)."""

    id: int
    label: str
    size: int
    centroid: tuple[float, float]
    words: list[str]
    box: tuple[float, float, float, float] | None

    def region(self, kind: str) -> str | None:
        if self.box is None:
            return None
        x0, y0, x1, y1 = self.box
        # Rounded outwards at 6 decimals: every point of the cluster is inside.
        down = [math.floor(v * 1e6) / 1e6 for v in (x0, y0)]
        up = [math.ceil(v * 1e6) / 1e6 for v in (x1, y1)]
        return f"{kind}:{down[0]:.6f},{down[1]:.6f},{up[0]:.6f},{up[1]:.6f}"

    def to_json(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "size": self.size,
            "centroid": list(self.centroid),
            "words": self.words,
            "region": self.region(kind),
        }


@dataclass
class MapBase:
    """The visible points of one layout, in layout order, with their colour channels."""

    dataset: str
    kind: str
    token: str
    layout: Layout
    positions: np.ndarray  # int64 catalog positions
    xy16: np.ndarray  # uint16 (n, 2)
    cluster: np.ndarray  # uint16
    language: np.ndarray  # uint8
    languages: list[str | None]  # languages[i] for code i (0: None)
    scores: dict[str, np.ndarray]  # uint8 each
    clusters: list[ClusterView]
    by_position: np.ndarray  # argsort of positions
    sorted_positions: np.ndarray  # positions[by_position]
    sample: np.ndarray | None  # indices of the sampled points (ascending); None: all travel
    density: np.ndarray | None  # uint32 (DENSITY_BINS, DENSITY_BINS), rows are y
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.layout.bounds

    def indices_of(self, positions: np.ndarray) -> np.ndarray:
        """Indices of the points whose catalog position is among ``positions``."""
        if not len(positions) or not self.count:
            return np.zeros(0, dtype=np.int64)
        ordered = self.sorted_positions
        at = np.searchsorted(ordered, positions)
        inside = at < len(ordered)
        at, positions = at[inside], positions[inside]
        return np.sort(self.by_position[at[ordered[at] == positions]])

    def to_map(self, q: np.ndarray, axis: int) -> np.ndarray:
        low, high = self.bounds[axis], self.bounds[axis + 2]
        return low + q.astype(np.float64) / QUANT * (high - low)


# --- the colour channels ------------------------------------------------------------------------


@dataclass
class _Attributes:
    """Language and score codes of a layout's rows (they never change within one catalog
    build). `loupe index` stores them beside the layout (``colours_file``) so that a server
    need not read them; rows hidden at the time are read when they become visible."""

    known: np.ndarray  # bool per layout row
    language: np.ndarray  # int32 index into ``vocabulary`` (-1: none)
    vocabulary: list[str]
    scores: dict[str, np.ndarray]  # uint8 per layout row
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def empty(cls, n: int) -> _Attributes:
        return cls(
            known=np.zeros(n, dtype=bool),
            language=np.full(n, -1, dtype=np.int32),
            vocabulary=[],
            scores={s: np.full(n, MISSING, dtype=np.uint8) for s in SCORE_DOMAINS},
        )

    def read(self, layout: Layout, rows: np.ndarray, reader: RowReader) -> None:
        """Fill in layout ``rows`` from ``reader`` (visible rows only: hidden records are not
        read, and stay unknown), READ_ROWS at a time."""
        with self.lock:
            rows = rows[~self.known[rows]]
            vocabulary = {code: i for i, code in enumerate(self.vocabulary)}
            for start in range(0, len(rows), READ_ROWS):
                chunk = rows[start : start + READ_ROWS]
                positions = layout.positions[chunk]
                found = reader(positions.tolist(), ["pos", *ATTRIBUTE_COLUMNS])
                by_pos = {int(row["pos"]): row for row in found}
                present = np.fromiter((int(p) in by_pos for p in positions), bool, len(chunk))
                chunk = chunk[present]
                ordered = [by_pos[int(p)] for p in positions[present]]
                languages = np.full(len(ordered), -1, dtype=np.int32)
                for i, row in enumerate(ordered):
                    code = row.get("language")
                    if not code:
                        continue
                    index = vocabulary.get(code)
                    if index is None:
                        index = vocabulary[code] = len(self.vocabulary)
                        self.vocabulary.append(code)
                    languages[i] = index
                self.language[chunk] = languages
                for score in SCORE_DOMAINS:
                    self.scores[score][chunk] = quantize_score(
                        [row.get(score) for row in ordered], score
                    )
                self.known[chunk] = True


# rows(positions, columns) -> the visible rows among ``positions`` (the workspace's reader,
# or the catalog's rows_by_positions).
RowReader = Callable[[Sequence[int], Sequence[str]], list[dict[str, Any]]]


def colours_file(paths: DatasetPaths, kind: str) -> Path:
    return layout_files(paths, kind).folder / f"{kind}.layout-colours.npz"


def _colours_identity(layout: Layout) -> str:
    meta = layout.meta
    return json.dumps(
        [meta.get("created"), meta.get("positions_sha256"), meta.get("catalog"), layout.count],
        sort_keys=True,
        default=str,
    )


def write_colours(
    paths: DatasetPaths, kind: str, reader: RowReader, *, progress: bool = False
) -> int:
    """Read the colour channels (language, scores) of every visible point of ``kind``'s
    layout and store them beside it, so that a server draws its first map without reading
    a million rows (7.6 s at 1M rows through the row reader, measured; the file loads in
    milliseconds). Returns the rows read."""
    layout = load_layout(paths, kind)
    attributes = _Attributes.empty(layout.count)
    with tqdm(
        total=layout.count, unit="row", unit_scale=True, desc=f"map colours {kind}",
        disable=not progress, leave=False,
    ) as bar:  # fmt: skip
        for start in range(0, layout.count, READ_ROWS):
            rows = np.arange(start, min(start + READ_ROWS, layout.count))
            attributes.read(layout, rows, reader)
            bar.update(len(rows))
    target = colours_file(paths, kind)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            identity=np.array(_colours_identity(layout)),
            known=attributes.known,
            language=attributes.language,
            vocabulary=np.array(attributes.vocabulary, dtype=str),
            **{f"score_{s}": attributes.scores[s] for s in SCORE_DOMAINS},
        )
    os.replace(tmp, target)
    return int(attributes.known.sum())


def colours_current(paths: DatasetPaths, kind: str) -> bool:
    """Whether the stored colour channels belong to the layout beside them."""
    try:
        layout = load_layout(paths, kind)
    except LayoutError:
        return False
    return _load_colours(paths, layout) is not None


def remove_colours(paths: DatasetPaths, kind: str) -> None:
    colours_file(paths, kind).unlink(missing_ok=True)


def _load_colours(paths: DatasetPaths, layout: Layout) -> _Attributes | None:
    """The stored colour channels of ``layout``, or None when absent or made for another
    layout (they are then read from the rows)."""
    path = colours_file(paths, layout.kind)
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["identity"]) != _colours_identity(layout):
                return None
            known = saved["known"].astype(bool)
            if known.shape != (layout.count,):
                return None
            return _Attributes(
                known=known,
                language=saved["language"].astype(np.int32),
                vocabulary=[str(v) for v in saved["vocabulary"]],
                scores={s: saved[f"score_{s}"].astype(np.uint8) for s in SCORE_DOMAINS},
            )
    except (OSError, ValueError, KeyError):
        return None


def quantize_score(values: Sequence[Any], score: str) -> np.ndarray:
    """Score values as uint8 codes: 0..254 across the chart domain, MISSING for None/NaN."""
    low, high = SCORE_DOMAINS[score]
    data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    codes = np.rint((data - low) / (high - low) * SCORE_STEPS)
    codes = np.clip(np.nan_to_num(codes, nan=MISSING), 0, MISSING)
    codes[~np.isfinite(data)] = MISSING
    return codes.astype(np.uint8)


def _hash(positions: np.ndarray) -> np.ndarray:
    """A fixed 64-bit mix of each position (splitmix64's finaliser): which points a sample
    keeps, the same on every request and in every process."""
    z = positions.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _smallest_hashes(candidates: np.ndarray, positions: np.ndarray, cap: int) -> np.ndarray:
    """The ``cap`` entries of ``candidates`` (indices) with the smallest position hash,
    ascending; all of them when there are no more."""
    if len(candidates) <= cap:
        return candidates
    hashes = _hash(positions[candidates])
    keep = np.argpartition(hashes, cap - 1)[:cap]
    return np.sort(candidates[keep])


# --- the service --------------------------------------------------------------------------------


class _Keyed:
    """A small cache of values by key with a lifetime, one computation per key at a time.
    A value stored under a ``slot`` replaces the slot's previous one (one map's visible
    points of the last hidden set, not of every set since: 35 MB each at 1M points)."""

    def __init__(self, size: int, ttl_s: float | None) -> None:
        self._values: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._slots: dict[Hashable, Hashable] = {}
        self._lock = threading.Lock()
        self._size, self._ttl_s = size, ttl_s

    def get(self, key: Hashable, make: Callable[[], Any], slot: Hashable | None = None) -> Any:
        with self._lock:
            found = self._fresh(key)
            if found is not None:
                return found[1]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                found = self._fresh(key)
                if found is not None:
                    return found[1]
            value = make()
            with self._lock:
                if slot is not None:
                    previous = self._slots.get(slot)
                    if previous is not None and previous != key:
                        self._values.pop(previous, None)
                        self._locks.pop(previous, None)
                    self._slots[slot] = key
                self._values[key] = (time.monotonic(), value)
                self._values.move_to_end(key)
                while len(self._values) > self._size:
                    old, _ = self._values.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def _fresh(self, key: Hashable) -> tuple[float, Any] | None:
        found = self._values.get(key)
        if found is None:
            return None
        if self._ttl_s is not None and time.monotonic() - found[0] > self._ttl_s:
            del self._values[key]
            return None
        self._values.move_to_end(key)
        return found


@dataclass
class MapExplorer:
    """The map's reads of a dataset, through the explorer (hidden set, classroom mode, the
    grid's plan) and search by meaning. One per server (the web layer makes it on first
    use); everything it keeps is keyed by the hidden-set version and the layout's files."""

    explorer: Explorer
    semantic: SemanticSearch | None = None
    max_points: int = MAX_POINTS
    detail_points: int = DETAIL_POINTS
    _bases: _Keyed = field(default_factory=lambda: _Keyed(size=8, ttl_s=None), repr=False)
    _attributes: _Keyed = field(default_factory=lambda: _Keyed(size=8, ttl_s=None), repr=False)
    _selections: _Keyed = field(default_factory=lambda: _Keyed(size=32, ttl_s=60.0), repr=False)

    # --- visible points ---------------------------------------------------------------------
    def base(self, dataset: DatasetHandle, kind: str) -> MapBase:
        """The visible points of ``kind``'s layout (computed once per hidden-set version)."""
        layout = LAYOUTS.get(dataset, kind)
        catalog = self.explorer.catalog
        catalog.hidden.of(dataset.name)  # refuses an unknown hidden set
        key = (
            str(dataset.paths.root),
            kind,
            _colours_identity(layout),
            catalog.hidden.version,
            repr(self.explorer.safety_conditions()),
        )
        return self._bases.get(key, lambda: self._make_base(dataset, kind, layout), slot=key[:2])

    def _make_base(self, dataset: DatasetHandle, kind: str, layout: Layout) -> MapBase:
        started = time.perf_counter()
        name = dataset.name
        catalog = self.explorer.catalog
        hidden = catalog.hidden.of(name)
        keep = np.ones(layout.count, dtype=bool)
        if len(hidden):
            keep &= ~hidden.holds(layout.positions)
        safety = self.explorer.safety_conditions()
        if safety:
            # Classroom mode: only the records that pass its conditions (hidden ones never).
            cap = max(int(dataset.manifest.row_count), layout.count, 1)
            passing = catalog.candidate_positions(name, safety, cap=cap) or []
            keep &= np.isin(layout.positions, np.asarray(passing, dtype=np.int64))
        rows = np.flatnonzero(keep)
        attributes = self._attributes_of(dataset, kind, layout, rows)
        # A record hidden between the hidden set above and the read of its row is not read.
        rows = rows[attributes.known[rows]]
        positions = np.asarray(layout.positions[rows], dtype=np.int64)
        xy = np.asarray(layout.xy[rows], dtype=np.float64)
        x0, y0, x1, y1 = layout.bounds
        span = np.array([max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)])
        xy16 = np.rint((xy - np.array([x0, y0])) / span * QUANT)
        xy16 = np.clip(xy16, 0, QUANT).astype(np.uint16)
        cluster = np.asarray(layout.cluster_of[rows], dtype=np.uint16)
        codes, languages = _language_codes(attributes.language[rows], attributes.vocabulary)
        scores = {score: attributes.scores[score][rows] for score in SCORE_DOMAINS}
        sample, density = None, None
        if len(rows) > self.max_points:
            sample = _smallest_hashes(np.arange(len(rows)), positions, self.max_points)
            density = _density(xy16)
        base = MapBase(
            dataset=name,
            kind=kind,
            token="",
            layout=layout,
            positions=positions,
            xy16=xy16,
            cluster=cluster,
            language=codes,
            languages=languages,
            scores=scores,
            clusters=_cluster_views(layout, cluster, xy),
            by_position=(by_position := np.argsort(positions, kind="stable")),
            sorted_positions=positions[by_position],
            sample=sample,
            density=density,
        )
        base.token = _token(layout, catalog.hidden.version, positions)
        base.seconds = time.perf_counter() - started
        return base

    def _attributes_of(
        self, dataset: DatasetHandle, kind: str, layout: Layout, rows: np.ndarray
    ) -> _Attributes:
        key = (str(dataset.paths.root), kind, _colours_identity(layout))
        attributes: _Attributes = self._attributes.get(
            key,
            lambda: _load_colours(dataset.paths, layout) or _Attributes.empty(layout.count),
            slot=key[:2],
        )
        if not attributes.known[rows].all():
            name = dataset.name
            catalog = self.explorer.catalog
            attributes.read(
                layout,
                rows,
                lambda positions, columns: catalog.rows_by_positions(name, positions, columns),
            )
        return attributes

    # --- selections ---------------------------------------------------------------------------
    def selection(
        self, dataset: DatasetHandle, record_filter: RecordFilter, search: MapSearch
    ) -> Selection:
        """Which records the grid would show for these filters and this search."""
        catalog = self.explorer.catalog
        catalog.hidden.of(dataset.name)
        key = (
            dataset.name,
            tuple(record_filter.query_items()),
            search,
            catalog.hidden.version,
        )
        return self._selections.get(key, lambda: self._select(dataset, record_filter, search))

    def _select(
        self, dataset: DatasetHandle, record_filter: RecordFilter, search: MapSearch
    ) -> Selection:
        if search.by_meaning and (search.like or search.vec or record_filter.q):
            return self._nearest(dataset, record_filter, search)
        if not record_filter.query_items():
            return Selection("all", None)
        explorer, catalog = self.explorer, self.explorer.catalog
        plan = explorer.plan(dataset, record_filter)
        kind = "search" if record_filter.q else "filter"
        if plan.engine == "text":
            text = dataset.text()
            count = text.count(plan.words, plan.conditions, hidden=plan.hidden.ordered)
            hits = text.search(
                plan.words,
                plan.conditions,
                limit=max(min(count, MAX_TEXT_HITS), 1),
                hidden=plan.hidden.ordered,
            )
            notes = []
            if count > MAX_TEXT_HITS:
                notes.append(f"Showing the {MAX_TEXT_HITS:,} best of {count:,} caption matches.")
            return Selection(kind, _sorted(hits.positions), count > MAX_TEXT_HITS, notes)
        within = explorer.scope(plan)
        if within is not None:
            passing = catalog.positions_passing(dataset.name, plan.conditions, within)
            notes = []
            approximate = plan.engine == "text_hits" and len(within) >= _text_fallback()
            if approximate:
                notes.append(f"Searched within the {_text_fallback():,} best caption matches.")
            return Selection(kind, _sorted(passing), approximate, notes)
        cap = max(int(dataset.manifest.row_count), 1)
        found = catalog.candidate_positions(dataset.name, plan.conditions, cap=cap) or []
        return Selection(kind, _sorted(found))

    def _nearest(
        self, dataset: DatasetHandle, record_filter: RecordFilter, search: MapSearch
    ) -> Selection:
        if self.semantic is None:
            raise MapUnavailable("this server has no search by meaning")
        semantic = self.semantic
        limit = semantic.max_results
        without_words = record_filter.model_copy(update={"q": None})
        if search.vec is not None:
            try:
                result = semantic.by_saved(dataset, search.vec, without_words, limit=limit)
            except SavedVectorMissing as error:
                raise PointNotFound(str(error)) from None
        elif search.like is not None:
            like = self.explorer.record(dataset, search.like)
            if like is None:
                raise PointNotFound(f"no record {search.like!r} in {dataset.name}")
            result = semantic.like(dataset, like["pos"], without_words, limit=limit)
        else:
            result = semantic.by_text(
                dataset,
                record_filter.q or "",
                without_words,
                limit=limit,
                space=search.space,  # type: ignore[arg-type]
            )
        positions = [row["pos"] for row in result.rows]
        return Selection("nearest", _sorted(positions), result.approximate, list(result.notes))

    # --- answers ------------------------------------------------------------------------------
    def flags(self, base: MapBase, selection: Selection) -> np.ndarray:
        """The flags byte of every visible point."""
        if selection.positions is None:
            return np.full(base.count, FLAG_MATCH, dtype=np.uint8)
        flags = np.zeros(base.count, dtype=np.uint8)
        chosen = base.indices_of(selection.positions)
        flags[chosen] = FLAG_MATCH | (FLAG_HIT if selection.hits else 0)
        return flags

    def matching(self, base: MapBase, selection: Selection) -> int:
        if selection.positions is None:
            return base.count
        return int(len(base.indices_of(selection.positions)))

    def describe(
        self,
        dataset: DatasetHandle,
        kind: str,
        record_filter: RecordFilter,
        search: MapSearch,
    ) -> dict[str, Any]:
        """What /api/map says: counts, bounds, clusters, the lists the payload indexes."""
        base = self.base(dataset, kind)
        selection = self.selection(dataset, record_filter, search)
        return {
            "dataset": dataset.name,
            "kind": kind,
            "kinds": layout_kinds(dataset),
            "points": self.matching(base, selection),
            "total": base.count,
            "laid_out": base.layout.count,
            "selection": selection.kind,
            "approximate": selection.approximate,
            "notes": selection.notes,
            "sampled": base.sample is not None,
            "payload_points": base.count if base.sample is None else len(base.sample),
            "max_points": self.max_points,
            "detail_points": self.detail_points,
            "bounds": list(base.bounds),
            "clusters": [c.to_json(kind) for c in base.clusters],
            "languages": base.languages,
            "scores": {s: list(SCORE_DOMAINS[s]) for s in SCORE_DOMAINS},
            "token": base.token,
            "layout": {
                "method": base.layout.meta.get("method"),
                "library": base.layout.meta.get("library"),
                "created": base.layout.meta.get("created"),
            },
            "format": FORMAT_DESCRIPTION,
        }

    def payload(
        self,
        dataset: DatasetHandle,
        kind: str,
        record_filter: RecordFilter,
        search: MapSearch,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        fields: Sequence[str] = PAYLOAD_FIELDS,
    ) -> bytes:
        """The points payload (see FORMAT_DESCRIPTION): every visible point, or the sample
        and the density layer, or the points inside ``bbox`` (map coordinates)."""
        base = self.base(dataset, kind)
        wanted = [c for c in COLUMNS if c[0] in fields]
        flags = None
        selection = Selection("all", None)
        if any(name == "flags" for name, _, _ in wanted):
            selection = self.selection(dataset, record_filter, search)
            flags = self.flags(base, selection)
        capped = False
        if bbox is not None:
            indices = self._inside(base, bbox)
            capped = len(indices) > self.detail_points
            indices = _smallest_hashes(indices, base.positions, self.detail_points)
        else:
            indices = base.sample
        count = base.count if indices is None else len(indices)

        def take(array: np.ndarray) -> np.ndarray:
            return array if indices is None else array[indices]

        arrays: list[tuple[str, str, int, np.ndarray]] = []
        for name, dtype, components in wanted:
            if name == "xy":
                data = take(base.xy16)
            elif name == "pos":
                data = take(base.positions).astype(np.uint32)
            elif name == "cluster":
                data = take(base.cluster)
            elif name == "language":
                data = take(base.language)
            elif name == "flags":
                data = take(flags)
            else:
                data = take(base.scores[name])
            arrays.append((name, dtype, components, np.ascontiguousarray(data, dtype=dtype)))
        density = base.density if bbox is None and "density" in fields else None
        header: dict[str, Any] = {
            "format": "loupe-map-points",
            "version": PAYLOAD_VERSION,
            "dataset": dataset.name,
            "kind": kind,
            "token": base.token,
            "count": count,
            "total": base.count,
            "sampled": bbox is None and base.sample is not None,
            "bbox": list(bbox) if bbox is not None else None,
            "capped": capped,
            "bounds": list(base.bounds),
            "selection": selection.kind,
            "missing": MISSING,
        }
        return _encode(header, arrays, density)

    def _inside(self, base: MapBase, bbox: tuple[float, float, float, float]) -> np.ndarray:
        x0, y0, x1, y1 = bbox
        bx0, by0, bx1, by1 = base.bounds
        sx, sy = max(bx1 - bx0, 1e-12), max(by1 - by0, 1e-12)
        qx0 = math.floor((min(x0, x1) - bx0) / sx * QUANT)
        qx1 = math.ceil((max(x0, x1) - bx0) / sx * QUANT)
        qy0 = math.floor((min(y0, y1) - by0) / sy * QUANT)
        qy1 = math.ceil((max(y0, y1) - by0) / sy * QUANT)
        x, y = base.xy16[:, 0], base.xy16[:, 1]
        return np.flatnonzero((x >= qx0) & (x <= qx1) & (y >= qy0) & (y <= qy1))

    def visible_record(self, dataset: DatasetHandle, pos: int) -> dict[str, Any]:
        """The card row at ``pos`` if anyone may see it (PointNotFound otherwise)."""
        rows = self.explorer.rows_at(dataset, [pos])
        if not rows:
            raise PointNotFound(f"no visible record at position {pos} in {dataset.name}")
        return rows[0]


# --- helpers --------------------------------------------------------------------------------


def _text_fallback() -> int:
    from app.explore.plan import TEXT_FALLBACK_HITS

    return TEXT_FALLBACK_HITS


def _sorted(positions: Any) -> np.ndarray:
    return np.unique(np.fromiter((int(p) for p in positions), dtype=np.int64))


def _language_codes(
    indices: np.ndarray, vocabulary: list[str]
) -> tuple[np.ndarray, list[str | None]]:
    """uint8 codes of the visible points' languages, the most frequent first (code 1), and
    the list they index (code 0: none; OTHER_LANGUAGE past the MAX_LANGUAGES most frequent)."""
    codes = np.zeros(len(indices), dtype=np.uint8)
    present = indices >= 0
    if not present.any():
        return codes, [None]
    counts = np.bincount(indices[present], minlength=len(vocabulary))
    order = sorted(
        (i for i in range(len(vocabulary)) if counts[i] > 0),
        key=lambda i: (-int(counts[i]), vocabulary[i]),
    )
    mapping = np.full(len(vocabulary), OTHER_LANGUAGE, dtype=np.uint8)
    for code, index in enumerate(order[:MAX_LANGUAGES], start=1):
        mapping[index] = code
    codes[present] = mapping[indices[present]]
    return codes, [None, *(vocabulary[i] for i in order[:MAX_LANGUAGES])]


def _density(xy16: np.ndarray) -> np.ndarray:
    """Counts of points per cell of a DENSITY_BINS x DENSITY_BINS grid over the bounds."""
    shift = int(round(math.log2((QUANT + 1) / DENSITY_BINS)))
    cells = (xy16[:, 1].astype(np.int64) >> shift) * DENSITY_BINS + (
        xy16[:, 0].astype(np.int64) >> shift
    )
    counts = np.bincount(cells, minlength=DENSITY_BINS * DENSITY_BINS)
    return counts.astype(np.uint32).reshape(DENSITY_BINS, DENSITY_BINS)


def _cluster_views(layout: Layout, cluster: np.ndarray, xy: np.ndarray) -> list[ClusterView]:
    views = []
    sizes = np.bincount(cluster, minlength=max((c.id for c in layout.clusters), default=-1) + 1)
    for c in layout.clusters:
        size = int(sizes[c.id]) if c.id < len(sizes) else 0
        box = None
        if size:
            members = xy[cluster == c.id]
            low, high = members.min(axis=0), members.max(axis=0)
            box = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
        views.append(
            ClusterView(
                id=c.id,
                label=c.label,
                size=size,
                centroid=(float(c.centroid[0]), float(c.centroid[1])),
                words=[w for w, _ in c.words][:10],
                box=box,
            )
        )
    return views


def _token(layout: Layout, hidden_version: int, positions: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([layout.kind, layout.meta.get("created"), hidden_version]).encode())
    digest.update(np.ascontiguousarray(positions[:: max(1, len(positions) // 4096)]).tobytes())
    digest.update(str(len(positions)).encode())
    return digest.hexdigest()[:16]


def _encode(
    header: dict[str, Any],
    arrays: list[tuple[str, str, int, np.ndarray]],
    density: np.ndarray | None,
) -> bytes:
    """Magic, header length, the JSON header (space-padded so that the columns start 8-byte
    aligned), then each column at its offset, each padded to 8 bytes."""
    data = [a[3] for a in arrays] + ([density] if density is not None else [])
    lead = len(PAYLOAD_MAGIC) + 4
    # The offsets depend on the header's length, which depends on the offsets: leave the
    # header room, grown until it fits.
    room = _aligned(lead + 512) - lead
    while True:
        offsets, at = [], lead + room
        for array in data:
            offsets.append(at)
            at = _aligned(at + array.nbytes)
        header["columns"] = [
            {"name": name, "type": dtype, "components": comps, "offset": off, "bytes": a.nbytes}
            for (name, dtype, comps, a), off in zip(arrays, offsets, strict=False)
        ]
        header["density"] = (
            {
                "offset": offsets[-1],
                "type": "uint32",
                "width": DENSITY_BINS,
                "height": DENSITY_BINS,
                "bytes": density.nbytes,
            }
            if density is not None
            else None
        )
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        if len(text) <= room:
            break
        room = _aligned(lead + len(text) + 64) - lead
    parts = [PAYLOAD_MAGIC, struct.pack("<I", room), text + b" " * (room - len(text))]
    at = lead + room
    for off, array in zip(offsets, data, strict=True):
        parts.append(b"\0" * (off - at))
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        parts.append(raw.tobytes())
        at = off + raw.nbytes
    return b"".join(parts)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def decode_payload(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and columns of a points payload (tests, benches, Python clients)."""
    if data[: len(PAYLOAD_MAGIC)] != PAYLOAD_MAGIC:
        raise ValueError("not a Loupe map payload")
    (length,) = struct.unpack_from("<I", data, len(PAYLOAD_MAGIC))
    start = len(PAYLOAD_MAGIC) + 4
    header = json.loads(data[start : start + length].decode("utf-8"))
    columns: dict[str, np.ndarray] = {}
    for column in header["columns"]:
        dtype = np.dtype(column["type"]).newbyteorder("<")
        array = np.frombuffer(data, dtype=dtype, count=column["bytes"] // dtype.itemsize,
                              offset=column["offset"])  # fmt: skip
        if column["components"] > 1:
            array = array.reshape(-1, column["components"])
        columns[column["name"]] = array
    density = header.get("density")
    if density:
        grid = np.frombuffer(
            data, dtype="<u4", count=density["width"] * density["height"], offset=density["offset"]
        )
        columns["density"] = grid.reshape(density["height"], density["width"])
    return header, columns
