"""Account self-service over HTTP, on both backends: profile edits seen by the next public
read, username conflicts, password change and mailed reset through a real SMTP server,
single-use expiring tokens (the service's clock moved, never slept), sessions by device,
account deletion rules, data export run by a worker, and who may touch what."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from stratabase.accounts import export
from stratabase.api.app import create_app
from stratabase.app import Stratabase
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.jobs.config import WorkerConfig
from stratabase.jobs.registry import Registry
from stratabase.jobs.worker import Worker
from stratabase.models import AuditLog
from stratabase.ratelimit import RateLimits
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, assert_problem
from tests.acceptance.auth_support import use_hasher
from tests.acceptance.smtp_support import Inbox, smtp_server, token_in

PASSWORD = "kept over reset"
NEW_PASSWORD = "a fresh phrase here"
_names = itertools.count(1)


@dataclass
class Client:
    """One signed-in user: id, email, username and the headers of one session."""

    id: int
    email: str
    username: str
    headers: dict[str, str]


class Clock:
    """The account service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    http: httpx.AsyncClient
    root: Stratabase
    inbox: Inbox
    clock: Clock

    async def register(self, device: str = "laptop") -> Client:
        name = f"acct_{next(_names)}"
        email = f"{name}@example.com"
        response = await self.http.post(
            "/v1/auth/register",
            json={"email": email, "username": name, "password": PASSWORD, "device": device},
            headers={"User-Agent": f"{device}-agent"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        auth = {"Authorization": f"Bearer {body['token']}"}
        return Client(body["user"]["id"], email, name, auth)

    async def login(self, email: str, password: str = PASSWORD, device: str = "phone") -> Any:
        return await self.http.post(
            "/v1/auth/login",
            json={"email": email, "password": password, "device": device},
            headers={"User-Agent": f"{device}-agent"},
        )

    async def session(self, email: str, device: str = "phone") -> dict[str, str]:
        response = await self.login(email, device=device)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@asynccontextmanager
async def _world(
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    limits: RateLimits = NO_LIMITS,
) -> AsyncIterator[World]:
    use_hasher(monkeypatch)
    with smtp_server() as inbox:
        mailing = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": inbox.port})
        app = create_app(mailing, database=db, rate_limits=limits)
        root: Stratabase = app.state.stratabase
        clock = Clock()
        root.accounts.clock = clock
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield World(http, root, inbox, clock)


def _field(problem: dict[str, Any]) -> str:
    return str(problem["errors"][0]["field"])


async def test_profile_edit_is_seen_by_the_next_public_read(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me, other = await w.register(), await w.register()
        post = await w.http.post(
            "/v1/posts",
            json={"kind": "article", "title": "Before", "status": "published"},
            headers=me.headers,
        )
        post_path = f"/v1/posts/{post.json()['id']}"
        assert (await w.http.get(post_path)).json()["author"]["username"] == me.username
        before = await w.http.get(f"/v1/users/{me.id}")  # fills the profile cache
        assert before.status_code == 200 and before.json()["username"] == me.username
        edit = {
            "name": "New Name",
            "bio": "Writes things.",
            "avatar_url": "https://example.com/a.png",
            "timezone": "Europe/Paris",
            "username": f"{me.username}_x",
        }
        answer = await w.http.patch("/v1/me", json=edit, headers=me.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["timezone"] == "Europe/Paris"
        after = (await w.http.get(f"/v1/users/{me.id}")).json()
        assert {k: after[k] for k in ("name", "bio", "avatar_url", "username")} == {
            k: edit[k] for k in ("name", "bio", "avatar_url", "username")
        }
        assert (await w.http.get(post_path)).json()["author"]["username"] == edit["username"]
        found = await w.http.get("/v1/users", params={"search": f"{me.username}_x"})
        assert [u["id"] for u in found.json()["items"]] == [me.id]

        taken = await w.http.patch("/v1/me", json={"username": other.username}, headers=me.headers)
        assert _field(assert_problem(taken, 409)) == "username"
        bad_zone = await w.http.patch(
            "/v1/me", json={"timezone": "Mars/Olympus"}, headers=me.headers
        )
        assert _field(assert_problem(bad_zone, 422)) == "timezone"
        null_name = await w.http.patch("/v1/me", json={"username": None}, headers=me.headers)
        assert _field(assert_problem(null_name, 422)) == "username"
        cleared = await w.http.patch("/v1/me", json={"bio": None}, headers=me.headers)
        assert cleared.json()["bio"] is None and cleared.json()["name"] == "New Name"


async def test_password_change_revokes_every_other_session(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me = await w.register()
        phone = await w.session(me.email)
        wrong = await w.http.post(
            "/v1/me/password",
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=me.headers,
        )
        assert _field(assert_problem(wrong, 403)) == "current_password"
        weak = await w.http.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "password123"},
            headers=me.headers,
        )
        assert _field(assert_problem(weak, 422)) == "new_password"
        changed = await w.http.post(
            "/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=me.headers,
        )
        assert changed.status_code == 200 and changed.json() == {"revoked": 1}
        assert (await w.http.get("/v1/me", headers=phone)).status_code == 401
        assert (await w.http.get("/v1/me", headers=me.headers)).status_code == 200
        assert (await w.login(me.email)).status_code == 401
        assert (await w.login(me.email, NEW_PASSWORD)).status_code == 200
        async with db.session() as session:
            entries = (
                await session.execute(
                    select(AuditLog.actor_id, AuditLog.resource_id, AuditLog.changes).where(
                        AuditLog.action == "password.changed"
                    )
                )
            ).all()
        # the change is in the audit log, with how many sessions it revoked
        assert [(e.actor_id, e.resource_id, e.changes) for e in entries] == [
            (me.id, str(me.id), {"sessions": [None, 1]})
        ]


async def test_reset_by_mail_through_smtp_is_single_use_and_revokes_all_sessions(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me = await w.register()
        phone = await w.session(me.email)
        known = await w.http.post("/v1/account/password-reset", json={"email": me.email})
        unknown = await w.http.post(
            "/v1/account/password-reset", json={"email": "nobody@example.com"}
        )
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        (mail,) = await w.inbox.wait_for(1)
        assert mail["To"] == me.email
        token = token_in(mail)

        confirm = {"token": token, "new_password": NEW_PASSWORD}
        done = await w.http.post("/v1/account/password-reset/confirm", json=confirm)
        assert done.status_code == 204, done.text
        for headers in (me.headers, phone):
            assert (await w.http.get("/v1/me", headers=headers)).status_code == 401
        again = await w.http.post(
            "/v1/account/password-reset/confirm", json={**confirm, "new_password": PASSWORD}
        )
        assert _field(assert_problem(again, 422)) == "token"
        assert (await w.login(me.email, NEW_PASSWORD)).status_code == 200
        assert (await w.login(me.email, PASSWORD)).status_code == 401
        forged = {"token": "x" * 43, "new_password": NEW_PASSWORD}
        assert_problem(await w.http.post("/v1/account/password-reset/confirm", json=forged), 422)
        assert len(w.inbox.messages) == 1, "the unknown email got no mail"


async def test_tokens_expire_by_the_service_clock(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me = await w.register()
        await w.http.post("/v1/account/password-reset", json={"email": me.email})
        (mail,) = await w.inbox.wait_for(1)
        w.clock.now += timedelta(minutes=settings.reset_token_minutes + 1)
        late = await w.http.post(
            "/v1/account/password-reset/confirm",
            json={"token": token_in(mail), "new_password": NEW_PASSWORD},
        )
        assert _field(assert_problem(late, 422)) == "token"
        assert (await w.login(me.email)).status_code == 200  # the password did not change

        # Verification: good once within its lifetime; then the email shows verified.
        mine = await w.http.get("/v1/me/account", headers=me.headers)
        assert mine.json()["email_verified"] is False
        sent = await w.http.post("/v1/me/email-verification", headers=me.headers)
        assert sent.status_code == 202
        stale = token_in((await w.inbox.wait_for(2))[1])
        w.clock.now += timedelta(hours=settings.verify_token_hours + 1)
        expired = await w.http.post("/v1/account/verify-email", json={"token": stale})
        assert _field(assert_problem(expired, 422)) == "token"
        await w.http.post("/v1/me/email-verification", headers=me.headers)
        fresh = token_in((await w.inbox.wait_for(3))[2])
        assert fresh != stale
        ok = await w.http.post("/v1/account/verify-email", json={"token": fresh})
        assert ok.status_code == 204, ok.text
        reused = await w.http.post("/v1/account/verify-email", json={"token": fresh})
        assert _field(assert_problem(reused, 422)) == "token"
        mine = await w.http.get("/v1/me/account", headers=me.headers)
        assert mine.json()["email_verified"] is True
        more = await w.http.post("/v1/me/email-verification", headers=me.headers)
        assert _field(assert_problem(more, 409)) == "email"


async def test_sessions_by_device_and_revocation(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me, other = await w.register(device="laptop"), await w.register()
        phone = await w.session(me.email, device="phone")
        tablet = await w.session(me.email, device="tablet")
        listed = await w.http.get("/v1/me/sessions", params={"limit": 2}, headers=me.headers)
        assert listed.status_code == 200
        first = listed.json()
        assert [s["device"] for s in first["items"]] == ["tablet", "phone"]
        assert first["has_more"] is True
        assert first["items"][0]["user_agent"] == "tablet-agent"
        rest = await w.http.get(
            "/v1/me/sessions", params={"cursor": first["next_cursor"]}, headers=me.headers
        )
        (laptop,) = rest.json()["items"]
        assert laptop["device"] == "laptop" and laptop["current"] is True
        assert rest.json()["has_more"] is False
        phone_id = first["items"][1]["id"]

        # Another user cannot see or revoke my sessions.
        theirs = await w.http.get("/v1/me/sessions", headers=other.headers)
        assert phone_id not in [s["id"] for s in theirs.json()["items"]]
        assert_problem(
            await w.http.delete(f"/v1/me/sessions/{phone_id}", headers=other.headers), 404
        )
        assert (await w.http.get("/v1/me", headers=phone)).status_code == 200

        gone = await w.http.delete(f"/v1/me/sessions/{phone_id}", headers=me.headers)
        assert gone.status_code == 204
        assert (await w.http.get("/v1/me", headers=phone)).status_code == 401
        assert_problem(await w.http.delete(f"/v1/me/sessions/{phone_id}", headers=me.headers), 404)
        others = await w.http.post("/v1/me/sessions/revoke-others", headers=me.headers)
        assert others.json() == {"revoked": 1}
        assert (await w.http.get("/v1/me", headers=tablet)).status_code == 401
        assert (await w.http.get("/v1/me", headers=me.headers)).status_code == 200
        assert (await w.http.get("/v1/me", headers=other.headers)).status_code == 200


async def test_anonymous_callers_get_401_on_every_me_route(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        calls = [
            ("GET", "/v1/me/account", None),
            ("PATCH", "/v1/me", {"name": "x"}),
            ("POST", "/v1/me/password", {"current_password": "a", "new_password": NEW_PASSWORD}),
            ("POST", "/v1/me/email-verification", None),
            ("GET", "/v1/me/sessions", None),
            ("DELETE", "/v1/me/sessions/1", None),
            ("POST", "/v1/me/sessions/revoke-others", None),
            ("POST", "/v1/me/delete", {"password": PASSWORD}),
            ("POST", "/v1/me/exports", None),
            ("GET", "/v1/me/exports/1", None),
        ]
        for method, path, body in calls:
            response = await w.http.request(method, path, json=body)
            assert_problem(response, 401)


async def test_delete_account_rules(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        rich, me, fan = await w.register(), await w.register(), await w.register()
        await w.root.ledger.credit(rich.id, 5, reason="welcome")
        refused = await w.http.post(
            "/v1/me/delete", json={"password": PASSWORD}, headers=rich.headers
        )
        assert _field(assert_problem(refused, 409)) == "wallet"
        assert (await w.http.get("/v1/me", headers=rich.headers)).status_code == 200

        post = await w.http.post(
            "/v1/posts",
            json={"kind": "article", "title": "Mine", "status": "published"},
            headers=me.headers,
        )
        assert post.status_code == 201, post.text
        assert (await w.http.post(f"/v1/users/{me.id}/follow", headers=fan.headers)).is_success
        profile = (await w.http.get(f"/v1/users/{fan.id}")).json()  # cached
        assert profile["stats"]["following"] == 1
        wrong = await w.http.post(
            "/v1/me/delete", json={"password": "not it at all"}, headers=me.headers
        )
        assert _field(assert_problem(wrong, 403)) == "password"
        deleted = await w.http.post(
            "/v1/me/delete", json={"password": PASSWORD}, headers=me.headers
        )
        assert deleted.status_code == 204, deleted.text
        assert (await w.http.get("/v1/me", headers=me.headers)).status_code == 401
        assert (await w.login(me.email)).status_code == 401
        assert_problem(await w.http.get(f"/v1/users/{me.id}"), 404)
        assert (await w.http.get(f"/v1/users/{fan.id}")).json()["stats"]["following"] == 0
        kept = await w.http.get(f"/v1/posts/{post.json()['id']}")
        assert kept.status_code == 200, "posts stay, under the placeholder"
        assert kept.json()["author"]["username"] == f"deleted-{me.id}"
        # The email and username are free again.
        again = await w.http.post(
            "/v1/auth/register",
            json={"email": me.email, "username": me.username, "password": PASSWORD},
        )
        assert again.status_code == 201, again.text


async def test_export_is_a_job_only_its_owner_reads(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me, other = await w.register(), await w.register()
        await w.http.post(
            "/v1/posts",
            json={"kind": "article", "title": "Exported", "status": "published"},
            headers=me.headers,
        )
        started = await w.http.post("/v1/me/exports", headers=me.headers)
        assert started.status_code == 202, started.text
        export_id = started.json()["id"]
        assert started.json()["status"] == "pending"
        again = await w.http.post("/v1/me/exports", headers=me.headers)
        assert again.json()["id"] == export_id, "one pending export at a time"
        assert_problem(await w.http.get(f"/v1/me/exports/{export_id}", headers=other.headers), 404)
        assert_problem(await w.http.get(f"/v1/me/exports/{export_id}"), 401)

        registry = Registry()
        export.register(registry)
        config = WorkerConfig(
            concurrency=2,
            lease_seconds=30,
            poll_interval=0.05,
            flush_interval=0.01,
            run_periodic=False,
        )
        worker = Worker(db, settings, registry, config)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            body = await _until_done(w.http, export_id, me.headers)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
        data = body["data"]
        assert data["account"]["username"] == me.username
        assert data["account"]["email"] == me.email
        assert [p["title"] for p in data["posts"]] == ["Exported"]
        assert "password_hash" not in str(data)
        assert data["sessions"][0]["device"] == "laptop"
        assert_problem(await w.http.get(f"/v1/me/exports/{export_id}", headers=other.headers), 404)


async def _until_done(
    http: httpx.AsyncClient, export_id: int, headers: dict[str, str], timeout: float = 60.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await http.get(f"/v1/me/exports/{export_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == "done":
            return body
        if loop.time() > deadline:
            raise AssertionError(f"export still {body['status']}")
        await asyncio.sleep(0.05)


async def test_token_flows_share_the_per_ip_sign_in_budget(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reset requests and token redemptions are limited per IP like sign-in (429 with
    Retry-After), known and unknown emails alike."""
    async with _world(settings, db, monkeypatch, RateLimits(auth="3/hour")) as w:
        statuses = [
            (
                await w.http.post("/v1/account/password-reset", json={"email": f"n{n}@example.com"})
            ).status_code
            for n in range(3)
        ]
        assert statuses == [202] * 3
        refused = await w.http.post("/v1/account/verify-email", json={"token": "x" * 43})
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1


async def test_a_token_racing_itself_wins_once(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _world(settings, db, monkeypatch) as w:
        me = await w.register()
        await w.http.post("/v1/account/password-reset", json={"email": me.email})
        token = token_in((await w.inbox.wait_for(1))[0])
        answers = await asyncio.gather(
            *(
                w.http.post(
                    "/v1/account/password-reset/confirm",
                    json={"token": token, "new_password": f"{NEW_PASSWORD} {n}"},
                )
                for n in range(4)
            )
        )
        assert sorted(a.status_code for a in answers) == [204, 422, 422, 422]
        winner = next(n for n, a in enumerate(answers) if a.status_code == 204)
        assert (await w.login(me.email, f"{NEW_PASSWORD} {winner}")).status_code == 200
