"""``episode.schedule`` and ``episode.generate``: the publishing cadence as durable jobs.

``episode.schedule`` (periodic) computes each active project's next slot from its cadence
(days, time, time zone) and enqueues one ``episode.generate`` job for it, unique per
project and slot, to run at the slot. Wall-clock times are resolved with ``zoneinfo``: a
time skipped by a spring-forward change runs at the same offset the hour after (02:30 →
03:30), a time repeated by a fall-back change runs once, at its first occurrence.

``episode.generate`` is idempotent per slot: it creates (or finds) the episode row, counts
the attempt, checks the organization's daily quota against ``token_usage_daily`` (the
aggregate, not raw rows), holds the estimate through a :class:`TokenReserver`, asks the
pluggable :class:`EpisodeGenerator` for the text, then in one transaction re-checks the
quota under a lock on the organization, creates the ``episode`` post through the content
service (as any published post: stats, search, crawls), links it, marks the
planning notes applied and writes usage; finally the hold is posted for the tokens spent
(:class:`LedgerReserver` on the token ledger; :class:`NoReserver` when no wallet is charged).
A failure is appended to the episode's ``generation_errors`` (the hold voided) and re-raised
so the queue retries it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache import Cache
from stratabase.cache.consistency import stale_after_commit
from stratabase.content import service as content
from stratabase.content.slugs import slugify
from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.enums import PlanningNoteStatus, PostKind, ProjectStatus
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.registry import Registry, RetryPolicy, TaskContext, TaskResult, TaskSpec
from stratabase.jobs.schedule import Periodic
from stratabase.jobs.service import enqueue_in
from stratabase.jobs.tasks.generation import (
    EpisodeBrief,
    EpisodeDraft,
    EpisodeGenerator,
    LedgerReserver,
    NoReserver,
    OfflineGenerator,
    TokenReserver,
)
from stratabase.jobs.tasks.usage import USAGE_EVENT
from stratabase.models.accounts import Organization
from stratabase.models.events import TokenUsageDaily, UserEvent
from stratabase.models.publishing import AgentMemory, Episode, PlanningNote, Project
from stratabase.schemas.content import PostCreate
from stratabase.schemas.jobs import JobCreate
from stratabase.schemas.publishing import WEEK, CadenceConfig

logger = logging.getLogger("stratabase.jobs")

__all__ = [
    "EpisodeBrief",
    "EpisodeDraft",
    "EpisodeGenerator",
    "LedgerReserver",
    "NoReserver",
    "OfflineGenerator",
    "TokenReserver",
    "generate",
    "next_slot",
    "schedule",
]

GENERATOR = "episode_generator"
RESERVER = "token_reserver"
#: The process's :class:`~stratabase.cache.Cache`, if the worker was given one: the new
#: post's author tag (profile counters, followers' home feeds) is invalidated after commit.
CACHE = "cache"
#: Tokens held before generation when the job does not say otherwise.
DEFAULT_ESTIMATE = 2_000


class QuotaExceeded(PermanentJobError):
    """The organization's daily token quota does not cover this generation."""


def next_slot(cadence: CadenceConfig, after: datetime) -> datetime:
    """The first cadence slot strictly after ``after``, as an aware UTC datetime."""
    zone = ZoneInfo(cadence.timezone)
    hour, minute = (int(part) for part in cadence.time.split(":"))
    weekdays = {WEEK.index(day) for day in cadence.days}
    local_day = after.astimezone(zone).date()
    for offset in range(9):
        day = local_day + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        # fold=0: first occurrence of a repeated time; a skipped time keeps the old offset.
        slot = datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
        if slot > after:
            return slot
    raise AssertionError("a weekly cadence always has a slot within 8 days")  # pragma: no cover


@dataclass
class _Prepared:
    episode_id: int
    organization_id: int
    owner_id: int
    brief: EpisodeBrief
    attempt: int
    note_ids: list[int] = field(default_factory=list)


async def used_today(session: AsyncSession, organization_id: int, now: datetime) -> int:
    """Tokens an organization used today (UTC): the daily quota's count."""
    row = await session.execute(
        select(TokenUsageDaily.tokens_in + TokenUsageDaily.tokens_out).where(
            TokenUsageDaily.organization_id == organization_id,
            TokenUsageDaily.date == now.astimezone(UTC).date(),
        )
    )
    return int(row.scalar() or 0)


async def _start_attempt(session: AsyncSession, project_id: int, slot: datetime) -> None:
    """Create the slot's episode if needed and count this attempt (committed on its own)."""
    if await session.get(Project, project_id) is None:
        raise PermanentJobError(f"project {project_id} does not exist")
    await session.execute(
        portable.insert_or_ignore(
            session,
            Episode,
            {"project_id": project_id, "scheduled_for": slot, "generation_attempts": 0},
            on=[Episode.project_id, Episode.scheduled_for],
        )
    )
    await session.execute(
        update(Episode)
        .where(Episode.project_id == project_id, Episode.scheduled_for == slot)
        .values(generation_attempts=Episode.generation_attempts + 1)
    )


