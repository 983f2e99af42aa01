"""The ``stratabase`` command: one module per command group, imported lazily."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "bench",
    "cache",
    "common",
    "health",
    "jobs",
    "ledger",
    "main",
    "migrate",
    "seed",
    "serve",
]
