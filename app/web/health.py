"""`/healthz`: whether the server is up and serving, for container health checks and monitors.

Cheap on purpose (no query, no disk): it answers once the lifespan has opened the workspace,
and a monitor polling it every few seconds costs nothing measurable.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.web.deps import DatasetsDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    datasets: int


@router.get("/healthz", summary="Whether the server is up and serving its datasets")
async def healthz(datasets: DatasetsDep) -> Health:
    return Health(status="ok", datasets=len(datasets))
