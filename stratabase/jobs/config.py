"""How a worker process is configured, and who it is (its lease owner name)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stratabase.settings import Settings


@dataclass(frozen=True)
class WorkerConfig:
    """How one worker process behaves. Defaults come from settings via :meth:`from_settings`."""

    #: Queues to take jobs from; None = every queue a registered task uses.
    queues: tuple[str, ...] | None = None
    #: Jobs running at once in this process.
    concurrency: int = 10
    #: Per-queue caps on jobs running at once in this process.
    queue_limits: Mapping[str, int] = field(default_factory=dict)
    lease_seconds: float = 30.0
    #: Idle poll, the fallback when no notification arrives.
    poll_interval: float = 1.0
    #: Longest a finished job's outcome waits in the buffer before it is written.
    flush_interval: float = 0.02
    shutdown_timeout: float = 30.0
    run_periodic: bool = True

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if any(limit < 1 for limit in self.queue_limits.values()):
            raise ValueError("queue limits must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerConfig:
        """The settings' worker values, with the options given (None: the setting's)."""
        values: dict[str, Any] = {
            "concurrency": settings.worker_concurrency,
            "lease_seconds": settings.job_lease_seconds,
            "poll_interval": settings.job_poll_interval,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def make_owner() -> str:
    """A worker's lease owner: host, pid and a random part, unique per process."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
