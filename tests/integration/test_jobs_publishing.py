"""Episode scheduling (DST-correct) and generation, usage aggregation, view-counter flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import ChatRole, PlanningNoteStatus, PostKind, PostStatus
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext
from stratabase.jobs.tasks import episodes, stats, usage
from stratabase.models.accounts import Organization, User
from stratabase.models.content import Post, PostStats
from stratabase.models.events import TokenUsageDaily, UserEvent
from stratabase.models.jobs import Job
from stratabase.models.publishing import (
    AgentMemory,
    ChatMessage,
    ChatSession,
    Episode,
    PlanningNote,
    Project,
)
from stratabase.schemas.publishing import CadenceConfig
from stratabase.settings import Settings

NY = {"days": ["sun", "mon"], "time": "02:30", "timezone": "America/New_York"}


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_next_slot_across_spring_forward() -> None:
    cadence = CadenceConfig.model_validate(NY)
    # Sunday 2026-03-08 02:30 does not exist in New York (02:00 → 03:00): it runs at 03:30 EDT.
    first = episodes.next_slot(cadence, _utc(2026, 3, 7, 12))
    assert first == _utc(2026, 3, 8, 7, 30)
    # Monday 02:30 EDT (UTC-4) — one hour earlier in UTC than a winter Monday.
    assert episodes.next_slot(cadence, first) == _utc(2026, 3, 9, 6, 30)
    assert episodes.next_slot(cadence, _utc(2026, 3, 1, 12)) == _utc(2026, 3, 2, 7, 30)


def test_next_slot_across_fall_back_runs_once() -> None:
    cadence = CadenceConfig.model_validate({**NY, "time": "01:30"})
    # Sunday 2026-11-01 01:30 happens twice; the first (EDT, UTC-4) is the slot.
    first = episodes.next_slot(cadence, _utc(2026, 10, 31, 12))
    assert first == _utc(2026, 11, 1, 5, 30)
    assert episodes.next_slot(cadence, first) == _utc(2026, 11, 2, 6, 30)  # Monday, EST


async def _world(db: Database, *, quota: int = 100_000) -> dict[str, int]:
    async def make(session: Any) -> dict[str, int]:
        org = Organization(name="Org", slug="org", token_quota=quota)
        session.add(org)
        await session.flush()
        user = User(email="owner@example.org", username="owner", organization_id=org.id)
        session.add(user)
        await session.flush()
        project = Project(
            organization_id=org.id,
            owner_id=user.id,
            name="Weekly Brief",
            description="News, briefly.",
            cadence_config=NY,
            memories={"text": "Readers like short items."},
        )
        paused = Project(organization_id=org.id, owner_id=user.id, name="No cadence")
        session.add_all([project, paused])
        await session.flush()
        session.add(PlanningNote(project_id=project.id, author_id=user.id, body="Cover elections"))
        session.add(
            AgentMemory(project_id=project.id, kind="style", key="tone", content={"text": "Calm."})
        )
        await session.flush()
        return {"org": org.id, "user": user.id, "project": project.id}

    return await db.transaction(make)


def _context(db: Database, settings: Settings, **resources: Any) -> TaskContext:
    return TaskContext(db, settings, ClaimedJob(1, "episodes", "x", {}, 1, 4), resources)


async def test_schedule_enqueues_one_generation_per_project_and_slot(
    db: Database, settings: Settings
) -> None:
    ids = await _world(db)
    context = _context(db, settings)
    now = "2026-03-07T12:00:00+00:00"
    assert await episodes.schedule(context, {"now": now}) == {"enqueued": 1}
    assert await episodes.schedule(context, {"now": now}) == {"enqueued": 0}
    async with db.session() as session:
        jobs = (await session.execute(select(Job))).scalars().all()
    assert len(jobs) == 1
    assert jobs[0].task == "episode.generate" and jobs[0].run_at == _utc(2026, 3, 8, 7, 30)
    assert jobs[0].payload == {
        "project_id": ids["project"],
        "scheduled_for": "2026-03-08T07:30:00+00:00",
    }


async def test_generate_creates_the_episode_post_and_records_usage(
    db: Database, settings: Settings
) -> None:
    ids = await _world(db)
    context = _context(db, settings)
    payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
    result = await episodes.generate(context, payload)
    assert result is not None and result["post_id"]
    again = await episodes.generate(context, payload)
    assert again == {"already_generated": True}
    async with db.session() as session:
        episode = (await session.execute(select(Episode))).scalar_one()
        post = await session.get(Post, result["post_id"])
        note = (await session.execute(select(PlanningNote))).scalar_one()
        usage_row = (await session.execute(select(TokenUsageDaily))).scalar_one()
        event = (await session.execute(select(UserEvent))).scalar_one()
    assert post is not None and episode.post_id == post.id
    assert episode.generation_attempts == 2
    assert episode.number == 1 and episode.generation_errors == []
    assert post.kind == PostKind.EPISODE and post.status == PostStatus.PUBLISHED
    assert post.published_at == _utc(2026, 3, 8, 7, 30)
    text = str(post.content_blocks)
    assert "Cover elections" in text and "Calm." in text and "Readers like short items." in text
    assert note.status == PlanningNoteStatus.APPLIED
    assert usage_row.organization_id == ids["org"] and usage_row.tokens_out > 0
    assert usage_row.tokens_in + usage_row.tokens_out == result["tokens"]
    assert event.event_type == "token_usage" and event.event_data["organization_id"] == ids["org"]


class _FixedGenerator:
    """A generator whose draft the test chooses."""

    def __init__(self, draft: episodes.EpisodeDraft) -> None:
        self.draft = draft

    async def generate(self, brief: episodes.EpisodeBrief) -> episodes.EpisodeDraft:
        return self.draft


async def test_the_episode_post_is_made_by_the_content_service(
    db: Database, settings: Settings
) -> None:
    """Slug, blocks, search and crawls as for a post published by hand (content.add_post)."""
    ids = await _world(db)
    async with db.begin() as session:
        project = await session.get(Project, ids["project"])
        assert project is not None
        project.name = "Café Über Weekly"
    draft = episodes.EpisodeDraft(
        title="Ça va",
        summary="",
        blocks=[
            {"type": "heading", "text": "Links"},
            {"type": "paragraph", "text": "See https://example.org/story for more."},
        ],
        tokens_in=3,
    )
    context = _context(db, settings, **{episodes.GENERATOR: _FixedGenerator(draft)})
    payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
    result = await episodes.generate(context, payload)
    async with db.session() as session:
        post = await session.get(Post, result["post_id"])
        crawls = (await session.execute(select(Job).where(Job.task == "crawl"))).all()
        stats_row = await session.get(PostStats, result["post_id"])
    assert post is not None and stats_row is not None
    # The content service's slugger folds accents (the old copy dropped the letters).
    assert post.slug == f"cafe-uber-weekly-{ids['project']}-202603080730"
    assert post.content_blocks[0] == {"type": "heading", "text": "Links", "level": 2}
    assert post.meta == {"project_id": ids["project"], "episode_id": result["episode_id"]}
    assert len(crawls) == 1  # the link preview, as for any published post


async def test_a_draft_with_invalid_blocks_is_refused_and_recorded(
    db: Database, settings: Settings
) -> None:
    """The content service validates the generator's blocks; nothing is published."""
    ids = await _world(db)
    draft = episodes.EpisodeDraft(title="Bad", summary="", blocks=[{"type": "banner"}])
    context = _context(db, settings, **{episodes.GENERATOR: _FixedGenerator(draft)})
    payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
    with pytest.raises(ValueError, match="content_blocks"):
        await episodes.generate(context, payload)
    async with db.session() as session:
        episode = (await session.execute(select(Episode))).scalar_one()
        posts = (await session.execute(select(Post))).scalars().all()
    assert episode.post_id is None and posts == []
    assert "content_blocks" in episode.generation_errors[0]["error"]


