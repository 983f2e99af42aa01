"""``stratabase jobs list`` on an 80-column terminal: ids and task names are never cut."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from stratabase.db.session import Database
from stratabase.jobs.service import JobService
from stratabase.schemas.jobs import JobCreate

LONG_TASK = "maintenance.rebuild_every_search_document_of_the_site"
SHORT_TASK = "deliver_webhook"


def _records(table: str) -> list[list[str]]:
    """Rows of a Rich table, each cell's wrapped lines joined back together."""
    records: list[list[str]] = []
    for line in table.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0]:
            records.append(cells)
        else:
            records[-1] = [a + b for a, b in zip(records[-1], cells, strict=True)]
    return records


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_list_wraps_rather_than_truncates_at_80_columns(
    db: Database, database_url: str
) -> None:
    ids = {
        await JobService(db).enqueue(None, JobCreate(queue="maintenance", task=task)): task
        for task in (LONG_TASK, SHORT_TASK, LONG_TASK)
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env |= {"STRATABASE_DATABASE_URL": database_url, "COLUMNS": "80", "LINES": "50"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "stratabase", "jobs", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert all(len(line) <= 80 for line in done.stdout.splitlines())
    assert "…" not in done.stdout
    shown = {int(r[0]): (r[1], r[2], r[3]) for r in _records(done.stdout)}
    assert shown == {i: ("maintenance", task, "queued") for i, task in ids.items()}
    # A task name that fits is not broken at all.
    assert any(SHORT_TASK in line for line in done.stdout.splitlines())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_stats_labels_the_seeded_demo_queue_no_worker_serves(
    db: Database, database_url: str
) -> None:
    await JobService(db).enqueue(None, JobCreate(queue="demo", task="send_email"))
    await JobService(db).enqueue(None, JobCreate(queue="default", task="noop"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env |= {"STRATABASE_DATABASE_URL": database_url, "COLUMNS": "160"}

    def stats(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stratabase", "jobs", "stats", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    as_json = await asyncio.to_thread(stats, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["unserved_queues"] == {
        "demo": "seeded examples, no worker serves it"
    }
    text = await asyncio.to_thread(stats)
    assert "demo (seeded examples, no worker serves it)" in text.stdout
    assert "default (" not in text.stdout
