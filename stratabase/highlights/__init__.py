"""Readers' highlights of posts: selections of a block's text, with an optional note."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "schemas",
    "service",
]
