"""``stratabase bench changes``: commit-to-client latency of the change feed over SSE.

Subscribers (1,000; 200 with ``--quick``) hold ``GET /v1/changes?topics=posts`` streams on
real ``serve`` processes — one, then two sharing the database (and Redis when configured) —
while this process commits events at a steady rate. Two latencies per event and subscriber:
*commit→client*, its receipt time minus the moment its commit returned to the writer (what
the feed adds), and *write→client*, minus the time the event was staged (carried in the
event; it also counts the commit itself, which on a loaded database is most of it).
Every subscriber must receive every event once: loss and duplicates are counted, not
assumed. The servers' memory per idle subscriber is their RSS growth over the connections.

The subscribers are bare asyncio sockets (no HTTP client library): at a thousand streams
the client's own parsing would otherwise be what we measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.bench.report import BenchContext, Result
from stratabase.changes import outbox
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.exceptions import ConfigError
from stratabase.settings import Settings

#: Events per second the writer commits, and for how long.
RATE = 20
SECONDS = 10
START_TIMEOUT = 60.0


@dataclass
class _Subscriber:
    latencies: list[float] = field(default_factory=list)
    #: (event number, receipt time), matched with the commit times after the round.
    arrivals: list[tuple[int, float]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once ``expected`` events arrived.
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _spawn(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env |= {
        "STRATABASE_DATABASE_URL": settings.database_url,
        "STRATABASE_REDIS_URL": settings.redis_url,
        "STRATABASE_REDIS_PREFIX": settings.redis_prefix,
        "STRATABASE_RATE_LIMIT_READ": "0",  # a thousand streams from one IP is the point
        "STRATABASE_LOG_LEVEL": "WARNING",
        "STRATABASE_PORT": str(port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stratabase", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                await http.get(f"http://127.0.0.1:{port}/health", timeout=2)
                return
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise ConfigError("bench changes: `stratabase serve` did not start") from None
                await asyncio.sleep(0.1)


async def _subscribe(port: int, sub: _Subscriber, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /v1/changes?topics=posts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    try:
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b": connected"):
                sub.connected.set()
            elif line.startswith(b"data: "):
                now = time.time()
                data = json.loads(line[6:])
                sub.ids.append(int(data["id"]))
                sub.latencies.append(now - float(data["payload"]["t"]))
                sub.arrivals.append((int(data["payload"]["n"]), now))
                if len(sub.ids) >= sub.expected:
                    sub.complete.set()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _write(db: Database, count: int) -> list[float]:
    """Commit ``count`` events at ``RATE`` per second; the wall-clock time each commit
    returned, by event number."""
    committed = [0.0] * count
    start = time.monotonic()
    for n in range(count):
        delay = start + n / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

        async def work(session: AsyncSession, n: int = n) -> None:
            await outbox.append(session, "post:0", "bench.tick", {"n": n, "t": time.time()})

        await db.transaction(work)
        committed[n] = time.time()
    return committed


async def _round(
    settings: Settings, db: Database, processes: int, subscribers: int
) -> dict[str, float]:
    count = RATE * SECONDS
    ports = [_free_port() for _ in range(processes)]
    servers = [_spawn(settings, port) for port in ports]
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        for port, server in zip(ports, servers, strict=True):
            await _wait_serving(port, server)
        idle = [_rss_kib(server.pid) for server in servers]
        subs = [_Subscriber(expected=count) for _ in range(subscribers)]
        for index, sub in enumerate(subs):
            tasks.append(asyncio.create_task(_subscribe(ports[index % processes], sub, stop)))
        async with asyncio.timeout(START_TIMEOUT):
            for sub in subs:
                await sub.connected.wait()
        held = [_rss_kib(server.pid) for server in servers]
        load = os.getloadavg()[0]
        committed = await _write(db, count)
        with contextlib.suppress(TimeoutError):  # what did not arrive by then is lost
            async with asyncio.timeout(30):
                for sub in subs:
                    await sub.complete.wait()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    staged = sorted(lat for s in subs for lat in s.latencies)
    # A NOTIFY can beat the writer's own commit acknowledgement: that is 0, not negative.
    latencies = sorted(max(0.0, at - committed[n]) for s in subs for n, at in s.arrivals)
    received = sum(len(set(s.ids)) for s in subs)
    duplicates = sum(len(s.ids) - len(set(s.ids)) for s in subs)
    ordered = all(s.ids == sorted(s.ids) for s in subs)
    return {
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "load": load,
        "staged_p50_ms": _percentile(staged, 0.50),
        "staged_p99_ms": _percentile(staged, 0.99),
        "delivered_per_s": received / SECONDS,
        "lost": count * subscribers - received,
        "duplicates": duplicates,
        "out_of_order": 0 if ordered else 1,
        "kib_per_subscriber": (sum(held) - sum(idle)) / subscribers,
    }


#: Wake-ups measured per transport.
WAKEUPS = 300


async def _wakeups(settings: Settings) -> dict[str, list[float]]:
    """Send-to-receipt seconds of one wake-up, LISTEN/NOTIFY against Redis pub/sub.

    NOTIFY is sent as the relays get it, in an autocommitted statement (so the figure
    includes that commit); PUBLISH as a publisher would after its commit. One at a time,
    so each figure is a latency, not a queue.
    """
    import asyncpg
    from redis.asyncio import Redis
    from sqlalchemy.engine import make_url

    dsn = make_url(settings.database_url).set(drivername="postgresql")
    dsn_text = dsn.render_as_string(hide_password=False)
    channel = f"stratabase_bench_{os.getpid()}"
    figures: dict[str, list[float]] = {"notify": [], "redis": []}
    got: asyncio.Queue[float] = asyncio.Queue()
    listener = await asyncpg.connect(dsn_text)
    sender = await asyncpg.connect(dsn_text)
    try:
        await listener.add_listener(channel, lambda *_: got.put_nowait(time.perf_counter()))
        for _ in range(WAKEUPS):
            sent = time.perf_counter()
            await sender.execute(f"SELECT pg_notify('{channel}', '')")
            figures["notify"].append(await asyncio.wait_for(got.get(), 10) - sent)
    finally:
        await listener.close()
        await sender.close()
    if not settings.redis_url:
        return figures
    redis = Redis.from_url(settings.redis_url)
    pubsub = redis.pubsub()
    topic = f"{settings.redis_prefix}{channel}"
    try:
        await pubsub.subscribe(topic)
        await pubsub.get_message(timeout=5)  # the subscription's confirmation

        async def listen() -> None:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    got.put_nowait(time.perf_counter())

        reader = asyncio.create_task(listen())
        try:
            for _ in range(WAKEUPS):
                sent = time.perf_counter()
                await redis.publish(topic, "")
                figures["redis"].append(await asyncio.wait_for(got.get(), 10) - sent)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        await pubsub.aclose()
        await redis.aclose()
    return figures


def _percentile(values: list[float], q: float) -> float:
    """``q`` of the sorted ``values``, in ms (NaN when nothing arrived)."""
    if not values:
        return float("nan")
    if q == 0.5:
        return statistics.median(values) * 1000
    return values[max(0, int(len(values) * q) - 1)] * 1000


async def run(ctx: BenchContext) -> list[Result]:
    """SSE subscribers on one and two serve processes: commit-to-client latency, delivery
    rate, loss, duplicates and memory per idle subscriber."""
    if ctx.backend != ctx.settings.backend:
        raise ConfigError(
            f"bench changes --backend {ctx.backend}: point STRATABASE_DATABASE_URL at it"
        )
    subscribers = 200 if ctx.options.get("quick") else 1_000
    settings = ctx.settings
    db = Database(settings)
    results: list[Result] = []
    try:
        await migrate.upgrade(db)
        for processes in (1, 2):
            figures = await _round(settings, db, processes, subscribers)
            plural = "es" * (processes > 1)
            where = f"{subscribers:,} SSE subscribers, {processes} API process{plural}"
            results += [
                Result(f"commit→client p50, {where}", figures["p50_ms"], "ms", better="lower"),
                Result(
                    f"commit→client p99, {where}",
                    figures["p99_ms"],
                    "ms",
                    better="lower",
                    note=f"target ≤ 100 ms: {'met' if figures['p99_ms'] <= 100 else 'NOT met'}"
                    f" (load average {figures['load']:.1f} on {os.cpu_count()} CPUs)",
                ),
                Result(
                    f"write→client p50 / p99, {where}",
                    figures["staged_p99_ms"],
                    "ms",
                    better="lower",
                    note=f"p50 {figures['staged_p50_ms']:.0f} ms; from the event's staging, "
                    "so it includes the commit itself",
                ),
                Result(f"events delivered, {where}", figures["delivered_per_s"], "events/s"),
                Result(
                    f"late (>30 s) / duplicated / out of order, {where}",
                    figures["lost"] + figures["duplicates"] + figures["out_of_order"],
                    "events",
                    better="lower",
                    note=f"late {figures['lost']:.0f}, duplicates {figures['duplicates']:.0f}, "
                    f"out of order {figures['out_of_order']:.0f} (target: all 0)",
                ),
                Result(
                    f"server memory per idle subscriber, {where}",
                    figures["kib_per_subscriber"],
                    "KiB",
                    better="lower",
                    note="RSS growth of the API processes over the connections",
                ),
            ]
        load = os.getloadavg()[0]
        wakeups = await _wakeups(settings)
        for name, label in (("notify", "LISTEN/NOTIFY"), ("redis", "Redis pub/sub")):
            values = sorted(wakeups[name])
            if values:
                results.append(
                    Result(
                        f"wake-up send→receipt p99, {label}",
                        _percentile(values, 0.99),
                        "ms",
                        better="lower",
                        note=f"p50 {_percentile(values, 0.5):.2f} ms over {len(values)}"
                        f" one-at-a-time wake-ups (load average {load:.1f})",
                    )
                )
    finally:
        await db.dispose()
    return results
