"""The admin job endpoints: admins only, enqueue/dedup, list/filter, read, retry, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    async for value in make_api(settings, db):
        yield value


async def test_admin_job_endpoints(api: Api) -> None:
    admin, user = await api.user(role=Role.ADMIN), await api.user()
    http, headers = api.http, admin.headers
    body = {"task": "noop", "queue": "default", "unique_key": "once", "payload": {"a": 1}}

    assert_problem(await http.get("/v1/jobs"), 401)
    assert_problem(await http.get("/v1/jobs", headers=user.headers), 403)
    assert_problem(await http.post("/v1/jobs", json=body, headers=user.headers), 403)

    created = await http.post("/v1/jobs", json=body, headers=headers)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "queued" and job["payload"] == {"a": 1}
    assert_problem(await http.post("/v1/jobs", json=body, headers=headers), 409)
    bad = await http.post("/v1/jobs", json={"task": "noop", "queue": "Bad Queue!"}, headers=headers)
    assert_problem(bad, 422)
    other = await http.post("/v1/jobs", json={"task": "noop", "queue": "q2"}, headers=headers)
    assert other.status_code == 201

    listed = await http.get("/v1/jobs", params={"queue": "default"}, headers=headers)
    assert [item["id"] for item in listed.json()["items"]] == [job["id"]]
    by_status = await http.get(
        "/v1/jobs", params={"status": ["queued"], "limit": 1}, headers=headers
    )
    assert by_status.json()["next_before"] == other.json()["id"]
    assert (await http.get(f"/v1/jobs/{job['id']}", headers=headers)).json()["unique_key"] == "once"
    assert_problem(await http.get("/v1/jobs/999999", headers=headers), 404)

    assert_problem(await http.post(f"/v1/jobs/{job['id']}/retry", headers=headers), 409)
    cancelled = await http.post(f"/v1/jobs/{job['id']}/cancel", headers=headers)
    assert cancelled.json()["status"] == "cancelled"
    assert_problem(await http.post(f"/v1/jobs/{job['id']}/cancel", headers=headers), 409)
    retried = await http.post(f"/v1/jobs/{job['id']}/retry", headers=headers)
    assert retried.json()["status"] == "queued"

    bulk = await http.post("/v1/jobs/cancel", json={"queue": "q2"}, headers=headers)
    assert bulk.json() == {"ids": [other.json()["id"]]}
    assert_problem(await http.post("/v1/jobs/cancel", json={}, headers=headers), 422)
    again = await http.post("/v1/jobs/retry", json={"task": "noop"}, headers=headers)
    assert again.json() == {"ids": [other.json()["id"]]}
