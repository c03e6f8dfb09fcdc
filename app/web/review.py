"""Reviewers' pages: flag a record, the review queue, decisions, the removal-list download,
and for admins the quarantine and the stored URL a report needs.

Flagging works from a card (the card is replaced in place) and from the record page; both are
plain forms that also work without JavaScript (a 303 back to where the reviewer was). A
suspected-CSAM flag hides the record before the response is sent: the hidden sets are
refreshed in the same request, so the next page anyone loads no longer has it. The reviewer is
then told so, what happens next and where to report (app/review/notice.py): in place of the card,
on ``/review/flagged`` after a record-page flag, and in the JSON answer.

Confirming a suspected-CSAM flag quarantines its look-alikes (app/workspace/quarantine.py)
before the answer is sent.

The queue lists a batch (a record and its near-duplicates, flagged in one action) as one item
that a second reviewer confirms or dismisses at once; it shows each record's caption and
thumbnail (blurred by the usual rule) except for suspected CSAM, which is never looked up.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from anyio import to_thread
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.catalog.layout import DATASET_NAME
from app.explore.datasets import DatasetHandle
from app.explore.semantic import SemanticSearch
from app.explore.service import bound_captions
from app.review import exports, notice
from app.review.db import CATEGORIES, STATUSES, Category, FlagStatus
from app.review.flags import (
    BATCH_ID,
    CATEGORY_LABELS,
    CSAM,
    MAX_NOTE_LENGTH,
    Flag,
    FlagBatch,
    FlagFilter,
    QueueItem,
    RecordRef,
)
from app.review.quarantine import MIN_RELEASE_REASON, Quarantined
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
from app.web.schemas import FlagQueue
from app.workspace import Workspace
from app.workspace.quarantine import QuarantineResult, after_decision

router = APIRouter(tags=["review"])

QUEUE_PAGE = 50
MAX_EXTRA_IDS = 1000  # near-duplicates named in one flag action
# Ids a flag form may name itself: a form holds at most 1,000 fields in all (Starlette's
# parser), and the form's other fields count too; more was a 400 the schema did not admit.
MAX_FORM_IDS = 900


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
    return {"categories": category_choices(), "csam": CSAM, "statuses": STATUSES, **extra}


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
    also: Annotated[list[str], Form(max_length=MAX_FORM_IDS)] = [],  # noqa: B006 - FastAPI copies
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
    flag_ids = [flag.id for flag in batch.flags]
    if wants_json(request):
        answer: dict[str, Any] = {
            "created": batch.created,
            "batch": batch.batch,
            "flags": [flag.public() for flag in batch.flags],
            "hidden": hidden,
        }
        if hidden:
            answer["notice"] = notice.csam_notice(flag_ids)
        return JSONResponse(answer)
    told = notice_url(dataset.name, flag_ids)
    if not is_htmx(request):
        return RedirectResponse(told if hidden else safe_next(back), status_code=303)
    if context == "record" and hidden:
        # The page the reviewer is on no longer exists for anyone: say what happened instead.
        response = Response(status_code=204)
        response.headers["HX-Redirect"] = told
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
            notice=notice,
            notice_url=told,
        ),
    )


MAX_NOTICE_FLAGS = 50  # flags named on one notice page (a record and its near-duplicates)


def notice_url(dataset: str, flag_ids: list[int]) -> str:
    """The page that tells a reviewer what a suspected-CSAM flag did (``/review/flagged``)."""
    flags = "".join(f"&flag={i}" for i in flag_ids[:MAX_NOTICE_FLAGS])
    return f"/review/flagged?ds={dataset}{flags}"


@router.get("/review/flagged", summary="What a suspected-CSAM flag did, and how to report it")
async def flagged_notice(
    request: Request,
    store: ReviewDep,
    datasets: DatasetsDep,
    user: ReviewerDep,
    flag: Annotated[list[int], Query(min_length=1, max_length=MAX_NOTICE_FLAGS)],
    ds: Annotated[
        str | None, Query(max_length=63, pattern=DATASET_NAME.pattern, description="Dataset name.")
    ] = None,
):
    """Where a reviewer lands after flagging a record as suspected CSAM from its record page
    (the record page no longer exists for anyone). Names the flags by id and sample id only."""
    flags = await to_thread.run_sync(lambda: [store.flags.get(i) for i in flag])
    flags = [f for f in flags if f.category == CSAM]
    if not flags:
        raise HTTPException(status_code=404, detail="no suspected-CSAM flag with these ids")
    if wants_json(request):
        return JSONResponse(notice.csam_notice([f.id for f in flags]))
    context: dict[str, Any] = {"flags": flags, "notice": notice}
    if ds in datasets:
        context["dataset"] = datasets[ds]
    return render(request, "pages/flagged.html", context)


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
    batch: str | None = None,
) -> FlagFilter:
    if since and until and since > until:
        raise HTTPException(status_code=400, detail=f"since ({since}) is after until ({until})")
    return FlagFilter(
        dataset=ds,
        category=category,
        status=status,
        reviewer=reviewer,
        since=since,
        until=until,
        batch=batch,
    )


def queue_data(store: ReviewStore, where: FlagFilter, page: int) -> dict[str, Any]:
    """One page of the queue: its items (a batch is one item; filtered by ``batch``, its flags
    one by one), the flags and items matching, the counts by category, the reviewers."""
    grouped = where.batch is None
    offset = (page - 1) * QUEUE_PAGE
    return {
        "items": store.flags.queue_items(where, limit=QUEUE_PAGE, offset=offset, grouped=grouped),
        "total": store.flags.count(where),
        "items_total": store.flags.count_items(where, grouped=grouped),
        "counts": store.flags.counts_by_category(where.dataset),
        "reviewers": store.flags.reviewers(where.dataset),
    }


def listed_flags(items: list[QueueItem]) -> list[Flag]:
    return [flag for item in items for flag in item.flags]


def quarantine_counts(store: ReviewStore, flags: list[Flag]) -> dict[int, int]:
    """{flag id: look-alikes it keeps quarantined} for the confirmed suspected-CSAM flags."""
    ids = [f.id for f in flags if f.category == CSAM and f.status == "confirmed"]
    return store.quarantine.counts_by_flag(ids)


def item_quarantined(items: list[QueueItem], per_flag: dict[int, int]) -> dict[str, int]:
    """{item key: look-alikes its confirmed flags keep quarantined} (a batch: the sum)."""
    return {
        item.key: sum(per_flag.get(flag.id, 0) for flag in item.flags)
        for item in items
        if any(flag.id in per_flag for flag in item.flags)
    }


def previews(workspace: Workspace, items: list[QueueItem]) -> dict[str, dict[str, Any]]:
    """{item key: what the queue shows of its (lead) record}: the caption, cut as in lists,
    the thumbnail's URL and punsafe, read through the explorer.

    Suspected-CSAM items are never looked up: no caption or picture of theirs is read, let
    alone sent. A record hidden otherwise (a blocklist, the quarantine, another flag), filtered
    out by classroom mode, or of a dataset this server does not serve has no preview either:
    the explorer leaves it out.
    """
    wanted: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        if not item.hides_records:
            wanted.setdefault(item.lead.dataset, []).append((item.key, item.lead.sample_id))
    found: dict[str, dict[str, Any]] = {}
    threshold = workspace.settings.punsafe_threshold
    for name, pairs in wanted.items():
        handle = workspace.datasets.get(name)
        if handle is None:
            continue
        rows = bound_captions(workspace.explorer.records(handle, [sid for _, sid in pairs]))
        by_id = {str(row["sample_id"]): row for row in rows}
        for key, sample_id in pairs:
            row = by_id.get(sample_id)
            if row is None:
                continue
            punsafe = row.get("punsafe")
            found[key] = {
                "sample_id": sample_id,
                "caption": row.get("caption"),
                "caption_truncated": bool(row.get("caption_truncated")),
                "thumbnail": f"/images/{quote(sample_id, safe='')}/thumb?ds={name}",
                "record": f"/records/{quote(sample_id, safe='')}?ds={name}",
                "punsafe": punsafe,
                # The usual rule: above the threshold, blurred until a person reveals it.
                "unsafe": punsafe is not None and punsafe > threshold,
            }
    return found


def queue_view(workspace: Workspace, where: FlagFilter, page: int) -> dict[str, Any]:
    """Everything the queue page and its JSON twin show, read off the event loop."""
    store = workspace.review
    data = queue_data(store, where, page)
    flags = listed_flags(data["items"])
    data["flags"] = flags
    data["quarantined"] = quarantine_counts(store, flags)
    data["item_quarantined"] = item_quarantined(data["items"], data["quarantined"])
    data["previews"] = previews(workspace, data["items"])
    return data


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
BatchQuery = Annotated[
    str | None,
    Query(
        pattern=BATCH_ID.pattern,
        description="One batch's flags, listed one by one (32 hex digits).",
    ),
]


@router.get("/review", summary="The review queue: flags with filters, counts by category")
async def review_queue(
    request: Request,
    workspace: WorkspaceDep,
    datasets: DatasetsDep,
    settings: SettingsDep,
    user: ReviewerDep,
    ds: DatasetName = None,
    category: CategoryQuery = None,
    status: StatusQuery = None,
    reviewer: ReviewerQuery = None,
    since: DayQuery = None,
    until: DayQuery = None,
    batch: BatchQuery = None,
    page: PageQuery = 1,
):
    store = workspace.review
    where = queue_filter(ds, category, status, reviewer, since, until, batch)
    data = await to_thread.run_sync(lambda: queue_view(workspace, where, page))
    quarantine_total = (
        await to_thread.run_sync(lambda: store.quarantine.count(live=True))
        if user.has_role("admin")
        else 0
    )
    return render(
        request,
        "pages/review.html",
        flag_context(
            request,
            **data,
            where=where,
            page=page,
            page_size=QUEUE_PAGE,
            served=datasets,
            quarantine_total=quarantine_total,
            # For the navigation and the removal-list links: the filtered dataset if served.
            dataset=datasets.get(ds or "")
            or datasets.get(settings.default_dataset or "")
            or next(iter(datasets.values())),
        ),
    )


def item_json(item: QueueItem, data: dict[str, Any]) -> dict[str, Any]:
    answer = item.public()
    answer["record"] = data["previews"].get(item.key)
    if item.key in data["item_quarantined"]:
        answer["quarantined"] = data["item_quarantined"][item.key]
    return answer


@router.get(
    "/api/review/flags", tags=["api"], summary="JSON twin of /review", response_model=FlagQueue
)
async def review_queue_api(
    workspace: WorkspaceDep,
    user: ReviewerDep,
    ds: DatasetName = None,
    category: CategoryQuery = None,
    status: StatusQuery = None,
    reviewer: ReviewerQuery = None,
    since: DayQuery = None,
    until: DayQuery = None,
    batch: BatchQuery = None,
    page: PageQuery = 1,
) -> dict[str, Any]:
    """A page of queue items (a batch is one item, ``page_size`` items a page) and, in
    ``flags``, every flag they list; ``total`` counts flags, ``items_total`` items."""
    where = queue_filter(ds, category, status, reviewer, since, until, batch)
    data = await to_thread.run_sync(lambda: queue_view(workspace, where, page))
    quarantined = data["quarantined"]
    return {
        "total": data["total"],
        "items_total": data["items_total"],
        "page": page,
        "page_size": QUEUE_PAGE,
        "counts": data["counts"],
        "items": [item_json(item, data) for item in data["items"]],
        "flags": [
            {**flag.public(), "quarantined": quarantined[flag.id]}
            if flag.id in quarantined
            else flag.public()
            for flag in data["flags"]
        ],
    }


# --- decisions -------------------------------------------------------------------------------
FlagId = Path(..., ge=1, le=2**62, description="The flag's number.")
BatchId = Path(
    ...,
    pattern=BATCH_ID.pattern,
    description="The batch's name (32 hex digits): a record and its near-duplicates.",
)
Decision = Literal["confirm", "dismiss", "reopen"]


def back_to_queue(back: str) -> str:
    """Where a decision made without JavaScript goes back to: the queue page it came from."""
    return safe_next(back) if back.startswith("/review") else "/review"


def counts_dataset(back: str) -> str | None:
    """The dataset the queue page's counts panel is about (its ``ds``), read from ``back``."""
    names = parse_qs(urlsplit(back).query).get("ds", [])
    name = names[0] if names else ""
    return name if DATASET_NAME.fullmatch(name) else None


