"""Worker *processes* on both backends: no job runs twice with 8 workers; a SIGKILLed worker's
job is re-run exactly once after its lease expires.

The workers are this file run as a script (see the bottom); each handler appends a line to
a shared log file with O_APPEND, so the log is the ground truth of what ran, and where.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from stratabase.db.session import Database
from stratabase.enums import JobStatus
from stratabase.jobs.service import JobService
from stratabase.models.jobs import Job
from stratabase.schemas.jobs import JobCreate

HERE = Path(__file__).resolve()
QUEUE = "procs"


def _spawn(database_url: str, log: Path, lease: float, concurrency: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    return subprocess.Popen(
        [sys.executable, str(HERE), database_url, str(log), str(lease), str(concurrency)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"


def _stop(processes: list[subprocess.Popen[str]]) -> list[int]:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.wait(timeout=30) for process in processes]


async def _succeeded(db: Database) -> int:
    async with db.session() as session:
        statement = select(func.count()).where(Job.status == JobStatus.SUCCEEDED)
        return int((await session.execute(statement)).scalar_one())


async def _wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


async def test_eight_worker_processes_never_run_a_job_twice(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    workers = [_spawn(database_url, log, 30, 4) for _ in range(8)]
    try:
        for worker in workers:
            await asyncio.to_thread(_wait_ready, worker)
        total = 160
        specs = [
            JobCreate(queue=QUEUE, task="record", payload={"sleep": 0.005}) for _ in range(total)
        ]
        await JobService(db).enqueue_batch(None, specs)

        async def all_done() -> bool:
            return await _succeeded(db) == total

        await _wait_for(all_done, 60)
    finally:
        codes = await asyncio.to_thread(_stop, workers)
    assert codes == [0] * 8
    done = [line for line in _lines(log) if line[1] == "done"]
    by_job = Counter(line[0] for line in done)
    assert len(by_job) == total and set(by_job.values()) == {1}
    assert len({line[2] for line in done}) >= 2, "the work was not shared between processes"
    async with db.session() as session:
        attempts = (await session.execute(select(func.max(Job.attempts)))).scalar_one()
    assert attempts == 1


async def test_sigkilled_worker_job_runs_again_exactly_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    first = _spawn(database_url, log, 1.0, 2)
    second = None
    try:
        await asyncio.to_thread(_wait_ready, first)
        job_id = await JobService(db).enqueue(
            None, JobCreate(queue=QUEUE, task="record", payload={"hang_on_first": True})
        )

        async def started() -> bool:
            return any(line[:2] == [str(job_id), "start"] for line in _lines(log))

        await _wait_for(started, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = _spawn(database_url, log, 1.0, 2)
        await asyncio.to_thread(_wait_ready, second)

        async def finished() -> bool:
            return await _succeeded(db) == 1

        await _wait_for(finished, 30)
    finally:
        await asyncio.to_thread(_stop, [p for p in (first, second) if p is not None])
    lines = _lines(log)
    assert [line[1] for line in lines] == ["start", "start", "done"]
    assert lines[0][2] != lines[2][2]  # done by the second process
    async with db.session() as session:
        job = await session.get(Job, job_id)
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert "lease expired" in (job.error or "")


# -- the worker process ------------------------------------------------------------------


def _append(log: str, text: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


async def _worker_main(database_url: str, log: str, lease: float, concurrency: int) -> None:
    from stratabase.jobs.registry import Registry, TaskContext, TaskSpec
    from stratabase.jobs.worker import Worker, WorkerConfig
    from stratabase.settings import load_settings

    async def record(ctx: TaskContext, payload: dict[str, Any]) -> None:
        _append(log, f"{ctx.job.id} start {os.getpid()}\n")
        if payload.get("hang_on_first") and ctx.job.attempts == 1:
            await asyncio.sleep(600)
        await asyncio.sleep(float(payload.get("sleep", 0)))
        _append(log, f"{ctx.job.id} done {os.getpid()}\n")

    settings = load_settings(database_url=database_url)
    db = Database(settings)
    registry = Registry()
    registry.add(TaskSpec("record", record, queue=QUEUE))
    config = WorkerConfig(
        queues=(QUEUE,),
        concurrency=concurrency,
        lease_seconds=lease,
        poll_interval=0.1,
        run_periodic=False,
        shutdown_timeout=5,
    )
    worker = Worker(db, settings, registry, config)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(worker.run(stop))
    await worker.ready.wait()
    print("ready", flush=True)
    try:
        await task
    finally:
        await db.dispose()


if __name__ == "__main__":
    url, log_path, lease_text, concurrency_text = sys.argv[1:]
    asyncio.run(_worker_main(url, log_path, float(lease_text), int(concurrency_text)))
