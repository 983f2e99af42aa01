"""Product events (seed 003's "events over booleans") and the aggregates analytics read."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "access",
    "aggregate",
    "ingest",
    "registry",
    "schemas",
    "service",
]
