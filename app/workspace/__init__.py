"""``open_workspace(settings)``: the only way in to the datasets.

Everything that reads a dataset — the server's lifespan, every ``loupe`` command, the benches
— opens it here, and gets the catalog with each dataset's hidden set already applied (or an
error: a hidden set that cannot be computed is never treated as empty), the text indexes and
vectors (opened lazily per dataset), the explorer and search by meaning, the review store and
the image service. One object owns the hidden positions (``catalog.hidden``); the explorer,
the text index's exclusions, the image service, embedding runs, exports and the map read it.

A rule wired into one entry point only is how a command once fetched the URLs of blocked
records; here there is no other entry point to forget it in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import faiss

from app.catalog.connection import CatalogConnection
from app.catalog.queries import Catalog
from app.config import Settings
from app.explore.datasets import DatasetHandle, DatasetProblem, first_line, survey
from app.explore.lab import Lab
from app.explore.pipeline import Presets, load_presets
from app.explore.semantic import SemanticSearch
from app.explore.service import Explorer
from app.images.service import ImageService
from app.review.store import ReviewStore
from app.vectors.models import Encoders
from app.vectors.queries import QueryEncoder
from app.vectors.saved import SavedVectors
from app.workspace.hiding import HiddenSync
from app.workspace.quarantine import quarantine_pending

log = logging.getLogger(__name__)


class WorkspaceError(RuntimeError):
    """A dataset cannot be opened; the message says which file is missing and how to make it."""


@dataclass
class Workspace:
    settings: Settings
    datasets: dict[str, DatasetHandle]
    catalog: Catalog
    explorer: Explorer
    semantic: SemanticSearch
    images: ImageService
    review: ReviewStore
    hiding: HiddenSync
    presets: Presets
    lab: Lab
    # Datasets found but not served (a damaged or half-written folder): name -> why.
    unavailable: dict[str, DatasetProblem] = field(default_factory=dict)

    def default_name(self) -> str:
        """The dataset a request that names none gets: LOUPE_DEFAULT_DATASET if it is
        served, else the first served one."""
        wanted = self.settings.default_dataset
        return wanted if wanted in self.datasets else next(iter(self.datasets))

    def dataset(self, name: str) -> DatasetHandle:
        handle = self.datasets.get(name)
        if handle is None:
            raise WorkspaceError(
                f"no dataset {name!r} in {self.settings.data_dir.resolve()} "
                f"(found: {', '.join(self.datasets) or 'none'})"
            )
        return handle

    def refresh_hidden(self) -> None:
        """Apply any flag or blocklist saved since (by any process); blocking."""
        if not self.hiding.is_current():
            self.hiding.refresh()

    def is_hidden(self, dataset: str, position: int) -> bool:
        """Whether a record is hidden now (the hidden set refreshed first): long-running
        commands ask before each fetch or decode."""
        self.refresh_hidden()
        return self.catalog.hidden.is_hidden(dataset, position)

    def visible_rows(
        self, dataset: str, positions: Sequence[int], columns: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows at ``positions`` (in that order), hidden ones left out, the set refreshed first."""
        self.refresh_hidden()
        return self.catalog.rows_by_positions(dataset, positions, columns)

    def close(self) -> None:
        self.review.close()
        self.semantic.encoder.close()
        self.images.close()
        self.catalog.connection.close()


def open_workspace(settings: Settings, *, names: Sequence[str] | None = None) -> Workspace:
    """Open the datasets of ``settings.data_dir`` (only ``names`` if given) with their hidden
    sets applied; raises WorkspaceError when one is missing, HiddenSet errors when a hidden
    set cannot be computed (nothing is then served from a partial set)."""
    datasets, unavailable = survey_datasets(settings, names)
    presets = load_presets(settings.lab_presets)  # a bad preset file stops start-up, named
    connection = CatalogConnection(timeout_s=settings.query_timeout_s, threads=os.cpu_count())
    catalog = Catalog(connection)
    review: ReviewStore | None = None
    images: ImageService | None = None
    try:
        for name, handle in list(datasets.items()):
            problem = open_dataset(catalog, handle)
            if problem is None:
                continue
            if names is not None:  # a command asked for this one: it cannot go on without it
                raise WorkspaceError(problem.message)
            log.warning("%s", problem.message)  # the others are still served
            del datasets[name]
            unavailable[name] = problem
        if not datasets:
            raise WorkspaceError(no_dataset_message(settings, unavailable))
        images = ImageService(settings, hidden=catalog.hidden)
        explorer = Explorer(
            catalog=catalog, settings=settings, link_ids=images.links.ids_with_status
        )
        # One query at a time gains little from a second OpenMP thread, and the hand-off
        # between threads cost more than it saved: /api/search/vector p50 ~8 -> ~6 ms on 2 cores.
        faiss.omp_set_num_threads(settings.search_threads)
        semantic = SemanticSearch(
            explorer,
            QueryEncoder(Encoders.from_settings(settings)),
            max_results=settings.max_knn_results,
            saved=SavedVectors(
                settings.state_dir / "query_vectors.sqlite3", settings.query_vector_ttl_s
            ),
        )
        review = ReviewStore.open(settings)
        hiding = HiddenSync(review, catalog, datasets)
        hiding.register(forget_hidden=images.forget_hidden, images=images)
        hiding.refresh()  # before anything is read: reads of an unknown set are refused
        for name, handle in datasets.items():
            # "Hide duplicates" knows each dataset's clusters from the first request.
            duplicates = handle.vectors().duplicates()
            if duplicates is not None:
                catalog.set_duplicates(name, duplicates.hidden_positions().tolist())
    except BaseException:
        if review is not None:
            review.close()
        if images is not None:
            images.close()
        connection.close()
        raise
    opened = Workspace(
        settings,
        datasets,
        catalog,
        explorer,
        semantic,
        images,
        review,
        hiding,
        presets,
        Lab(explorer),
        unavailable,
    )
    # Look-alikes of a suspected-CSAM flag confirmed just before a process died are searched
    # and hidden now (app.workspace.quarantine; failures are logged, never fatal).
    quarantine_pending(opened)
    return opened


