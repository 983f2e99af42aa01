"""Moderation over HTTP on both backends: report → auto-hide → claim → decision → appeal
decided by another moderator; suspensions that end; racing moderators; bad input."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from stratabase.api.app import create_app
from stratabase.cache import Cache, memory_cache
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role
from stratabase.models import ChangeEvent
from stratabase.moderation.service import lift_expired
from stratabase.settings import Settings
from tests.acceptance.api_support import NO_LIMITS, Actor, Api, assert_problem, make_api

M = "/v1/moderation"


@pytest.fixture
def cache() -> Cache:
    """The app's cache, shared with the suspension job run by the test."""
    return memory_cache()


@pytest.fixture
async def api(settings: Settings, db: Database, cache: Cache) -> AsyncIterator[Api]:
    tuned = settings.model_copy(update={"moderation_auto_hide_reports": 2})
    app = create_app(tuned, database=db, cache=cache, rate_limits=NO_LIMITS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Api(http, db)


async def _report(api: Api, who: Actor, kind: str, target: int, **extra: Any) -> Any:
    body = {"target_type": kind, "target_id": target, "reason": "spam", **extra}
    return await api.http.post(f"{M}/reports", json=body, headers=who.headers)


async def test_report_autohide_claim_decide_appeal(api: Api) -> None:
    author, r1, r2 = await api.user(), await api.user(), await api.user()
    m1, m2 = await api.user(role=Role.MODERATOR), await api.user(role=Role.MODERATOR)
    admin = await api.user(role=Role.ADMIN)
    post = await api.post(author, title="Buy cheap watches")
    first = await _report(
        api, r1, "post", post["id"], severity="high", evidence_urls=["https://ex.com/a.png"]
    )
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "open"
    assert_problem(await _report(api, r1, "post", post["id"]), 409)
    assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 200
    second = await _report(api, r2, "post", post["id"], severity="low")
    assert second.status_code == 201
    # two open reports reach the threshold: hidden pending review, still the author's
    assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 404
    mine = await api.http.get(f"/v1/posts/{post['id']}", headers=author.headers)
    assert mine.status_code == 200 and mine.json()["status"] == "hidden"

    queue = (await api.http.get(f"{M}/queue", headers=m1.headers)).json()
    head = queue["items"][0]
    assert [i["report"]["id"] for i in queue["items"]] == [first.json()["id"], second.json()["id"]]
    assert head["target"]["title"] == "Buy cheap watches" and head["target"]["status"] == "hidden"
    assert head["open_reports_on_target"] == 2
    assert head["reporter_history"] == {"total": 1, "open": 1, "resolved": 0, "dismissed": 0}

    report_id = first.json()["id"]
    claimed = await api.http.post(f"{M}/reports/{report_id}/claim", headers=m1.headers)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == m1.id
    assert_problem(await api.http.post(f"{M}/reports/{report_id}/claim", headers=m2.headers), 409)
    decision_body = {"action": "hide", "notes": "spam links"}
    assert_problem(
        await api.http.post(
            f"{M}/reports/{report_id}/decision", json=decision_body, headers=m2.headers
        ),
        409,
    )
    decided = await api.http.post(
        f"{M}/reports/{report_id}/decision", json=decision_body, headers=m1.headers
    )
    assert decided.status_code == 201, decided.text
    review = decided.json()
    assert review["action"] == "hide" and review["subject_id"] == author.id
    assert (await api.http.get(f"{M}/queue", headers=m1.headers)).json()["items"] == []
    other = await api.http.get(f"{M}/reports/{second.json()['id']}", headers=r2.headers)
    assert other.json()["status"] == "resolved"
    assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 404

    about_me = (await api.http.get(f"{M}/decisions/mine", headers=author.headers)).json()
    assert [d["id"] for d in about_me["items"]] == [review["id"]]
    appeal_url = f"{M}/decisions/{review['id']}/appeal"
    appealed = await api.http.post(
        appeal_url, json={"statement": "they are real watches"}, headers=author.headers
    )
    assert appealed.status_code == 201, appealed.text
    assert_problem(
        await api.http.post(appeal_url, json={"statement": "again"}, headers=author.headers), 409
    )
    appeals = (await api.http.get(f"{M}/appeals", headers=m2.headers)).json()
    assert [a["id"] for a in appeals["items"]] == [appealed.json()["id"]]
    verdict_url = f"{M}/appeals/{appealed.json()['id']}/decision"
    assert_problem(
        await api.http.post(verdict_url, json={"outcome": "overturned"}, headers=m1.headers), 403
    )
    overturned = await api.http.post(
        verdict_url, json={"outcome": "overturned", "notes": "fair"}, headers=m2.headers
    )
    assert overturned.status_code == 200 and overturned.json()["status"] == "overturned"
    assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 200
    assert_problem(
        await api.http.post(verdict_url, json={"outcome": "upheld"}, headers=admin.headers), 409
    )

    audit = (await api.http.get("/v1/audit", params={"actor": m1.id}, headers=admin.headers)).json()
    assert [e["action"] for e in audit["items"]] == ["moderation.hide"]
    assert audit["items"][0]["resource_id"] == str(report_id)
    actions = {
        e["action"]
        for e in (await api.http.get("/v1/audit", headers=admin.headers)).json()["items"]
    }
    assert {"moderation.auto_hide", "moderation.appeal_overturned"} <= actions
    assert (await api.http.get("/v1/audit/verify", headers=admin.headers)).json()["ok"] is True
    async with api.db.session() as session:
        events = (
            await session.execute(
                select(ChangeEvent.topic, ChangeEvent.type).order_by(ChangeEvent.id)
            )
        ).all()
    moderation = [t for topic, t in events if topic == "moderation"]
    assert moderation == [
        "report.created", "report.created", "target.held", "report.decided",
        "appeal.created", "appeal.decided",
    ]  # fmt: skip
    assert (f"me:{author.id}", "moderation.decision") in events
    assert (f"post:{post['id']}", "post.hidden") in events


async def test_dismissal_restores_auto_hidden_comment(api: Api) -> None:
    author, r1, r2 = await api.user(), await api.user(), await api.user()
    mod = await api.user(role=Role.MODERATOR)
    post = await api.post(author)
    comment = await api.comment(author, post["id"], body="a fine comment")
    for reporter in (r1, r2):
        assert (await _report(api, reporter, "comment", comment["id"])).status_code == 201
    listed = (await api.http.get(f"/v1/posts/{post['id']}/comments")).json()
    assert [(c["id"], c["deleted"], c["body"]) for c in listed["items"]] == [
        (comment["id"], True, "")
    ]
    claimed = await api.http.post(f"{M}/queue/claim", headers=mod.headers)
    assert claimed.status_code == 200
    decided = await api.http.post(
        f"{M}/reports/{claimed.json()['id']}/decision",
        json={"action": "dismiss"},
        headers=mod.headers,
    )
    assert decided.status_code == 201
    listed = (await api.http.get(f"/v1/posts/{post['id']}/comments")).json()
    assert [(c["id"], c["deleted"], c["body"]) for c in listed["items"]] == [
        (comment["id"], False, "a fine comment")
    ]
    assert (await api.http.post(f"{M}/queue/claim", headers=mod.headers)).status_code == 204
    # nothing was taken from the author: a dismissal cannot be appealed
    assert_problem(
        await api.http.post(
            f"{M}/decisions/{decided.json()['id']}/appeal",
            json={"statement": "?"},
            headers=author.headers,
        ),
        422,
    )


async def test_suspension_ends_by_itself_and_ban_is_lifted_on_appeal(
    api: Api, db: Database, cache: Cache
) -> None:
    troll, reporter = await api.user(), await api.user()
    m1, m2 = await api.user(role=Role.MODERATOR), await api.user(role=Role.MODERATOR)

    async def decide(body: dict[str, Any]) -> dict[str, Any]:
        filed = await _report(api, reporter, "user", troll.id, reason="harassment")
        assert filed.status_code == 201, filed.text
        await api.http.post(f"{M}/reports/{filed.json()['id']}/claim", headers=m1.headers)
        done = await api.http.post(
            f"{M}/reports/{filed.json()['id']}/decision", json=body, headers=m1.headers
        )
        assert done.status_code == 201, done.text
        return done.json()  # type: ignore[no-any-return]

    assert_problem(
        await api.http.post(
            f"{M}/reports/1/decision", json={"action": "suspend"}, headers=m1.headers
        ),
        422,
    )
    suspended = await decide({"action": "suspend", "suspend_hours": 1})
    assert suspended["suspended_until"] is not None
    write = await api.http.post(
        "/v1/posts", json={"kind": "note", "title": "x"}, headers=troll.headers
    )
    assert_problem(write, 403)
    assert await lift_expired(db, cache) == 0  # not yet over
    assert await lift_expired(db, cache, now=utcnow() + timedelta(hours=2)) == 1
    await api.post(troll, title="back again")

    banned = await decide({"action": "ban"})
    assert_problem(
        await api.http.post(
            "/v1/posts", json={"kind": "note", "title": "y"}, headers=troll.headers
        ),
        403,
    )
    # a banned (suspended) account may still appeal
    appeal = await api.http.post(
        f"{M}/decisions/{banned['id']}/appeal", json={"statement": "sorry"}, headers=troll.headers
    )
    assert appeal.status_code == 201, appeal.text
    lifted = await api.http.post(
        f"{M}/appeals/{appeal.json()['id']}/decision",
        json={"outcome": "overturned"},
        headers=m2.headers,
    )
    assert lifted.status_code == 200
    await api.post(troll, title="reinstated")


async def test_two_moderators_racing_for_one_report(api: Api) -> None:
    author, reporter = await api.user(), await api.user()
    mods = [await api.user(role=Role.MODERATOR) for _ in range(4)]
    post = await api.post(author)
    report = (await _report(api, reporter, "post", post["id"])).json()
    answers = await asyncio.gather(
        *(api.http.post(f"{M}/reports/{report['id']}/claim", headers=m.headers) for m in mods)
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    # claim-next: racing moderators get different reports, never the same one
    posts = [await api.post(author) for _ in range(3)]
    for p in posts:
        assert (await _report(api, reporter, "post", p["id"])).status_code == 201
    claims = await asyncio.gather(
        *(api.http.post(f"{M}/queue/claim", headers=m.headers) for m in mods)
    )
    got = [c.json()["id"] for c in claims if c.status_code == 200]
    assert len(got) == 3 and len(set(got)) == 3
    assert sorted(c.status_code for c in claims) == [200, 200, 200, 204]


async def test_reports_refuse_bad_input(api: Api) -> None:
    author, reporter = await api.user(), await api.user()
    post = await api.post(author)
    bad_url = await _report(api, reporter, "post", post["id"], evidence_urls=["ftp://x/y"])
    assert "evidence_urls" in str(assert_problem(bad_url, 422))
    too_many = [f"https://ex.com/{n}" for n in range(6)]
    assert_problem(await _report(api, reporter, "post", post["id"], evidence_urls=too_many), 422)
    long_url = ["https://ex.com/" + "a" * 600]
    assert_problem(await _report(api, reporter, "post", post["id"], evidence_urls=long_url), 422)
    assert_problem(await _report(api, reporter, "post", post["id"], reason="boring"), 422)
    assert_problem(await _report(api, reporter, "media", post["id"]), 422)
    assert_problem(await _report(api, reporter, "post", 999_999), 404)
    assert_problem(await _report(api, author, "post", post["id"]), 422)
    draft = await api.post(author, status="draft")
    assert_problem(await _report(api, reporter, "post", draft["id"]), 404)


async def test_reports_have_a_budget_of_their_own(settings: Settings, db: Database) -> None:
    limits = dataclasses.replace(NO_LIMITS, report="2/hour")
    async for api in make_api(settings, db, limits):
        author, reporter = await api.user(), await api.user()
        posts = [await api.post(author) for _ in range(3)]
        answers = [(await _report(api, reporter, "post", p["id"])).status_code for p in posts]
        assert answers == [201, 201, 429]
        other = await api.user()  # per user: someone else still may
        assert (await _report(api, other, "post", posts[2]["id"])).status_code == 201
