"""HTTP-only shapes (pages, problems, field types) that the routes render."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "auth",
    "common",
    "fields",
    "ledger",
    "posts",
    "users",
]
