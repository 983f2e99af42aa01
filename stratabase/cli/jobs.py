"""``stratabase worker`` and ``stratabase jobs list|show|enqueue|retry|cancel|stats``."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table

from stratabase.cli.common import configure_logging, console, fail, root, run, settings_from
from stratabase.enums import JobStatus
from stratabase.exceptions import InvalidInput
from stratabase.jobs import service
from stratabase.jobs.registry import builtin_registry
from stratabase.jobs.resources import default_resources
from stratabase.jobs.tasks.episodes import RESERVER, LedgerReserver
from stratabase.jobs.worker import Worker, WorkerConfig
from stratabase.pagination import Page
from stratabase.schemas.jobs import JobCreate, JobRead
from stratabase.settings import Settings

if TYPE_CHECKING:
    from stratabase.app import Stratabase

T = TypeVar("T")

app = typer.Typer(help="Inspect and manage the durable job queue.", no_args_is_help=True)


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip()) or None


def _limits(values: list[str]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for value in values:
        name, _, number = value.partition("=")
        if not name or not number.isdigit() or int(number) < 1:
            fail(f"--queue-limit must look like QUEUE=N with N >= 1, not {value!r}", 2)
        limits[name] = int(number)
    return limits


def _statuses(value: str | None) -> list[JobStatus]:
    try:
        return [JobStatus(part) for part in _split(value) or ()]
    except ValueError:
        fail(f"unknown status in {value!r}; use {', '.join(s.value for s in JobStatus)}", 2)


async def _with_root(settings: Settings, work: Callable[[Stratabase], Awaitable[T]]) -> T:
    """Run ``work`` on the command's composition root: its job service is the one the HTTP
    API uses, so a command and a request follow the same rules."""
    async with root(settings) as sb:
        return await work(sb)


async def _run_worker(settings: Settings, config: WorkerConfig) -> None:
    from stratabase.db import inuse

    # Held like a server's: `reset` must not delete an embedded database a worker writes to.
    with inuse.serving(settings):
        async with root(settings) as sb:
            await _work(sb, settings, config)


async def _work(sb: Stratabase, settings: Settings, config: WorkerConfig) -> None:
    # With Redis, the worker's invalidations reach every API process; embedded, a separate
    # worker process has no one to tell, so it carries no cache.
    cache = None if settings.embedded else sb.cache
    # Job and SQL metrics (PROMETHEUS_MULTIPROC_DIR), slow queries: docs/observability.md.
    sb.observability.install(cache=cache is not None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        sb.db,
        settings,
        builtin_registry(periodic=config.run_periodic),
        config,
        resources=default_resources(sb.db, cache=cache, **{RESERVER: LedgerReserver(sb.ledger)}),
    )
    task = asyncio.create_task(worker.run(stop))
    await worker.ready.wait()
    console.print(f"worker {worker.owner} ready on queues {','.join(worker.queues)}")
    await task
    console.print(f"worker stopped: {worker.completed} succeeded, {worker.failed} failed")


def worker(
    ctx: typer.Context,
    queues: str | None = typer.Option(None, help="Comma-separated queues (default: all)."),
    concurrency: int | None = typer.Option(
        None, min=1, max=1000, help="Jobs at once (default STRATABASE_WORKER_CONCURRENCY)."
    ),
    queue_limit: list[str] = typer.Option(
        [], "--queue-limit", help="QUEUE=N: at most N jobs of QUEUE at once; repeatable."
    ),
    lease: float | None = typer.Option(None, min=0.5, help="Lease seconds."),
    shutdown_timeout: float = typer.Option(30.0, min=0, help="Seconds to finish on SIGTERM."),
    no_periodic: bool = typer.Option(False, "--no-periodic", help="Do not schedule cron jobs."),
) -> None:
    """Run jobs until SIGTERM/SIGINT; running jobs finish (or are released) first."""
    settings = settings_from(ctx)
    configure_logging(settings)
    try:
        config = WorkerConfig.from_settings(
            settings,
            queues=_split(queues),
            concurrency=concurrency,
            queue_limits=_limits(queue_limit),
            lease_seconds=lease,
            shutdown_timeout=shutdown_timeout,
            run_periodic=not no_periodic,
        )
    except ValueError as exc:
        fail(str(exc), 2)
    run(_run_worker(settings, config))


#: Columns of ``jobs list``.
JOB_COLUMNS = ("id", "queue", "task", "status", "attempts", "run_at (UTC)", "error")
#: What gives up width first on a narrow terminal, and down to how much.
SHRINK_FIRST = {"run_at (UTC)": 10, "error": 5, "queue": 5}


def _column_widths(cells: list[tuple[str, ...]], room: int) -> list[int]:
    """Natural widths, narrowed to fit ``room``: run_at, error and queue wrap first, then the
    task name folds (still whole, over two lines)."""
    widths = [
        max([len(name), *(len(row[index]) for row in cells)])
        for index, name in enumerate(JOB_COLUMNS)
    ]
    excess = sum(widths) + 3 * len(widths) + 1 - room
    for name, floor in SHRINK_FIRST.items():
        index = JOB_COLUMNS.index(name)
        cut = max(0, min(excess, widths[index] - floor))
        widths[index] -= cut
        excess -= cut
    task = JOB_COLUMNS.index("task")
    if excess > 0:
        widths[task] = max(8, widths[task] - excess)
    return widths


def _print_jobs(rows: list[Any]) -> None:
    """A narrow terminal wraps cells rather than cut them: an id or task name cut to ``…`` is
    of no use to ``jobs show`` or ``--task``."""
    cells: list[tuple[str, ...]] = [
        (
            str(job.id),
            job.queue,
            job.task,
            job.status.value,
            f"{job.attempts}/{job.max_attempts}",
            job.run_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            ((job.error or "").strip().splitlines() or [""])[-1][:60],
        )
        for job in rows
    ]
    table = Table()
    for name, width in zip(JOB_COLUMNS, _column_widths(cells, console.width), strict=True):
        table.add_column(name, width=width, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: str | None = typer.Option(None, help="Comma-separated statuses."),
    queue: str | None = typer.Option(None),
    task: str | None = typer.Option(None),
    cursor: str | None = typer.Option(
        None, help="The next_cursor a previous page printed (the API's cursors are good too)."
    ),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help='{"items": [...], "next_cursor": …}'),
) -> None:
    """Jobs, newest first."""
    settings = settings_from(ctx)
    statuses = _statuses(status)

    async def page(sb: Stratabase) -> Page[JobRead]:
        await sb.share_secret_key()  # the next command (or the API) must accept the cursor
        return await sb.jobs.list_jobs(
            None, statuses=statuses, queue=queue, task=task, cursor=cursor, limit=limit
        )

    found = run(_with_root(settings, page))
    if as_json:
        items = [job.model_dump(mode="json") for job in found.items]
        typer.echo(json.dumps({"items": items, "next_cursor": found.next_cursor}))
        return
    _print_jobs(found.items)
    if found.next_cursor is not None:
        console.print(f"next page: --cursor {found.next_cursor}", highlight=False, soft_wrap=True)


@app.command()
def show(ctx: typer.Context, job_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    """One job, with its payload, result and last error (traceback)."""
    job = run(_with_root(settings_from(ctx), lambda sb: sb.jobs.get(None, job_id)))
    if as_json:
        typer.echo(job.model_dump_json())
        return
    for key, value in job.model_dump(mode="json").items():
        if key != "error":
            console.print(f"[bold]{key}[/]: {value}", highlight=False)
    if job.error:
        console.print("[bold]error[/]:", highlight=False)
        console.print(job.error, highlight=False, markup=False)


@app.command()
def enqueue(
    ctx: typer.Context,
    task: str,
    payload: str = typer.Option("{}", help="JSON object."),
    queue: str | None = typer.Option(None, help="Default: the task's queue."),
    priority: int = typer.Option(0),
    delay: int | None = typer.Option(None, help="Seconds from now."),
    max_attempts: int | None = typer.Option(None),
    unique_key: str | None = typer.Option(None),
) -> None:
    """Enqueue one job; prints its id (nothing when the unique key is already active)."""
    settings = settings_from(ctx)
    registry = builtin_registry(periodic=False)  # what the root's job service accepts
    # Only what was given: the service fills the rest from the task, as it does for HTTP.
    given = {"queue": queue, "max_attempts": max_attempts}
    try:
        body = json.loads(payload)
        spec = JobCreate(
            task=task,
            payload=body,
            priority=priority,
            delay_seconds=delay,
            unique_key=unique_key,
            **{name: value for name, value in given.items() if value is not None},
        )
        service.resolve(spec, registry)
    except json.JSONDecodeError as exc:
        fail(f"--payload is not JSON: {exc.msg}", 2)
    except ValidationError as exc:
        error = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in error['loc']) or 'job'}: {error['msg']}", 2)
    except InvalidInput as exc:
        fail(exc.message, 2)
    job_id = run(_with_root(settings, lambda sb: sb.jobs.enqueue(None, spec)))
    typer.echo("" if job_id is None else str(job_id))


def _selection(ids: list[int], queue: str | None, task: str | None) -> dict[str, Any]:
    if not ids and queue is None and task is None:
        fail("give job ids, --queue or --task", 2)
    return {"ids": ids or None, "queue": queue, "task": task}


@app.command()
def retry(
    ctx: typer.Context,
    ids: list[int] = typer.Argument(None),
    queue: str | None = typer.Option(None),
    task: str | None = typer.Option(None),
    status: str | None = typer.Option(None, help="dead,failed,cancelled (default all three)."),
) -> None:
    """Queue dead, failed or cancelled jobs again with fresh attempts."""
    selection = _selection(ids or [], queue, task)
    statuses = _statuses(status) or list(service.RETRYABLE)
    done = run(
        _with_root(
            settings_from(ctx), lambda sb: sb.jobs.retry_where(None, statuses=statuses, **selection)
        )
    )
    typer.echo(f"re-queued {len(done)} jobs" + (f": {', '.join(map(str, done))}" if done else ""))


@app.command()
def cancel(
    ctx: typer.Context,
    ids: list[int] = typer.Argument(None),
    queue: str | None = typer.Option(None),
    task: str | None = typer.Option(None),
) -> None:
    """Cancel queued or running jobs (a running handler stops at its next heartbeat)."""
    selection = _selection(ids or [], queue, task)
    done = run(_with_root(settings_from(ctx), lambda sb: sb.jobs.cancel_where(None, **selection)))
    typer.echo(f"cancelled {len(done)} jobs" + (f": {', '.join(map(str, done))}" if done else ""))


def _unserved(queues: list[str]) -> dict[str, str]:
    """Queues no registered task uses, with why: no worker will ever run their jobs."""
    from stratabase.seed.operations import DEMO_QUEUE

    served = set(builtin_registry(periodic=False).queues())
    return {
        name: "seeded examples, no worker serves it"
        if name == DEMO_QUEUE
        else "no registered task uses it"
        for name in queues
        if name not in served
    }


@app.command()
def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Jobs per queue and status."""
    data = run(_with_root(settings_from(ctx), lambda sb: sb.jobs.stats(None))).as_dict()
    unserved = _unserved(list(data["queues"]))
    if as_json:
        typer.echo(json.dumps({**data, "unserved_queues": unserved}))
        return
    table = Table()
    table.add_column("queue")
    for status in JobStatus:
        table.add_column(status.value, justify="right")
    for name, counts in data["queues"].items():
        label = f"{name} [dim]({unserved[name]})[/]" if name in unserved else name
        table.add_row(label, *(str(counts.get(s.value, 0)) for s in JobStatus))
    table.add_row("[bold]total[/]", *(str(data["totals"][s.value]) for s in JobStatus))
    console.print(table)
