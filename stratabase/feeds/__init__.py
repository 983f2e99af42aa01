"""Feeds: followed authors, a category, popular and trending posts."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "pages",
    "rankings",
    "service",
]
