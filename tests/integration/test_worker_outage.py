"""A worker through a database outage: capped, jittered backoff; one log line down, one up.

PostgreSQL is reached through a TCP proxy the test cuts and restores (the shared server
keeps running); SQLite is a file in a directory that does not exist yet; read-only is the
test database's own ``default_transaction_read_only``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from stratabase.db.session import Database
from stratabase.enums import JobStatus
from stratabase.exceptions import DatabaseUnavailable
from stratabase.jobs import outage as outage_module
from stratabase.jobs.outage import Outage
from stratabase.jobs.registry import Registry, TaskContext
from stratabase.jobs.service import JobService
from stratabase.jobs.worker import Worker, WorkerConfig, in_background, run_embedded_worker
from stratabase.models.jobs import Job
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings
from tests.conftest import PG_HOST, PG_PORT, pg_admin
from tests.faults_support import TcpProxy

FAST = WorkerConfig(
    concurrency=2, lease_seconds=30, poll_interval=0.02, flush_interval=0.01, run_periodic=False
)
#: Failed attempts to wait for: enough that a log line per attempt would be obvious.
ATTEMPTS = 25


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    log = logging.getLogger("test.outage")
    high = Outage(log, "w", base=0.5, cap=30.0, rand=lambda _low, high: high)
    low = Outage(log, "w", base=0.5, cap=30.0, rand=lambda low, _high: low)
    error = DatabaseUnavailable("down")
    assert [high.failed(error, "x") for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert [low.failed(error, "x") for _ in range(3)] == [0.25, 0.5, 1.0]
    high.succeeded()
    assert high.failures == 0 and high.failed(error, "x") == 0.5


def test_one_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(logging.getLogger("test.outage"), "worker w")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(100):
            outage.failed(DatabaseUnavailable("cannot reach the database"), "claim")
        outage.succeeded()
        outage.succeeded()
    assert [record.getMessage() for record in caplog.records] == [
        "worker w: database unavailable, retrying (cannot reach the database)",
        "worker w: database back after 100 failed attempts",
    ]
    assert outage.outages == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="test.outage"):
        try:
            raise KeyError("a bug, not an outage")
        except KeyError as exc:
            outage.failed(exc, "claim")
    assert caplog.records[0].exc_info is not None  # a bug keeps its traceback


def _registry(done: list[int]) -> Registry:
    registry = Registry()

    @registry.task("note")
    async def note(ctx: TaskContext, payload: dict[str, Any]) -> None:
        done.append(int(payload["n"]))

    return registry


async def _until(predicate: Callable[[], Awaitable[bool] | bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        outcome = predicate()
        if await outcome if isinstance(outcome, Awaitable) else outcome:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def _succeeded(db: Database, job_id: int) -> bool:
    async with db.session() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job.status == JobStatus.SUCCEEDED


def _worker(
    db: Database, settings: Settings, done: list[int]
) -> AbstractAsyncContextManager[Worker]:
    outage = Outage(logging.getLogger("stratabase.jobs"), "worker t", base=0.01, cap=0.05)
    worker = Worker(db, settings, _registry(done), FAST, owner="t", outage=outage)
    return in_background(worker)


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Warnings and errors of ours, but slow-query notices (a loaded machine has many)."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("stratabase")
        and r.name != "stratabase.db.queries"
        and r.levelno >= logging.WARNING
    ]


def _assert_quiet(caplog: pytest.LogCaptureFixture, *, down: int, back: int) -> None:
    lines = _lines(caplog)
    messages = [record.getMessage() for record in lines]
    assert not [r for r in lines if r.exc_info], messages  # no traceback at all
    assert sum("database unavailable" in m for m in messages) == down, messages
    assert sum("database back" in m for m in messages) == back, messages
    assert len(lines) <= 2 * (down + back) + 2, messages  # O(1), whatever the attempts


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    started = TcpProxy(PG_HOST, PG_PORT)
    await started.start()
    try:
        yield started
    finally:
        await started.close()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_down_then_up_through_a_proxy(
    db: Database, settings: Settings, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    proxied = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    worker_db = Database(proxied)
    done: list[int] = []
    try:
        async with _worker(worker_db, proxied, done) as worker:
            await JobService(db).enqueue(None, JobCreate(task="note", payload={"n": 1}))
            await _until(lambda: done == [1])
            caplog.clear()

            proxy.down()
            await _until(lambda: worker.outage.failures >= ATTEMPTS)
            _assert_quiet(caplog, down=1, back=0)

            job_id = await JobService(db).enqueue(None, JobCreate(task="note", payload={"n": 2}))
            assert job_id is not None
            proxy.up()
            await _until(lambda: done == [1, 2])
            await _until(lambda: _succeeded(db, job_id))
            await _until(lambda: not worker.outage.down)
            _assert_quiet(caplog, down=1, back=1)
    finally:
        await worker_db.dispose()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_postgres_read_only_is_an_outage_too(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    name = make_url(settings.database_url).database
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    caplog.set_level(logging.INFO)
    done: list[int] = []
    worker_db = Database(settings)
    try:
        async with _worker(worker_db, settings, done) as worker:
            await JobService(db).enqueue(None, JobCreate(task="note", payload={"n": 1}))
            await _until(lambda: done == [1])
            caplog.clear()
            await asyncio.to_thread(
                pg_admin, f"ALTER DATABASE {name} SET default_transaction_read_only = on"
            )
            await asyncio.to_thread(pg_admin, terminate)
            await _until(lambda: worker.outage.failures >= ATTEMPTS)
            _assert_quiet(caplog, down=1, back=0)
            await asyncio.to_thread(
                pg_admin, f"ALTER DATABASE {name} SET default_transaction_read_only = off"
            )
            await asyncio.to_thread(pg_admin, terminate)
            await _until(lambda: not worker.outage.down)
            _assert_quiet(caplog, down=1, back=1)
    finally:
        await worker_db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_file_unreachable_then_back(
    db: Database, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = Path(str(make_url(settings.database_url).database))
    missing = tmp_path / "volume" / "stratabase.db"  # the volume is not mounted yet
    away = settings.model_copy(update={"database_url": f"sqlite:///{missing}"})
    caplog.set_level(logging.INFO)
    done: list[int] = []
    worker_db = Database(away)
    try:
        async with _worker(worker_db, away, done) as worker:
            await _until(lambda: worker.outage.failures >= ATTEMPTS)
            _assert_quiet(caplog, down=1, back=0)
            await JobService(db).enqueue(None, JobCreate(task="note", payload={"n": 7}))
            await db.dispose()
            missing.parent.mkdir()
            shutil.copyfile(source, missing)  # the volume is back, with the queued job
            await _until(lambda: done == [7])
            _assert_quiet(caplog, down=1, back=1)
    finally:
        await worker_db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_embedded_worker_backs_off_too(
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outage_module, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(outage_module, "BACKOFF_CAP", 0.05)
    attempts = 0
    failed = Outage.failed

    def counting(self: Outage, exc: BaseException, action: str) -> float:
        nonlocal attempts
        attempts += 1
        return failed(self, exc, action)

    monkeypatch.setattr(Outage, "failed", counting)
    away = settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'missing' / 'stratabase.db'}"}
    )
    caplog.set_level(logging.INFO)
    worker_db = Database(away)
    stop = asyncio.Event()
    task = asyncio.create_task(run_embedded_worker(worker_db, away, stop))
    try:
        await _until(lambda: attempts >= ATTEMPTS)
        _assert_quiet(caplog, down=1, back=0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await worker_db.dispose()
