"""Built-in tasks; each module has a ``register(registry)`` that adds its tasks."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "crawl",
    "episodes",
    "generation",
    "maintenance",
    "rankings",
    "stats",
    "usage",
]
