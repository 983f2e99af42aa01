"""Who may call each moderation and audit route: anonymous, a user, the author whose content
was decided on, a moderator (not the one who decided), an admin. ``ALLOWED`` means the
caller got past authorization (any answer but 401/403; the exact one depends on state)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.settings import Settings
from tests.acceptance.api_support import Actor, Api, make_api

ALLOWED = "allowed"
ROLES = ("anonymous", "user", "author", "moderator", "admin")
M = "/v1/moderation"


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _world(api: Api) -> dict[str, Any]:
    author, reporter = await api.user(), await api.user()
    decider = await api.user(role=Role.MODERATOR)
    actors = {
        "user": await api.user(),
        "author": author,
        "moderator": await api.user(role=Role.MODERATOR),
        "admin": await api.user(role=Role.ADMIN),
    }
    post = await api.post(author)
    body = {"target_type": "post", "target_id": post["id"], "reason": "spam"}
    report = (await api.http.post(f"{M}/reports", json=body, headers=reporter.headers)).json()
    await api.http.post(f"{M}/reports/{report['id']}/claim", headers=decider.headers)
    review = (
        await api.http.post(
            f"{M}/reports/{report['id']}/decision", json={"action": "warn"}, headers=decider.headers
        )
    ).json()
    appeal = (
        await api.http.post(
            f"{M}/decisions/{review['id']}/appeal", json={"statement": "no"}, headers=author.headers
        )
    ).json()
    return {
        "actors": actors,
        "author": author,
        "report": report,
        "review": review,
        "appeal": appeal,
    }


async def test_every_new_route_authorizes_each_role(api: Api) -> None:
    world = await _world(api)
    author: Actor = world["author"]
    report, review, appeal = world["report"]["id"], world["review"]["id"], world["appeal"]["id"]
    fresh = itertools.count()

    async def fresh_report_body() -> dict[str, Any]:
        post = await api.post(author, title=f"post {next(fresh)}")
        return {"target_type": "post", "target_id": post["id"], "reason": "spam"}

    mod_only = {"anonymous": 401, "user": 403, "author": 403, "moderator": 200, "admin": 200}
    mod_acts = {
        "anonymous": 401,
        "user": 403,
        "author": 403,
        "moderator": ALLOWED,
        "admin": ALLOWED,
    }
    admin_only = {"anonymous": 401, "user": 403, "author": 403, "moderator": 403, "admin": 200}
    matrix: list[tuple[str, str, Any, dict[str, Any]]] = [
        ("POST", f"{M}/reports", fresh_report_body,
         {"anonymous": 401, "user": 201, "author": 422, "moderator": 201, "admin": 201}),
        ("GET", f"{M}/reports/{report}", None,
         {"anonymous": 401, "user": 404, "author": 404, "moderator": 200, "admin": 200}),
        ("GET", f"{M}/queue", None, mod_only),
        ("POST", f"{M}/queue/claim", None, mod_acts),
        ("POST", f"{M}/reports/{report}/claim", None, mod_acts),
        ("POST", f"{M}/reports/{report}/decision", {"action": "dismiss"}, mod_acts),
        ("GET", f"{M}/decisions/mine", None,
         {"anonymous": 401, "user": 200, "author": 200, "moderator": 200, "admin": 200}),
        ("POST", f"{M}/decisions/{review}/appeal", {"statement": "again"},
         {"anonymous": 401, "user": 404, "author": 409, "moderator": 404, "admin": 404}),
        ("GET", f"{M}/appeals", None, mod_only),
        ("POST", f"{M}/appeals/{appeal}/decision", {"outcome": "upheld"}, mod_acts),
        ("PUT", f"{M}/users/{author.id}/role", {"role": "user"}, admin_only),
        ("GET", "/v1/audit", None, admin_only),
        ("GET", "/v1/audit/verify", None, admin_only),
    ]  # fmt: skip
    failures = []
    for method, path, body, expected in matrix:
        for role in ROLES:
            headers = {} if role == "anonymous" else world["actors"][role].headers
            payload = await body() if callable(body) else body
            response = await api.http.request(method, path, json=payload, headers=headers)
            want = expected[role]
            ok = (
                response.status_code not in (401, 403)
                if want == ALLOWED
                else response.status_code == want
            )
            if not ok:
                failures.append(f"{method} {path} as {role}: {response.status_code} != {want}")
    assert failures == []
