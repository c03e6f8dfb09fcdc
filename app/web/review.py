"""Reviewers' pages: flag a record, the review queue, decisions, the removal-list download.

Flagging works from a card (the card is replaced in place) and from the record page; both are
plain forms that also work without JavaScript (a 303 back to where the reviewer was). A
suspected-CSAM flag hides the record before the response is sent: the hidden sets are
refreshed in the same request, so the next page anyone loads no longer has it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.catalog.layout import DATASET_NAME
from app.explore.datasets import DatasetHandle
from app.explore.semantic import SemanticSearch
from app.review import exports
from app.review.db import CATEGORIES, STATUSES, Category, FlagStatus
from app.review.flags import (
    CATEGORY_LABELS,
    CSAM,
    MAX_NOTE_LENGTH,
    Flag,
    FlagBatch,
    FlagFilter,
    RecordRef,
)
from app.review.store import ReviewStore
from app.review.users import User
from app.web.deps import (
    AdminDep,
    DatasetDep,
    DatasetsDep,
    ReviewDep,
    ReviewerDep,
    SettingsDep,
    WorkspaceDep,
)
from app.web.errors import wants_json
from app.web.redirects import safe_next
from app.web.render import is_htmx, render

router = APIRouter(tags=["review"])

QUEUE_PAGE = 50
MAX_EXTRA_IDS = 1000  # near-duplicates named in one flag action


async def fresh_hidden_sets(request: Request) -> None:
    """App-wide dependency: apply any change to the hidden sets before the route runs.

    One SQLite read on the event loop when nothing changed; a flag or a blocklist import by
    another process (the CLI, another worker) is applied, off the loop, before this request
    is answered.
    """
    hiding = request.app.state.workspace.hiding
    if not hiding.is_current():
        await to_thread.run_sync(hiding.refresh)


def near_duplicate_ids(
    semantic: SemanticSearch, dataset: DatasetHandle, row: dict[str, Any], threshold: float
) -> list[str]:
    """Sample ids of the record's near-duplicates (image similarity >= ``threshold``): the
    same lookup as the record page's strip, so a reviewer flags what they saw."""
    return [r["sample_id"] for r in semantic.near_duplicates(dataset, row["pos"], threshold)]


def category_choices() -> list[tuple[str, str]]:
    return [(value, CATEGORY_LABELS[value]) for value in CATEGORIES]


def flag_context(request: Request, **extra: Any) -> dict[str, Any]:
    """What the flag form and the queue templates need besides their own data."""
    return {"categories": category_choices(), "csam": CSAM, **extra}


