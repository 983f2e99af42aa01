"""``GET /metrics``: protected, parsed with prometheus_client's parser, and moving with traffic;
request ids in and out, and into the jobs a request enqueues."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select

from stratabase.db.session import Database
from stratabase.enums import Role
from stratabase.models import Job
from stratabase.settings import Settings
from tests.acceptance.api_support import Api, assert_problem, make_api

TOKEN = "scrape me, kept over reset"


@pytest.fixture
async def api(settings: Settings, db: Database) -> AsyncIterator[Api]:
    settings = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    async for value in make_api(settings, db):
        yield value


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: Api) -> Samples:
    response = await api.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= set(got))


async def test_metrics_are_protected(api: Api) -> None:
    user, admin = await api.user(), await api.user(role=Role.ADMIN)
    assert_problem(await api.http.get("/metrics"), 401)
    assert_problem(await api.http.get("/metrics", headers={"Authorization": "Bearer nope"}), 401)
    assert_problem(await api.http.get("/metrics", headers=user.headers), 403)
    assert (await api.http.get("/metrics", headers=admin.headers)).status_code == 200


async def test_metrics_move_with_traffic(api: Api) -> None:
    author = await api.user()
    post = await api.post(author)
    route = "/v1/posts/{post_id}"
    before = await scrape(api)
    for _ in range(3):  # anonymous: the fast path answers (from the cache after the first)
        assert (await api.http.get(f"/v1/posts/{post['id']}")).status_code == 200
    assert (await api.http.get("/v1/posts/999999999")).status_code == 404
    after = await scrape(api)

    ok = {"route": route, "method": "GET", "status": "200"}
    assert (
        value(after, "stratabase_http_requests_total", **ok)
        - value(before, "stratabase_http_requests_total", **ok)
        == 3
    )
    missing = {"route": route, "method": "GET", "status": "404"}
    assert value(after, "stratabase_http_requests_total", **missing) >= 1
    assert (
        value(after, "stratabase_http_request_duration_seconds_count", **ok)
        - value(before, "stratabase_http_request_duration_seconds_count", **ok)
        == 3
    )
    # Latency histogram: the +Inf bucket counts every observation.
    assert value(
        after, "stratabase_http_request_duration_seconds_bucket", le="+Inf", **ok
    ) == value(after, "stratabase_http_request_duration_seconds_count", **ok)
    assert value(after, "stratabase_db_statements_total") > value(
        before, "stratabase_db_statements_total"
    )
    assert value(after, "stratabase_db_statement_duration_seconds_count") > 0
    assert value(after, "stratabase_db_pool_size") >= 1
    # The post page was read through the cache: lookups counted per namespace and tier.
    lookups_before = total(before, "stratabase_cache_hits_total") + total(
        before, "stratabase_cache_misses_total"
    )
    lookups_after = total(after, "stratabase_cache_hits_total") + total(
        after, "stratabase_cache_misses_total"
    )
    assert lookups_after > lookups_before
    # Routes are templates, never raw paths.
    assert not any(dict(labels).get("route", "").endswith(str(post["id"])) for (_, labels) in after)


async def test_queue_and_ledger_figures(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    for n in range(2):
        created = await api.http.post(
            "/v1/jobs", json={"task": "noop", "payload": {"n": n}}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
    samples = await scrape(api)
    assert value(samples, "stratabase_queue_jobs", queue="default", status="queued") >= 2
    assert value(samples, "stratabase_queue_oldest_queued_age_seconds", queue="default") >= 0
    assert ("stratabase_ledger_held_amount", ()) in samples


async def test_rate_limit_refusals_are_counted(settings: Settings, db: Database) -> None:
    from stratabase.ratelimit import RateLimits

    settings = settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    limits = RateLimits(read="2/minute", write=None, auth=None, login=None)
    async for api in make_api(settings, db, limits):
        before = await scrape(api)
        statuses = [(await api.http.get("/v1/categories")).status_code for _ in range(4)]
        assert 429 in statuses
        after = await scrape(api)
        key = {"route": "/v1/categories"}
        assert value(after, "stratabase_rate_limit_refusals_total", **key) - value(
            before, "stratabase_rate_limit_refusals_total", **key
        ) == statuses.count(429)


async def test_request_id_in_and_out_and_into_jobs(api: Api) -> None:
    admin = await api.user(role=Role.ADMIN)
    given = await api.http.get("/health/live", headers={"X-Request-ID": "req-42.abc"})
    assert given.headers["x-request-id"] == "req-42.abc"
    made = await api.http.get("/health/live")
    assert len(made.headers["x-request-id"]) == 16
    unsafe = await api.http.get("/health/live", headers={"X-Request-ID": "a b\tc"})
    assert unsafe.headers["x-request-id"] != "a b\tc"
    headers = {**admin.headers, "X-Request-ID": "enqueue-7"}
    created = await api.http.post("/v1/jobs", json={"task": "noop"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "enqueue-7"
    async with api.db.session() as session:
        stored = await session.scalar(select(Job.request_id).where(Job.id == created.json()["id"]))
    assert stored == "enqueue-7"
