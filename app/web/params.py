"""Query parameters shared by the grid and its JSON twin (besides the filters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Query

from app.web.deps import SettingsDep

SortParam = Literal[
    "relevance", "similarity", "aesthetic", "punsafe", "pwatermark", "size", "random"
]


@dataclass
class PageParams:
    sort: str
    page: int
    size: int
    after: int | None
    seed: int

    @property
    def offset(self) -> int:
        return 0 if self.after is not None else (self.page - 1) * self.size


async def page_params(
    settings: SettingsDep,
    sort: Annotated[
        SortParam | None,
        Query(
            description="relevance (when searching), similarity, aesthetic, punsafe, "
            "pwatermark, size, or random (a seeded sample)"
        ),
    ] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int | None, Query(ge=1, description="Records per page (capped).")] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Keyset cursor: continue after this position.")
    ] = None,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="Seed of the random sample.")] = 1,
) -> PageParams:
    size = size or settings.page_size
    if size > settings.max_page_size:
        raise HTTPException(
            status_code=400,
            detail=f"size is at most {settings.max_page_size} records per page (got {size})",
        )
    params = PageParams(sort=sort or "", page=page, size=size, after=after, seed=seed)
    if params.offset > settings.max_offset:
        raise HTTPException(
            status_code=400,
            detail=f"page {page} is deeper than {settings.max_offset:,} records; narrow the "
            "filters, or follow the 'next page' links, which have no depth limit",
        )
    return params


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass
class SearchParams:
    mode: str
    like: str | None
    space: str
    vec: str | None = None  # a kept query embedding (an uploaded picture's)

    @property
    def by_meaning(self) -> bool:
        """Whether the answer is a nearest-neighbour ranking (not a filtered, counted set)."""
        return self.like is not None or self.vec is not None or self.mode == "meaning"


async def search_params(
    mode: Annotated[
        Literal["text", "meaning"],
        Query(
            description="text: caption words (BM25); meaning: nearest neighbours of the "
            "query's embedding"
        ),
    ] = "text",
    like: Annotated[
        str | None,
        Query(max_length=200, description="Sample id: show the records most like this one."),
    ] = None,
    space: Annotated[
        Literal["auto", "captions", "images"],
        Query(
            description="Which embeddings a meaning search compares with: caption "
            "embeddings, image embeddings (needs real CLIP weights), or auto."
        ),
    ] = "auto",
    vec: Annotated[
        str | None,
        Query(
            pattern="^[0-9a-f]{16}$",
            description="Id of a kept query embedding: the search by an uploaded picture "
            "(POST /search/image redirects to it).",
        ),
    ] = None,
) -> SearchParams:
    return SearchParams(mode=mode, like=like, space=space, vec=vec)


SearchDep = Annotated[SearchParams, Depends(search_params)]
