"""Alembic's environment and the one history both backends share."""

#: Nothing to import: Alembic loads ``env.py`` and ``versions/`` itself (``db/migrate.py``).
__all__: list[str] = []
