"""``media.probe``: read the duration and resolution of videos uploaded while ffprobe was
missing, once it is installed (the upload enqueues one job per video)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.types import utcnow
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.media import probe
from stratabase.media.service import PROBE_TASK
from stratabase.media.store import build_store
from stratabase.models.media_store import MediaObject

#: Videos probed per run when no ``media_id`` is given.
BATCH = 100


async def probe_videos(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Probe the video ``payload["media_id"]`` (or up to :data:`BATCH` unprobed videos):
    copy each to a staging file, run ffprobe, store what it read. Without ffprobe nothing
    changes (the rows stay unprobed for a later run)."""
    if not probe.ffprobe_available():
        return {"probed": 0, "reason": "ffprobe is not installed"}
    store = build_store(ctx.settings)
    async with ctx.db.session() as session:
        statement = select(MediaObject).where(
            MediaObject.kind == "video", MediaObject.probed_at.is_(None)
        )
        if payload.get("media_id") is not None:
            statement = statement.where(MediaObject.id == int(payload["media_id"]))
        rows = list(await session.scalars(statement.order_by(MediaObject.id).limit(BATCH)))
    probed = 0
    for row in rows:
        staged = store.staging / f"probe-{row.sha256}"
        with staged.open("wb") as out:
            async for chunk in store.read(row.storage_key):
                out.write(chunk)
        try:
            facts = await probe.video_facts(staged)
        finally:
            staged.unlink(missing_ok=True)
        await _save(ctx, row.id, facts)
        probed += 1
    return {"probed": probed}


async def _save(ctx: TaskContext, media_id: int, facts: probe.VideoFacts | None) -> None:
    """Record what ffprobe read (nothing readable: marked probed all the same)."""

    async def work(session: AsyncSession) -> None:
        target = await session.get(MediaObject, media_id)
        if target is None:
            return
        if facts is not None:
            target.width, target.height = facts.width, facts.height
            target.duration_seconds = facts.duration_seconds
        target.probed_at = utcnow()

    await ctx.db.transaction(work)


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add ``media.probe`` to ``registry`` (no schedule: uploads enqueue it)."""
    registry.add(TaskSpec(PROBE_TASK, probe_videos, queue="maintenance", max_attempts=3))


__all__ = ["BATCH", "probe_videos", "register"]
