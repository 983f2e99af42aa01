"""``GET /v1/changes`` over real HTTP on both backends: the domain writes reach it, SSE
resumes from ``Last-Event-ID`` exactly once, long-poll pages give the same events, and
authorization and bad input are answered as the API answers them elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.ledger.service import LedgerService
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem
from tests.acceptance.changes_http_support import SseReader, serve


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """A heartbeat short enough to see in a test (the relay still wakes on each commit)."""
    return settings.model_copy(update={"changes_heartbeat_seconds": 0.2})


@pytest.fixture
async def api(fast_settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for base_url in serve(fast_settings, db):
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            yield Api(http, db)


JSON = {"Accept": "application/json"}


async def page(api: Api, topics: str, who: Actor | None = None, **params: Any) -> dict[str, Any]:
    headers = {**JSON, **(who.headers if who else {})}
    response = await api.http.get(
        "/v1/changes", params={"topics": topics, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_domain_writes_reach_the_feed_in_order(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    moderator = await api.user(role=Role.MODERATOR)
    category = await api.category()
    post = await api.post(alice, category_id=category)
    pid = post["id"]
    await api.http.patch(f"/v1/posts/{pid}", json={"title": "Edited"}, headers=alice.headers)
    await api.http.post(f"/v1/posts/{pid}/like", headers=bob.headers)
    comment = await api.comment(bob, pid, "first")
    await api.comment(alice, pid, "a reply", parent_id=comment["id"])
    await api.http.post(f"/v1/users/{alice.id}/follow", headers=bob.headers)
    await api.http.post(f"/v1/posts/{pid}/hide", headers=moderator.headers)
    draft = await api.post(alice, status="draft")

    seen = await page(api, f"posts,comments:{pid},category:{category}", after=0)
    assert [(e["topic"], e["type"]) for e in seen["events"]] == [
        (f"post:{pid}", "post.created"),
        (f"post:{pid}", "post.updated"),
        (f"post:{pid}", "post.liked"),
        (f"comments:{pid}", "comment.created"),
        (f"comments:{pid}", "comment.created"),
        (f"post:{pid}", "post.hidden"),
    ]  # the draft is alice's alone
    ids = [e["id"] for e in seen["events"]]
    assert ids == sorted(ids) and seen["next_after"] == ids[-1]

    mine = await page(api, "me,posts", alice, after=0)
    assert ("me", "follow.created") in [(e["topic"], e["type"]) for e in mine["events"]]
    assert draft["id"] in [e["payload"]["post_id"] for e in mine["events"] if e["topic"] != "me"]
    bobs = await page(api, "me", bob, after=0)
    assert [e["type"] for e in bobs["events"]] == ["comment.reply"]
    assert bobs["events"][0]["payload"]["parent_id"] == comment["id"]
    trending = await page(api, "trending", after=0)
    assert [e["type"] for e in trending["events"]] == ["post.liked"]


async def test_wallet_movements_are_private_events(api: Api, settings: Settings) -> None:
    alice, bob = await api.user(), await api.user()
    ledger = LedgerService(api.db)
    await ledger.credit(alice.id, 100, reason="welcome")
    account = await ledger.wallet_account(alice.id)
    await ledger.hold(account, await ledger.wallet_account(bob.id), 30, reason="escrow")
    mine = await page(api, "me", alice, after=0)
    assert "wallet.hold" in [e["type"] for e in mine["events"]]
    assert all(e["topic"] == "me" for e in mine["events"])
    theirs = await page(api, "me", bob, after=0)
    assert [e["type"] for e in theirs["events"]] == []  # a hold moves nothing of bob's yet


async def test_follow_events_come_once_per_actual_change(api: Api) -> None:
    """A follow that was there already, or an unfollow of nobody, emits nothing; a follow
    after an unfollow is a change again and emits ``follow.created`` again."""
    alice, bob = await api.user(), await api.user()
    for method in ("POST", "POST", "DELETE", "DELETE", "POST"):
        response = await api.http.request(
            method, f"/v1/users/{alice.id}/follow", headers=bob.headers
        )
        assert response.status_code == 200, response.text
    mine = await page(api, "me", alice, after=0)
    assert [e["type"] for e in mine["events"]] == [
        "follow.created",
        "follow.removed",
        "follow.created",
    ]
    assert {e["payload"]["follower_id"] for e in mine["events"]} == {bob.id}
    assert (await page(api, "me", bob, after=0))["events"] == []


async def test_a_block_ends_follows_both_ways_with_follow_removed(api: Api) -> None:
    """A block removes the follows between the two users: each one ended reaches the
    followed user's ``me`` as ``follow.removed`` (a client's follower list stays right)."""
    alice, bob = await api.user(), await api.user()
    for who, whom in ((bob, alice), (alice, bob)):
        followed = await api.http.post(f"/v1/users/{whom.id}/follow", headers=who.headers)
        assert followed.status_code == 200, followed.text
    blocked = await api.http.post(f"/v1/users/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code == 200, blocked.text
    for me, other in ((alice, bob), (bob, alice)):
        events = (await page(api, "me", me, after=0))["events"]
        assert [(e["type"], e["payload"]["follower_id"]) for e in events] == [
            ("follow.created", other.id),
            ("follow.removed", other.id),
        ]


async def test_a_profile_edit_is_published_on_the_users_topic(api: Api) -> None:
    """``user:<id>`` carries public profile changes (not private fields like the zone)."""
    alice = await api.user()
    for change in ({"bio": "hello there"}, {"timezone": "Europe/Paris"}):
        edited = await api.http.patch("/v1/me", json=change, headers=alice.headers)
        assert edited.status_code == 200, edited.text
    events = (await page(api, f"user:{alice.id}", None, after=0))["events"]
    assert [(e["type"], e["payload"]["bio"]) for e in events] == [
        ("profile.updated", "hello there")
    ]


async def test_sse_resumes_from_last_event_id_exactly_once(api: Api) -> None:
    alice = await api.user()
    first = await api.post(alice, title="one")
    headers = {"Accept": "text/event-stream"}
    async with api.http.stream(
        "GET", "/v1/changes", params={"topics": "posts", "after": 0}, headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        (created,) = await reader.take(1)
        await reader.wait_comment("heartbeat")
    assert created.event == "post.created" and created.data["payload"]["post_id"] == first["id"]
    assert created.id == created.data["id"]
    assert set(created.data) == {"id", "topic", "type", "payload", "created_at"}

    missed = [await api.post(alice, title=f"missed {n}") for n in range(3)]
    resume = {**headers, "Last-Event-ID": str(created.id)}
    async with api.http.stream(
        "GET", "/v1/changes", params={"topics": "posts"}, headers=resume
    ) as response:
        reader = SseReader(response)
        replayed = await reader.take(3)
        live_post = await api.post(alice, title="live")
        (live,) = await reader.take(1)
    assert [e.data["payload"]["post_id"] for e in replayed] == [p["id"] for p in missed]
    assert live.data["payload"]["post_id"] == live_post["id"]
    assert [e.id for e in replayed] + [live.id] == sorted({e.id for e in [*replayed, live]})

    # the long-poll page from the same cursor holds the same events
    same = await page(api, "posts", after=created.id)
    assert [e["id"] for e in same["events"]] == [e.id for e in [*replayed, live]]


async def test_long_poll_waits_for_the_next_event(api: Api) -> None:
    import asyncio

    alice = await api.user()
    head = await page(api, "posts")
    assert head["events"] == []
    waiting = asyncio.create_task(page(api, "posts", after=head["next_after"], wait=30))
    await asyncio.sleep(0)
    post = await api.post(alice)
    got = await waiting
    assert [e["payload"]["post_id"] for e in got["events"]] == [post["id"]]


async def test_topics_are_authorized_and_validated(api: Api) -> None:
    user = await api.user()
    anonymous = await api.http.get("/v1/changes", params={"topics": "me"}, headers=JSON)
    assert_problem(anonymous, 401)
    jobs = await api.http.get("/v1/changes", params={"topics": "jobs"}, headers=user.headers)
    assert_problem(jobs, 403)
    bad = await api.http.get("/v1/changes", params={"topics": "posts,me:1"}, headers=JSON)
    body = assert_problem(bad, 422)
    assert "topics" in str(body)
    too_far = await api.http.get(
        "/v1/changes", params={"topics": "posts", "after": 2**63}, headers=JSON
    )
    assert_problem(too_far, 422)