def quarantine_json(result: QuarantineResult) -> dict[str, Any]:
    return {"found": result.found, "added": len(result.added), "methods": result.methods}


async def decided_row(
    request: Request, workspace: Workspace, item: QueueItem, back: str
) -> Response:
    """The htmx answer to a decision: the item's row as it is now, and the page's counts panel
    out of band (``hx-swap-oob``), so the counts follow the decision without a reload."""
    store = workspace.review
    back = back_to_queue(back)

    def read() -> dict[str, Any]:
        per_flag = quarantine_counts(store, item.flags)
        return {
            "quarantined": per_flag,
            "item_quarantined": item_quarantined([item], per_flag),
            "previews": previews(workspace, [item]),
            "counts": store.flags.counts_by_category(counts_dataset(back)),
            "counts_ds": counts_dataset(back),
        }

    data = await to_thread.run_sync(read)
    return render(
        request,
        "partials/_flag_decided.html",
        flag_context(request, item=item, back_url=back, **data),
    )


async def _decide(
    request: Request,
    workspace: Workspace,
    user: User,
    flag_id: int,
    action: Decision,
    note: str,
    back: str,
):
    store = workspace.review

    def run() -> tuple[Flag, QuarantineResult | None]:
        if action == "confirm":
            flag = store.flags.confirm(flag_id, user, note.strip())
        elif action == "dismiss":
            flag = store.flags.dismiss(flag_id, user, note.strip())
        else:
            flag = store.flags.reopen(flag_id, user, note.strip())
        # A confirmed suspected-CSAM flag hides its look-alikes before anyone is answered.
        return flag, after_decision(workspace, flag, actor=user.name)

    flag, quarantine = await to_thread.run_sync(run)
    if wants_json(request):
        answer = flag.public()
        if quarantine is not None:
            answer["quarantine"] = quarantine_json(quarantine)
        return JSONResponse(answer)
    if is_htmx(request):
        return await decided_row(request, workspace, QueueItem.single(flag), back)
    return RedirectResponse(back_to_queue(back), 303)


