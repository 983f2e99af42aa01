"""Full-text search over posts and users: index maintenance, query parsing, ranked results."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "fts",
    "index",
    "rebuild",
    "service",
    "text",
]
