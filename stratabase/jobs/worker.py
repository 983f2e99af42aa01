"""The worker: claims jobs in batches, runs them concurrently, keeps their leases alive.

One loop per process does all database writes of the hot path in one transaction per cycle:
flush the buffered outcomes of finished jobs (one ``UPDATE`` for all successes) and claim
as many ready jobs as there are free slots (one ``UPDATE … RETURNING``). Handlers run as
asyncio tasks. Side loops renew leases (and stop handlers whose job was cancelled or whose
lease was lost), re-queue jobs of dead workers, and keep periodic jobs scheduled.

Database down (unreachable, restarting, read-only): every loop backs off exponentially
(capped, with jitter) and the log says "database unavailable" once and "database back"
once (:mod:`stratabase.jobs.outage`), however long the outage lasts.

Shutdown (SIGTERM → ``stop``): no more claims; running jobs get ``shutdown_timeout`` to
finish; the rest are cancelled and released (queued again, the attempt not counted); the
buffer is flushed; the process exits. A SIGKILL loses nothing either: the lease expires and
any worker's reaper re-queues the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.jobs import notify, queue
from stratabase.jobs.config import WorkerConfig, make_owner
from stratabase.jobs.errors import PermanentJobError
from stratabase.jobs.outage import Outage
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.registry import (
    Registry,
    RetryPolicy,
    TaskContext,
    TaskResult,
    builtin_registry,
)
from stratabase.jobs.schedule import Periodic
from stratabase.jobs.service import enqueue_in
from stratabase.observability import context as request_context
from stratabase.observability import metrics, tracing
from stratabase.schemas.jobs import JobCreate
from stratabase.settings import Settings

logger = logging.getLogger("stratabase.jobs")

#: The most jobs one cycle claims, whatever the concurrency.
MAX_BATCH = 500
#: How often each worker makes sure the next slot of every periodic job is enqueued.
SCHEDULE_INTERVAL = 15.0


@dataclass(frozen=True, slots=True)
class _Failure:
    job_id: int
    error: str
    retry_in: float | None
    permanent: bool


class Worker:
    """Runs jobs of ``registry`` from ``config.queues`` until ``stop`` is set."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        registry: Registry,
        config: WorkerConfig | None = None,
        *,
        resources: dict[str, Any] | None = None,
        owner: str | None = None,
        outage: Outage | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.config = config or WorkerConfig.from_settings(settings)
        self.resources = resources or {}
        self.owner = owner or make_owner()
        #: The database's availability as this worker sees it; the backoff while it is down.
        self.outage = outage or Outage(logger, f"worker {self.owner}")
        self.queues: tuple[str, ...] = self.config.queues or tuple(registry.queues())
        self.lease = timedelta(seconds=self.config.lease_seconds)
        self.completed = 0
        self.failed = 0
        self._running: dict[int, asyncio.Task[None]] = {}
        self._running_by_queue: Counter[str] = Counter()
        self._acks: dict[int, TaskResult] = {}
        self._failures: list[_Failure] = []
        self._releases: list[int] = []
        self._lost: set[int] = set()
        self._wake = asyncio.Event()
        self._freed = asyncio.Event()
        #: Set once the worker has started its loops (tests and the bench wait on it).
        self.ready = asyncio.Event()

    # -- the main loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until ``stop`` is set; running jobs finish or are released."""
        self.db.wakeups.subscribe(self._wake)
        listener = None
        if self.db.backend == "postgres":  # LISTEN for other processes' NOTIFY (PG only)
            listener = notify.PgListener(self.settings.database_url, self.queues, self._wake)
            await listener.start()
        side = [
            asyncio.create_task(self._every(self.config.lease_seconds / 3, self._heartbeat)),
            asyncio.create_task(self._every(self._reap_interval(), self._reap)),
        ]
        if self.config.run_periodic and self.registry.periodic():
            side.append(asyncio.create_task(self._every(SCHEDULE_INTERVAL, self._schedule, 0)))
        logger.info("worker %s on queues %s", self.owner, ",".join(self.queues))
        self.ready.set()
        try:
            await self._loop(stop)
            await self._drain()
        finally:
            for task in side:
                task.cancel()
            for task in side:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if listener is not None:
                await listener.stop()
            self.db.wakeups.unsubscribe(self._wake)

    async def _loop(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                want = self._free_slots()
                self._wake.clear()
                self._freed.clear()
                short = True
                if want or self._buffered():
                    try:
                        claimed = await self._cycle(want)
                    except Exception as exc:
                        delay = self.outage.failed(exc, "claim/flush")
                        await _wait_any([stopping], delay)
                        continue
                    self.outage.succeeded()
                    for job in claimed:
                        self._start(job)
                    short = len(claimed) < want
                if self._free_slots() == 0:
                    # Every slot is busy: wait for one to free (or for the buffer to be due).
                    timeout = self.config.flush_interval if self._buffered() else None
                    await _wait_any([stopping, self._freed], timeout)
                    await asyncio.sleep(0)  # let jobs finishing in the same tick finish
                elif short:
                    timeout = (
                        self.config.flush_interval
                        if self._buffered()
                        else self.config.poll_interval
                    )
                    await _wait_any([stopping, self._wake], timeout)
        finally:
            stopping.cancel()

    def _free_slots(self) -> int:
        return max(0, min(self.config.concurrency - len(self._running), MAX_BATCH))

    def _buffered(self) -> bool:
        return bool(self._acks or self._failures or self._releases)

    async def _cycle(self, want: int) -> list[ClaimedJob]:
        """One transaction: write the buffered outcomes, claim up to ``want`` jobs."""
        acks = dict(self._acks)
        failures = list(self._failures)
        releases = list(self._releases)

        async def work(session: AsyncSession) -> list[ClaimedJob]:
            await self._flush(session, acks, failures, releases)
            return await self._claim(session, want)

        claimed = await self.db.transaction(work)
        for job_id in acks:
            self._acks.pop(job_id, None)
        del self._failures[: len(failures)]
        del self._releases[: len(releases)]
        return claimed

    async def _flush(
        self,
        session: AsyncSession,
        acks: dict[int, TaskResult],
        failures: Sequence[_Failure],
        releases: Sequence[int],
    ) -> None:
        now = utcnow()
        if acks:
            results = {job_id: result for job_id, result in acks.items() if result is not None}
            await queue.ack(session, owner=self.owner, ids=list(acks), results=results, now=now)
        for failure in failures:
            retry_at = (
                None if failure.retry_in is None else now + timedelta(seconds=failure.retry_in)
            )
            await queue.fail(
                session,
                owner=self.owner,
                job_id=failure.job_id,
                error=failure.error,
                retry_at=retry_at,
                permanent=failure.permanent,
                now=now,
            )
        if releases:
            await queue.release(session, owner=self.owner, ids=releases, now=now)

    async def _claim(self, session: AsyncSession, want: int) -> list[ClaimedJob]:
        if want <= 0:
            return []
        limits = self.config.queue_limits
        claimed: list[ClaimedJob] = []
        groups: list[tuple[tuple[str, ...], int]] = [
            ((name,), limits[name] - self._running_by_queue[name])
            for name in self.queues
            if name in limits
        ]
        free_queues = tuple(name for name in self.queues if name not in limits)
        if free_queues:
            groups.append((free_queues, want))
        now = utcnow()
        for queues, room in groups:
            budget = min(room, want - len(claimed))
            if budget > 0:
                claimed += await queue.claim(
                    session,
                    queues=queues,
                    owner=self.owner,
                    limit=budget,
                    lease=self.lease,
                    now=now,
                )
        return claimed

    # -- running one job -----------------------------------------------------------------

    def _start(self, job: ClaimedJob) -> None:
        self._running_by_queue[job.queue] += 1
        self._running[job.id] = asyncio.create_task(self._execute(job), name=f"job-{job.id}")

    async def _execute(self, job: ClaimedJob) -> None:
        # Its log lines and slow queries carry the enqueuing request's id (observability).
        bound = request_context.bind(
            request_context.RequestContext(
                job.request_id or request_context.new_request_id(), origin=f"job:{job.task}"
            )
        )
        try:
            spec = self.registry.get(job.task)
            context = TaskContext(self.db, self.settings, job, self.resources)
            attributes: dict[str, Any] = {"job.id": job.id, "job.attempt": job.attempts}
            attributes["stratabase.request_id"] = job.request_id or ""
            with tracing.span(f"job {job.task}", attributes):
                async with asyncio.timeout(spec.timeout):
                    result = await spec.handler(context, job.payload)
            if result is not None and not isinstance(result, dict):
                raise PermanentJobError(
                    f"task {job.task!r} returned {type(result).__name__}, not a dict or None"
                )
            self._acks[job.id] = result
            self.completed += 1
            metrics.job_finished(job.task, "completed")
        except asyncio.CancelledError:
            if job.id in self._lost:
                logger.warning("job %s (%s) stopped: cancelled or lease lost", job.id, job.task)
            else:
                self._releases.append(job.id)
        except Exception as exc:
            self.failed += 1
            error = "".join(traceback.format_exception(exc))
            permanent = isinstance(exc, PermanentJobError)
            retry_in = None
            if not permanent and job.attempts < job.max_attempts:
                policy = self.registry.get(job.task).retry if job.task in self.registry else None
                retry_in = (policy or RetryPolicy()).delay(job.attempts)
            logger.warning(
                "job %s (%s) attempt %s/%s failed: %s",
                job.id,
                job.task,
                job.attempts,
                job.max_attempts,
                type(exc).__name__,
            )
            self._failures.append(_Failure(job.id, error, retry_in, permanent))
            metrics.job_finished(job.task, "failed" if retry_in is None else "retried")
        finally:
            request_context.unbind(bound)
            self._running.pop(job.id, None)
            self._running_by_queue[job.queue] -= 1
            self._lost.discard(job.id)
            self._freed.set()

    # -- side loops ----------------------------------------------------------------------

    def _reap_interval(self) -> float:
        return min(max(self.config.lease_seconds / 2, 0.25), 30.0)

    async def _every(self, interval: float, action: Any, first_delay: float | None = None) -> None:
        await asyncio.sleep(interval if first_delay is None else first_delay)
        while True:
            delay = interval
            try:
                touched = await action()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = max(interval, self.outage.failed(exc, action.__name__))
            else:
                if touched is not False:  # False: nothing to do, the database not asked
                    self.outage.succeeded()
            await asyncio.sleep(delay)

    async def _heartbeat(self) -> bool:
        ids = list(self._running)
        if not ids:
            return False
        held = await self.db.transaction(
            lambda session: queue.heartbeat(session, owner=self.owner, ids=ids, lease=self.lease)
        )
        for job_id in ids:
            task = self._running.get(job_id)
            if job_id not in held and task is not None and job_id not in self._acks:
                self._lost.add(job_id)
                task.cancel()
        return True

    async def _reap(self) -> None:
        reaped = await self.db.transaction(lambda session: queue.reap_expired(session))
        if reaped:
            metrics.lease_expired(len(reaped))
            logger.warning("re-queued %d jobs whose worker was lost", len(reaped))
            self._wake.set()

    async def _schedule(self) -> bool:
        now = utcnow()
        specs = [self._periodic_job(periodic, now) for periodic in self.registry.periodic()]
        specs = [spec for spec in specs if spec.queue in self.queues]
        if not specs:
            return False
        await self.db.transaction(lambda session: enqueue_in(session, specs))
        return True

    def _periodic_job(self, periodic: Periodic, now: Any) -> JobCreate:
        slot = periodic.next_after(now)
        spec = self.registry.get(periodic.task)
        return JobCreate(
            queue=spec.queue,
            task=periodic.task,
            payload=periodic.payload,
            priority=periodic.priority,
            run_at=slot,
            max_attempts=spec.max_attempts,
            unique_key=periodic.unique_key(slot),
        )

    # -- shutdown ------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Let running jobs finish (bounded), release the rest, flush everything."""
        deadline = time.monotonic() + self.config.shutdown_timeout
        while self._running and time.monotonic() < deadline:
            remaining = deadline - time.monotonic()
            await asyncio.wait(list(self._running.values()), timeout=min(0.25, remaining))
            await self._try_flush()
        if self._running:
            tasks = list(self._running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            logger.warning("released %d unfinished jobs at shutdown", len(self._releases))
        for _ in range(5):
            if not self._buffered() or await self._try_flush():
                break
            await asyncio.sleep(0.2)

    async def _try_flush(self) -> bool:
        if not self._buffered():
            return True
        try:
            await self._cycle(0)
        except Exception as exc:
            self.outage.failed(exc, "flush")
            return False
        self.outage.succeeded()
        return True


async def _wait_any(waitables: Sequence[Any], timeout: float | None) -> None:
    """Return when any future/event is done or set, or after ``timeout`` seconds."""
    tasks = []
    futures = []
    for item in waitables:
        if isinstance(item, asyncio.Event):
            if item.is_set():
                return
            tasks.append(asyncio.ensure_future(item.wait()))
        else:
            if item.done():
                return
            futures.append(item)
    try:
        await asyncio.wait([*tasks, *futures], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


@contextlib.asynccontextmanager
async def in_background(worker: Worker, *, stop_timeout: float = 30) -> AsyncIterator[Worker]:
    """Run ``worker`` for the duration of an ``async with`` block (a library user's or a
    test's): the block starts once the worker is ready, and leaving it stops the worker
    and waits (up to ``stop_timeout`` seconds) for its running jobs to finish."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await worker.ready.wait()
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, stop_timeout)


async def run_embedded_worker(
    db: Database,
    settings: Settings,
    stop: asyncio.Event,
    *,
    resources: dict[str, Any] | None = None,
    cache: Any = None,
) -> None:
    """The in-process worker of ``stratabase up``: every built-in task, settings' defaults.

    ``resources`` reach the handlers (e.g. ``view_counters``: the API's in-process
    :class:`~stratabase.jobs.tasks.stats.MemoryViewCounters`, flushed by ``stats.flush``).
    """
    from stratabase.jobs.resources import default_resources

    config = WorkerConfig.from_settings(settings)
    worker = Worker(
        db,
        settings,
        builtin_registry(),
        config,
        resources=default_resources(db, cache=cache, **(resources or {})),
    )
    await worker.run(stop)


__all__ = ["Worker", "WorkerConfig", "in_background", "run_embedded_worker"]
