"""Suite ``api``, the HTTP part: each endpoint, the framework ceiling and a mixed workload,
loaded by wrk against real server processes (``_server.py``), in one run.

Per endpoint: every distinct request is sent once (the cache warms, as it would in
production), then ``wrk -t2 -c32`` measures throughput, p50 and p99 while the server counts
statements and cache lookups, then ``wrk -t1 -c1`` measures the latency one client sees.
The ceiling runs twice, before and after the endpoints, on its own process beside ours
(idle when not loaded); its mean is the reference.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stratabase.bench import _wrk
from stratabase.bench._server import Counts, Servers
from stratabase.bench._wrk import Request, WrkRun
from stratabase.bench.report import Result

PAGE = 20
#: p99 every endpoint must stay under at 32 connections (issue P2.1).
P99_BOUND_MS = 100.0
#: Seed 004's latency table: the upper bound of each endpoint's range (ms), at p99, 1 client.
SEED_BOUNDS_MS = {
    "profile": (5.0, "single user lookup"),
    "search users": (30.0, "search users (20)"),
    "feed home": (50.0, "user feed (20 posts)"),
    "batch 100 users with stats": (80.0, "batch load 100 users"),
    "trending": (150.0, "trending videos"),
}
#: The profile carries the user's stats: seed 004's "user stats aggregation" bound too.
USER_STATS_BOUND_MS = 100.0
#: Share of the ceiling's throughput each endpoint must reach (issue P2.1).
CEILING_TARGETS = {
    "post page": 0.7,
    "feed home": 0.5,
    "feed category": 0.5,
    "comment tree": 0.5,
}
#: The mixed workload: (group, weight %, what it sends).
MIX = (
    ("post page, anonymous", 45),
    ("post page, signed in", 15),
    ("feed home", 10),
    ("feed category", 5),
    ("comment tree", 10),
    ("search posts", 3),
    ("search users", 2),
    ("profile", 5),
    ("like", 2),
    ("view", 2),
    ("comment", 1),
)
MIXED_MIN_RATE = 1000.0
MIXED_MIN_HIT_RATE = 90.0


@dataclass(frozen=True)
class Targets:
    """What the requests point at, sampled from the seeded database."""

    post_ids: list[int]
    thread_ids: list[int]
    tokens: list[str]
    category_ids: list[int]
    user_ids: list[int]
    batches: list[list[int]]
    post_words: list[str]
    user_words: list[str]


@dataclass(frozen=True)
class LoadPlan:
    """How long and on what: durations by ``--quick``, the servers' environment."""

    seconds: float
    one_client_seconds: float
    mixed_seconds: float
    env: dict[str, str]
    workers: int

    @classmethod
    def for_run(cls, *, quick: bool, database_url: str, redis_url: str, prefix: str) -> LoadPlan:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "STRATABASE_DATABASE_URL": database_url,
            "STRATABASE_REDIS_URL": redis_url,
            "STRATABASE_REDIS_PREFIX": prefix,
            "STRATABASE_LOG_LEVEL": "WARNING",
            "STRATABASE_POOL_MAX_SIZE": "20",
            # Fixed for the run: workers must agree, and none writes one at startup.
            "STRATABASE_SECRET_KEY": secrets.token_urlsafe(32),
        }
        return cls(
            seconds=3 if quick else 10,
            one_client_seconds=2 if quick else 5,
            mixed_seconds=5 if quick else 20,
            env=env,
            # Two processes need a shared cache (Redis); embedded, one process holds it.
            workers=2 if redis_url else 1,
        )


@dataclass
class _Endpoint:
    name: str
    requests: list[Request]
    #: Says what is wrong with a 200 answer (a parameter this build ignores), or None.
    check: Callable[[Any], str | None] = field(default=lambda body: None)


def _get(group: str, path: str, token: str = "") -> Request:
    return Request(group, "GET", path, token)