async def _check_quota(session: AsyncSession, org: Organization, amount: int) -> None:
    used = await used_today(session, org.id, utcnow())
    if used + amount > org.token_quota:
        raise QuotaExceeded(
            f"organization {org.id} has used {used} of {org.token_quota} tokens today;"
            f" {amount} more do not fit"
        )


async def _prepare(
    session: AsyncSession, project_id: int, slot: datetime, estimate: int
) -> _Prepared | None:
    project = await session.get(Project, project_id)
    if project is None:
        raise PermanentJobError(f"project {project_id} does not exist")
    if project.owner_id is None:
        raise PermanentJobError(f"project {project_id} has no owner to publish as")
    episode = (
        await session.execute(
            select(Episode).where(Episode.project_id == project_id, Episode.scheduled_for == slot)
        )
    ).scalar_one()
    if episode.post_id is not None:
        return None
    episode.number = 1 + int(
        (
            await session.execute(
                select(func.count()).where(
                    Episode.project_id == project_id, Episode.scheduled_for < slot
                )
            )
        ).scalar_one()
    )
    org = await session.get(Organization, project.organization_id)
    assert org is not None
    await _check_quota(session, org, estimate)
    notes = (
        await session.execute(
            select(PlanningNote.id, PlanningNote.body)
            .where(
                PlanningNote.project_id == project_id,
                PlanningNote.status == PlanningNoteStatus.OPEN,
            )
            .order_by(PlanningNote.created_at, PlanningNote.id)
        )
    ).all()
    memories = (
        await session.execute(
            select(AgentMemory.content)
            .where(AgentMemory.project_id == project_id)
            .order_by(AgentMemory.kind, AgentMemory.key)
        )
    ).scalars()
    brief = EpisodeBrief(
        project_id=project_id,
        project_name=project.name,
        description=project.description,
        number=episode.number,
        scheduled_for=slot,
        notes=[body for _id, body in notes],
        memories=[*([project.memories] if project.memories else []), *memories],
    )
    return _Prepared(
        episode.id,
        org.id,
        project.owner_id,
        brief,
        episode.generation_attempts,
        [i for i, _b in notes],
    )


def episode_post(prep: _Prepared, draft: EpisodeDraft) -> PostCreate:
    """The post a draft becomes; its slug is fixed by project and slot (one per slot)."""
    slot = prep.brief.scheduled_for
    name = slugify(prep.brief.project_name, max_length=120)
    return PostCreate(
        kind=PostKind.EPISODE,
        title=draft.title[:200],
        slug=f"{name}-{prep.brief.project_id}-{slot:%Y%m%d%H%M}",
        summary=draft.summary[:500] or None,
        content_blocks=draft.blocks,  # validated into blocks here
        status="published",
        metadata={"project_id": prep.brief.project_id, "episode_id": prep.episode_id},
    )


async def _finish(
    session: AsyncSession, prep: _Prepared, draft: EpisodeDraft, cache: Cache | None = None
) -> int:
    org = (
        await session.execute(
            select(Organization).where(Organization.id == prep.organization_id).with_for_update()
        )
    ).scalar_one()
    spent = draft.tokens_in + draft.tokens_out
    await _check_quota(session, org, spent)
    # The content service writes the post as for one published by hand: stats, search
    # entry and link-preview crawls in this transaction, published at the slot.
    post, stale = await content.add_post(
        session, prep.owner_id, episode_post(prep, draft), published_at=prep.brief.scheduled_for
    )
    await session.execute(
        update(Episode).where(Episode.id == prep.episode_id).values(post_id=post.id)
    )
    if prep.note_ids:
        await session.execute(
            update(PlanningNote)
            .where(PlanningNote.id.in_(prep.note_ids))
            .values(status=PlanningNoteStatus.APPLIED, updated_at=utcnow())
        )
    await record_usage(session, prep.organization_id, prep.owner_id, draft, prep.episode_id)
    # Without the servers' cache (an embedded worker process), the generation tells them.
    await stale_after_commit(session, cache, stale)
    return post.id


async def record_usage(
    session: AsyncSession, organization_id: int, user_id: int | None, draft: EpisodeDraft, ref: int
) -> None:
    """A raw ``token_usage`` event plus the same amounts added to today's aggregate."""
    now = utcnow()
    session.add(
        UserEvent(
            user_id=user_id,
            event_type=USAGE_EVENT,
            event_data={
                "organization_id": organization_id,
                "tokens_in": draft.tokens_in,
                "tokens_out": draft.tokens_out,
                "cost_minor": draft.cost_minor,
                "episode_id": ref,
            },
        )
    )
    statement = portable.upsert(
        session,
        TokenUsageDaily,
        {
            "organization_id": organization_id,
            "date": now.date(),
            "tokens_in": draft.tokens_in,
            "tokens_out": draft.tokens_out,
            "cost_minor": draft.cost_minor,
            "updated_at": now,
        },
        on=[TokenUsageDaily.organization_id, TokenUsageDaily.date],
        update=lambda new: {
            "tokens_in": TokenUsageDaily.tokens_in + new.tokens_in,
            "tokens_out": TokenUsageDaily.tokens_out + new.tokens_out,
            "cost_minor": TokenUsageDaily.cost_minor + new.cost_minor,
            "updated_at": new.updated_at,
        },
    )
    await session.execute(statement)
    await session.flush()