NoteForm = Annotated[str, Form(max_length=MAX_NOTE_LENGTH)]
BackForm = Annotated[str, Form(max_length=2000)]


@router.post("/review/flags/{flag_id}/confirm", summary="Confirm a flag (a second reviewer)")
async def confirm_flag(
    request: Request,
    workspace: WorkspaceDep,
    user: ReviewerDep,
    flag_id: int = FlagId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide(request, workspace, user, flag_id, "confirm", note, back)


@router.post("/review/flags/{flag_id}/dismiss", summary="Dismiss a flag (a second reviewer)")
async def dismiss_flag(
    request: Request,
    workspace: WorkspaceDep,
    user: ReviewerDep,
    flag_id: int = FlagId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide(request, workspace, user, flag_id, "dismiss", note, back)


@router.post("/review/flags/{flag_id}/reopen", summary="Re-open a decided flag (admins)")
async def reopen_flag(
    request: Request,
    workspace: WorkspaceDep,
    user: AdminDep,
    flag_id: int = FlagId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide(request, workspace, user, flag_id, "reopen", note, back)


async def _decide_batch(
    request: Request,
    workspace: Workspace,
    user: User,
    batch: str,
    decision: Literal["confirmed", "dismissed"],
    note: str,
    back: str,
):
    store = workspace.review

    def run() -> tuple[list[Flag], list[tuple[int, QuarantineResult]], QueueItem]:
        decided = store.flags.decide_batch(batch, user, decision, note.strip())
        # Each confirmed suspected-CSAM flag hides its look-alikes before anyone is answered.
        found = [(flag.id, after_decision(workspace, flag, actor=user.name)) for flag in decided]
        (item,) = store.flags.queue_items(FlagFilter(batch=batch), limit=1)
        return decided, [(i, q) for i, q in found if q is not None], item

    decided, quarantines, item = await to_thread.run_sync(run)
    if wants_json(request):
        answer: dict[str, Any] = {
            "batch": batch,
            "decided": [flag.public() for flag in decided],
        }
        if quarantines:
            answer["quarantine"] = [{"flag": i, **quarantine_json(q)} for i, q in quarantines]
        return JSONResponse(answer)
    if is_htmx(request):
        return await decided_row(request, workspace, item, back)
    return RedirectResponse(back_to_queue(back), 303)


@router.post(
    "/review/batches/{batch}/confirm",
    summary="Confirm every open flag of a batch at once (a second reviewer)",
)
async def confirm_batch(
    request: Request,
    workspace: WorkspaceDep,
    user: ReviewerDep,
    batch: str = BatchId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide_batch(request, workspace, user, batch, "confirmed", note, back)


@router.post(
    "/review/batches/{batch}/dismiss",
    summary="Dismiss every open flag of a batch at once (a second reviewer)",
)
async def dismiss_batch(
    request: Request,
    workspace: WorkspaceDep,
    user: ReviewerDep,
    batch: str = BatchId,
    note: NoteForm = "",
    back: BackForm = "/review",
):
    return await _decide_batch(request, workspace, user, batch, "dismissed", note, back)


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


# --- the quarantine (admins) -----------------------------------------------------------------
QUARANTINE_PAGE = 100
QuarantineState = Literal["live", "released", "all"]
STATE_FILTER: dict[str, bool | None] = {"live": True, "released": False, "all": None}


def quarantine_data(
    store: ReviewStore, ds: str | None, state: str, flag: int | None, page: int
) -> dict[str, Any]:
    live = STATE_FILTER[state]
    entries = store.quarantine.entries(
        dataset=ds,
        live=live,
        source_flag=flag,
        limit=QUARANTINE_PAGE,
        offset=(page - 1) * QUARANTINE_PAGE,
    )
    total = store.quarantine.count(dataset=ds, live=live, source_flag=flag)
    return {"entries": entries, "total": total, "pending": store.quarantine.pending()}


QuarantineFlag = Annotated[int | None, Query(ge=1, le=2**62, description="Source flag.")]


@router.get("/review/quarantine", summary="Records quarantined as look-alikes (admins)")
async def quarantine_page(
    request: Request,
    store: ReviewDep,
    datasets: DatasetsDep,
    settings: SettingsDep,
    user: AdminDep,
    ds: DatasetName = None,
    state: Annotated[QuarantineState, Query(description="live, released or all.")] = "live",
    flag: QuarantineFlag = None,
    page: PageQuery = 1,
    released: Annotated[str | None, Query(max_length=300, include_in_schema=False)] = None,
):
    data = await to_thread.run_sync(lambda: quarantine_data(store, ds, state, flag, page))
    return render(
        request,
        "pages/quarantine.html",
        {
            **data,
            "served": datasets,
            "ds": ds,
            "state": state,
            "flag_id": flag,
            "page": page,
            "page_size": QUARANTINE_PAGE,
            "similarity": settings.quarantine_similarity,
            "min_reason": MIN_RELEASE_REASON,
            "released_message": (f"Released {released}." if released else None),
        },
    )


@router.get("/api/review/quarantine", tags=["api"], summary="JSON twin of /review/quarantine")
async def quarantine_api(
    store: ReviewDep,
    user: AdminDep,
    ds: DatasetName = None,
    state: Annotated[QuarantineState, Query(description="live, released or all.")] = "live",
    flag: QuarantineFlag = None,
    page: PageQuery = 1,
) -> dict[str, Any]:
    data = await to_thread.run_sync(lambda: quarantine_data(store, ds, state, flag, page))
    return {
        "total": data["total"],
        "page": page,
        "page_size": QUARANTINE_PAGE,
        "pending_flags": [f.id for f in data["pending"]],
        "records": [q.public() for q in data["entries"]],
    }


@router.post("/review/quarantine/release", summary="Release one quarantined record (admins)")
async def release_quarantined(
    request: Request,
    workspace: WorkspaceDep,
    user: AdminDep,
    ds: Annotated[str, Form(max_length=63, pattern=DATASET_NAME.pattern)],
    sample_id: Annotated[str, Form(min_length=1, max_length=256)],
    reason: Annotated[str, Form(max_length=MAX_NOTE_LENGTH)],
    back: BackForm = "/review/quarantine",
):
    def run() -> list[Quarantined]:
        rows = workspace.review.quarantine.release(ds, sample_id, user, reason)
        workspace.hiding.refresh()  # shown again from this answer on, unless hidden otherwise
        return rows

    rows = await to_thread.run_sync(run)
    if wants_json(request):
        return JSONResponse({"released": [row.public() for row in rows]})
    target = safe_next(back) if back.startswith("/review/quarantine") else "/review/quarantine"
    separator = "&" if "?" in target else "?"
    said = urlencode({"released": f"{ds}/{sample_id}"})
    return RedirectResponse(f"{target}{separator}{said}", status_code=303)


# --- the stored URL for a report (admins) ----------------------------------------------------
@router.get(
    "/review/flags/{flag_id}/report",
    summary="The stored URL of a flagged record, for a report to a hotline (admins)",
)
async def report_url_page(
    request: Request, store: ReviewDep, user: AdminDep, flag_id: int = FlagId
):
    """Shows the flag and a button; the URL itself only after a POST, which is logged."""
    flag = await to_thread.run_sync(lambda: store.flags.get(flag_id))
    response = render(
        request, "pages/report_url.html", {"flag": flag, "url": None, "notice": notice}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/review/flags/{flag_id}/report", summary="Read the stored URL (admins; logged)")
async def report_url(request: Request, store: ReviewDep, user: AdminDep, flag_id: int = FlagId):
    """The URL as text (never a link or an image), no-store; each viewing writes an audit row
    naming the admin, the flag, its dataset and its record, never the URL."""

    def read() -> tuple[Flag, str]:
        url = store.flags.url_for_report(flag_id, user)
        return store.flags.get(flag_id), url or ""

    flag, url = await to_thread.run_sync(read)
    response = render(
        request, "pages/report_url.html", {"flag": flag, "url": url, "notice": notice}
    )
    response.headers["Cache-Control"] = "no-store"
    return response