def _items(body: Any) -> list[Any]:
    items = body.get("items", []) if isinstance(body, dict) else []
    return items if isinstance(items, list) else []


def _endpoints(t: Targets) -> list[_Endpoint]:
    one = t.tokens[0]
    return [
        _Endpoint("post page", [_get("post", f"/v1/posts/{i}") for i in t.post_ids]),
        _Endpoint(
            "post page with comments",
            [_get("post", f"/v1/posts/{i}?include=comments") for i in t.thread_ids],
            lambda body: None if "comments" in body else "include=comments ignored",
        ),
        _Endpoint(
            "feed home",
            [_get("feed", f"/v1/feed?limit={PAGE}", token) for token in t.tokens],
        ),
        _Endpoint(
            "feed category",
            [_get("feed", f"/v1/feed/categories/{i}?limit={PAGE}") for i in t.category_ids],
        ),
        _Endpoint(  # anonymous, as in the mixed workload: the cached tree
            "comment tree",
            [_get("tree", f"/v1/posts/{i}/comments?limit={PAGE}&depth=5") for i in t.thread_ids],
        ),
        _Endpoint(
            "comment tree, signed in",
            [
                _get("tree", f"/v1/posts/{i}/comments?limit={PAGE}&depth=5", one)
                for i in t.thread_ids
            ],
        ),
        _Endpoint("profile", [_get("profile", f"/v1/users/{i}") for i in t.user_ids]),
        _Endpoint(
            "batch 100 users with stats",
            [
                _get("batch", f"/v1/users?ids={','.join(map(str, ids))}&include=stats&limit=100")
                for ids in t.batches
            ],
            lambda body: (
                None if all("stats" in item for item in _items(body)) else "include=stats ignored"
            ),
        ),
        _Endpoint(
            "search posts",
            [_get("search", f"/v1/search?q={w}&type=posts&limit={PAGE}") for w in t.post_words],
        ),
        _Endpoint(
            "search users",
            [_get("search", f"/v1/search?q={w}&type=users&limit={PAGE}") for w in t.user_words],
        ),
        _Endpoint(
            "trending",
            [_get("ranked", f"/v1/posts/trending?kind=video&limit={PAGE}")],
            lambda body: (
                None
                if all(item.get("kind") == "video" for item in _items(body))
                else "kind= ignored"
            ),
        ),
        _Endpoint(
            "popular",
            [_get("ranked", f"/v1/posts/popular?kind=article&limit={PAGE}")],
            lambda body: (
                None
                if all(item.get("kind") == "article" for item in _items(body))
                else "kind= ignored"
            ),
        ),
    ]


def _mixed(t: Targets) -> list[Request]:
    """The mixed workload's requests, weighted by MIX: mostly reads, a few writes by
    several signed-in users."""
    weights = dict(MIX)
    out: list[Request] = []

    def add(group: str, method: str, path: str, token: str = "", body: str = "") -> None:
        out.append(Request(group, method, path, token, body, weight=weights[group]))

    for index, post_id in enumerate(t.post_ids):
        token = t.tokens[index % len(t.tokens)]
        add("post page, anonymous", "GET", f"/v1/posts/{post_id}")
        add("post page, signed in", "GET", f"/v1/posts/{post_id}", token)
        add("like", "POST", f"/v1/posts/{post_id}/like", token)
        add("view", "POST", f"/v1/posts/{post_id}/views", token)
        add("comment", "POST", f"/v1/posts/{post_id}/comments", token, '{"body":"bench"}')
    for token in t.tokens:
        add("feed home", "GET", f"/v1/feed?limit={PAGE}", token)
    for category_id in t.category_ids:
        add("feed category", "GET", f"/v1/feed/categories/{category_id}?limit={PAGE}")
    for post_id in t.thread_ids:
        add("comment tree", "GET", f"/v1/posts/{post_id}/comments?limit={PAGE}&depth=5")
    for word in t.post_words:
        add("search posts", "GET", f"/v1/search?q={word}&type=posts&limit={PAGE}")
    for word in t.user_words:
        add("search users", "GET", f"/v1/search?q={word}&type=users&limit={PAGE}")
    for user_id in t.user_ids:
        add("profile", "GET", f"/v1/users/{user_id}")
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(
    servers: Servers,
    work: Path,
    name: str,
    requests: list[Request],
    connections: int,
    seconds: float,
) -> WrkRun:
    path = _wrk.write_requests(work / f"{name.replace(' ', '-')}.tsv", requests)
    threads = 2 if connections > 1 else 1
    return await asyncio.to_thread(
        _wrk.run, servers.url, path, threads=threads, connections=connections, seconds=seconds
    )