async def test_generate_over_quota_records_the_error_on_the_episode(
    db: Database, settings: Settings
) -> None:
    ids = await _world(db, quota=1_000)
    payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
    with pytest.raises(episodes.QuotaExceeded, match="used 0 of 1000"):
        await episodes.generate(_context(db, settings), payload)  # estimate 2000 > 1000

    class Broken:
        async def generate(self, brief: episodes.EpisodeBrief) -> episodes.EpisodeDraft:
            raise RuntimeError("model offline")

    with pytest.raises(RuntimeError):
        await episodes.generate(
            _context(db, settings, episode_generator=Broken()), {**payload, "token_estimate": 10}
        )
    async with db.session() as session:
        episode = (await session.execute(select(Episode))).scalar_one()
        posts = (await session.execute(select(Post))).scalars().all()
    assert episode.generation_attempts == 2 and episode.post_id is None and posts == []
    errors = [entry["error"] for entry in episode.generation_errors]
    assert errors[0].startswith("QuotaExceeded") and errors[1] == "RuntimeError: model offline"


async def test_usage_aggregate_recomputes_daily_totals(db: Database, settings: Settings) -> None:
    ids = await _world(db)
    today = utcnow().date()

    async def raw(session: Any) -> None:
        chat = ChatSession(user_id=ids["user"], project_id=ids["project"])
        session.add(chat)
        await session.flush()
        for tokens in ((10, 20), (5, 7)):
            session.add(
                ChatMessage(
                    session_id=chat.id,
                    role=ChatRole.ASSISTANT,
                    content="x",
                    tokens_in=tokens[0],
                    tokens_out=tokens[1],
                )
            )
        session.add(
            UserEvent(
                user_id=None,
                event_type="token_usage",
                event_data={
                    "organization_id": ids["org"],
                    "tokens_in": 100,
                    "tokens_out": 1,
                    "cost_minor": 3,
                },
            )
        )
        session.add(UserEvent(user_id=ids["user"], event_type="episode_opened", event_data={}))

    await db.transaction(raw)
    context = _context(db, settings)
    for _ in range(2):  # idempotent
        result = await usage.aggregate(context, {"date": today.isoformat()})
        assert result == {"organizations": {today.isoformat(): 1}}
    async with db.session() as session:
        row = (await session.execute(select(TokenUsageDaily))).scalar_one()
    assert (row.tokens_in, row.tokens_out, row.cost_minor) == (115, 28, 3)
    assert row.date == today
    other = await usage.aggregate(context, {"date": (today - timedelta(days=3)).isoformat()})
    assert other == {"organizations": {(today - timedelta(days=3)).isoformat(): 0}}


