"""The durable job queue: enqueue, workers with leases, retries, periodic tasks, built-ins."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "config",
    "errors",
    "notify",
    "outage",
    "queries",
    "queue",
    "registry",
    "resources",
    "schedule",
    "service",
    "tasks",
    "worker",
]
