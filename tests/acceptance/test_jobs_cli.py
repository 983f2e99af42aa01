"""``stratabase jobs …`` and ``stratabase worker`` as real commands in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from stratabase.db.session import Database
from stratabase.enums import JobStatus
from stratabase.jobs.service import JobService
from stratabase.models.jobs import Job
from stratabase.schemas.jobs import JobCreate

STRATABASE = [sys.executable, "-m", "stratabase"]


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = database_url
    env["STRATABASE_JOB_POLL_INTERVAL"] = "0.1"
    return env


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STRATABASE, *args], env=_env(database_url), capture_output=True, text=True, timeout=60
    )


# The commands' database work is covered on both backends by the integration tests; here
# what matters is the command line itself, so one backend keeps the subprocesses few.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_enqueue_list_show_cancel_retry_stats(database_url: str) -> None:
    enqueued = _run(database_url, "jobs", "enqueue", "noop", "--payload", '{"n": 1}')
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.strip()
    assert job_id.isdigit()

    bad = _run(database_url, "jobs", "enqueue", "noop", "--payload", "{oops")
    assert bad.returncode == 2 and "--payload is not JSON" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    cancelled = _run(database_url, "jobs", "cancel", job_id)
    assert cancelled.returncode == 0 and f"cancelled 1 jobs: {job_id}" in cancelled.stdout
    retried = _run(database_url, "jobs", "retry", "--task", "noop")
    assert retried.returncode == 0 and f"re-queued 1 jobs: {job_id}" in retried.stdout

    shown = _run(database_url, "jobs", "show", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert job["status"] == "queued" and job["payload"] == {"n": 1} and job["attempts"] == 0

    missing = _run(database_url, "jobs", "show", "999999")
    assert missing.returncode == 1 and "job 999999 does not exist" in missing.stderr

    stats = _run(database_url, "jobs", "stats", "--json")
    assert json.loads(stats.stdout)["queues"]["default"]["queued"] == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_list_pages_with_a_cursor_the_next_command_accepts(
    db: Database, database_url: str
) -> None:
    ids = [await JobService(db).enqueue(None, JobCreate(task="noop")) for _ in range(3)]
    first = _run(database_url, "jobs", "list", "--limit", "2", "--json")
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    assert [job["id"] for job in page["items"]] == ids[:0:-1]
    table = _run(database_url, "jobs", "list", "--limit", "2")
    assert f"next page: --cursor {page['next_cursor']}" in table.stdout
    rest = _run(
        database_url, "jobs", "list", "--limit", "2", "--cursor", page["next_cursor"], "--json"
    )
    assert rest.returncode == 0, rest.stderr
    last = json.loads(rest.stdout)
    assert [job["id"] for job in last["items"]] == ids[:1] and last["next_cursor"] is None
    forged = _run(database_url, "jobs", "list", "--cursor", page["next_cursor"][:-2] + "xx")
    assert forged.returncode == 1 and "cursor" in forged.stderr
    assert len(forged.stderr.strip().splitlines()) == 1


async def test_worker_runs_jobs_and_stops_cleanly_on_sigterm(
    db: Database, database_url: str
) -> None:
    await JobService(db).enqueue_batch(None, [JobCreate(task="noop") for _ in range(3)])
    worker = _start_worker(database_url)
    try:
        assert worker.stdout is not None
        assert "ready on queues default" in await asyncio.to_thread(worker.stdout.readline)
        deadline = time.monotonic() + 30
        while await _succeeded(db) < 3:
            assert time.monotonic() < deadline, "the worker did not run the jobs"
            await asyncio.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _err = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == 0
    assert "worker stopped: 3 succeeded, 0 failed" in out


def _start_worker(database_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*STRATABASE, "worker", "--queues", "default", "--concurrency", "2", "--no-periodic"],
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _succeeded(db: Database) -> int:
    async with db.session() as session:
        statement = select(func.count()).where(Job.status == JobStatus.SUCCEEDED)
        return int((await session.execute(statement)).scalar_one())


def test_worker_refuses_bad_options() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    result = subprocess.run(
        [*STRATABASE, "worker", "--queue-limit", "crawl=zero"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--queue-limit must look like QUEUE=N" in result.stderr