async def _record_error(
    session: AsyncSession, *, project_id: int, slot: datetime, error: BaseException
) -> None:
    episode = (
        await session.execute(
            select(Episode).where(Episode.project_id == project_id, Episode.scheduled_for == slot)
        )
    ).scalar_one_or_none()
    if episode is None:
        return
    entry = {
        "at": utcnow().isoformat(),
        "attempt": episode.generation_attempts,
        "error": f"{type(error).__name__}: {error}"[:2000],
    }
    episode.generation_errors = [*(episode.generation_errors or []), entry]


def _payload(payload: dict[str, Any]) -> tuple[int, datetime, int]:
    try:
        slot = datetime.fromisoformat(str(payload["scheduled_for"]))
        if slot.tzinfo is None:
            raise ValueError("scheduled_for needs a time zone")
        estimate = int(payload.get("token_estimate", DEFAULT_ESTIMATE))
        return int(payload["project_id"]), slot.astimezone(UTC), estimate
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentJobError(
            f"episode.generate needs project_id and scheduled_for: {exc}"
        ) from exc


async def generate(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Task ``episode.generate``: draft one episode, charge its tokens, publish it."""
    project_id, slot, estimate = _payload(payload)
    generator: EpisodeGenerator = ctx.resources.get(GENERATOR) or OfflineGenerator()
    reserver: TokenReserver = ctx.resources.get(RESERVER) or NoReserver()
    cache: Cache | None = ctx.resources.get(CACHE)
    db = ctx.db
    await db.transaction(lambda s: _start_attempt(s, project_id, slot))
    hold: str | None = None
    try:
        prep = await db.transaction(lambda s: _prepare(s, project_id, slot, estimate))
        if prep is None:
            return {"already_generated": True}
        reference = f"episode:{prep.episode_id}:{prep.attempt}"
        hold = await reserver.hold(user_id=prep.owner_id, amount=estimate, reference=reference)
        draft = await generator.generate(prep.brief)
        post_id = await db.transaction(lambda s: _finish(s, prep, draft, cache))
    except Exception as exc:
        await db.transaction(
            functools.partial(_record_error, project_id=project_id, slot=slot, error=exc)
        )
        with contextlib.suppress(Exception):
            await reserver.release(hold)
        raise
    result: dict[str, Any] = {
        "episode_id": prep.episode_id,
        "post_id": post_id,
        "tokens": draft.tokens_in + draft.tokens_out,
    }
    try:
        await reserver.settle(hold, amount=draft.tokens_in + draft.tokens_out)
    except Exception as exc:  # the episode is published; keep the billing failure visible
        logger.exception("episode %s: charging the generation failed", prep.episode_id)
        await db.transaction(
            functools.partial(_record_error, project_id=project_id, slot=slot, error=exc)
        )
        result["charge_error"] = f"{type(exc).__name__}: {exc}"
    return result


async def _schedule_all(session: AsyncSession, now: datetime) -> list[int]:
    projects = (
        await session.execute(
            select(Project.id, Project.cadence_config).where(Project.status == ProjectStatus.ACTIVE)
        )
    ).all()
    specs = []
    for project_id, config in projects:
        try:
            cadence = CadenceConfig.model_validate(config or {})
        except ValidationError:
            continue  # no (valid) cadence: nothing to schedule
        slot = next_slot(cadence, now)
        specs.append(
            JobCreate(
                queue="episodes",
                task="episode.generate",
                payload={"project_id": project_id, "scheduled_for": slot.isoformat()},
                run_at=slot,
                max_attempts=4,
                unique_key=f"episode:{project_id}:{slot.isoformat()}",
            )
        )
    return await enqueue_in(session, specs) if specs else []


async def schedule(ctx: TaskContext, payload: dict[str, Any]) -> TaskResult:
    """Enqueue the next generation job of every active project with a cadence."""
    now = datetime.fromisoformat(payload["now"]) if "now" in payload else utcnow()
    created = await ctx.db.transaction(lambda session: _schedule_all(session, now))
    return {"enqueued": len(created)}


def register(registry: Registry, *, periodic: bool = True) -> None:
    """Add the episode tasks (and their schedule) to ``registry``."""
    registry.add(TaskSpec("episode.schedule", schedule, queue="episodes", max_attempts=3))
    registry.add(
        TaskSpec(
            "episode.generate",
            generate,
            queue="episodes",
            max_attempts=4,
            retry=RetryPolicy(base_seconds=60, cap_seconds=1800),
            timeout=600,
        )
    )
    if periodic:
        registry.add_periodic(Periodic("episode.schedule", "episode.schedule", every=60))
