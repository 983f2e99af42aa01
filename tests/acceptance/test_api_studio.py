"""The publishing studio over HTTP, on both backends: organizations and invitations,
projects with a cadence and their DST-correct schedule, the plan's limit (402), and the
feedback loop — planning notes → ``episodes:generate`` → a real worker runs the job →
the episode is a published post in the feed and search, and the notes are applied."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.jobs.registry import Registry
from stratabase.jobs.tasks import episodes
from stratabase.jobs.tasks.generation import NoReserver
from stratabase.jobs.worker import Worker, WorkerConfig
from stratabase.models import Organization, OrganizationInvitation
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, assert_problem, count_queries, make_api

FAST = WorkerConfig(
    concurrency=2, lease_seconds=30, poll_interval=0.05, flush_interval=0.01, run_periodic=False
)
DEADLINE = 60.0
NY = {"days": ["sun", "mon"], "time": "02:30", "timezone": "America/New_York"}


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


@asynccontextmanager
async def running_worker(db: Database, settings: Settings) -> AsyncIterator[Worker]:
    """A real worker running the episode tasks (no wallet charge: the quota still applies)."""
    registry = Registry()
    episodes.register(registry, periodic=False)
    worker = Worker(db, settings, registry, FAST, resources={episodes.RESERVER: NoReserver()})
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await worker.ready.wait()
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def until_status(api: Api, actor: Actor, path: str, wanted: set[str]) -> dict[str, Any]:
    """Poll an episode until its status is one of ``wanted`` (no timed assertion)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        body: dict[str, Any] = (await api.http.get(path, headers=actor.headers)).json()
        if body["status"] in wanted:
            return body
        assert time.monotonic() < deadline, f"episode stayed {body['status']}: {body}"
        await asyncio.sleep(0.05)


