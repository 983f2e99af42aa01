"""Product events over HTTP, the analytics job, and the admin's analytics series."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from stratabase.analytics.aggregate import aggregate_day
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import TaskContext, builtin_registry
from stratabase.models import UserEvent
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api
from tests.acceptance.studio_support import episode, join, organization


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(UserEvent)) or 0)


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


async def test_a_batch_is_validated_per_type_and_stored_whole(api: Api) -> None:
    alice = await api.user()
    good = [
        _event("episode_opened", episode_id=1, reading_time=30),
        _event("post_viewed", post_id=2),
        _event("search_performed", query="rust", results=3),
    ]
    accepted = await api.http.post("/v1/events", json={"events": good}, headers=alice.headers)
    assert accepted.status_code == 202 and accepted.json() == {"accepted": 3}
    assert await _count(api.db) == 3
    refusals = [
        ([good[0], _event("rocket_launched")], "events.1.type"),
        ([_event("episode_opened", episode_id=1)], "events.0.data.reading_time"),
        (
            [good[1], _event("episode_opened", episode_id=1, reading_time=-1)],
            "events.1.data.reading_time",
        ),
        ([_event("post_viewed", post_id=1, extra=1)], "events.0.data.extra"),
        ([_event("search_performed", query="")], "events.0.data.query"),
        ([_event("token_usage", tokens_in=1)], "events.0.type"),
    ]
    for events, field in refusals:
        refused = await api.http.post("/v1/events", json={"events": events}, headers=alice.headers)
        body = assert_problem(refused, 422)
        assert body["errors"][0]["field"] == field, body
    missing = await api.http.post(
        "/v1/events", json={"events": [good[0], {"data": {}}]}, headers=alice.headers
    )
    assert assert_problem(missing, 422)["errors"][0]["field"] == "events.1.type"
    broken = await api.http.post(
        "/v1/events",
        content=b'{"events": [',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert assert_problem(broken, 422)["errors"][0]["field"] == "body"
    too_many = {"events": [good[1]] * 501}
    assert_problem(await api.http.post("/v1/events", json=too_many, headers=alice.headers), 422)
    assert_problem(
        await api.http.post("/v1/events", json={"events": []}, headers=alice.headers), 422
    )
    assert await _count(api.db) == 3  # nothing of a refused batch is stored
    assert_problem(await api.http.post("/v1/events", json={"events": good}), 401)


async def test_declared_types_are_accepted(api: Api) -> None:
    from stratabase.analytics import registry

    class Shared(registry.EventData):
        episode_id: int

    alice = await api.user()
    batch = {"events": [_event("episode_shared_test", episode_id=1)]}
    assert_problem(await api.http.post("/v1/events", json=batch, headers=alice.headers), 422)
    registry.declare("episode_shared_test", Shared)
    try:
        ok = await api.http.post("/v1/events", json=batch, headers=alice.headers)
        assert ok.status_code == 202
    finally:
        registry.forget("episode_shared_test")
    with pytest.raises(ValueError):
        registry.declare("token_usage", Shared)


def test_the_job_is_periodic() -> None:
    registry = builtin_registry()
    assert "analytics.aggregate" in {p.task for p in registry.periodic()}


async def test_analytics_after_the_job_and_who_may_read_them(api: Api, settings: Settings) -> None:
    org, other = await organization(api.db, quota=5_000), await organization(api.db)
    alice, bob, outsider = await api.user(), await api.user(), await api.user()
    admin = await api.user(role=Role.ADMIN)
    for user in (alice, bob):
        await join(api.db, user.id, org)
    await join(api.db, outsider.id, other)
    ep = await episode(api.db, org)
    send = [
        (alice, [_event("episode_opened", episode_id=ep, reading_time=120)] * 2),
        (
            bob,
            [
                _event("episode_opened", episode_id=ep, reading_time=60),
                _event("post_viewed", post_id=5),
            ],
        ),
        (outsider, [_event("episode_opened", episode_id=ep, reading_time=10)]),
    ]
    for user, events in send:
        answer = await api.http.post("/v1/events", json={"events": events}, headers=user.headers)
        assert answer.status_code == 202
    sid = (await api.http.post("/v1/chat/sessions", json={}, headers=alice.headers)).json()["id"]
    await api.http.post(
        f"/v1/chat/sessions/{sid}/messages",
        json={"content": "hi", "tokens_in": 100, "tokens_out": 200},
        headers=alice.headers,
    )
    base = f"/v1/analytics/organizations/{org}"
    before = (await api.http.get(f"{base}/active-users", headers=admin.headers)).json()
    assert before["items"] == []  # served from the aggregates, not the raw events
    today = utcnow().date()
    # the registered task, as the worker runs it; twice: it rebuilds the days, never adds
    task = builtin_registry().get("analytics.aggregate")
    context = TaskContext(api.db, settings, ClaimedJob(1, "maintenance", task.name, {}, 1, 3))
    for _ in range(2):
        done = await task.handler(context, {})
        assert done["days"][today.isoformat()]["analytics_daily_users"] >= 1
    await api.db.transaction(functools.partial(aggregate_day, day=today))
    day = today.isoformat()
    users = (await api.http.get(f"{base}/active-users", headers=admin.headers)).json()
    assert users["items"] == [{"date": day, "active_users": 2}]
    events = (await api.http.get(f"{base}/events", headers=admin.headers)).json()["items"]
    assert events == [
        {"date": day, "event_type": "episode_opened", "events": 3, "users": 2},
        {"date": day, "event_type": "post_viewed", "events": 1, "users": 1},
    ]
    reading = (await api.http.get(f"{base}/reading-time", headers=admin.headers)).json()
    assert reading["items"] == [{"episode_id": ep, "opens": 4, "readers": 3, "reading_time": 310}]
    usage = (await api.http.get(f"{base}/token-usage", headers=admin.headers)).json()["items"]
    assert usage == [
        {
            "date": day,
            "tokens_in": 100,
            "tokens_out": 200,
            "used": 300,
            "quota": 5_000,
            "cost_minor": 0,
        }
    ]
    for series in ("active-users", "events", "reading-time", "token-usage"):
        url = f"{base}/{series}"
        assert (await api.http.get(url, headers=admin.headers)).status_code == 200
        assert_problem(await api.http.get(url, headers=alice.headers), 403)
        assert_problem(await api.http.get(url, headers=outsider.headers), 403)
        assert_problem(await api.http.get(url), 401)
    assert_problem(await api.http.get(f"{base}/nothing", headers=admin.headers), 422)
    assert_problem(
        await api.http.get(f"{base}/events", params={"since": "2020-01-01"}, headers=admin.headers),
        422,
    )
    assert_problem(
        await api.http.get("/v1/analytics/organizations/999999/events", headers=admin.headers), 404
    )


def test_the_job_covers_the_days_asked_for() -> None:
    from stratabase.analytics.aggregate import days_of
    from stratabase.jobs.errors import PermanentJobError

    today = utcnow().date()
    assert days_of({})[-1] == today and len(days_of({})) == 2
    assert [d.isoformat() for d in days_of({"date": "2026-01-02"})] == ["2026-01-02"]
    for bad in ({"date": "soon"}, {"days": 0}, {"days": "3"}):
        with pytest.raises(PermanentJobError):
            days_of(bad)


async def test_batches_are_rate_limited_per_user(settings: Settings, db: Database) -> None:
    from stratabase.ratelimit import RateLimits

    limits = RateLimits(auth=None, read=None, login=None, write="2/minute")
    async for api in make_api(settings, db, limits):
        alice, bob = await api.user(), await api.user()
        batch = {"events": [_event("post_viewed", post_id=1)] * 100}
        for _ in range(2):
            ok = await api.http.post("/v1/events", json=batch, headers=alice.headers)
            assert ok.status_code == 202
        limited = await api.http.post("/v1/events", json=batch, headers=alice.headers)
        assert_problem(limited, 429)
        assert "Retry-After" in limited.headers
        other = await api.http.post("/v1/events", json=batch, headers=bob.headers)
        assert other.status_code == 202  # per user, not global
        assert await _count(api.db) == 300