@contextmanager
def workspace(settings: Settings, *, names: Sequence[str] | None = None) -> Iterator[Workspace]:
    """``open_workspace`` as a context manager (commands and benches)."""
    opened = open_workspace(settings, names=names)
    try:
        yield opened
    finally:
        opened.close()


def find_datasets(
    settings: Settings, names: Sequence[str] | None = None
) -> dict[str, DatasetHandle]:
    """The datasets to open, or a WorkspaceError saying what is missing and how to make it."""
    return survey_datasets(settings, names)[0]


def survey_datasets(
    settings: Settings, names: Sequence[str] | None = None
) -> tuple[dict[str, DatasetHandle], dict[str, DatasetProblem]]:
    """The complete dataset folders (only ``names`` if given) and the problems of those that
    cannot be served; a WorkspaceError when a named one, or every one, is not there."""
    datasets, problems = survey(settings.data_dir)
    if names is not None:
        for name in names:
            if name in problems:
                raise WorkspaceError(problems[name].message)
        missing = [name for name in names if name not in datasets]
        if missing:
            raise WorkspaceError(
                f"no dataset {missing[0]!r} in {settings.data_dir.resolve()}: build one with "
                "`loupe ingest` or `loupe demo`"
            )
        return {name: datasets[name] for name in names}, {}
    if not datasets:
        raise WorkspaceError(no_dataset_message(settings, problems))
    wanted = settings.default_dataset
    if wanted and wanted not in datasets and wanted not in problems:
        raise WorkspaceError(
            f"LOUPE_DEFAULT_DATASET={wanted!r} is not in "
            f"{settings.data_dir.resolve()} (found: {', '.join(datasets)})"
        )
    return datasets, problems


def no_dataset_message(settings: Settings, problems: dict[str, DatasetProblem]) -> str:
    if problems:
        return "no dataset can be served: " + "; ".join(p.message for p in problems.values())
    return (
        f"no dataset found in {settings.data_dir.resolve()}: build the demo with "
        "`loupe demo`, or ingest parquet files with `loupe ingest NAME FILE...` "
        "(or point LOUPE_DATA_DIR at a folder that holds datasets)"
    )


def open_dataset(catalog: Catalog, handle: DatasetHandle) -> DatasetProblem | None:
    """Attach one dataset and open what every request of it reads (the catalog, the row
    store, the caption index), so a damaged file is found now, named, and that dataset left
    out — not found by the first request that touches it. Vectors that cannot be loaded only
    turn search by meaning off (``VectorIndex.load`` notes why); a missing image store only
    turns pictures into placeholders: both are logged."""
    name, paths = handle.name, handle.paths
    rebuild = f"rebuild it with `loupe ingest {name} ...` (or `loupe demo --force`)"
    try:
        handle.text()  # first: nothing is attached yet if it fails
    except Exception as error:  # tantivy raises ValueError, a missing meta FileNotFoundError
        return DatasetProblem(
            name, paths.text_index, "the caption index is unreadable", rebuild, first_line(error)
        )
    try:
        catalog.attach(name, paths.catalog)
        missing = catalog.connection.missing_bytes(name, paths.catalog)
    except duckdb.Error as error:
        catalog.connection.detach(name)
        return DatasetProblem(name, paths.catalog, "unreadable", rebuild, first_line(error))
    except Exception as error:  # the row store: Arrow and numpy raise several types
        catalog.connection.detach(name)
        return DatasetProblem(name, paths.rows, "unreadable", rebuild, first_line(error))
    if missing:
        catalog.connection.detach(name)
        reason = f"cut short ({missing:,} bytes missing)"
        return DatasetProblem(name, paths.catalog, reason, rebuild)
    handle.vectors()  # never fails: kinds that cannot be loaded are logged and left out
    store = handle.manifest.image_store
    if store:
        location = Path(store.get("path", ""))
        location = location if location.is_absolute() else paths.root / location
        if not location.is_dir():
            log.warning(
                "dataset %r: its image store %s is missing; pictures show as placeholders "
                "until it is back (or `loupe ingest %s ... --images FOLDER` again)",
                name,
                location,
                name,
            )
    return None