async def organization(api: Api, owner: Actor, name: str = "Acme News") -> dict[str, Any]:
    """A new organization owned by ``owner``."""
    created = await api.http.post("/v1/organizations", json={"name": name}, headers=owner.headers)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def join(api: Api, org_id: int, admin: Actor, user: Actor, role: str = "member") -> None:
    """Invite ``user`` and accept for them."""
    invited = await api.http.post(
        f"/v1/organizations/{org_id}/invitations",
        json={"email": f"{user.username}@example.com", "role": role},
        headers=admin.headers,
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["token"]
    accepted = await api.http.post(
        "/v1/invitations/accept", json={"token": token}, headers=user.headers
    )
    assert accepted.status_code == 200, accepted.text


async def project(api: Api, owner: Actor, org_id: int, **fields: Any) -> dict[str, Any]:
    """A new project of ``org_id``."""
    body = {"organization_id": org_id, "name": "Weekly Brief", "cadence": NY, **fields}
    created = await api.http.post("/v1/projects", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def test_organization_members_invitations_leave_and_transfer(api: Api, db: Database) -> None:
    owner, alice, bob, stranger = [await api.user() for _ in range(4)]
    org = await organization(api, owner)
    assert org["role"] == "owner" and org["token_quota"] > 0
    org_id = org["id"]
    invited = await api.http.post(
        f"/v1/organizations/{org_id}/invitations",
        json={"email": f"{alice.username.upper()}@Example.com", "role": "admin"},
        headers=owner.headers,
    )
    assert invited.status_code == 201
    token = invited.json()["token"]
    assert invited.json()["invitation"]["email"] == f"{alice.username}@example.com"
    # The token is for alice's address only, and good once.
    assert_problem(
        await api.http.post("/v1/invitations/accept", json={"token": token}, headers=bob.headers),
        403,
    )
    joined = await api.http.post(
        "/v1/invitations/accept", json={"token": token}, headers=alice.headers
    )
    assert joined.json()["role"] == "admin"
    again = await api.http.post(
        "/v1/invitations/accept", json={"token": token}, headers=alice.headers
    )
    assert_problem(again, 409)
    assert_problem(
        await api.http.post(
            "/v1/invitations/accept", json={"token": "x" * 43}, headers=alice.headers
        ),
        404,
    )
    # Only the hash is stored.
    async with db.session() as session:
        from sqlalchemy import select

        hashes = (await session.execute(select(OrganizationInvitation.token_hash))).scalars().all()
    assert token not in hashes

    # Bob declines one invitation; another expires before he uses it.
    declined_token = (
        await api.http.post(
            f"/v1/organizations/{org_id}/invitations",
            json={"email": f"{bob.username}@example.com"},
            headers=alice.headers,
        )
    ).json()["token"]
    declined = await api.http.post(
        "/v1/invitations/decline", json={"token": declined_token}, headers=bob.headers
    )
    assert declined.json()["status"] == "declined"
    late = (
        await api.http.post(
            f"/v1/organizations/{org_id}/invitations",
            json={"email": f"{bob.username}@example.com"},
            headers=alice.headers,
        )
    ).json()
    async with db.begin() as session:
        await session.execute(
            update(OrganizationInvitation)
            .where(OrganizationInvitation.id == late["invitation"]["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_problem(
        await api.http.post(
            "/v1/invitations/accept", json={"token": late["token"]}, headers=bob.headers
        ),
        409,
    )
    listed = (
        await api.http.get(f"/v1/organizations/{org_id}/invitations", headers=owner.headers)
    ).json()
    states = {(i["status"], i["expired"]) for i in listed["items"]}
    assert states == {("accepted", False), ("declined", False), ("pending", True)}
    await join(api, org_id, owner, bob)

    members = (
        await api.http.get(f"/v1/organizations/{org_id}/members", headers=bob.headers)
    ).json()
    roles = {m["user_id"]: m["role"] for m in members["items"]}
    assert roles == {owner.id: "owner", alice.id: "admin", bob.id: "member"}
    # Only members see the organization; the rest are told it does not exist.
    assert_problem(await api.http.get(f"/v1/organizations/{org_id}", headers=stranger.headers), 404)
    mine = (await api.http.get("/v1/organizations", headers=stranger.headers)).json()
    assert mine["items"] == []

    # The last owner cannot leave; after a transfer they can.
    assert_problem(
        await api.http.post(f"/v1/organizations/{org_id}/leave", headers=owner.headers), 409
    )
    assert_problem(
        await api.http.post(
            f"/v1/organizations/{org_id}/transfer",
            json={"user_id": bob.id},
            headers=alice.headers,
        ),
        403,
    )
    moved = await api.http.post(
        f"/v1/organizations/{org_id}/transfer", json={"user_id": bob.id}, headers=owner.headers
    )
    assert moved.status_code == 200 and moved.json()["role"] == "admin"
    left = await api.http.post(f"/v1/organizations/{org_id}/leave", headers=owner.headers)
    assert left.status_code == 204
    assert_problem(await api.http.get(f"/v1/organizations/{org_id}", headers=owner.headers), 404)
    # Admins change roles and remove members, never the owner.
    demoted = await api.http.patch(
        f"/v1/organizations/{org_id}/members/{alice.id}",
        json={"role": "member"},
        headers=bob.headers,
    )
    assert demoted.json()["role"] == "member"
    assert_problem(
        await api.http.delete(f"/v1/organizations/{org_id}/members/{bob.id}", headers=bob.headers),
        409,
    )
    removed = await api.http.delete(
        f"/v1/organizations/{org_id}/members/{alice.id}", headers=bob.headers
    )
    assert removed.status_code == 204


async def test_cadence_is_validated_and_the_schedule_crosses_dst(api: Api) -> None:
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    for cadence, field in (
        ({**NY, "timezone": "Mars/Olympus"}, "cadence.timezone"),
        ({**NY, "time": "25:00"}, "cadence.time"),
        ({**NY, "days": ["mon", "funday"]}, "cadence.days.1"),
        ({**NY, "days": ["mon", "mon"]}, "cadence.days"),
    ):
        refused = await api.http.post(
            "/v1/projects",
            json={"organization_id": org_id, "name": "x", "cadence": cadence},
            headers=owner.headers,
        )
        body = assert_problem(refused, 422)
        assert body["errors"][0]["field"] == field, body
    made = await project(api, owner, org_id)
    params = {"n": 3, "after": "2026-03-07T12:00:00Z"}
    plan = (
        await api.http.get(
            f"/v1/projects/{made['id']}/schedule", params=params, headers=owner.headers
        )
    ).json()
    # 2026-03-08 02:30 does not exist in New York (spring forward): it runs at 03:30 EDT.
    assert [s["at"] for s in plan["slots"]] == [
        "2026-03-08T07:30:00Z",
        "2026-03-09T06:30:00Z",
        "2026-03-15T06:30:00Z",
    ]
    assert plan["slots"][1]["local"] == "2026-03-09T02:30:00-04:00"
    assert plan["timezone"] == "America/New_York"
    paused = await api.http.post(f"/v1/projects/{made['id']}/pause", headers=owner.headers)
    assert paused.json()["status"] == "paused"
    quiet = (
        await api.http.get(f"/v1/projects/{made['id']}/schedule", headers=owner.headers)
    ).json()
    assert quiet["slots"] == [] and quiet["status"] == "paused"
    resumed = await api.http.post(f"/v1/projects/{made['id']}/resume", headers=owner.headers)
    assert resumed.json()["status"] == "active"
    assert_problem(
        await api.http.get(
            f"/v1/projects/{made['id']}/schedule", params={"n": 0}, headers=owner.headers
        ),
        422,
    )
    renamed = await api.http.patch(
        f"/v1/projects/{made['id']}", json={"name": "Daily Brief"}, headers=owner.headers
    )
    # Days are stored in week order, whatever order they were given in.
    assert renamed.json()["name"] == "Daily Brief"
    assert renamed.json()["cadence"]["days"] == ["mon", "sun"]


async def test_the_plan_limits_active_projects_with_402(api: Api, db: Database) -> None:
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    made = [await project(api, owner, org_id, name=f"P{i}") for i in range(3)]  # free: 3
    refused = await api.http.post(
        "/v1/projects", json={"organization_id": org_id, "name": "P4"}, headers=owner.headers
    )
    body = assert_problem(refused, 402)
    assert (body["limit"], body["active"]) == (3, 3)
    assert body["errors"][0]["field"] == "organization_id"
    # Pausing frees a place; resuming past the limit is refused the same way.
    await api.http.post(f"/v1/projects/{made[0]['id']}/pause", headers=owner.headers)
    await project(api, owner, org_id, name="P4")
    body = assert_problem(
        await api.http.post(f"/v1/projects/{made[0]['id']}/resume", headers=owner.headers), 402
    )
    assert (body["limit"], body["active"]) == (3, 3)
    archived = await api.http.post(f"/v1/projects/{made[1]['id']}/archive", headers=owner.headers)
    assert archived.json()["status"] == "archived"
    assert_problem(
        await api.http.post(f"/v1/projects/{made[1]['id']}/resume", headers=owner.headers), 409
    )
    ok = await api.http.post(f"/v1/projects/{made[0]['id']}/resume", headers=owner.headers)
    assert ok.json()["status"] == "active"
    listed = (
        await api.http.get(
            "/v1/projects", params={"organization_id": org_id, "limit": 2}, headers=owner.headers
        )
    ).json()
    assert len(listed["items"]) == 2 and listed["has_more"]


async def test_notes_generate_worker_publish_loop(
    api: Api, db: Database, settings: Settings
) -> None:
    """The feedback loop end to end: notes and memory → generate (idempotent per slot) →
    the worker publishes → notes applied, the post in the feed and search."""
    owner, member = await api.user(), await api.user()
    org_id = (await organization(api, owner))["id"]
    await join(api, org_id, owner, member)
    made = await project(api, owner, org_id, name="Harbor Dispatch", description="Port news.")
    base = f"/v1/projects/{made['id']}"
    note = await api.http.post(
        f"{base}/notes", json={"body": "Cover the lighthouse restoration"}, headers=member.headers
    )
    assert note.status_code == 201 and note.json()["status"] == "open"
    dismissed = (
        await api.http.post(f"{base}/notes", json={"body": "skip this"}, headers=member.headers)
    ).json()
    resolved = await api.http.post(
        f"{base}/notes/{dismissed['id']}/resolve",
        json={"resolution": "dismissed"},
        headers=member.headers,
    )
    assert resolved.json()["status"] == "dismissed"
    memory = await api.http.put(
        f"{base}/memory/style/tone",
        json={"content": {"text": "Salty and brief."}},
        headers=member.headers,
    )
    assert memory.status_code == 201

    slot = {"scheduled_for": "2026-03-08T07:30:00Z"}
    first = await api.http.post(f"{base}/episodes:generate", json=slot, headers=owner.headers)
    assert first.status_code == 202, first.text
    second = await api.http.post(f"{base}/episodes:generate", json=slot, headers=owner.headers)
    one, two = first.json(), second.json()
    assert one["enqueued"] and not two["enqueued"]
    assert one["job_id"] == two["job_id"] and one["episode"]["id"] == two["episode"]["id"]
    assert one["episode"]["status"] == "generating"
    episode_path = f"{base}/episodes/{one['episode']['id']}"

    async with running_worker(db, settings):
        done = await until_status(api, member, episode_path, {"published", "failed"})
    assert done["status"] == "published", done
    assert done["generation_attempts"] == 1 and done["generation_errors"] == []
    text = str(done["content_blocks"])
    assert "Cover the lighthouse restoration" in text and "Salty and brief." in text
    assert "skip this" not in text

    applied = (
        await api.http.get(f"{base}/notes", params={"status": "applied"}, headers=member.headers)
    ).json()
    assert [n["id"] for n in applied["items"]] == [note.json()["id"]]
    opened = (
        await api.http.get(f"{base}/notes", params={"status": "open"}, headers=member.headers)
    ).json()
    assert opened["items"] == []
    attached = await api.http.post(
        f"{base}/notes/{dismissed['id']}/attach",
        json={"episode_id": done["id"]},
        headers=member.headers,
    )
    assert attached.json()["episode_id"] == done["id"]

    # A normal post: its page, the latest episodes, and search.
    post_id = done["post_id"]
    page = await api.http.get(f"/v1/posts/{post_id}")
    assert page.status_code == 200 and page.json()["kind"] == "episode"
    latest = (await api.http.get("/v1/posts", params={"kind": "episode"})).json()
    assert post_id in [p["id"] for p in latest["items"]]
    found = (await api.http.get("/v1/search", params={"q": "lighthouse restoration"})).json()
    assert post_id in [hit["id"] for hit in found["items"]]

    # The same slot again: the published episode, no new job.
    third = (
        await api.http.post(f"{base}/episodes:generate", json=slot, headers=owner.headers)
    ).json()
    assert third == {**third, "job_id": None, "enqueued": False}
    assert third["episode"]["id"] == done["id"]
    listed = (await api.http.get(f"{base}/episodes", headers=member.headers)).json()
    assert [(e["id"], e["status"]) for e in listed["items"]] == [(done["id"], "published")]
    assert_problem(await api.http.post(f"{episode_path}/regenerate", headers=owner.headers), 409)


async def test_a_failed_episode_is_regenerated(api: Api, db: Database, settings: Settings) -> None:
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    base = f"/v1/projects/{(await project(api, owner, org_id))['id']}"
    async with db.begin() as session:  # a quota the generation's estimate does not fit
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(token_quota=10)
        )
    started = (await api.http.post(f"{base}/episodes:generate", headers=owner.headers)).json()
    path = f"{base}/episodes/{started['episode']['id']}"
    async with running_worker(db, settings):
        failed = await until_status(api, owner, path, {"failed", "published"})
    assert failed["status"] == "failed" and failed["post_id"] is None
    assert failed["generation_errors"][0]["error"].startswith("QuotaExceeded")
    async with db.begin() as session:
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(token_quota=100_000)
        )
    again = await api.http.post(f"{path}/regenerate", headers=owner.headers)
    assert again.status_code == 202 and again.json()["enqueued"]
    assert again.json()["job_id"] != started["job_id"]
    async with running_worker(db, settings):
        done = await until_status(api, owner, path, {"published"})
    assert done["generation_attempts"] == 2 and len(done["generation_errors"]) == 1


async def test_agent_memory_upsert_list_delete_and_limits(api: Api) -> None:
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    base = f"/v1/projects/{(await project(api, owner, org_id))['id']}/memory"
    for kind, key in (("style", "tone"), ("style", "length"), ("facts", "city")):
        made = await api.http.put(
            f"{base}/{kind}/{key}", json={"content": {"v": key}}, headers=owner.headers
        )
        assert made.status_code == 201
    replaced = await api.http.put(
        f"{base}/style/tone", json={"content": {"v": "dry"}}, headers=owner.headers
    )
    assert replaced.status_code == 200 and replaced.json()["content"] == {"v": "dry"}
    styles = (await api.http.get(base, params={"kind": "style"}, headers=owner.headers)).json()
    assert [m["key"] for m in styles["items"]] == ["length", "tone"]
    page = (await api.http.get(base, params={"limit": 2}, headers=owner.headers)).json()
    rest = (
        await api.http.get(
            base, params={"limit": 2, "cursor": page["next_cursor"]}, headers=owner.headers
        )
    ).json()
    walked = [(m["kind"], m["key"]) for m in page["items"] + rest["items"]]
    assert walked == [("facts", "city"), ("style", "length"), ("style", "tone")]
    assert (await api.http.delete(f"{base}/facts/city", headers=owner.headers)).status_code == 204
    assert_problem(await api.http.delete(f"{base}/facts/city", headers=owner.headers), 404)
    too_big = {"content": {"text": "x" * 70_000}}
    body = assert_problem(
        await api.http.put(f"{base}/style/big", json=too_big, headers=owner.headers), 422
    )
    assert body["errors"][0]["field"] == "content"
    assert_problem(
        await api.http.put(f"{base}/Bad Kind/x", json={"content": {}}, headers=owner.headers), 422
    )


async def test_concurrent_creates_never_pass_the_plan_limit(api: Api) -> None:
    """The count is taken under a lock on the organization: of six at once, three fit."""
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    answers = await asyncio.gather(
        *(
            api.http.post(
                "/v1/projects",
                json={"organization_id": org_id, "name": f"P{i}"},
                headers=owner.headers,
            )
            for i in range(6)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] * 3 + [402] * 3
    listed = (
        await api.http.get(
            "/v1/projects", params={"organization_id": org_id}, headers=owner.headers
        )
    ).json()
    assert len(listed["items"]) == 3


async def test_concurrent_generation_of_one_slot_makes_one_job(api: Api) -> None:
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    base = f"/v1/projects/{(await project(api, owner, org_id))['id']}"
    slot = {"scheduled_for": "2026-03-09T06:30:00Z"}
    answers = await asyncio.gather(
        *(
            api.http.post(f"{base}/episodes:generate", json=slot, headers=owner.headers)
            for _ in range(4)
        )
    )
    bodies = [a.json() for a in answers]
    assert {a.status_code for a in answers} == {202}
    assert len({b["job_id"] for b in bodies}) == 1
    assert len({b["episode"]["id"] for b in bodies}) == 1
    assert sum(b["enqueued"] for b in bodies) == 1


async def test_episode_and_note_lists_cost_the_same_whatever_their_length(
    api: Api, db: Database
) -> None:
    """No statement per row: the active jobs of a page are one query, attachments a join."""
    owner = await api.user()
    org_id = (await organization(api, owner))["id"]
    base = f"/v1/projects/{(await project(api, owner, org_id))['id']}"

    async def cost(path: str) -> int:
        with db.monitor.count() as counter:
            response = await api.http.get(path, params={"limit": 100}, headers=owner.headers)
        assert response.status_code == 200
        return count_queries(counter.sql)

    async def add(day: int) -> None:
        slot = {"scheduled_for": f"2026-03-{day:02d}T07:30:00Z"}
        made = await api.http.post(f"{base}/episodes:generate", json=slot, headers=owner.headers)
        assert made.status_code == 202
        await api.http.post(f"{base}/notes", json={"body": f"n{day}"}, headers=owner.headers)

    await add(1)
    small = (await cost(f"{base}/episodes"), await cost(f"{base}/notes"))
    for day in range(2, 12):
        await add(day)
    large = (await cost(f"{base}/episodes"), await cost(f"{base}/notes"))
    assert large == small
