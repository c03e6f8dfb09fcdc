"""`/lab`: the threshold lab (and its JSON twin `/api/lab`, and the lazily loaded words).

Every lab state is a URL: the thresholds are the grid's own filter parameters
(``similarity_min``, ``punsafe_max``, ... , ``lang``), compare mode adds the same thresholds
prefixed ``b_``, ``focus`` names the slider last moved (whose boundary the strips show), and
``present=1`` is presentation mode for projectors.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import APIRouter, Query, Request

from app.catalog.filters import RecordFilter
from app.explore.datasets import DatasetHandle
from app.explore.lab import LAB_THRESHOLDS, Comparison, LabResult, sliders
from app.explore.verdicts import dataset_languages
from app.web.deps import DatasetDep, FilterDep, WorkspaceDep
from app.web.render import render
from app.workspace import Workspace

router = APIRouter(tags=["lab"])

Focus = Literal[
    "min_width", "min_height", "similarity_min", "punsafe_max", "pwatermark_max", "aesthetic_min"
]


def _b_filter(request: Request, a: RecordFilter) -> RecordFilter | None:
    """Compare mode's thresholds B: A's, with every ``b_<threshold>`` given replacing A's."""
    given = {
        name: request.query_params[f"b_{name}"]
        for name in LAB_THRESHOLDS
        if request.query_params.get(f"b_{name}", "").strip()
    }
    if not given:
        return None
    return a.model_copy(update=RecordFilter(**given).model_dump(include=set(given)))


def lab_state(
    workspace: Workspace,
    dataset: DatasetHandle,
    thresholds: RecordFilter,
    b: RecordFilter | None,
    focus: str | None,
    seed: int,
) -> tuple[LabResult, Comparison | None]:
    lab = workspace.lab
    result = lab.run(dataset, thresholds, focus=focus)
    comparison = lab.compare(dataset, thresholds, b, seed=seed) if b is not None else None
    return result, comparison


def grid_links(
    dataset: DatasetHandle, thresholds: RecordFilter, b: RecordFilter | None
) -> dict[str, str]:
    """The "open in the grid" links for the kept, dropped and leaving sets (export, review
    and search then apply to them)."""
    base = [("ds", dataset.name)]
    links = {"kept": "/?" + urlencode([*base, *thresholds.query_items()])}
    if thresholds.query_items():  # with no threshold nothing is dropped
        links["dropped"] = "/?" + urlencode([*base, ("dropped_by", thresholds.thresholds_query())])
    if b is not None:
        links["leaving"] = "/?" + urlencode(
            [*base, *thresholds.query_items(), ("dropped_by", b.thresholds_query())]
        )
    return links


async def _answer(
    request: Request,
    workspace: Workspace,
    dataset: DatasetHandle,
    record_filter: RecordFilter,
    focus: str | None,
    seed: int,
) -> dict[str, Any]:
    thresholds = record_filter.thresholds()
    b = _b_filter(request, thresholds)
    result, comparison = await to_thread.run_sync(
        lambda: lab_state(workspace, dataset, thresholds, b, focus, seed)
    )
    return {
        "thresholds": thresholds,
        "b": b,
        "result": result,
        "comparison": comparison,
        "links": grid_links(dataset, thresholds, b),
    }


SeedParam = Annotated[int, Query(ge=0, le=2**31 - 1, description="Seed of compare mode's sample.")]
FocusParam = Annotated[
    Focus | None, Query(description="The threshold last moved: its boundary strips are shown.")
]


@router.get("/lab", summary="The threshold lab: what LAION's model thresholds keep and drop")
async def lab_page(
    request: Request,
    dataset: DatasetDep,
    workspace: WorkspaceDep,
    record_filter: FilterDep,
    focus: FocusParam = None,
    seed: SeedParam = 1,
    present: Annotated[bool, Query(description="Presentation mode for projectors.")] = False,
):
    answer = await _answer(request, workspace, dataset, record_filter, focus, seed)
    languages = await to_thread.run_sync(lambda: dataset_languages(workspace.explorer, dataset))
    return render(
        request,
        "pages/lab.html",
        {
            "dataset": dataset,
            "sliders": sliders(dataset),
            "presets": workspace.presets.items,
            "languages": languages,
            "present": present,
            "focus": answer["result"].focus,
            "seed": seed,
            **answer,
        },
        partial="partials/_lab_results.html",
    )


@router.get("/lab/words", summary="The caption words a threshold's drops over-represent (partial)")
async def lab_words(
    request: Request, dataset: DatasetDep, workspace: WorkspaceDep, record_filter: FilterDep
):
    thresholds = record_filter.thresholds()
    words, approximate = await to_thread.run_sync(lambda: workspace.lab.words(dataset, thresholds))
    return render(
        request,
        "partials/_lab_words.html",
        {
            "dataset": dataset,
            "words": words,
            "approximate": approximate,
            "dropped_by": thresholds.thresholds_query(),
        },
    )


@router.get("/api/lab", tags=["api"], summary="JSON twin of /lab, with the same parameters")
async def lab_api(
    request: Request,
    dataset: DatasetDep,
    workspace: WorkspaceDep,
    record_filter: FilterDep,
    focus: FocusParam = None,
    seed: SeedParam = 1,
    words: Annotated[bool, Query(description="Also the over-represented caption words.")] = False,
) -> dict[str, Any]:
    answer = await _answer(request, workspace, dataset, record_filter, focus, seed)
    result: LabResult = answer["result"]
    body: dict[str, Any] = {
        "dataset": dataset.name,
        "thresholds": dict(answer["thresholds"].query_items()),
        "total": result.total,
        "kept": result.kept.count,
        "dropped": result.dropped.count,
        "kept_share": result.kept.share,
        "dropped_share": result.dropped.share,
        "composition": {
            column: [asdict(shift) for shift in shifts]
            for column, shifts in result.composition.items()
        },
        "composition_approximate": result.composition_approximate,
        "distributions": [asdict(d) for d in result.distributions],
        "focus": result.focus,
        "just_kept": [row["sample_id"] for row in result.just_kept],
        "just_dropped": [row["sample_id"] for row in result.just_dropped],
        "grid": answer["links"],
    }
    comparison: Comparison | None = answer["comparison"]
    if comparison is not None:
        body["compare"] = {
            "b": dict(answer["b"].query_items()),
            "leaving": comparison.leaving,
            "entering": comparison.entering,
            "sample": [row["sample_id"] for row in comparison.sample],
            "sample_approximate": comparison.sample_approximate,
            "losses": {
                column: [
                    {"value": x.value, "before": x.before, "leaving": x.leaving, "share": x.share}
                    for x in losses
                ]
                for column, losses in comparison.losses.items()
            },
            "losses_approximate": comparison.losses_approximate,
        }
    if words:
        found, approximate = await to_thread.run_sync(
            lambda: workspace.lab.words(dataset, answer["thresholds"])
        )
        body["words"] = [asdict(w) for w in found]
        body["words_approximate"] = approximate
    return body