async def _warm(client: httpx.AsyncClient, base: str, requests: list[Request]) -> None:
    for request in requests:
        headers = {"Authorization": f"Bearer {request.token}"} if request.token else {}
        if request.method == "GET":
            await client.get(base + request.path, headers=headers)


@dataclass
class _Context:
    plan: LoadPlan
    work: Path
    client: httpx.AsyncClient
    wrk_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


async def measure_http(plan: LoadPlan, targets: Targets) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="sb-bench-load-") as scratch:
        work = Path(scratch)
        async with httpx.AsyncClient(timeout=60) as client:
            ctx = _Context(plan, work, client)
            results = await _single_process(ctx, targets)
            results += await _mixed_run(ctx, targets)
            results.append(
                Result(
                    "load generator (wrk) CPU, mean over 32-connection runs",
                    round(100 * sum(ctx.wrk_cpu) / max(1, len(ctx.wrk_cpu)), 1),
                    "% of a core",
                    better="lower",
                    note=f"the server process used {_mean_pct(ctx.server_cpu)} % of a core "
                    f"over the same runs; {os.cpu_count()} cores in all",
                )
            )
    return results


def _mean_pct(values: list[float]) -> str:
    return f"{100 * sum(values) / max(1, len(values)):.0f}"


async def _single_process(ctx: _Context, targets: Targets) -> list[Result]:
    """Every endpoint on one process of ours, the ceiling on one process beside it."""
    (ctx.work / "api").mkdir()
    (ctx.work / "ceiling").mkdir()
    ours = Servers("api", _free_port(), ctx.work / "api", ctx.plan.env)
    ceiling: Servers | None = None
    try:
        await ours.wait_ready(ctx.client)
        probe = await ctx.client.get(f"{ours.url}/v1/posts/{targets.post_ids[0]}")
        page_bytes = len(probe.content)
        ceiling = Servers(
            "ceiling", _free_port(), ctx.work / "ceiling", ctx.plan.env, page_bytes=page_bytes
        )
        await ceiling.wait_ready(ctx.client)
        ceiling_path = [_get("ceiling", f"/v1/posts/{i}") for i in targets.post_ids]
        rounds = [await _load(ceiling, ctx.work, "ceiling", ceiling_path, 32, ctx.plan.seconds)]
        endpoint_results: list[Result] = []
        endpoints = _endpoints(targets)
        for index, endpoint in enumerate(endpoints):
            endpoint_results += await _endpoint(ctx, ours, endpoint)
            if index == len(endpoints) // 2:  # the second round, mid-run
                rounds.append(
                    await _load(ceiling, ctx.work, "ceiling", ceiling_path, 32, ctx.plan.seconds)
                )
    finally:
        ours.stop()
        if ceiling is not None:
            ceiling.stop()
    rate = sum(run.rate for run in rounds) / len(rounds)
    note = (
        f"minimal FastAPI route answering {page_bytes:,} pre-serialized bytes (our post "
        f"page's size), same uvicorn settings; mean of {len(rounds)} rounds "
        f"({', '.join(f'{run.rate:,.0f}' for run in rounds)} req/s), wrk -t2 -c32 using "
        f"{100 * max(run.cpu_share for run in rounds):.0f} % of a core at most"
    )
    results = [
        Result("ceiling: throughput", round(rate, 1), "req/s", note=note),
        Result("ceiling: p99", rounds[-1].p99_ms, "ms", better="lower", note=note),
    ]
    for result in endpoint_results:
        share = CEILING_TARGETS.get(result.name.partition(":")[0])
        if share is not None and result.unit == "req/s" and "32 connections" in result.name:
            result = Result(
                result.name,
                result.value,
                result.unit,
                round(rate, 1),
                share,
                "higher",
                result.note + f"; reference: the ceiling, target ≥ {share}x",
            )
        results.append(result)
    return results


