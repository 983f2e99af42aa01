"""Task registration: names → handlers with their queue, attempts, retry policy, timeout.

A registry is built by the entry point (CLI, embedded server, tests) and handed to the
worker; nothing registers itself at import time, so two workers in one process (tests) can
run different task sets.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stratabase.db.session import Database
from stratabase.jobs.errors import UnknownTask
from stratabase.jobs.queue import ClaimedJob
from stratabase.jobs.schedule import Periodic
from stratabase.settings import Settings

TaskResult = dict[str, Any] | None


@dataclass(frozen=True)
class TaskContext:
    """What a handler receives besides its payload."""

    db: Database
    settings: Settings
    job: ClaimedJob
    #: Extra objects the entry point provides (a text generator, an HTTP transport…).
    resources: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[TaskContext, dict[str, Any]], Awaitable[TaskResult]]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap: ``base * 2**(attempt-1)``, ±50 %."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before the attempt after ``attempt`` (1-based) failed."""
        exponent = min(max(attempt - 1, 0), 62)
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0**exponent)
        # "Equal jitter": never less than half the ceiling, so retries do spread out
        # but still back off; never above the cap.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: its handler, queue, attempts, retry policy and timeout."""

    name: str
    handler: Handler
    queue: str = "default"
    max_attempts: int = 5
    retry: RetryPolicy = RetryPolicy()
    #: Seconds one attempt may run; None = no limit (the lease still has to be renewed).
    timeout: float | None = None


class Registry:
    """The tasks a worker can run, and the periodic jobs it keeps scheduled."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}
        self._periodic: dict[str, Periodic] = {}

    def add(self, spec: TaskSpec) -> None:
        """Register a task; a name registered twice is a ValueError."""
        if spec.name in self._tasks:
            raise ValueError(f"task {spec.name!r} is already registered")
        self._tasks[spec.name] = spec

    def task(
        self,
        name: str,
        *,
        queue: str = "default",
        max_attempts: int = 5,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(TaskSpec(name, handler, queue, max_attempts, retry or RetryPolicy(), timeout))
            return handler

        return register

    def get(self, name: str) -> TaskSpec:
        """A task by name; UnknownTask when there is none."""
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(f"no task named {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def names(self) -> list[str]:
        """The registered task names, sorted."""
        return sorted(self._tasks)

    def queues(self) -> list[str]:
        """The queues the registered tasks use, sorted."""
        return sorted({spec.queue for spec in self._tasks.values()})

    def add_periodic(self, periodic: Periodic) -> None:
        """Schedule a registered task periodically; an unknown task is refused."""
        if periodic.name in self._periodic:
            raise ValueError(f"periodic job {periodic.name!r} is already registered")
        if periodic.task not in self._tasks:
            raise UnknownTask(f"periodic job {periodic.name!r} runs unknown task {periodic.task!r}")
        self._periodic[periodic.name] = periodic

    def periodic(self) -> Iterable[Periodic]:
        """The periodic schedules, in registration order."""
        return list(self._periodic.values())

    def queue_of(self, task: str) -> str:
        """The queue a task's jobs go to."""
        return self.get(task).queue


def builtin_registry(*, periodic: bool = True) -> Registry:
    """Every built-in task, and (unless ``periodic=False``) their periodic schedules."""
    from stratabase.accounts import export
    from stratabase.analytics import aggregate
    from stratabase.jobs.tasks import crawl, episodes, maintenance, rankings, stats, usage
    from stratabase.media import jobs as media
    from stratabase.moderation import tasks as moderation

    registry = Registry()
    modules = (
        *(maintenance, crawl, episodes, stats, usage, rankings),
        *(aggregate, moderation, export, media),
    )
    for module in modules:
        module.register(registry, periodic=periodic)
    return registry
