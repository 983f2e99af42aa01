"""Chat with the generator: sessions, messages and the daily token quota they spend."""

#: The package's public modules (it re-exports no names of its own).
__all__ = [
    "keyset",
    "schemas",
    "service",
]
