"""The publishing studio (P2.4): organizations, projects, episodes, planning notes, memory."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "inputs",
    "notes",
    "projects",
    "queries",
    "results",
    "service",
]
