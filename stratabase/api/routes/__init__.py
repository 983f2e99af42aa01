"""The /v1 and health routers, one module per domain; each parses, calls one service, renders."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "auth",
    "categories",
    "comments",
    "feeds",
    "health",
    "jobs",
    "organizations",
    "payments",
    "posts",
    "projects",
    "search",
    "stats",
    "users",
    "wallet",
]
