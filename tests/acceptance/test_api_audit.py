"""The audit log over HTTP: security events appended with who, what and from where; admins
read it with filters and keyset pages; the chain verifies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import Role
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, make_api
from tests.acceptance.auth_support import account


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for api in make_api(settings, db):
        yield api


async def _entries(api: Api, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/v1/audit", params=query, headers=headers)).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


async def test_security_events_are_audited_with_their_origin(api: Api, db: Database) -> None:
    admin = await api.user(role=Role.ADMIN)
    email = await account(db, None)
    before = utcnow() - timedelta(seconds=1)
    refused = await api.http.post(
        "/v1/auth/login",
        json={"email": email, "password": "not the right one"},
        headers={"User-Agent": "audit-test/1.0", "X-Request-ID": "req-123"},
    )
    assert refused.status_code == 401
    user = await api.user()
    assert (await api.http.post("/v1/auth/logout", headers=user.headers)).status_code == 204
    minted = await api.http.post(
        "/v1/wallet/credits",
        json={"user_id": user.id, "amount": 50, "reason": "welcome"},
        headers={**admin.headers, "Idempotency-Key": "audit-mint-0001"},
    )
    assert minted.status_code == 201, minted.text
    job = await api.http.post("/v1/jobs", json={"task": "usage.aggregate"}, headers=admin.headers)
    assert job.status_code == 201, job.text
    cancel = await api.http.post(f"/v1/jobs/{job.json()['id']}/cancel", headers=admin.headers)
    assert cancel.status_code == 200
    cancelled = await _entries(api, admin.headers, action="job.cancelled")
    assert [(e["actor_id"], e["resource_id"]) for e in cancelled] == [
        (admin.id, str(job.json()["id"]))
    ]
    helper = await api.user()
    queue = "/v1/moderation/queue"
    assert (await api.http.get(queue, headers=helper.headers)).status_code == 403
    granted = await api.http.put(
        f"/v1/moderation/users/{helper.id}/role", json={"role": "moderator"}, headers=admin.headers
    )
    assert granted.status_code == 200 and granted.json()["role"] == "moderator"
    assert (await api.http.get(queue, headers=helper.headers)).status_code == 200  # at once
    roles = await _entries(api, admin.headers, action="user.role_changed")
    assert roles[0]["changes"] == {"role": ["user", "moderator"]}
    assert roles[0]["resource_id"] == str(helper.id)

    failed = await _entries(api, admin.headers, action="auth.login_failed")
    assert len(failed) == 1
    entry = failed[0]
    assert entry["user_agent"] == "audit-test/1.0" and entry["request_id"] == "req-123"
    assert entry["ip"] and email not in str(entry)  # the email is kept only as a digest
    revoked = await _entries(api, admin.headers, actor=user.id)
    assert [e["action"] for e in revoked] == ["session.revoked"]
    mints = await _entries(api, admin.headers, action="wallet.minted")
    assert mints[0]["actor_id"] == admin.id
    assert mints[0]["changes"]["amount"] == [None, 50]
    assert mints[0]["resource_id"] == str(minted.json()["id"])

    everything = await _entries(api, admin.headers, since=before.isoformat())
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids)) >= 3
    later = await _entries(api, admin.headers, since=(utcnow() + timedelta(hours=1)).isoformat())
    assert later == []
    assert everything[-1]["prev_hash"] == "0" * 64  # the first sealed row starts the chain
    check = (await api.http.get("/v1/audit/verify", headers=admin.headers)).json()
    assert check == {"ok": True, "checked": len(ids), "unsealed": 0, "broken_id": None,
                     "reason": None}  # fmt: skip