async def _endpoint(ctx: _Context, servers: Servers, endpoint: _Endpoint) -> list[Result]:
    name = endpoint.name
    first = endpoint.requests[0]
    headers = {"Authorization": f"Bearer {first.token}"} if first.token else {}
    answer = await ctx.client.get(servers.url + first.path, headers=headers)
    if answer.status_code >= 400:
        return [
            Result(
                f"{name}: error",
                answer.status_code,
                "HTTP status",
                note=f"GET {first.path[:80]} answered {answer.status_code} on this build; "
                "not measured",
            )
        ]
    problem = endpoint.check(answer.json())
    await _warm(ctx.client, servers.url, endpoint.requests)
    before = await servers.counts()
    loaded = await _load(servers, ctx.work, name, endpoint.requests, 32, ctx.plan.seconds)
    counts = await servers.counts() - before
    alone = await _load(servers, ctx.work, name, endpoint.requests, 1, ctx.plan.one_client_seconds)
    ctx.wrk_cpu.append(loaded.cpu_share)
    ctx.server_cpu.append(counts.cpu_seconds / loaded.seconds if loaded.seconds else 0.0)
    note = (
        f"{len(endpoint.requests)} distinct requests, cache warm; wrk used "
        f"{100 * loaded.cpu_share:.0f} % of a core, the server "
        f"{100 * ctx.server_cpu[-1]:.0f} %"
    )
    if problem:
        note = f"{problem} on this build (answered without it); " + note
    return _figures(name, loaded, alone, counts, note)


def _latency(run: WrkRun) -> tuple[float, float, str]:
    """(p50, p99, note); with no request completed, the run's length is a lower bound."""
    if run.requests:
        return run.p50_ms, run.p99_ms, ""
    floor = round(run.seconds * 1000, 1)
    return floor, floor, f"no request completed in the run: latency > {floor:,.0f} ms"


def _figures(name: str, loaded: WrkRun, alone: WrkRun, counts: Counts, note: str) -> list[Result]:
    results: list[Result] = []
    p50, p99, slow = _latency(loaded)
    one_p50, one_p99, one_slow = _latency(alone)
    note = f"{slow}; {note}" if slow else note
    bad = loaded.non2xx + loaded.socket_errors + alone.non2xx + alone.socket_errors
    if bad:
        status = loaded.last_bad_status or alone.last_bad_status
        results.append(
            Result(
                f"{name}: errors",
                bad,
                "answers",
                reference=loaded.requests + alone.requests,
                target=0.0,
                better="lower",
                note=f"non-2xx answers (last status {status}) and socket errors",
            )
        )
        if loaded.failed and loaded.requests:
            return results
    per_request = counts.statements / loaded.requests if loaded.requests else 0.0
    hit_rate = counts.hit_rate
    results += [
        Result(f"{name}: throughput, 32 connections", round(loaded.rate, 1), "req/s", note=note),
        Result(f"{name}: p50, 32 connections", p50, "ms", better="lower", note=note),
        Result(
            f"{name}: p99, 32 connections",
            p99,
            "ms",
            P99_BOUND_MS,
            1.0,
            "lower",
            note + f"; reference: the {P99_BOUND_MS:g} ms bound",
        ),
        Result(
            f"{name}: statements per request",
            round(per_request, 3),
            "statements",
            better="lower",
            note="counted in the server over the 32-connection run (no BEGIN, no cache "
            "bookkeeping)",
        ),
        Result(
            f"{name}: cache hit rate",
            round(100 * hit_rate, 1) if hit_rate is not None else 0.0,
            "%",
            note=f"{counts.served:,} of {counts.lookups:,} cache lookups answered from cache "
            "in the 32-connection run",
        ),
        Result(f"{name}: p50, 1 client", one_p50, "ms", better="lower", note=one_slow),
    ]
    bound = SEED_BOUNDS_MS.get(name)
    if bound is not None:
        results.append(
            Result(
                f"{name}: p99, 1 client",
                one_p99,
                "ms",
                bound[0],
                1.0,
                "lower",
                f"reference: seed 004's bound for {bound[1]}, {bound[0]:g} ms {one_slow}".strip(),
            )
        )
    else:
        results.append(
            Result(f"{name}: p99, 1 client", one_p99, "ms", better="lower", note=one_slow)
        )
    if name == "profile":
        results.append(
            Result(
                "profile: p99, 1 client (user stats)",
                one_p99,
                "ms",
                USER_STATS_BOUND_MS,
                1.0,
                "lower",
                f"reference: seed 004's bound for user stats aggregation, "
                f"{USER_STATS_BOUND_MS:g} ms (a profile carries the user's stats)",
            )
        )
    return results


