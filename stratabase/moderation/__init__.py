"""Trust and safety: reports, the review queue, decisions, appeals and sanctions."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "service",
    "targets",
    "tasks",
    "values",
]
