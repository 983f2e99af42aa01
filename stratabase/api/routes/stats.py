"""Platform statistics: how big the community is, read through the cache."""

from __future__ import annotations

from pydantic import BaseModel, Field

from stratabase.api.deps import CacheDep, DatabaseDep
from stratabase.api.routes._router import public_router
from stratabase.content.platform import platform_stats

router = public_router("/v1", "stats")


class PlatformStatsOut(BaseModel):
    """Exact counts, current as of the last committed write."""

    users: int = Field(ge=0, description="accounts not deleted (active or suspended)")
    posts: int = Field(ge=0, description="published posts")
    comments: int = Field(ge=0, description="comments not deleted")
    likes: int = Field(ge=0, description="likes on posts and comments")
    follows: int = Field(ge=0, description="follow edges")


@router.get("/stats", response_model=PlatformStatsOut)
async def stats(db: DatabaseDep, cache: CacheDep) -> PlatformStatsOut:
    """Platform-wide counts; cached, and refreshed by every write that changes one."""
    return PlatformStatsOut.model_validate(await platform_stats(db, cache))