async def _mixed_run(ctx: _Context, targets: Targets) -> list[Result]:
    workers = ctx.plan.workers
    label = f"mixed ({workers} workers)" if workers > 1 else "mixed (1 worker, embedded)"
    (ctx.work / "mixed").mkdir()
    servers = Servers("api", _free_port(), ctx.work / "mixed", ctx.plan.env, workers=workers)
    requests = _mixed(targets)
    try:
        await servers.wait_ready(ctx.client)
        # Warm up as production would be (as each endpoint's run is): every distinct read
        # sent once, then the same mix briefly, then measure.
        await _warm(ctx.client, servers.url, requests)
        await _load(servers, ctx.work, "mixed", requests, 32, max(2.0, ctx.plan.seconds / 2))
        before = await servers.counts()
        run = await _load(servers, ctx.work, "mixed", requests, 32, ctx.plan.mixed_seconds)
        counts = await servers.counts() - before
    finally:
        servers.stop()
    mix = ", ".join(f"{group} {weight} %" for group, weight in MIX)
    note = f"wrk -t2 -c32, {len(targets.tokens)} signed-in users; mix: {mix}"
    hit_rate = 100 * (counts.hit_rate or 0.0)
    results: list[Result] = []
    if run.non2xx or run.socket_errors:
        results.append(
            Result(
                f"{label}: errors",
                run.non2xx + run.socket_errors,
                "answers",
                run.requests,
                0.0,
                "lower",
                f"non-2xx answers (last status {run.last_bad_status}) and socket errors",
            )
        )
    return [
        *results,
        Result(
            f"{label}: throughput",
            round(run.rate, 1),
            "req/s",
            MIXED_MIN_RATE,
            1.0,
            "higher",
            note + f"; reference: the {MIXED_MIN_RATE:,.0f} req/s target",
        ),
        Result(f"{label}: p50", run.p50_ms, "ms", better="lower", note=note),
        Result(
            f"{label}: p99",
            run.p99_ms,
            "ms",
            P99_BOUND_MS,
            1.0,
            "lower",
            note + f"; reference: the {P99_BOUND_MS:g} ms bound",
        ),
        Result(
            f"{label}: cache hit rate",
            round(hit_rate, 1),
            "%",
            MIXED_MIN_HIT_RATE,
            1.0,
            "higher",
            f"{counts.served:,} of {counts.lookups:,} lookups; reference: the "
            f"{MIXED_MIN_HIT_RATE:g} % target",
        ),
        Result(
            f"{label}: statements per request",
            round(counts.statements / run.requests, 3) if run.requests else 0.0,
            "statements",
            better="lower",
        ),
    ]
