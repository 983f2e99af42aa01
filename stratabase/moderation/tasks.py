"""The periodic job that ends suspensions whose period is over."""

from __future__ import annotations

from typing import Any

from stratabase.cache import memory_cache
from stratabase.jobs.registry import Registry, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.jobs.tasks.episodes import CACHE
from stratabase.moderation.service import lift_expired

__all__ = ["LIFT_TASK", "lift_suspensions", "register"]

#: The task's name (and its schedule's).
LIFT_TASK = "moderation.lift_suspensions"
#: Seconds between runs: a suspension outlives its end by at most this (plus queue delay).
EVERY = 60.0


async def lift_suspensions(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Lift every suspension past its end; with the worker's cache (``resources``), the
    accounts' cached sessions are dropped at once, else they expire within minutes."""
    cache = ctx.resources.get(CACHE)
    lifted = await lift_expired(ctx.db, cache if cache is not None else memory_cache())
    return {"lifted": lifted}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the task (and, unless ``periodic=False``, its schedule) to ``registry``."""
    registry.add(TaskSpec(LIFT_TASK, lift_suspensions, queue="maintenance", max_attempts=3))
    if periodic:
        registry.add_periodic(Periodic(LIFT_TASK, LIFT_TASK, every=EVERY))
