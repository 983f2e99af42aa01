"""The admin job endpoints: admins only, enqueue/dedup, list/filter, read, retry, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.jobs.registry import builtin_registry
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api
from tests.acceptance.test_jobs_cli import _run


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
    # Omitted max_attempts is the task's own (noop: 1), not JobCreate's default of 5.
    assert job["max_attempts"] == builtin_registry().get("noop").max_attempts == 1
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
    first = by_status.json()
    assert [item["id"] for item in first["items"]] == [other.json()["id"]]
    assert first["has_more"] is True and "next_before" not in first
    older = await http.get(
        "/v1/jobs",
        params={"status": ["queued"], "limit": 1, "cursor": first["next_cursor"]},
        headers=headers,
    )
    assert [item["id"] for item in older.json()["items"]] == [job["id"]]
    assert older.json()["next_cursor"] is None and older.json()["has_more"] is False
    forged = await http.get("/v1/jobs", params={"cursor": "1.abc"}, headers=headers)
    assert_problem(forged, 422)
    assert forged.json()["errors"][0]["field"] == "cursor"
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


async def test_an_unknown_task_is_refused_naming_the_known_ones(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    response = await api.http.post("/v1/jobs", json={"task": "nope"}, headers=admin.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "task"
    assert "known tasks:" in problem["detail"] and "noop" in problem["detail"]
    listed = await api.http.get("/v1/jobs", headers=admin.headers)
    assert listed.json()["items"] == []


async def test_http_and_cli_make_the_same_job(api: Api, database_url: str) -> None:
    """The same request through either entry point: the task's queue and attempts, or the
    ones given, identically."""
    admin = await api.user(role=Role.ADMIN)
    crawl = builtin_registry().get("crawl")
    cases: list[tuple[dict[str, object], list[str]]] = [
        ({"task": "crawl"}, []),
        (
            {"task": "crawl", "queue": "other", "max_attempts": 7},
            ["--queue", "other", "--max-attempts", "7"],
        ),
    ]
    made = []
    for body, options in cases:
        response = await api.http.post("/v1/jobs", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        by_cli = _run(database_url, "jobs", "enqueue", "crawl", *options)
        assert by_cli.returncode == 0, by_cli.stderr
        cli_job = await api.http.get(f"/v1/jobs/{by_cli.stdout.strip()}", headers=admin.headers)
        pair = [(job["queue"], job["max_attempts"]) for job in (response.json(), cli_job.json())]
        assert pair[0] == pair[1]
        made.append(pair[0])
    assert made == [(crawl.queue, crawl.max_attempts), ("other", 7)]

    unknown = _run(database_url, "jobs", "enqueue", "nope")
    assert unknown.returncode == 2
    assert "unknown task 'nope'; known tasks:" in unknown.stderr and "noop" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
