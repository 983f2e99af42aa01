"""The social graph: follows, blocks and mutes, and what they allow."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "cards",
    "queries",
    "results",
    "service",
]
