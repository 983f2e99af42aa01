"""``stratabase bench queue``: enqueue and drain no-op jobs, against pgqueuer in the same run.

Drains run real worker *processes* (``python -m stratabase.bench.queue ours|pgqueuer …``).
Each child imports, connects, prints ``ready`` and waits for ``go`` on stdin, so process
start-up is not timed; the clock stops when the database shows every job completed
(``status = 'succeeded'`` for us; the row deleted from ``pgqueuer`` — which pgqueuer does
when it records the completion — for the reference). PostgreSQL runs compare with
pgqueuer on the same database; SQLite runs (a fresh file) have no reference.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from stratabase.bench.report import BenchContext, Result
from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.exceptions import ConfigError
from stratabase.jobs.service import JobService
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings, load_settings

QUEUE = "bench"
TASK = "bench.noop"
PGQ_ENTRYPOINT = "bench_noop"
#: Worker slots per process, ours and pgqueuer's batch size options tried.
CONCURRENCY = 200
PGQ_BATCH_SIZES = (10, 100)
PROCESS_COUNTS = (1, 4)
DRAIN_TIMEOUT = 120.0


def _bench_settings(ctx: BenchContext, workdir: Path) -> Settings:
    if ctx.backend == ctx.settings.backend:
        return ctx.settings
    if ctx.backend == "sqlite":
        return load_settings(database_url=f"sqlite:///{workdir / 'bench-queue.db'}")
    raise ConfigError(
        "bench queue --backend postgres needs STRATABASE_DATABASE_URL set to a scratch PostgreSQL"
    )


async def _count(db: Database, sql: str) -> int:
    async with db.session() as session:
        return int((await session.execute(text(sql))).scalar() or 0)


async def _execute(db: Database, *statements: str) -> None:
    async def work(session: Any) -> None:
        for statement in statements:
            await session.execute(text(statement))

    await db.transaction(work)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stratabase.bench.queue", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


async def _drain(
    db: Database,
    n: int,
    processes: int,
    child_args: list[str],
    completed: Callable[[], Awaitable[int]],
) -> float:
    """Start ``processes`` children, release them together, time until ``n`` completions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    children = [_spawn(child_args, env) for _ in range(processes)]
    try:
        for child in children:
            assert child.stdout is not None
            line = await asyncio.to_thread(child.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"bench worker did not start: {line!r}")
        start = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        deadline = start + DRAIN_TIMEOUT
        done = 0
        while done < n:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"drain timed out with {done}/{n} jobs done")
            if any(child.poll() is not None for child in children):
                raise RuntimeError(f"a bench worker exited early with {done}/{n} jobs done")
            await asyncio.sleep(0.02)
            done = await completed()
        return n / (time.perf_counter() - start)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                await asyncio.to_thread(child.wait, 30)
            except subprocess.TimeoutExpired:
                child.kill()


async def _ours(db: Database, url: str, n: int) -> tuple[float, dict[int, float]]:
    specs = [JobCreate(queue=QUEUE, task=TASK, max_attempts=1) for _ in range(n)]
    await _execute(db, f"DELETE FROM jobs WHERE queue = '{QUEUE}'")
    start = time.perf_counter()
    await JobService(db).enqueue_batch(None, specs)
    enqueue_rate = n / (time.perf_counter() - start)
    drains: dict[int, float] = {}
    # Polled: what is left (cheap, over the partial index of ready jobs), so the poll does
    # not slow the workers; verified afterwards: every job succeeded, none twice or lost.
    active = (
        f"SELECT count(*) FROM jobs WHERE queue = '{QUEUE}' AND status IN ('queued', 'running')"
    )
    succeeded = f"SELECT count(*) FROM jobs WHERE queue = '{QUEUE}' AND status = 'succeeded'"
    for processes in PROCESS_COUNTS:
        await _execute(db, f"DELETE FROM jobs WHERE queue = '{QUEUE}'")
        await JobService(db).enqueue_batch(None, specs)
        drains[processes] = await _drain(
            db,
            n,
            processes,
            ["ours", url, str(CONCURRENCY)],
            lambda: _remaining_done(db, active, n),
        )
        if (done := await _count(db, succeeded)) != n:
            raise RuntimeError(f"{done} of {n} bench jobs succeeded")
    await _execute(db, f"DELETE FROM jobs WHERE queue = '{QUEUE}'")
    return enqueue_rate, drains


