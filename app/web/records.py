"""`/records/{sample_id}`: one record beside its provenance."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Path, Request

from app.catalog.schema import COLUMNS
from app.explore.verdicts import dataset_languages, record_verdicts
from app.web.deps import DatasetDep, ExplorerDep, ReviewDep, SettingsDep, UserDep, WorkspaceDep
from app.web.render import render

router = APIRouter(tags=["pages"])

SampleId = Path(..., max_length=200, description="The record's sample id in its dataset.")


@router.get("/records/{sample_id}", summary="One record with its image, provenance and scores")
async def record_page(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    review: ReviewDep,
    user: UserDep,
    workspace: WorkspaceDep,
    settings: SettingsDep,
    sample_id: str = SampleId,
):
    row = await to_thread.run_sync(lambda: explorer.record(dataset, sample_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no record {sample_id!r} in {dataset.name}")
    verdicts = await to_thread.run_sync(
        lambda: record_verdicts(
            explorer, dataset, row, workspace.presets, settings.punsafe_threshold
        )
    )
    languages = await to_thread.run_sync(lambda: dataset_languages(explorer, dataset))
    record_flags = []
    if user is not None and user.has_role("reviewer"):
        record_flags = await to_thread.run_sync(
            lambda: review.flags.for_record(dataset.name, row["sample_id"])
        )
    known = {c.name for c in COLUMNS}
    extras = {k: v for k, v in row.items() if k not in known and not k.endswith("_bin")}
    return render(
        request,
        "pages/record.html",
        {
            "dataset": dataset,
            "row": row,
            "extras": extras,
            "verdicts": verdicts,
            "languages": languages,
            "nsfw_tag": next(c for c in COLUMNS if c.name == "nsfw"),
            "raw": {k: v for k, v in row.items() if not k.endswith("_bin")},
            "record_flags": record_flags,
        },
    )