# --- flagging --------------------------------------------------------------------------------
@router.post("/review/flag", summary="Flag a record (and optionally its near-duplicates)")
async def flag_record(
    request: Request,
    dataset: DatasetDep,
    workspace: WorkspaceDep,
    user: ReviewerDep,
    sample_id: Annotated[str, Form(min_length=1, max_length=256)],
    category: Annotated[Category, Form()],
    note: Annotated[str, Form(max_length=MAX_NOTE_LENGTH)] = "",
    near_duplicates: Annotated[bool, Form()] = False,
    also: Annotated[list[str], Form(max_length=MAX_EXTRA_IDS)] = [],  # noqa: B006 - FastAPI copies
    context: Annotated[Literal["card", "record"], Form()] = "record",
    back: Annotated[str, Form(max_length=2000)] = "/",
):
    explorer, store = workspace.explorer, workspace.review
    row = await to_thread.run_sync(lambda: explorer.record(dataset, sample_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no record {sample_id!r} in {dataset.name}")

    def extra_rows() -> list[dict[str, Any]]:
        # Off the event loop: the near-duplicate lookup will search a vector index.
        ids = [i for i in also if i and i != sample_id]
        if near_duplicates:
            ids += near_duplicate_ids(
                workspace.semantic, dataset, row, workspace.settings.duplicate_threshold
            )
        # Hidden records are left out here, like everywhere else.
        return explorer.records(dataset, list(dict.fromkeys(ids))[:MAX_EXTRA_IDS])

    others = await to_thread.run_sync(extra_rows)
    refs = [
        RecordRef(str(r["sample_id"]), r.get("url"), r.get("url_sha256")) for r in [row, *others]
    ]

    def save() -> Any:
        batch = store.flags.flag(user, dataset.name, refs, category, note.strip())
        # Hidden before anyone is answered: this request's response and every later one.
        workspace.hiding.refresh()
        return batch

    batch = await to_thread.run_sync(save)
    hidden = category == CSAM
    if wants_json(request):
        return JSONResponse(
            {
                "created": batch.created,
                "batch": batch.batch,
                "flags": [flag.public() for flag in batch.flags],
            }
        )
    grid = f"/?ds={dataset.name}"
    if not is_htmx(request):
        return RedirectResponse(grid if hidden else safe_next(back), status_code=303)
    if context == "record" and hidden:
        # The page the reviewer is on no longer exists for anyone: go back to the grid.
        response = Response(status_code=204)
        response.headers["HX-Redirect"] = grid
        return response
    flags = (
        []
        if hidden
        else await to_thread.run_sync(lambda: store.flags.for_record(dataset.name, sample_id))
    )
    return render(
        request,
        "partials/_flag_result.html",
        flag_context(
            request,
            dataset=dataset,
            row=None if hidden else row,
            context=context,
            flagged=batch,
            hidden=hidden,
            record_flags=flags,
            card_notice=f"Flagged: {CATEGORY_LABELS[category]}",
            flag_message=flagged_message(batch, CATEGORY_LABELS[category]),
        ),
    )


def flagged_message(batch: FlagBatch, label: str) -> str:
    numbers = ", ".join(f"#{flag.id}" for flag in batch.flags)
    records = len(batch.flags)
    what = "this record" if records == 1 else f"{records} records"
    if batch.created == 0:
        return f"Already flagged as {label} ({numbers}): nothing changed."
    return f"Flagged {what} as {label} ({numbers}); it now waits for a second reviewer."


# --- the queue -------------------------------------------------------------------------------
def queue_filter(
    ds: str | None,
    category: str | None,
    status: str | None,
    reviewer: str | None,
    since: date | None,
    until: date | None,
) -> FlagFilter:
    if since and until and since > until:
        raise HTTPException(status_code=400, detail=f"since ({since}) is after until ({until})")
    return FlagFilter(
        dataset=ds, category=category, status=status, reviewer=reviewer, since=since, until=until
    )


def queue_data(
    store: ReviewStore, where: FlagFilter, page: int
) -> tuple[list[Flag], int, dict[str, dict[str, int]], list[str]]:
    flags = store.flags.queue(where, limit=QUEUE_PAGE, offset=(page - 1) * QUEUE_PAGE)
    total = store.flags.count(where)
    counts = store.flags.counts_by_category(where.dataset)
    reviewers = store.flags.reviewers(where.dataset)
    return flags, total, counts, reviewers


DatasetName = Annotated[
    str | None, Query(max_length=63, pattern=DATASET_NAME.pattern, description="Dataset name.")
]
CategoryQuery = Annotated[Category | None, Query(description="Flag category.")]
StatusQuery = Annotated[FlagStatus | None, Query(description="open, confirmed or dismissed.")]
ReviewerQuery = Annotated[
    str | None, Query(max_length=64, description="Who flagged or who decided.")
]
DayQuery = Annotated[date | None, Query(description="A UTC day, YYYY-MM-DD (inclusive).")]
PageQuery = Annotated[int, Query(ge=1, le=20_000)]


@router.get("/review", summary="The review queue: flags with filters, counts by category")
async def review_queue(
    request: Request,
    store: ReviewDep,
    datasets: DatasetsDep,
    settings: SettingsDep,
    user: ReviewerDep,
    ds: DatasetName = None,
    category: CategoryQuery = None,
    status: StatusQuery = None,
    reviewer: ReviewerQuery = None,
    since: DayQuery = None,
    until: DayQuery = None,
    page: PageQuery = 1,
):
    where = queue_filter(ds, category, status, reviewer, since, until)
    flags, total, counts, reviewers = await to_thread.run_sync(
        lambda: queue_data(store, where, page)
    )
    return render(
        request,
        "pages/review.html",
        flag_context(
            request,
            flags=flags,
            total=total,
            counts=counts,
            reviewers=reviewers,
            where=where,
            page=page,
            page_size=QUEUE_PAGE,
            statuses=STATUSES,
            served=datasets,
            # For the navigation and the removal-list links: the filtered dataset if served.
            dataset=datasets.get(ds or "")
            or datasets[settings.default_dataset or next(iter(datasets))],
        ),
    )


@router.get("/api/review/flags", tags=["api"], summary="JSON twin of /review")
async def review_queue_api(
    store: ReviewDep,
    user: ReviewerDep,
    ds: DatasetName = None,
    category: CategoryQuery = None,
    status: StatusQuery = None,
    reviewer: ReviewerQuery = None,
    since: DayQuery = None,
    until: DayQuery = None,
    page: PageQuery = 1,
) -> dict[str, Any]:
    where = queue_filter(ds, category, status, reviewer, since, until)
    flags, total, counts, _ = await to_thread.run_sync(lambda: queue_data(store, where, page))
    return {
        "total": total,
        "page": page,
        "page_size": QUEUE_PAGE,
        "counts": counts,
        "flags": [flag.public() for flag in flags],
    }


# --- decisions -------------------------------------------------------------------------------
FlagId = Path(..., ge=1, le=2**62, description="The flag's number.")
Decision = Literal["confirm", "dismiss", "reopen"]


async def _decide(
    request: Request,
    store: ReviewStore,
    user: User,
    flag_id: int,
    action: Decision,
    note: str,
    back: str,
):
    def run() -> Flag:
        if action == "confirm":
            return store.flags.confirm(flag_id, user, note.strip())
        if action == "dismiss":
            return store.flags.dismiss(flag_id, user, note.strip())
        return store.flags.reopen(flag_id, user, note.strip())

    flag = await to_thread.run_sync(run)
    if wants_json(request):
        return JSONResponse(flag.public())
    if is_htmx(request):
        return render(request, "partials/_flag_row.html", flag_context(request, flag=flag))
    return RedirectResponse(safe_next(back) if back.startswith("/review") else "/review", 303)


NoteForm = Annotated[str, Form(max_length=MAX_NOTE_LENGTH)]
BackForm = Annotated[str, Form(max_length=2000)]


@router.post("/review/flags/{flag_id}/confirm", summary="Confirm a flag (a second reviewer)")
async def confirm_flag(
    request: Request,
    store: ReviewDep,
    user: ReviewerDep,
    flag_id: int = FlagId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide(request, store, user, flag_id, "confirm", note, back)


@router.post("/review/flags/{flag_id}/dismiss", summary="Dismiss a flag (a second reviewer)")
async def dismiss_flag(
    request: Request,
    store: ReviewDep,
    user: ReviewerDep,
    flag_id: int = FlagId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide(request, store, user, flag_id, "dismiss", note, back)


@router.post("/review/flags/{flag_id}/reopen", summary="Re-open a decided flag (admins)")
async def reopen_flag(
    request: Request,
    store: ReviewDep,
    user: AdminDep,
    flag_id: int = FlagId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide(request, store, user, flag_id, "reopen", note, back)


# --- the removal list ------------------------------------------------------------------------
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv; charset=utf-8"}


@router.get(
    "/review/export",
    summary="Download the confirmed removal list of a dataset (parquet or CSV)",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["parquet"]: {}, "text/csv": {}}}},
)
async def export_removals(
    store: ReviewDep,
    settings: SettingsDep,
    datasets: DatasetsDep,
    user: ReviewerDep,
    ds: DatasetName = None,
    file_format: Annotated[Literal["parquet", "csv"], Query(alias="format")] = "csv",
) -> Response:
    name = ds or settings.default_dataset or next(iter(datasets))

    def build() -> bytes | None:
        if name not in datasets and name not in exports.datasets_with_flags(store.db):
            return None
        table = exports.removals_table(store.db, name, actor=user.name)
        return exports.to_bytes(table, file_format)

    content = await to_thread.run_sync(build)
    if content is None:
        raise HTTPException(status_code=404, detail=f"no dataset named {name!r}")
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}-removals.{file_format}"',
            "Cache-Control": "no-store",
        },
    )
