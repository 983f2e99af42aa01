"""Chat sessions and messages over HTTP, and the daily token quota they are charged to."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role
from stratabase.jobs.tasks.usage import aggregate_day
from stratabase.models import TokenUsageDaily
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api
from tests.acceptance.studio_support import join, organization


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _used(db: Database, org: int) -> tuple[int, int]:
    async with db.session() as session:
        row = (
            await session.execute(
                select(TokenUsageDaily.tokens_in, TokenUsageDaily.tokens_out).where(
                    TokenUsageDaily.organization_id == org,
                    TokenUsageDaily.date == utcnow().date(),
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_sessions_messages_and_pages(api: Api) -> None:
    org = await organization(api.db)
    alice = await api.user()
    await join(api.db, alice.id, org)
    created = await api.http.post(
        "/v1/chat/sessions", json={"title": "Ideas"}, headers=alice.headers
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    for n in range(5):
        sent = await api.http.post(
            f"/v1/chat/sessions/{sid}/messages",
            json={"content": f"m{n}", "tokens_in": 3, "tokens_out": 4},
            headers=alice.headers,
        )
        assert sent.status_code == 201, sent.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await api.http.get(
                f"/v1/chat/sessions/{sid}/messages", params=params, headers=alice.headers
            )
        ).json()
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["m0", "m1", "m2", "m3", "m4"]
    assert await _used(api.db, org) == (15, 20)
    mine = (await api.http.get("/v1/chat/sessions", headers=alice.headers)).json()
    assert [s["id"] for s in mine["items"]] == [sid]
    bad = await api.http.get(
        f"/v1/chat/sessions/{sid}/messages", params={"cursor": "x.y"}, headers=alice.headers
    )
    assert assert_problem(bad, 422)["errors"][0]["field"] == "cursor"


async def test_a_user_without_organization_or_with_a_foreign_project_is_refused(api: Api) -> None:
    loner = await api.user()
    body = assert_problem(
        await api.http.post("/v1/chat/sessions", json={}, headers=loner.headers), 422
    )
    assert body["errors"][0]["field"] == "organization_id"
    org = await organization(api.db)
    await join(api.db, loner.id, org)
    foreign = await api.http.post(
        "/v1/chat/sessions", json={"project_id": 999999}, headers=loner.headers
    )
    assert assert_problem(foreign, 404)["errors"][0]["field"] == "project_id"


async def test_quota_refusal_carries_the_numbers_and_stores_nothing(api: Api) -> None:
    org = await organization(api.db, quota=100)
    alice = await api.user()
    await join(api.db, alice.id, org)
    sid = (await api.http.post("/v1/chat/sessions", json={}, headers=alice.headers)).json()["id"]
    url = f"/v1/chat/sessions/{sid}/messages"
    ok = await api.http.post(
        url, json={"content": "a", "tokens_in": 30, "tokens_out": 50}, headers=alice.headers
    )
    assert ok.status_code == 201
    refused = await api.http.post(
        url, json={"content": "b", "tokens_in": 10, "tokens_out": 11}, headers=alice.headers
    )
    body = assert_problem(refused, 402)
    assert (body["quota"], body["used"], body["requested"]) == (100, 80, 21)
    assert body["type"].endswith("/quota-exceeded")
    fits = await api.http.post(url, json={"content": "c", "tokens_in": 20}, headers=alice.headers)
    assert fits.status_code == 201
    messages = (await api.http.get(url, headers=alice.headers)).json()["items"]
    assert [m["content"] for m in messages] == ["a", "c"]
    assert await _used(api.db, org) == (50, 50)
    # usage.aggregate recomputes the same totals from the messages
    await api.db.transaction(functools.partial(aggregate_day, day=utcnow().date()))
    assert await _used(api.db, org) == (50, 50)


async def test_concurrent_appends_never_overrun_the_quota(api: Api) -> None:
    org = await organization(api.db, quota=1_000)
    users = [await api.user() for _ in range(4)]
    sessions = []
    for user in users:
        await join(api.db, user.id, org)
        made = await api.http.post("/v1/chat/sessions", json={}, headers=user.headers)
        sessions.append((user, made.json()["id"]))

    async def send(n: int) -> int:
        user, sid = sessions[n % len(sessions)]
        response = await api.http.post(
            f"/v1/chat/sessions/{sid}/messages",
            json={"content": f"m{n}", "tokens_in": 40, "tokens_out": 60},
            headers=user.headers,
        )
        return response.status_code

    statuses = await asyncio.gather(*(send(n) for n in range(24)))
    assert sorted(statuses) == [201] * 10 + [402] * 14
    assert sum(await _used(api.db, org)) == 1_000
    await api.db.transaction(functools.partial(aggregate_day, day=utcnow().date()))
    assert sum(await _used(api.db, org)) == 1_000


async def test_authorization_matrix(api: Api) -> None:
    org, other_org = await organization(api.db), await organization(api.db)
    owner, member, stranger = await api.user(), await api.user(), await api.user()
    admin = await api.user(role=Role.ADMIN)
    await join(api.db, owner.id, org)
    await join(api.db, member.id, org)
    await join(api.db, stranger.id, other_org)
    sid = (await api.http.post("/v1/chat/sessions", json={}, headers=owner.headers)).json()["id"]
    await api.http.post(
        f"/v1/chat/sessions/{sid}/messages", json={"content": "hi"}, headers=owner.headers
    )
    read = [f"/v1/chat/sessions/{sid}", f"/v1/chat/sessions/{sid}/messages"]
    for url in read:
        assert (await api.http.get(url, headers=owner.headers)).status_code == 200
        assert (await api.http.get(url, headers=admin.headers)).status_code == 200
        assert_problem(await api.http.get(url, headers=member.headers), 404)
        assert_problem(await api.http.get(url, headers=stranger.headers), 404)
        assert_problem(await api.http.get(url), 401)
    write = f"/v1/chat/sessions/{sid}/messages"
    for actor in (admin, member, stranger):
        assert_problem(
            await api.http.post(write, json={"content": "x"}, headers=actor.headers), 404
        )
    assert_problem(await api.http.post(write, json={"content": "x"}), 401)
    assert_problem(await api.http.post("/v1/chat/sessions", json={}), 401)
    assert_problem(await api.http.get("/v1/chat/sessions"), 401)
    others = (await api.http.get("/v1/chat/sessions", headers=stranger.headers)).json()
    assert others["items"] == []


async def test_two_processes_charging_at_once_stop_at_the_quota(
    settings: Settings, db: Database
) -> None:
    """Two Database objects (two pools, as two API processes have) charge one organization
    concurrently through the service: the total never passes the quota."""
    from stratabase.chat.service import charge_tokens
    from stratabase.exceptions import QuotaExceeded

    org = await organization(db, quota=500)
    other = Database(settings)
    try:

        async def charge(target: Database) -> bool:
            try:
                await target.transaction(lambda session: charge_tokens(session, org, 20, 30))
            except QuotaExceeded as exc:
                assert exc.numbers["quota"] == 500 and exc.numbers["requested"] == 50
                return False
            return True

        outcomes = await asyncio.gather(*(charge(db if n % 2 else other) for n in range(16)))
    finally:
        await other.dispose()
    assert outcomes.count(True) == 10
    assert sum(await _used(db, org)) == 500
