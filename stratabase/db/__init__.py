"""Database layer: engine and session scopes, types, error translation, monitor, health."""

from stratabase.db.session import Database, after_commit

__all__ = ["Database", "after_commit"]
