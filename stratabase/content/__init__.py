"""Posts, comments, likes and views: use cases (service) and batch-loading reads (queries)."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "comments",
    "platform",
    "queries",
    "reads",
    "results",
    "service",
    "slugs",
    "warming",
]