async def test_stats_flush_moves_buffered_views_into_post_stats(
    db: Database, settings: Settings
) -> None:
    ids = await _world(db)

    async def make(session: Any) -> list[int]:
        posts = [
            Post(author_id=ids["user"], kind=PostKind.NOTE, title=f"p{i}", slug=f"p{i}")
            for i in range(2)
        ]
        session.add_all(posts)
        await session.flush()
        session.add(PostStats(post_id=posts[0].id, views=5))
        return [post.id for post in posts]

    first, second = await db.transaction(make)
    counters = stats.MemoryViewCounters()
    for post_id in (first, first, second, 999_999):
        await counters.add(post_id)
    context = _context(db, settings, view_counters=counters)
    assert await stats.flush(context, {}) == {"posts": 2, "views": 4}
    assert await stats.flush(context, {}) == {"posts": 0, "views": 0}
    async with db.session() as session:
        views = dict((await session.execute(select(PostStats.post_id, PostStats.views))).all())
    assert views == {first: 7, second: 1}


async def test_generation_holds_and_charges_tokens_on_the_ledger(
    db: Database, settings: Settings
) -> None:
    from stratabase.exceptions import InsufficientFunds
    from stratabase.ledger.service import LedgerService

    ids = await _world(db)
    ledger = LedgerService(db)
    await ledger.credit(ids["user"], 3_000, reason="test grant")
    context = _context(db, settings, token_reserver=episodes.LedgerReserver(ledger))

    class Broken:
        async def generate(self, brief: episodes.EpisodeBrief) -> episodes.EpisodeDraft:
            raise RuntimeError("model offline")

    broken = _context(
        db, settings, token_reserver=episodes.LedgerReserver(ledger), episode_generator=Broken()
    )
    payload = {"project_id": ids["project"], "scheduled_for": "2026-03-08T07:30:00+00:00"}
    with pytest.raises(RuntimeError):
        await episodes.generate(broken, payload)
    wallet = await ledger.wallet(ids["user"])
    assert (wallet.balance, wallet.available) == (3_000, 3_000)  # the hold was voided

    result = await episodes.generate(context, payload)
    assert result is not None and "charge_error" not in result
    wallet = await ledger.wallet(ids["user"])
    assert wallet.balance == 3_000 - result["tokens"] and wallet.available == wallet.balance

    later = {**payload, "scheduled_for": "2026-03-09T06:30:00+00:00", "token_estimate": 5_000}
    with pytest.raises(InsufficientFunds):
        await episodes.generate(context, later)