def _asyncpg_dsn(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(settings.async_database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


async def _pgqueuer(db: Database, settings: Settings, n: int) -> tuple[float, dict[int, float]]:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    connection = await asyncpg.connect(_asyncpg_dsn(settings))
    try:
        queries = Queries(AsyncpgDriver(connection))
        if not await queries.schema_is_installed():
            await queries.install()
        entrypoints = [PGQ_ENTRYPOINT] * n
        payloads: list[bytes | None] = [None] * n
        priorities = [0] * n

        async def fill() -> float:
            await queries.clear_queue(PGQ_ENTRYPOINT)
            start = time.perf_counter()
            await queries.enqueue(entrypoints, payloads, priorities)
            return n / (time.perf_counter() - start)

        enqueue_rate = await fill()
        remaining = f"SELECT count(*) FROM pgqueuer WHERE entrypoint = '{PGQ_ENTRYPOINT}'"
        drains: dict[int, float] = {}
        for processes in PROCESS_COUNTS:
            best = 0.0
            for batch in PGQ_BATCH_SIZES:
                await fill()
                rate = await _drain(
                    db,
                    n,
                    processes,
                    ["pgqueuer", _asyncpg_dsn(settings), str(batch)],
                    lambda: _remaining_done(db, remaining, n),
                )
                best = max(best, rate)
            drains[processes] = best
        await queries.clear_queue(PGQ_ENTRYPOINT)
        return enqueue_rate, drains
    finally:
        await connection.close()


async def _remaining_done(db: Database, sql: str, n: int) -> int:
    return n - await _count(db, sql)


async def run(ctx: BenchContext) -> list[Result]:
    """Enqueue and drain rates (2,000 jobs with ``--quick``, else 20,000), ours then pgqueuer's."""
    n = 2_000 if ctx.options.get("quick") else 20_000
    with tempfile.TemporaryDirectory() as workdir:
        settings = _bench_settings(ctx, Path(workdir))
        db = Database(settings)
        try:
            await migrate.upgrade(db)
            ours_enqueue, ours = await _ours(db, settings.database_url, n)
            reference: tuple[float, dict[int, float]] | None = None
            if ctx.backend == "postgres":
                reference = await _pgqueuer(db, settings, n)
        finally:
            await db.dispose()
    ref_name = "pgqueuer 1.6" if reference else "none on SQLite"
    results = [
        Result(
            f"enqueue {n:,} jobs, batched",
            ours_enqueue,
            "jobs/s",
            reference=reference[0] if reference else None,
            note=f"target ≥ 40,000 jobs/s: {'met' if ours_enqueue >= 40_000 else 'NOT met'}; "
            f"reference {ref_name}",
        )
    ]
    for processes in PROCESS_COUNTS:
        results.append(
            Result(
                f"drain {n:,} no-op jobs, {processes} worker process{'es' * (processes > 1)}",
                ours[processes],
                "jobs/s",
                reference=reference[1][processes] if reference else None,
                target=1.0 if reference else None,
                note=f"completions counted in the database; reference {ref_name}"
                + (" (best batch size of 10, 100)" if reference else ""),
            )
        )
    return results


# -- worker processes ---------------------------------------------------------------------


async def _wait_for_go() -> None:
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(0)


async def _child_ours(url: str, concurrency: int) -> None:
    from stratabase.jobs.registry import Registry, TaskSpec
    from stratabase.jobs.tasks.maintenance import noop
    from stratabase.jobs.worker import Worker, WorkerConfig

    settings = load_settings(database_url=url, pool_max_size=4, pool_min_size=2)
    db = Database(settings)
    await db.engines.warm()
    registry = Registry()
    registry.add(TaskSpec(TASK, noop, queue=QUEUE, max_attempts=1))
    config = WorkerConfig(
        queues=(QUEUE,), concurrency=concurrency, run_periodic=False, poll_interval=0.5
    )
    worker = Worker(db, settings, registry, config)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await _wait_for_go()
    try:
        await worker.run(stop)
    finally:
        await db.dispose()


async def _child_pgqueuer(dsn: str, batch_size: int) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.models import Job

    connection = await asyncpg.connect(dsn)
    manager = QueueManager(Queries(AsyncpgDriver(connection)))

    @manager.entrypoint(PGQ_ENTRYPOINT)
    async def noop(job: Job) -> None:
        return None

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, manager.shutdown.set)
    await _wait_for_go()
    try:
        await manager.run(batch_size=batch_size, log_aggregation_interval=timedelta(0))
    finally:
        await connection.close()


def _main(argv: list[str]) -> None:
    kind, target, number = argv
    if kind == "ours":
        asyncio.run(_child_ours(target, int(number)))
    elif kind == "pgqueuer":
        asyncio.run(_child_pgqueuer(target, int(number)))
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
